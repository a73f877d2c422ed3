package lang

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

const outputsSpec = `
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

component "global" {
  phase        = "all"
  replicas     = 2
  mock_outputs = { id = "g" }
  terraform {
    dir = "tf"
  }
}

component "app" {
  phase   = "all"
  regions = ["eu", "us"]
  terraform {
    dir  = "tf2"
    vars = { cluster = output.infra[each.region].cluster_id, size = 3, both = "${output.global[1].id}-${var.token}" }
  }
}

component "cmd" {
  phase    = "all"
  duration = "1s"
  command {
    argv = ["echo", output.infra["eu"].endpoint, "plain"]
    env  = { ALL = jsonencode(output.infra), N = "${length(keys(output.infra))}" }
  }
}
`

func TestOutputsLoad(t *testing.T) {
	dir := writeSpec(t, map[string]string{"o.hcl": outputsSpec, "tf/main.tf": "", "tf2/main.tf": ""})
	spec := mustLoadStrict(t, dir, LoadOptions{})
	app := spec.Component("app")
	us := app.Instances[1]
	if us.Region != "us" {
		t.Fatalf("instance order: %s", us.Region)
	}
	want := map[string][]OutputRef{
		"vars.cluster": {{"infra", "us", 0, "cluster_id"}},
		"vars.both":    {{"global", "", 1, "id"}},
	}
	if len(us.Outputs) != len(want) {
		t.Fatalf("outputs %v, want %v", us.Outputs, want)
	}
	for k, w := range want {
		if got := us.Outputs[k]; len(got) != 1 || got[0] != w[0] {
			t.Errorf("outputs[%s] = %v, want %v", k, got, w)
		}
	}
	if got := us.Terraform.Vars["cluster"]; got.AsString() != "mock-cluster" {
		t.Errorf("vars.cluster = %#v, want the mock", got)
	}
	if !IsSensitive(us.Terraform.Vars["both"]) || IsSensitive(us.Terraform.Vars["cluster"]) {
		t.Errorf("sensitive marks lost or added: %#v", us.Terraform.Vars)
	}
	cmd := spec.Component("cmd").Instances[0]
	if got := cmd.Outputs["argv.1"]; len(got) != 1 || got[0] != (OutputRef{"infra", "eu", 0, "endpoint"}) {
		t.Errorf("argv.1 reads %v", got)
	}
	if _, ok := cmd.Outputs["argv.2"]; ok {
		t.Errorf("argv.2 reads no output: %v", cmd.Outputs)
	}
	// A whole-component reference reads every instance's outputs.
	if got := cmd.Outputs["env.ALL"]; len(got) != 4 {
		t.Errorf("env.ALL reads %v, want both outputs of both regions", got)
	}
	// keys() of the regions reads no output value.
	if got := cmd.Outputs["env.N"]; len(got) != 0 {
		t.Errorf("env.N reads %v, want none", got)
	}

	// At run time: the real values, a sensitive one marked.
	get := func(comp, region string, replica int) (map[string]cty.Value, bool) {
		switch comp {
		case "infra":
			return map[string]cty.Value{"cluster_id": cty.StringVal("real-" + region), "endpoint": cty.StringVal("https://" + region)}, true
		case "global":
			return map[string]cty.Value{"id": cty.StringVal("gid").Mark(MarkSensitive)}, true
		}
		return nil, false
	}
	in, diags := spec.ResolveOutputs("app", "us", 0, get)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := in.Terraform.Vars["cluster"]; got.AsString() != "real-us" {
		t.Errorf("resolved cluster = %#v", got)
	}
	if got, _ := in.Terraform.Vars["both"].Unmark(); got.AsString() != "gid-s3cr3t-token" {
		t.Errorf("resolved both = %#v", got)
	}
	if us.Terraform.Vars["cluster"].AsString() != "mock-cluster" {
		t.Error("ResolveOutputs changed the spec's instance")
	}
	cin, diags := spec.ResolveOutputs("cmd", "", 0, get)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cin.Command.Argv[1] != "https://eu" || cin.Command.Argv[2] != "plain" {
		t.Errorf("resolved argv = %q", cin.Command.Argv)
	}
	if !strings.Contains(cin.Command.Env["ALL"], "real-us") {
		t.Errorf("resolved env ALL = %q", cin.Command.Env["ALL"])
	}

	// An output Terraform does not have: an error at the reference.
	missing := func(comp, region string, replica int) (map[string]cty.Value, bool) {
		if comp == "infra" {
			return map[string]cty.Value{"endpoint": cty.StringVal("x")}, true
		}
		return get(comp, region, replica)
	}
	_, diags = spec.ResolveOutputs("app", "eu", 0, missing)
	if !diags.HasErrors() || diags[0].Summary != "Output not in Terraform's state" || diags[0].Subject == nil ||
		diags[0].Subject.Start.Line != 36 || !strings.Contains(diags[0].Detail, `"cluster_id" of infra/eu`) {
		t.Fatalf("missing output: %v", diags)
	}
	var _ hcl.Diagnostics = diags
}
