package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// FuzzLoad feeds arbitrary bytes through parse, decode and validation: any
// input must give a Spec and diagnostics, never a panic or a hang.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.hcl"))
	specs, _ := filepath.Glob(filepath.Join("..", "specs", "*", "*.hcl"))
	for _, p := range append(seeds, specs...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	// Each input is written to a file, since Load reads paths. Prefer a
	// tmpfs: on a disk busy with builds, a write can stall for seconds and
	// starve the fuzzer.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "echelon-fuzz-"); err == nil {
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "fuzz.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		// A slow input is a bug too: fail with it rather than stall the
		// fuzzer, which would not say which input hung.
		timer := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("Load took over 10s on %q", src)) })
		defer timer.Stop()
		spec, diags := Load(path, LoadOptions{Vars: []string{"x=1"}})
		if spec == nil {
			t.Fatal("Load returned a nil Spec")
		}
		if err := WriteDiagnostics(discard{}, diags, spec.Sources, false); err != nil {
			t.Fatal(err)
		}
		if err := WriteDiagnostics(discard{}, diags, spec.Sources, true); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// varTypes are the declarations FuzzVarValues picks from.
var varTypes = []string{"", "type = string", "type = number", "type = bool", "type = list(string)", "type = map(number)",
	"type = any", "type = set(string)", "type = object({ a = string, b = optional(number, 1) })", "type = tuple([string, number])"}

// FuzzVarValues feeds --var values and variables files (HCL and JSON)
// through a spec declaring one variable of a chosen type: never a panic,
// and a value that loads makes the round trip apply depends on: its JSON,
// given back as LoadOptions.Recorded, loads to the same JSON.
func FuzzVarValues(f *testing.F) {
	for i, seed := range []string{`x`, `5`, `["a", "b"]`, `{a = 1}`, `{"a": "x", "b": 2}`, `true`, `null`, `"${x}"`, `[[[1]]]`, `1e400`, ``} {
		f.Add(uint8(i), seed, []byte("v = "+seed+"\n"), i%2 == 0)
	}
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "echelon-fuzz-"); err == nil {
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	f.Fuzz(func(t *testing.T, kind uint8, raw string, file []byte, asJSON bool) {
		decl := varTypes[int(kind)%len(varTypes)]
		specPath := filepath.Join(dir, "s.hcl")
		spec := "deployment \"d\" {}\nphase \"p\" {}\nmode \"m\" {}\nvariable \"v\" {\n  " + decl + "\n}\n" +
			"component \"c\" {\n  phase = \"p\"\n  duration = \"1s\"\n  command { argv = [\"true\", jsonencode(var.v)] }\n}\n"
		if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		varPath := filepath.Join(dir, "v.tfvars")
		if asJSON {
			varPath = filepath.Join(dir, "v.json")
		}
		if err := os.WriteFile(varPath, file, 0o644); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("Load took over 10s on %q / %q", raw, file)) })
		defer timer.Stop()
		for _, opts := range []LoadOptions{{Vars: []string{"v=" + raw}}, {VarFiles: []string{varPath}}} {
			s, diags := Load(specPath, opts)
			if err := WriteDiagnostics(discard{}, diags, s.Sources, false); err != nil {
				t.Fatal(err)
			}
			if diags.HasErrors() || len(s.Variables) != 1 {
				continue
			}
			v := s.Variables[0].Value
			if !v.IsWhollyKnown() {
				continue
			}
			j, err := ctyjson.Marshal(v, v.Type())
			if err != nil {
				t.Fatalf("value does not marshal: %v", err)
			}
			again, diags := Load(specPath, LoadOptions{Recorded: map[string]string{"v": string(j)}})
			if diags.HasErrors() {
				t.Fatalf("recorded %s does not load: %v", j, diags)
			}
			w := again.Variables[0].Value
			k, err := ctyjson.Marshal(w, w.Type())
			if err != nil || string(k) != string(j) {
				t.Fatalf("recorded %s loads as %s (%v)", j, k, err)
			}
		}
	})
}
