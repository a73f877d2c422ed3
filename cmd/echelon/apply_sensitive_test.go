package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// TestApplySensitiveCommand: a command operation gets a sensitive value in
// its env and argv (as written and derived). The plan holds placeholders;
// apply runs the real values (the operation writes what it got to a file)
// and the secret is nowhere in what apply printed or kept in its state.
func TestApplySensitiveCommand(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "got.txt")
	spec := `
deployment "s" {}
variable "token" {
  type      = string
  sensitive = true
}
phase "p" {}
mode "m" {}
component "c" {
  phase    = "p"
  driver   = "command"
  duration = "1s"
  command {
    argv = ["sh", "-c", "printf '%s|%s|%s|%s|%s|%s\n' \"$T\" \"$1\" \"$L\" \"$2\" \"$3\" \"$F\" > ` + got + `; echo \"printing $T\"; echo \"$T\" >&2", "sh", "--token=${var.token}", "--pw=${upper(var.token)}", lower(var.token)]
    env  = { T = var.token, L = lower(var.token), F = format("x-%s", lower(var.token)) }
  }
}
`
	specPath := filepath.Join(dir, "s.hcl")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "p.json")
	if out, errOut, code := runCLI(t, "compile", specPath, "--var", "token=Sekr3tVal", "-o", plan); code != 0 {
		t.Fatalf("compile: %d\n%s%s", code, out, errOut)
	}
	// Case-insensitive: lower(var.token) and upper(var.token) do not
	// contain the token; lang records that they derive from it.
	b, _ := os.ReadFile(plan)
	if strings.Contains(strings.ToLower(string(b)), "sekr3tval") || !strings.Contains(string(b), planner.Sensitive) {
		t.Fatalf("the plan holds the secret or no placeholder:\n%s", b)
	}
	// What the plan shows of the command: the secret-free argv and env
	// as written, placeholders for every element derived from the token.
	pl, err := planner.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	cmd := pl.Operations[0].Command
	if want := []string{"sh", "-c", cmd.Argv[2], "sh", planner.Sensitive, planner.Sensitive, planner.Sensitive}; !slices.Equal(cmd.Argv, want) {
		t.Errorf("planned argv %q, want %q", cmd.Argv, want)
	}
	for _, k := range []string{"T", "L", "F"} {
		if cmd.Env[k] != planner.Sensitive {
			t.Errorf("planned env %s = %q, want %q", k, cmd.Env[k], planner.Sensitive)
		}
	}
	for _, args := range [][]string{
		{"show", plan}, {"show", plan, "--json"},
		{"graph", plan}, {"graph", plan, "--json"},
		{"graph", specPath, "--var", "token=Sekr3tVal"}, {"graph", specPath, "--var", "token=Sekr3tVal", "--json"},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: %d\n%s%s", args, code, out, errOut)
		}
		if strings.Contains(strings.ToLower(out+errOut), "sekr3tval") {
			t.Errorf("%q printed the secret:\n%s%s", args, out, errOut)
		}
	}
	for _, asJSON := range []bool{false, true} {
		args := []string{"apply", plan, "--var", "token=Sekr3tVal"}
		if asJSON {
			args = append(args, "--json")
		}
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("apply: %d\n%s%s", code, out, errOut)
		}
		b, err := os.ReadFile(got)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Sekr3tVal|--token=Sekr3tVal|sekr3tval|--pw=SEKR3TVAL|sekr3tval|x-sekr3tval\n"; string(b) != want {
			t.Errorf("the operation got %q, want %q", b, want)
		}
		if strings.Contains(strings.ToLower(out+errOut), "sekr3tval") {
			t.Errorf("apply printed the secret:\n%s%s", out, errOut)
		}
		masked := false
		filepath.WalkDir(filepath.Join(dir, ".echelon"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(strings.ToLower(string(b)), "sekr3tval") {
				t.Errorf("%s holds the secret:\n%s", p, b)
			}
			masked = masked || strings.Contains(string(b), "printing (sensitive)")
			return nil
		})
		if !masked {
			t.Errorf("no log shows the masked output")
		}
	}
}

// TestRuntimePlanHelmKubectl: placeholders in helm values and settings
// and kubectl settings get the spec's values; the rest stays as planned,
// and the secrets to mask are the variable and what derives from it.
func TestRuntimePlanHelmKubectl(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := `
deployment "s" {}
variable "token" {
  type      = string
  sensitive = true
}
variable "port" {
  type      = number
  sensitive = true
}
phase "p" {}
mode "m" {}
component "h" {
  phase  = "p"
  driver = "helm"
  helm {
    release   = "rel"
    chart     = "oci://example.com/charts/app"
    context   = "c-${lower(var.token)}"
    namespace = "ns-${var.token}"
    values = {
      plain = "visible"
      auth  = { token = upper(var.token), user = "admin" }
      port  = var.port
    }
  }
}
component "k" {
  phase  = "p"
  driver = "kubectl"
  kubectl {
    manifests = ["m.yaml"]
    context   = format("ctx-%s", lower(var.token))
    namespace = upper(var.token)
  }
}
`
	specPath := filepath.Join(dir, "s.hcl")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, diags := lang.Load(specPath, lang.LoadOptions{Vars: []string{"token=Sekr3tVal", "port=31337"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := planner.Compile(s, planner.Options{Mode: "m"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(b)), "sekr3tval") {
		t.Fatalf("the plan holds the secret or a string derived from it:\n%s", b)
	}
	if p, err = planner.Parse(b); err != nil {
		t.Fatal(err)
	}
	rp, secrets, err := runtimePlan(p, s)
	if err != nil {
		t.Fatal(err)
	}
	var h, k *planner.Operation
	for i := range rp.Operations {
		switch rp.Operations[i].Driver {
		case "helm":
			h = &rp.Operations[i]
		case "kubectl":
			k = &rp.Operations[i]
		}
	}
	if h.Helm.Namespace != "ns-Sekr3tVal" || h.Helm.Context != "c-sekr3tval" || h.Helm.Release != "rel" {
		t.Errorf("helm settings: %+v", h.Helm)
	}
	if h.Helm.Values["plain"] != "visible" || h.Helm.Values["port"] != 31337.0 {
		t.Errorf("helm values: %v", h.Helm.Values)
	}
	if auth, _ := h.Helm.Values["auth"].(map[string]any); auth["token"] != "SEKR3TVAL" || auth["user"] != "admin" {
		t.Errorf("helm values auth: %v", h.Helm.Values["auth"])
	}
	if k.Kubectl.Context != "ctx-sekr3tval" || k.Kubectl.Namespace != "SEKR3TVAL" || k.Kubectl.Manifests[0] != "m.yaml" {
		t.Errorf("kubectl settings: %+v", k.Kubectl)
	}
	// The plan read from the file still holds the placeholders.
	for _, op := range p.Operations {
		if op.Helm != nil && op.Helm.Namespace != planner.Sensitive {
			t.Errorf("runtimePlan changed the plan: %+v", op.Helm)
		}
	}
	for _, want := range []string{"Sekr3tVal", "SEKR3TVAL", "31337", "ns-Sekr3tVal", "c-sekr3tval", "ctx-sekr3tval"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("secrets %q lack %q", secrets, want)
		}
	}
	for _, not := range []string{"admin", "visible"} {
		if slices.Contains(secrets, not) {
			t.Errorf("secrets %q hold the non-sensitive %q", secrets, not)
		}
	}
}
