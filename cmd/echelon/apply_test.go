package main

import (
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const workspacesSpec = `
deployment "ws" {}

variable "secret" {
  type      = string
  sensitive = true
  default   = ""
}

phase "main" {}

mode "m" {
  terraform_parallelism = 4
}

component "infra" {
  phase   = phase.main
  driver  = "terraform"
  regions = ["a", "b", "c"]
  terraform {
    dir       = "tf"
    workspace = each.region
    target    = "module.region_deployment[\"${each.region}\"]"
    vars = {
      regions = ["a", "b", "c"]
      secret  = var.secret
    }
  }
}
`

// runCLI runs echelon in-process and returns stdout, stderr and the code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, piped, errb bytes.Buffer
	applyStdout = &out
	defer func() { applyStdout = os.Stdout }()
	// compile and friends print to os.Stdout: capture it through a pipe.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan struct{})
	go func() {
		piped.ReadFrom(r)
		close(done)
	}()
	code := run(context.Background(), args, &errb)
	w.Close()
	<-done
	os.Stdout = saved
	return piped.String() + out.String(), errb.String(), code
}

// TestApplyTerraformWorkspaces applies a terraform component with a
// workspace per region through the CLI: the plan holds no secret, apply
// refuses without it (stale: a sensitive variable differs), re-evaluates
// it from --var, runs one process per workspace, and a destroy plan
// destroys each region.
func TestApplyTerraformWorkspaces(t *testing.T) {
	if _, err := osexec.LookPath("terraform"); err != nil && os.Getenv("ECHELON_TERRAFORM") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("terraform not found (ECHELON_TERRAFORM or PATH); scripts/tools.sh provides it")
		}
		t.Skip("terraform not found")
	}
	dir := t.TempDir()
	copyTree(t, filepath.Join("..", "..", "exec", "testdata", "tf-workspaces"), filepath.Join(dir, "tf"))
	spec := filepath.Join(dir, "ws.hcl")
	if err := os.WriteFile(spec, []byte(workspacesSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.json")
	if _, stderr, code := runCLI(t, "compile", spec, "--var", "secret=s3cr3t", "-o", plan); code != 0 {
		t.Fatalf("compile: %d\n%s", code, stderr)
	}
	b, _ := os.ReadFile(plan)
	if bytes.Contains(b, []byte("s3cr3t")) {
		t.Fatal("the plan file holds the sensitive value")
	}

	_, stderr, code := runCLI(t, "apply", plan)
	if code != 1 || !strings.Contains(stderr, "a sensitive variable has another value") {
		t.Fatalf("apply without the secret: code %d, want 1 and a stale-plan message:\n%s", code, stderr)
	}

	out, stderr, code := runCLI(t, "apply", plan, "--var", "secret=s3cr3t")
	if code != 0 {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	for _, r := range []string{"a", "b", "c"} {
		got, err := os.ReadFile(filepath.Join(dir, "tf", "deployed-"+r+"-"+r))
		if err != nil || string(got) != "s3cr3t" {
			t.Errorf("region %s in workspace %s: %q, %v", r, r, got, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "tf", "terraform.tfstate.d", r, "terraform.tfstate")); err != nil {
			t.Errorf("no state for workspace %s: %v", r, err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, ".echelon", "runs", "*", "logs", "*"))
	for _, l := range logs {
		if b, _ := os.ReadFile(l); bytes.Contains(b, []byte("s3cr3t")) {
			t.Errorf("log %s holds the sensitive value", l)
		}
	}

	dplan := filepath.Join(dir, "destroy.json")
	if _, stderr, code := runCLI(t, "compile", spec, "--destroy", "--var", "secret=s3cr3t", "-o", dplan); code != 0 {
		t.Fatalf("compile --destroy: %d\n%s", code, stderr)
	}
	out, stderr, code = runCLI(t, "apply", dplan, "--var", "secret=s3cr3t")
	if code != 0 {
		t.Fatalf("apply destroy: %d\n%s\n%s", code, out, stderr)
	}
	for _, r := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(dir, "tf", "destroyed-"+r)); err != nil {
			t.Errorf("region %s was not destroyed: %v", r, err)
		}
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
