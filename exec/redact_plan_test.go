package exec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

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
	rp, secrets, err := RuntimePlan(p, s)
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
			t.Errorf("RuntimePlan changed the plan: %+v", op.Helm)
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
