package lang

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// TestDiagnosticsHideSensitive: no rendered diagnostic, text or JSON,
// quotes a sensitive value, whether lang's own checks or a function's
// error message would have printed it.
func TestDiagnosticsHideSensitive(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
variable "token" {
  type      = string
  sensitive = true
  default   = "Leak Me"
}
locals {
  n = parseint(var.token, 10)
  m = parseint(lower(var.token), 10)
  r = regex(var.token, "x")
}
component "c" {
  phase    = "p"
  regions  = [var.token]
  replicas = var.token
  duration = var.token
  command { argv = ["echo"] }
}
`})
	for _, opts := range []LoadOptions{{}, {Vars: []string{"token=Leak Me"}}} {
		spec, diags := Load(filepath.Join(dir, "s.hcl"), opts)
		if !diags.HasErrors() {
			t.Fatal("no error")
		}
		for _, asJSON := range []bool{false, true} {
			var b bytes.Buffer
			if err := WriteDiagnostics(&b, diags, spec.Sources, asJSON); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if strings.Contains(strings.ToLower(out), "leak me") {
				t.Errorf("diagnostics quote the sensitive value:\n%s", out)
			}
			if asJSON {
				continue // the same texts, JSON-escaped
			}
			for _, want := range []string{"Sensitive value not allowed here", `Invalid value for "number" parameter: the message is hidden`, `Call to function "regex" failed: the message is hidden`} {
				if !strings.Contains(out, want) {
					t.Errorf("diagnostics lack %q:\n%s", want, out)
				}
			}
		}
	}
}

// TestRedactString: quoted secrets go whatever their length, bare ones
// only when long enough not to hit ordinary words.
func TestRedactString(t *testing.T) {
	for _, tc := range []struct{ in, secret, want string }{
		{`got "ab" here`, "ab", `got (sensitive value) here`},
		{`a tab`, "ab", `a tab`},
		{`cannot parse hunter2x`, "hunter2x", `cannot parse (sensitive value)`},
	} {
		if got := redactString(tc.in, tc.secret); got != tc.want {
			t.Errorf("redactString(%q, %q) = %q, want %q", tc.in, tc.secret, got, tc.want)
		}
	}
}

// TestVarFileErrorsDoNotCascade: a variables file that does not parse, or
// sets a bad value, is the only error: the variables it may have set are
// not also reported as missing.
func TestVarFileErrorsDoNotCascade(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"s.hcl": skeleton + `
variable "size" { type = number }
variable "name" { type = string }
component "c" {
  phase    = "p"
  replicas = var.size
  duration = "1m"
  command { argv = ["echo", var.name] }
}
`,
		"broken.tfvars": "size = \n",
		"bad.tfvars":    "size = \"big\"\nname = \"x\"\n",
	})
	spec := filepath.Join(dir, "s.hcl")
	for _, tc := range []struct {
		name string
		opts LoadOptions
		want []string
	}{
		{"parse error", LoadOptions{VarFiles: []string{filepath.Join(dir, "broken.tfvars")}}, []string{"Invalid expression"}},
		{"bad value", LoadOptions{VarFiles: []string{filepath.Join(dir, "bad.tfvars")}}, []string{"Invalid value for variable"}},
		{"bad --var", LoadOptions{Vars: []string{"size=[", "name=x"}}, []string{"Invalid value for variable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Load(spec, tc.opts)
			if got := summaries(diags); strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("diagnostics = %q, want %q", got, tc.want)
			}
		})
	}
}

func summaries(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		out = append(out, d.Summary)
	}
	return out
}

// TestJSONVarFile: a *.json variables file is an object of name -> value.
func TestJSONVarFile(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"s.hcl": skeleton + `
variable "size" { type = number }
variable "regions" { type = list(string) }
component "c" {
  phase    = "p"
  regions  = var.regions
  replicas = var.size
  command { argv = ["echo"] }
}
`,
		"vars.json": `{"size": 2, "regions": ["eu", "us"], "other": true}`,
		"bad.json":  `{"size": `,
	})
	spec := filepath.Join(dir, "s.hcl")
	s, diags := Load(spec, LoadOptions{VarFiles: []string{filepath.Join(dir, "vars.json")}})
	if diags.HasErrors() {
		t.Fatalf("diags = %v", diags)
	}
	if c := s.Components[0]; c.Replicas != 2 || strings.Join(c.Regions, ",") != "eu,us" {
		t.Errorf("replicas %d regions %v", c.Replicas, c.Regions)
	}
	if got := summaries(diags); !contains(got, "Value for undeclared variable") {
		t.Errorf("no warning for the undeclared variable: %q", got)
	}
	_, diags = Load(spec, LoadOptions{VarFiles: []string{filepath.Join(dir, "bad.json")}})
	for _, d := range diags {
		if d.Summary == "No value for required variable" {
			t.Errorf("a JSON parse error cascades: %v", diags)
		}
	}
	if !diags.HasErrors() {
		t.Error("a broken JSON file is not an error")
	}
}

// TestMissingDurationWarning: a component other than terraform without a
// duration gets one warning (not one per instance); it stays valid.
func TestMissingDurationWarning(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "a" {
  phase   = "p"
  regions = ["eu", "us"]
  command { argv = ["echo"] }
}
component "b" {
  phase     = "p"
  resources = 10
  terraform { dir = "." }
}
component "c" {
  phase    = "p"
  duration = "2m"
  command { argv = ["echo"] }
}
`})
	s, diags := Load(dir, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("diags = %v", diags)
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != "Missing duration" ||
		!strings.Contains(diags[0].Detail, `Component "a"`) || !strings.Contains(diags[0].Detail, "assumes 1m") {
		t.Fatalf("diags = %v", diags)
	}
	if d := s.Components[0].Instances[1].Duration; d.P50 != DefaultDuration || d.P90 != DefaultDuration {
		t.Errorf("default duration = %+v", d)
	}
}

