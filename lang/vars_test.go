package lang

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// TestUntypedVarValues: as in Terraform, a --var or ECHELON_VAR_ value
// for a variable with no type is the string as given, and one that reads
// as a list or map now says so (a warning at the declaration, not quoting
// the value); with type = any it is parsed as HCL, as Terraform does.
func TestUntypedVarValues(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": fullSkeleton + `
variable "untyped" {
  default = "x"
}
variable "anything" {
  type    = any
  default = "x"
}
`})
	spec := filepath.Join(dir, "s.hcl")
	for _, tc := range []struct {
		name     string
		opts     LoadOptions
		untyped  cty.Value
		anything cty.Value
		warn     bool
	}{
		{"list", LoadOptions{Vars: []string{`untyped=["a","b"]`, `anything=["a","b"]`}},
			cty.StringVal(`["a","b"]`), cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}), true},
		{"map from the environment", LoadOptions{Environ: []string{`ECHELON_VAR_untyped= {a=1}`, `ECHELON_VAR_anything={a=1}`}},
			cty.StringVal(` {a=1}`), cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)}), true},
		{"plain string", LoadOptions{Vars: []string{`untyped=5`, `anything="5"`}},
			cty.StringVal("5"), cty.StringVal("5"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, diags := Load(spec, tc.opts)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var warned []*hcl.Diagnostic
			for _, d := range diags {
				if d.Summary == "Value taken as a string" {
					warned = append(warned, d)
				}
			}
			if tc.warn != (len(warned) == 1) {
				t.Errorf("warnings = %v, want one: %v", warned, tc.warn)
			}
			for _, d := range warned {
				if d.Severity != hcl.DiagWarning || d.Subject == nil || d.Subject.Start.Line != 11 || !strings.Contains(d.Detail, `"untyped"`) || strings.Contains(d.Detail, "a=1") || strings.Contains(d.Detail, `"a"`) {
					t.Errorf("warning at %v: %s", d.Subject, d.Detail)
				}
			}
			got := map[string]cty.Value{}
			for _, v := range s.Variables {
				got[v.Name] = v.Value
			}
			if !got["untyped"].RawEquals(tc.untyped) || !got["anything"].RawEquals(tc.anything) {
				t.Errorf("untyped = %#v, anything = %#v; want %#v, %#v", got["untyped"], got["anything"], tc.untyped, tc.anything)
			}
		})
	}
}

// TestRecordedValues: values a plan recorded (JSON) keep their types,
// are converted to the declared type, lose to --var and beat var files.
func TestRecordedValues(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": fullSkeleton + `
variable "n" {
  default = 1
}
variable "l" {
  type    = set(string)
  default = []
}
variable "s" {
  default = "x"
}
`, "v.tfvars": "s = \"from file\"\n"})
	s, diags := Load(filepath.Join(dir, "s.hcl"), LoadOptions{
		Recorded: map[string]string{"n": "5", "l": `["b","a"]`, "s": `"${x}"`, "undeclared": "1"},
		VarFiles: []string{filepath.Join(dir, "v.tfvars")},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]cty.Value{
		"n": cty.NumberIntVal(5),
		"l": cty.SetVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
		"s": cty.StringVal("${x}"),
	}
	for _, v := range s.Variables {
		if !v.Value.RawEquals(want[v.Name]) {
			t.Errorf("%s = %#v, want %#v", v.Name, v.Value, want[v.Name])
		}
	}
	s, _ = Load(filepath.Join(dir, "s.hcl"), LoadOptions{Recorded: map[string]string{"n": "5"}, Vars: []string{"n=7"}})
	if v := s.Variables[0].Value; !v.RawEquals(cty.StringVal("7")) {
		t.Errorf("--var n=7 after a recorded 5: n = %#v", v)
	}
	_, diags = Load(filepath.Join(dir, "s.hcl"), LoadOptions{Recorded: map[string]string{"l": `{`}})
	if !diags.HasErrors() {
		t.Error("a recorded value that is not JSON loads")
	}
}

// TestVarFileInSpecDir: a --var-file named *.hcl inside the spec
// directory was also read as a spec file (its name = value lines are not
// spec blocks: errors). It is now left out of the spec's files, however
// its path is spelled.
func TestVarFileInSpecDir(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"spec/s.hcl":    fullSkeleton + "variable \"v\" {\n  type = string\n}\n",
		"spec/vars.hcl": "v = \"from the var file\"\n",
	})
	for _, vf := range []string{filepath.Join(dir, "spec", "vars.hcl"), filepath.Join(dir, "spec", "..", "spec", "vars.hcl")} {
		s := mustLoad(t, filepath.Join(dir, "spec"), LoadOptions{VarFiles: []string{vf}})
		if len(s.Files) != 1 || filepath.Base(s.Files[0]) != "s.hcl" {
			t.Errorf("spec files = %q, want only s.hcl", s.Files)
		}
		if v := s.Variables[0].Value; !v.RawEquals(cty.StringVal("from the var file")) {
			t.Errorf("v = %#v", v)
		}
	}
}

// TestNullIsUnset: regions = null was an error; as in Terraform, null
// for an optional attribute means unset, whether written or computed,
// so the default applies. A required attribute set to null is still an
// error.
func TestNullIsUnset(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"ok.hcl": `
deployment "d" {
  description = null
}
variable "regions" {
  type    = list(string)
  default = null
}
phase "p" {
  after = null
}
mode "m" {
  max_parallel = null
}
component "c" {
  phase      = "p"
  regions    = null
  replicas   = var.regions == null ? null : 2
  depends_on = null
  duration   = null
  retries    = null
  command {
    argv = ["true"]
    env  = null
    dir  = null
  }
}
component "r" {
  phase   = "p"
  regions = var.regions
  command { argv = ["true"] }
}
`,
		"bad.hcl": skeleton + `
component "c" {
  phase = null
  command { argv = null }
}
`,
	})
	s := mustLoad(t, filepath.Join(dir, "ok.hcl"), LoadOptions{})
	for _, c := range s.Components {
		if len(c.Regions) != 0 || len(c.Instances) != 1 {
			t.Errorf("component %s: regions %q, %d instances; want none and 1", c.Name, c.Regions, len(c.Instances))
		}
	}
	_, diags := Load(filepath.Join(dir, "bad.hcl"), LoadOptions{})
	if n := len(summaries(diags)); n < 2 {
		t.Errorf("required attributes set to null: %d errors, want 2: %v", n, diags)
	}
}

// TestLoadContext: a done Context stops Load at its next step, with an
// "Interrupted" error, before the components are decoded.
func TestLoadContext(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": fullSkeleton})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, diags := Load(filepath.Join(dir, "s.hcl"), LoadOptions{Context: ctx})
	if got := summaries(diags); len(got) != 1 || got[0] != "Interrupted" {
		t.Errorf("diagnostics = %q, want only Interrupted", got)
	}
	if len(s.Components) != 0 {
		t.Errorf("%d components decoded after the interruption", len(s.Components))
	}
	mustLoad(t, filepath.Join(dir, "s.hcl"), LoadOptions{Context: context.Background()})
}
