package planner

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const binarySpec = `deployment "d" {}
phase "p" {}
mode "m" {}
component "net" {
  phase  = "p"
  driver = "terraform"
  terraform {
    dir = "net"
    BINARY
  }
}
`

// compileBinary compiles binarySpec with BINARY replaced by line.
func compileBinary(t *testing.T, line string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "net", "main.tf"), "")
	write(t, filepath.Join(dir, "spec.hcl"), strings.Replace(binarySpec, "BINARY", line, 1))
	p, diags := Compile(load(t, filepath.Join(dir, "spec.hcl")), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// binary = "tofu" is in the plan, and read back; binary = "terraform" is the
// default: its operations are those of a spec without it (the spec's
// digests differ with its text). golden/ proves that plans without the
// field keep their bytes.
func TestTerraformBinary(t *testing.T) {
	none := compileBinary(t, "")
	explicit := compileBinary(t, `binary = "terraform"`)
	if a, b := operationsOf(t, none), operationsOf(t, explicit); !bytes.Equal(a, b) {
		t.Errorf("binary = \"terraform\" changed the operations:\n%s\nwithout it:\n%s", b, a)
	}
	if bytes.Contains(none, []byte(`"binary"`)) {
		t.Errorf("a terraform plan names its binary:\n%s", none)
	}
	tofu := compileBinary(t, `binary = "tofu"`)
	if !bytes.Contains(tofu, []byte(`"binary": "tofu"`)) {
		t.Fatalf("no binary in the plan:\n%s", tofu)
	}
	p, err := Parse(tofu)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Operations[0].Terraform.Binary; got != "tofu" {
		t.Errorf("read back binary %q, want tofu", got)
	}
	if planDigestOf(t, tofu) == planDigestOf(t, none) {
		t.Error("the binary does not change the plan digest")
	}
}

// operationsOf is a plan's operations as JSON.
func operationsOf(t *testing.T, b []byte) []byte {
	t.Helper()
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := json.Marshal(p.Operations)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func planDigestOf(t *testing.T, b []byte) string {
	t.Helper()
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return p.PlanDigest
}