// TestSensitiveDescription: a description is only read by people, so a
// sensitive one is allowed, and kept as a placeholder.
func TestSensitiveDescription(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": `
variable "token" {
  sensitive = true
  default   = "Leak Me"
}
deployment "d" { description = "for ${var.token}" }
phase "p" { description = var.token }
mode "m" {}
component "c" {
  phase       = "p"
  description = var.token
  duration    = "1m"
  command { argv = ["true"] }
}
`})
	s := mustLoadStrict(t, dir, LoadOptions{})
	if s.Deployment.Description != "(sensitive value)" {
		t.Errorf("description = %q", s.Deployment.Description)
	}
}

// TestInvalidVarOptionHidesValue: a --var without NAME= may be a secret
// given alone: only a bare name is quoted back.
func TestInvalidVarOptionHidesValue(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "c" {
  phase    = "p"
  duration = "1m"
  command { argv = ["true"] }
}`})
	for in, want := range map[string]string{
		"count":          `The option --var "count" is not of the form NAME=VALUE.`,
		"s3cr3t p@ss!":   `An option --var is not of the form NAME=VALUE.`,
		"=s3cr3t p@ss!!": `An option --var is not of the form NAME=VALUE.`,
	} {
		_, diags := Load(dir, LoadOptions{Vars: []string{in}})
		if len(diags) != 1 || diags[0].Detail != want {
			t.Errorf("--var %q: diags = %v, want %q", in, diags, want)
		}
	}
}

func TestIsSensitiveNested(t *testing.T) {
	secret := cty.StringVal("s").Mark(MarkSensitive)
	for _, tc := range []struct {
		v    cty.Value
		want bool
	}{
		{cty.StringVal("s"), false},
		{secret, true},
		{cty.ObjectVal(map[string]cty.Value{"a": cty.TupleVal([]cty.Value{cty.StringVal("x"), secret})}), true},
		{cty.MapVal(map[string]cty.Value{"a": cty.ListVal([]cty.Value{cty.StringVal("x")})}), false},
		{cty.ListVal([]cty.Value{cty.StringVal("x")}).Mark("other"), false},
		{cty.NullVal(cty.List(cty.String)), false},
		{cty.UnknownVal(cty.List(cty.String)), false},
	} {
		if got := IsSensitive(tc.v); got != tc.want {
			t.Errorf("IsSensitive(%#v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
