package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyUntypedDefaults: a variable with no type and a non-string
// default compiled, but apply re-read the plan's recorded values as --var
// strings (5 became "5") and always called the plan stale. Recorded
// values now keep their types: compile then apply succeeds for each.
func TestApplyUntypedDefaults(t *testing.T) {
	for _, def := range []string{`5`, `true`, `["a", "b"]`, `{ a = 1 }`, `1.5e300`, `{ a = [1, { b = null }] }`, `"$${x} %%{y}"`, `"5"`, `null`} {
		t.Run(def, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "s.hcl")
			text := fmt.Sprintf(`
deployment "d" {}
phase "p" {}
mode "m" {}
variable "v" {
  default = %s
}
variable "typed" {
  type    = list(string)
  default = ["x"]
}
component "c" {
  phase    = "p"
  duration = "1s"
  command { argv = ["true", jsonencode(var.v), jsonencode(var.typed)] }
}
`, def)
			if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			plan := filepath.Join(dir, "plan.json")
			if _, stderr, code := runCLI(t, "compile", spec, "-o", plan); code != 0 {
				t.Fatalf("compile: %d\n%s", code, stderr)
			}
			if out, stderr, code := runCLI(t, "apply", plan); code != 0 {
				t.Fatalf("apply: code %d\n%s%s", code, out, stderr)
			}
			// --var still wins over the recorded value (and is a string).
			_, stderr, code := runCLI(t, "apply", plan, "--var", "v=7")
			if code != 1 || !strings.Contains(stderr, "stale") {
				t.Errorf("apply --var v=7: code %d, want 1 and stale:\n%s", code, stderr)
			}
		})
	}
}
