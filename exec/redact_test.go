package exec

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactString(t *testing.T) {
	r := newRedactor([]string{"Sekr3t", "Sekr3tLonger", `q"uo\te`, "", "x"})
	for _, tc := range []struct{ in, want string }{
		{"token=Sekr3t;", "token=(sensitive);"},
		{"Sekr3tLonger and Sekr3t", "(sensitive) and (sensitive)"}, // the longer one wins at a position
		{`{"v":"q\"uo\\te"}`, `{"v":"(sensitive)"}`},               // JSON-escaped form
		{`raw q"uo\te`, "raw (sensitive)"},
		{"axb", "a(sensitive)b"}, // one character is masked too
		{"nothing here", "nothing here"},
		{"", ""},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if newRedactor([]string{"", ""}) != nil {
		t.Error("no secrets: want a nil redactor (the fast paths)")
	}
	var nilR *redactor
	if got := nilR.String("Sekr3t"); got != "Sekr3t" {
		t.Errorf("nil redactor changed %q", got)
	}
}

// TestRedactWriterSplit writes a text holding secrets in two pieces split
// at every position, and byte by byte: the file never holds a secret.
func TestRedactWriterSplit(t *testing.T) {
	secrets := []string{"TfSecret99", "abcabd"}
	text := "line TfSecret99\nabcabcabd TfSecret9 end TfSecret99"
	want := "line (sensitive)\nabc(sensitive) TfSecret9 end (sensitive)"
	r := newRedactor(secrets)
	for cut := 0; cut <= len(text); cut++ {
		var out bytes.Buffer
		w := newRedactWriter(&out, r).(*redactWriter)
		w.Write([]byte(text[:cut]))
		w.Write([]byte(text[cut:]))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("cut at %d: got %q, want %q", cut, out.String(), want)
		}
	}
	var out bytes.Buffer
	w := newRedactWriter(&out, r).(*redactWriter)
	for i := range len(text) {
		w.Write([]byte{text[i]})
	}
	w.Flush()
	if out.String() != want {
		t.Errorf("byte by byte: got %q, want %q", out.String(), want)
	}
	// Text that cannot start a secret is not held back.
	out.Reset()
	w = newRedactWriter(&out, r).(*redactWriter)
	w.Write([]byte("plain line\n"))
	if out.String() != "plain line\n" {
		t.Errorf("held back %q", strings.TrimPrefix("plain line\n", out.String()))
	}
}
