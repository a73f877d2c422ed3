package planner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/lang"
)

// loadText writes files into a temporary spec directory and loads it.
func loadText(t *testing.T, files map[string]string) *lang.Spec {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, diags := lang.Load(dir, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return spec
}

const outputsHead = `
deployment "o" {}
phase "all" {}
mode "m" {}
variable "token" {
  type      = string
  sensitive = true
  default   = "s3cr3t-token"
}
component "infra" {
  phase        = "all"
  regions      = ["eu", "us"]
  mock_outputs = { cluster_id = "mock-cluster", endpoint = "https://mock" }
  terraform {
    dir       = "tf"
    workspace = each.region
  }
}
`

// Reading outputs implies the dependency on the instance read (the same
// region here, other regions not), or on every instance for a reference
// to the whole component; plans carry the reference, never the mock.
func TestOutputsImplyDependencies(t *testing.T) {
	spec := loadText(t, map[string]string{"tf/main.tf": "", "o.hcl": outputsHead + `
component "app" {
  phase   = "all"
  regions = ["eu", "us"]
  terraform {
    dir  = "tf"
    vars = { cluster = output.infra[each.region].cluster_id, size = 3, secret = "${output.infra["eu"].endpoint}${var.token}" }
  }
}
component "report" {
  phase    = "all"
  duration = "1s"
  command {
    argv = ["report", jsonencode(output.infra), "plain"]
    env  = { EU = output.infra.eu.endpoint }
  }
}
`})
	p, diags := Compile(spec, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ops := map[string]Operation{}
	for _, o := range p.Operations {
		ops[o.ID] = o
	}
	us := ops["app/us"]
	if want := []string{"infra/eu", "infra/us"}; !slices.Equal(us.DependsOn, want) {
		t.Errorf("app/us depends on %v, want %v", us.DependsOn, want)
	}
	if want := []string{"infra/eu"}; !slices.Equal(ops["app/eu"].DependsOn, want) {
		t.Errorf("app/eu depends on %v, want %v", ops["app/eu"].DependsOn, want)
	}
	wantOut := []OutputRef{{"infra/eu", "endpoint"}, {"infra/us", "cluster_id"}}
	if !slices.Equal(us.Outputs, wantOut) {
		t.Errorf("app/us outputs %v, want %v", us.Outputs, wantOut)
	}
	if got := us.Terraform.Vars["cluster"]; got != "(output infra/us.cluster_id)" {
		t.Errorf("vars.cluster = %v", got)
	}
	if got := us.Terraform.Vars["secret"]; got != Sensitive {
		t.Errorf("a sensitive value that reads outputs stays (sensitive): %v", got)
	}
	if got := us.Terraform.Vars["size"]; fmt.Sprint(got) != "[51]" && fmt.Sprint(got) != "3" {
		t.Errorf("vars.size = %v", got)
	}
	rep := ops["report"]
	if want := []string{"infra/eu", "infra/us"}; !slices.Equal(rep.DependsOn, want) {
		t.Errorf("report depends on %v, want every instance %v", rep.DependsOn, want)
	}
	if a := rep.Command.Argv; !strings.HasPrefix(a[1], "(output infra/eu.cluster_id, infra/eu.endpoint, infra/us.cluster_id") || a[2] != "plain" {
		t.Errorf("argv = %q", a)
	}
	if rep.Command.Env["EU"] != "(output infra/eu.endpoint)" {
		t.Errorf("env = %v", rep.Command.Env)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "mock-cluster") || strings.Contains(string(b), "https://mock") {
		t.Error("the plan holds a mock value")
	}
	if !strings.Contains(string(b), `"outputs": [`) {
		t.Error("no outputs in the plan")
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("the plan does not read back: %v", err)
	}
	if !slices.Equal(back.Operations[0].Outputs, p.Operations[0].Outputs) {
		t.Error("outputs do not read back")
	}

	// A destroy plan reverses the implied edge: the consumer goes first.
	d, diags := Compile(spec, Options{Destroy: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, o := range d.Operations {
		if o.ID == "infra/eu" && !slices.Contains(o.DependsOn, "app/eu") {
			t.Errorf("destroy: infra/eu depends on %v, want app/eu among them", o.DependsOn)
		}
	}
}

func TestOutputsCycle(t *testing.T) {
	spec := loadText(t, map[string]string{"tf/main.tf": "", "o.hcl": `
deployment "o" {}
phase "all" {}
mode "m" {}
component "a" {
  phase        = "all"
  mock_outputs = { id = "a" }
  terraform {
    dir  = "tf"
    vars = { b = output.b.id }
  }
}
component "b" {
  phase        = "all"
  depends_on   = [component.a]
  mock_outputs = { id = "b" }
  terraform {
    dir = "tf"
  }
}
`})
	_, diags := Compile(spec, Options{})
	if !diags.HasErrors() {
		t.Fatal("no cycle reported")
	}
	d := diags[0]
	if d.Summary != "Dependency cycle" || !strings.Contains(d.Detail, "a (reads outputs of) -> b -> a") || d.Subject == nil || d.Subject.Start.Line != 10 {
		t.Fatalf("got %s: %s at %v", d.Summary, d.Detail, d.Subject)
	}
}
