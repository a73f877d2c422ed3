package exec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadJournal: any bytes in a journal file give a state or a read
// error, never a panic, with a bounded number of warnings; a record the
// fuzzer leaves whole after a torn or damaged one is still counted.
func FuzzReadJournal(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","kind":"run_start","plan_digest":"sha256:ab"}` + "\n"))
	f.Add([]byte(`{"kind":"op_start","op":"a","attempt":1}` + "\n" + `{"kind":"op_end","op":"a","attempt":1,"outcome":"succeeded"}` + "\n"))
	f.Add([]byte("{\"kind\":\"op_end\",\"op\":\"a\",\"outcome\":\"succ"))
	f.Add([]byte("\x00\xff\n{}\n[]\n\"x\"\n{\"kind\":7}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "journal.jsonl")
		good := `{"kind":"op_end","op":"sentinel","attempt":3,"outcome":"succeeded"}` + "\n"
		// The fuzzed bytes, then a newline (ending whatever they left
		// torn), then one whole record.
		if err := os.WriteFile(path, []byte(string(data)+"\n"+good), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := ReadJournal(path)
		if err != nil {
			t.Fatalf("ReadJournal: %v", err)
		}
		if len(st.Warnings) > maxJournalWarnings+1 {
			t.Errorf("%d warnings, want at most %d", len(st.Warnings), maxJournalWarnings+1)
		}
		if r := st.Ops["sentinel"]; r == nil || !r.Succeeded {
			t.Errorf("the whole record after the fuzzed bytes was lost: %+v", r)
		}
		for _, w := range st.Warnings {
			if !strings.HasPrefix(w, path) {
				t.Errorf("warning without the file: %q", w)
			}
		}
	})
}

// TestReadJournalLongLine: a record longer than maxJournalLine is skipped
// with a warning, without keeping it, and the next record is read.
func TestReadJournalLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	long := strings.Repeat("x", 3*maxJournalLine)
	data := long + "\n" + `{"kind":"op_end","op":"a","attempt":1,"outcome":"succeeded"}` + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "longer than") {
		t.Errorf("warnings %q", st.Warnings)
	}
	if r := st.Ops["a"]; r == nil || !r.Succeeded {
		t.Errorf("the record after the long one: %+v", r)
	}
}
