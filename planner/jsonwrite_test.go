package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/echelonhq/echelon/planner/internal/specgen"
)

// fill sets every field reachable from v to a value that is not the zero
// value (two elements per slice and map, pointers allocated), with strings
// that need escaping and floats in both of encoding/json's formats.
func fill(v reflect.Value, seed *int) {
	*seed++
	strs := []string{"a<b>&c", "line\nbreak \"q\" \\ \u2028 é", "plain", "\x01ctl", "sha256:00"}
	floats := []float64{0.1, 1e-7, 1e21, 12345.678, -2.5}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[*seed%len(strs)])
	case reflect.Int:
		v.SetInt(int64(*seed))
	case reflect.Float64:
		v.SetFloat(floats[*seed%len(floats)])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), seed)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fill(k, seed)
			k.SetString(k.String() + string(rune('a'+i)))
			e := reflect.New(v.Type().Elem()).Elem()
			if e.Kind() == reflect.Interface {
				// Free-form values: raw JSON as compile writes them, and
				// decoded values as a read plan holds them.
				vals := []any{json.RawMessage(`{"k":[1,2.5,"x"],"e":{}}`), map[string]any{"n": 20261.0, "s": "v"}}
				e.Set(reflect.ValueOf(vals[i]))
			} else {
				fill(e, seed)
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf("(sensitive)"))
	default:
		panic("fill: unhandled kind " + v.Kind().String() + ": extend fill and planWriter")
	}
}

func TestPlanWriterMatchesEncodingJSON(t *testing.T) {
	check := func(name string, p *Plan) {
		t.Helper()
		want, err := encode(p)
		if err != nil {
			t.Fatal(err)
		}
		w := planWriter{}
		w.plan(p)
		if w.err != nil {
			t.Fatal(w.err)
		}
		got := append(w.b, '\n')
		if !bytes.Equal(want, got) {
			t.Errorf("%s: planWriter differs from encoding/json (a field added to plan.go needs a line in jsonwrite.go):\n%s", name, lineDiff(want, got))
		}
	}
	var full Plan
	seed := 0
	fill(reflect.ValueOf(&full).Elem(), &seed)
	check("every field set", &full)

	// Empty and nil slices and maps, omitempty fields unset.
	check("zero plan", &Plan{})
	empty := Plan{}
	empty.normalize()
	empty.Operations = []Operation{{Command: &Command{}, Kubectl: &Kubectl{}, Helm: &Helm{}, Terraform: &Terraform{}}}
	empty.normalize()
	check("empty values", &empty)

	// And every golden plan, read back.
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*", "*.plan.json"))
	if len(files) == 0 {
		t.Fatal("no golden plans")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		check(f, p)
	}
}

// Marshal hashes and hands over the plan in chunks: a plan of several
// chunks must still be, byte for byte, the encoding/json bytes with the
// sha256 of those bytes (plan_digest "") spliced in, and WriteTo must
// write the same.
func TestMarshalInChunks(t *testing.T) {
	dir := t.TempDir()
	if err := specgen.WriteDir(dir, 3000); err != nil {
		t.Fatal(err)
	}
	p, diags := Compile(specgen.Spec(3000, dir), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 3*chunkSize {
		t.Fatalf("plan of %d bytes: make it span more chunks of %d", len(got), chunkSize)
	}
	digest := p.PlanDigest
	p.PlanDigest = ""
	blank, err := encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := sum(blank); digest != want {
		t.Fatalf("plan_digest %s, want %s", digest, want)
	}
	want := bytes.Replace(blank, []byte(digestLine+`""`), []byte(digestLine+`"`+digest+`"`), 1)
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal differs from encoding/json:\n%s", lineDiff(want, got))
	}
	var buf bytes.Buffer
	n, err := p.WriteTo(&buf)
	if err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteTo wrote %d bytes (err %v), want Marshal's %d", n, err, len(want))
	}
	if p.PlanDigest != digest {
		t.Errorf("WriteTo set plan_digest %s, want %s", p.PlanDigest, digest)
	}
	// WriteFile writes the chunks at their offsets and the head last,
	// reusing buffers: the same bytes, and nothing else left behind.
	out := filepath.Join(t.TempDir(), "sub", "plan.json")
	p.PlanDigest = ""
	if err := p.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("WriteFile wrote %d bytes (err %v), want Marshal's %d:\n%s", len(b), err, len(want), lineDiff(want, b))
	}
	if p.PlanDigest != digest {
		t.Errorf("WriteFile set plan_digest %s, want %s", p.PlanDigest, digest)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("plan file mode: %v %v", st.Mode(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("WriteFile left %d files, want the plan alone", len(ents))
	}
	if _, err := Parse(got); err != nil {
		t.Error(err)
	}
}

// encode is the reflection path: compact JSON from encoding/json without
// HTML escaping, indented by 2 spaces, with a trailing newline. The tests
// hold planWriter to it.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	compact := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return append(appendIndented(make([]byte, 0, len(compact)+len(compact)/2), compact, 0), '\n'), nil
}
