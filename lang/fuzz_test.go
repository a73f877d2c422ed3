package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
