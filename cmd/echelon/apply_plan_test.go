package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

const helloSpec = `
deployment "hello" {}
phase "greet" {}
mode "fast" {}
component "hello" {
  phase   = "greet"
  driver  = "command"
  regions = ["eu", "asia"]
  command {
    argv = ["sh", "-c", "touch ran-$ECHELON_REGION"]
  }
}
`

// A plan edited by hand and given a recomputed plan_digest (review #9) is
// refused before anything runs, naming the first difference.
func TestApplyRefusesTamperedPlan(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "hello.hcl")
	if err := os.WriteFile(spec, []byte(helloSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.json")
	if _, stderr, code := runCLI(t, "compile", spec, "-o", plan); code != 0 {
		t.Fatalf("compile: %d\n%s", code, stderr)
	}
	for _, tc := range []struct {
		name string
		edit func(p *planner.Plan)
		want string
	}{
		{"action", func(p *planner.Plan) { p.Action = "explode" }, `action: plan has "explode"`},
		{"argv", func(p *planner.Plan) { p.Operations[0].Command.Argv = []string{"sh", "-c", "touch evil"} }, `operation "hello/asia": command`},
		{"negmax", func(p *planner.Plan) { p.Mode.MaxParallel = -5 }, "mode:"},
	} {
		p, err := planner.ReadFile(plan)
		if err != nil {
			t.Fatal(err)
		}
		tc.edit(p)
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runCLI(t, "apply", bad)
		if code != 1 || !strings.Contains(stderr, "does not match what its spec compiles to: edited by hand?") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: code %d, want 1 and a mismatch naming %q:\n%s", tc.name, code, tc.want, stderr)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "ran-*")); len(m) > 0 || fileExists(filepath.Join(dir, "evil")) {
		t.Errorf("a refused plan ran operations: %v", m)
	}
	if _, stderr, code := runCLI(t, "apply", plan); code != 0 {
		t.Errorf("the untouched plan: code %d\n%s", code, stderr)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestApplyDirectory: apply given a directory says what it expected, not
// only "is a directory".
func TestApplyDirectory(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runCLI(t, "apply", dir)
	want := dir + " is a directory; apply takes a plan file from `echelon compile -o`"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("apply DIR: code %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}
