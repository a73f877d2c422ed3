package exec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

const tfSecretSpec = `
deployment "tf-secret" {}

variable "secret" {
  type      = string
  sensitive = true
}

phase "main" {}

mode "m" {}

component "infra" {
  phase   = phase.main
  driver  = "terraform"
  regions = ["a", "b"]
  terraform {
    dir       = "tf"
    workspace = each.region
    target    = "module.region_deployment[\"${each.region}\"]"
    vars = {
      regions = ["a", "b"]
      secret  = var.secret
    }
  }
}
`

// TestTerraformVarsNotInArgv applies a terraform component whose sensitive
// variable the fixture writes to a file (so it must arrive), through a
// wrapper that records every terraform command line before running the
// real terraform: no command line holds the secret, the vars came in a
// var file of mode 0600 inside the run directory, and that file is gone
// once the run ends.
func TestTerraformVarsNotInArgv(t *testing.T) {
	bin := terraformBin(t)
	const secret = "Sekr3t-0f-T3st"
	dir := t.TempDir()
	copyDir(t, "testdata/tf-workspaces", filepath.Join(dir, "tf"))
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(tfSecretSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), []string{"secret=" + secret}, planner.Options{})
	// What apply does for a sensitive variable: the plan holds a
	// placeholder, the run gets the value.
	vars := map[string]map[string]any{}
	for _, op := range p.Operations {
		if got := fmt.Sprintf("%s", op.Terraform.Vars["secret"]); !strings.Contains(got, Masked) {
			t.Fatalf("the plan holds %v for the sensitive var", got)
		}
		vars[op.ID] = map[string]any{"regions": []any{"a", "b"}, "secret": secret}
	}

	argvLog := filepath.Join(dir, "argv.log")
	wrapper := filepath.Join(dir, "terraform-wrapper")
	// One write per wrapper: two workspaces' terraform run at once, and
	// their lines must not interleave.
	script := `#!/bin/sh
rec=$(
  tr '\0' ' ' < /proc/$$/cmdline; echo
  for a in "$@"; do
    case "$a" in -var-file=*) stat -c 'varfile %a %n' "${a#-var-file=}" ;; esac
  done
)
printf '%s\n' "$rec" >> '` + argvLog + `'
exec '` + bin + `' "$@"
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, ".echelon")
	res, err := Run(context.Background(), p, Options{
		StateDir: state, SpecDir: spec.Dir, Vars: vars, Secrets: []string{secret},
		Env: append(os.Environ(), "ECHELON_TERRAFORM="+wrapper, "CHECKPOINT_DISABLE=1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failed {
		log, _ := os.ReadFile(f.Log)
		t.Errorf("%s failed: %s\n%s", f.Op, f.Error, log)
	}
	if !res.OK() {
		t.Fatalf("result: %+v", res)
	}
	for _, r := range []string{"a", "b"} {
		got, err := os.ReadFile(filepath.Join(dir, "tf", "deployed-"+r+"-"+r))
		if err != nil || string(got) != secret {
			t.Errorf("region %s: terraform got %q (%v), want the secret", r, got, err)
		}
	}
	b, err := os.ReadFile(argvLog)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if strings.Contains(log, secret) {
		t.Errorf("a terraform command line holds the secret:\n%s", log)
	}
	var files []string
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(line, "varfile "); ok {
			mode, path, _ := strings.Cut(rest, " ")
			if mode != "600" {
				t.Errorf("var file %s has mode %s, want 600", path, mode)
			}
			if filepath.Dir(path) != res.RunDir {
				t.Errorf("var file %s is not in the run directory %s", path, res.RunDir)
			}
			files = append(files, path)
		}
	}
	if len(files) != 2 {
		t.Errorf("%d applies with a var file, want 2 (one per workspace):\n%s", len(files), log)
	}
	for _, f := range files {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("var file %s still exists after the run (%v)", f, err)
		}
	}
}

// TestVarFileAbsolute: the var file's path is absolute even when the run
// directory is relative, since terraform runs in its own directory (a plan
// applied as `echelon apply p.plan` has the relative state .echelon).
func TestVarFileAbsolute(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Skip(err)
	}
	path, err := writeVarFile(rel, map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	if !filepath.IsAbs(path) {
		t.Errorf("var file %q is relative", path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}
