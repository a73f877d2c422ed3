package lang

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// writeSpec writes files (name -> content) into a temp dir and returns it.
func writeSpec(t *testing.T, files map[string]string) string {
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
	return dir
}

// mustLoad loads a spec that must have no diagnostic but the warning for
// a component without duration (most test specs leave it out).
func mustLoad(t *testing.T, path string, opts LoadOptions) *Spec {
	t.Helper()
	spec, diags := Load(path, opts)
	var rest hcl.Diagnostics
	for _, d := range diags {
		if d.Severity != hcl.DiagWarning || d.Summary != "Missing duration" {
			rest = append(rest, d)
		}
	}
	if len(rest) > 0 {
		var b bytes.Buffer
		WriteDiagnostics(&b, rest, spec.Sources, false)
		t.Fatalf("unexpected diagnostics:\n%s", b.String())
	}
	return spec
}

// mustLoadStrict loads a spec that must have no diagnostic at all.
func mustLoadStrict(t *testing.T, path string, opts LoadOptions) *Spec {
	t.Helper()
	spec, diags := Load(path, opts)
	if len(diags) > 0 {
		var b bytes.Buffer
		WriteDiagnostics(&b, diags, spec.Sources, false)
		t.Fatalf("unexpected diagnostics:\n%s", b.String())
	}
	return spec
}

const skeleton = `
deployment "d" {}
phase "p" {}
mode "m" {}
`

// TestSpecsValidate: every example spec in specs/ loads without a
// diagnostic, warnings included.
func TestSpecsValidate(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "specs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			spec := mustLoadStrict(t, dir, LoadOptions{})
			for _, c := range spec.Components {
				if len(c.Instances) == 0 {
					t.Errorf("component %s has no instances", c.Name)
				}
			}
		})
	}
	if n == 0 {
		t.Skip("no specs yet")
	}
}

func TestVariablePrecedence(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"spec.hcl": skeleton + `
variable "size" {
  type    = number
  default = 1
}
variable "tags" {
  type    = map(string)
  default = {}
}
component "c" {
  phase    = phase.p
  replicas = var.size
  command {
    argv = ["x"]
    env  = var.tags
  }
}
`,
		"a.vars": "size = 3\n",
		"b.vars": "size = 4\ntags = { team = \"ops\" }\n",
	})
	spec := filepath.Join(dir, "spec.hcl")
	env := []string{"ECHELON_VAR_size=2", "ECHELON_VAR_tags={a=\"b\"}", "OTHER=1"}
	tests := []struct {
		name     string
		opts     LoadOptions
		replicas int
		env      map[string]string
	}{
		{"default", LoadOptions{}, 1, map[string]string{}},
		{"env beats default", LoadOptions{Environ: env}, 2, map[string]string{"a": "b"}},
		{"var-file beats env", LoadOptions{Environ: env, VarFiles: []string{filepath.Join(dir, "a.vars")}}, 3, map[string]string{"a": "b"}},
		{"later var-file wins", LoadOptions{VarFiles: []string{filepath.Join(dir, "a.vars"), filepath.Join(dir, "b.vars")}}, 4, map[string]string{"team": "ops"}},
		{"--var beats all", LoadOptions{Environ: env, VarFiles: []string{filepath.Join(dir, "b.vars")}, Vars: []string{"size=6", "size=5"}}, 5, map[string]string{"team": "ops"}},
		{"--var complex", LoadOptions{Vars: []string{`tags={x="y"}`}}, 1, map[string]string{"x": "y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustLoad(t, spec, tc.opts)
			c := s.Component("c")
			if c.Replicas != tc.replicas {
				t.Errorf("replicas = %d, want %d", c.Replicas, tc.replicas)
			}
			if diff := cmp.Diff(tc.env, c.Instances[0].Command.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLocalsAndFunctions(t *testing.T) {
	dir := writeSpec(t, map[string]string{"spec.hcl": skeleton + `
variable "regions" {
  default = ["westeurope", "northeurope"]
}
locals {
  # Declared before what it uses: locals evaluate in dependency order.
  all      = concat(local.eu, ["uaenorth"])
  eu       = [for r in var.regions : lower(r)]
  count    = length(local.all)
  label    = format("%s-%02d", upper("x"), local.count)
  settings = merge({ a = 1 }, { b = 2 })
  picked   = lookup(local.settings, "b", 0)
  nums     = range(3)
  joined   = join(",", split("-", "a-b-c"))
  k        = keys(local.settings)
  v        = values(local.settings)
  second   = element(local.all, 1)
  has      = contains(local.all, "uaenorth")
  str      = tostring(5)
  num      = tonumber("7")
  json     = jsonencode({ n = 1 })
  first    = coalesce(null, "", "fallback")
  firstn   = coalesce(null, 2, 3)
  lo       = min(3, 1, 2)
  hi       = max(3, 1, 2)
}
component "c" {
  phase   = phase.p
  regions = local.all
  command { argv = [local.label, local.joined, local.json, local.first] }
}
`})
	s := mustLoad(t, dir, LoadOptions{})
	want := map[string]cty.Value{
		"count":  cty.NumberIntVal(3),
		"label":  cty.StringVal("X-03"),
		"picked": cty.NumberIntVal(2),
		"joined": cty.StringVal("a,b,c"),
		"second": cty.StringVal("northeurope"),
		"has":    cty.True,
		"str":    cty.StringVal("5"),
		"num":    cty.NumberIntVal(7),
		"json":   cty.StringVal(`{"n":1}`),
		"first":  cty.StringVal("fallback"),
		"firstn": cty.NumberIntVal(2),
		"lo":     cty.NumberIntVal(1),
		"hi":     cty.NumberIntVal(3),
	}
	for name, w := range want {
		got, ok := s.Locals[name]
		if !ok || !got.Equals(w).True() {
			t.Errorf("local.%s = %#v, want %#v", name, got, w)
		}
	}
	if n := s.Locals["nums"].LengthInt(); n != 3 {
		t.Errorf("length(range(3)) = %d", n)
	}
	if got := s.Component("c").Regions; !cmp.Equal(got, []string{"westeurope", "northeurope", "uaenorth"}) {
		t.Errorf("regions = %v", got)
	}
}

func TestEachPerInstance(t *testing.T) {
	dir := writeSpec(t, map[string]string{"spec.hcl": skeleton + `
api "arm" {
  rate  = 20
  scope = "region"
}
component "infra" {
  phase             = phase.p
  driver            = "terraform"
  regions           = ["eu", "asia"]
  replicas          = 2
  resources         = each.region == "eu" ? 10 : 20
  resource_duration = { p50 = "30s", p90 = "1m" }
  calls             = { arm = 5 * (each.replica + 1) }
  duration          = each.replica == 0 ? { p50 = "1m", p90 = "1m" } : { p50 = "2m", p90 = "3m" }
  terraform {
    dir       = "tf"
    target    = "module.region_deployment[\"${each.region}\"]"
    workspace = each.region
    vars      = { index = each.replica }
  }
}
`})
	s := mustLoad(t, dir, LoadOptions{})
	c := s.Component("infra")
	if len(c.Instances) != 4 {
		t.Fatalf("%d instances, want 4", len(c.Instances))
	}
	type row struct {
		Region, Target, Workspace string
		Replica, Resources, Calls int
		Duration, ResourceDur     Duration
	}
	var got []row
	for _, in := range c.Instances {
		got = append(got, row{in.Region, in.Terraform.Target, in.Terraform.Workspace, in.Replica, in.Resources, in.Calls["arm"], in.Duration, in.ResourceDuration})
	}
	rd := Duration{30 * time.Second, time.Minute}
	want := []row{
		{"eu", `module.region_deployment["eu"]`, "eu", 0, 10, 5, Duration{time.Minute, time.Minute}, rd},
		{"eu", `module.region_deployment["eu"]`, "eu", 1, 10, 10, Duration{2 * time.Minute, 3 * time.Minute}, rd},
		{"asia", `module.region_deployment["asia"]`, "asia", 0, 20, 5, Duration{time.Minute, time.Minute}, rd},
		{"asia", `module.region_deployment["asia"]`, "asia", 1, 20, 10, Duration{2 * time.Minute, 3 * time.Minute}, rd},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	if v := c.Instances[3].Terraform.Vars["index"]; !v.Equals(cty.NumberIntVal(1)).True() {
		t.Errorf("vars.index = %#v", v)
	}
}

func TestDefaults(t *testing.T) {
	dir := writeSpec(t, map[string]string{"spec.hcl": `
deployment "d" {}
phase "p" {}
mode "first" {}
mode "second" { max_parallel = 4 }
api "arm" { rate = 2.5 }
component "c" {
  phase = "p"
  command { argv = ["true"] }
}
`})
	s := mustLoad(t, dir, LoadOptions{})
	if s.Deployment.DefaultMode != "first" {
		t.Errorf("default_mode = %q, want the first mode", s.Deployment.DefaultMode)
	}
	c := s.Component("c")
	if c.Driver != DriverCommand || c.Replicas != 1 || !c.Parallel || c.Restart || len(c.Regions) != 0 {
		t.Errorf("component defaults: %+v", c)
	}
	in := c.Instances[0]
	if in.OnError != OnErrorStop || in.Retries != 0 || in.Duration != (Duration{time.Minute, time.Minute}) || in.Region != "" {
		t.Errorf("instance defaults: %+v", in)
	}
	api := s.API("arm")
	wantAPI := &API{Name: "arm", Rate: 2.5, Burst: 3, Scope: ScopeDeployment,
		Retry: Retry{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: 30 * time.Second}, DeclRange: api.DeclRange}
	if diff := cmp.Diff(wantAPI, api); diff != "" {
		t.Errorf("api defaults (-want +got):\n%s", diff)
	}
	if m := s.Mode("second"); m.MaxParallel != 4 || m.PhaseBarrier || m.ComponentParallel == nil {
		t.Errorf("mode: %+v", m)
	}
}

func TestDirectoryAndRanges(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"b-components.hcl": `component "web" {
  phase      = phase.app
  depends_on = [component.db]
  command { argv = ["true"] }
}
component "db" {
  phase = phase.data
  command { argv = ["true"] }
}
`,
		"a-main.hcl": `deployment "d" {}
phase "app" {
  after = [phase.data]
}
phase "data" {}
phase "extra" {}
mode "m" {}
`,
		"README.md":       "not read",
		"sub/ignored.hcl": "this is not read: { {",
	})
	s := mustLoad(t, dir, LoadOptions{})
	wantFiles := []string{filepath.Join(dir, "a-main.hcl"), filepath.Join(dir, "b-components.hcl")}
	if !cmp.Equal(s.Files, wantFiles) {
		t.Errorf("files = %v, want %v", s.Files, wantFiles)
	}
	if s.Dir != dir {
		t.Errorf("dir = %q", s.Dir)
	}
	var phases []string
	for _, p := range s.Phases {
		phases = append(phases, p.Name)
	}
	// Topological over after; ties in declaration order.
	if want := []string{"data", "app", "extra"}; !cmp.Equal(phases, want) {
		t.Errorf("phase order = %v, want %v", phases, want)
	}
	web := s.Component("web")
	if r := web.DeclRange; r.Filename != wantFiles[1] || r.Start.Line != 1 {
		t.Errorf("web DeclRange = %v", r)
	}
	dep := web.DependsOn[0]
	if dep.Name != "db" || dep.Range.Start.Line != 3 || dep.Range.Start.Column != 17 || dep.Range.End.Column != 29 {
		t.Errorf("depends_on ref = %+v", dep)
	}
	if a := s.Phases[1].After[0]; a.Name != "data" || a.Range.Filename != wantFiles[0] || a.Range.Start.Line != 3 {
		t.Errorf("after ref = %+v", a)
	}
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Duration
	}{
		{`"90s"`, Duration{90 * time.Second, 90 * time.Second}},
		{`"6m"`, Duration{6 * time.Minute, 6 * time.Minute}},
		{`"1h30m"`, Duration{90 * time.Minute, 90 * time.Minute}},
		{`{ p50 = "6m", p90 = "10m" }`, Duration{6 * time.Minute, 10 * time.Minute}},
		{`{ p50 = "6m" }`, Duration{6 * time.Minute, 6 * time.Minute}},
	} {
		dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "c" {
  phase    = "p"
  duration = ` + tc.in + `
  command { argv = ["true"] }
}
`})
		s := mustLoad(t, dir, LoadOptions{})
		if got := s.Components[0].Instances[0].Duration; got != tc.want {
			t.Errorf("duration %s = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSensitiveMarks(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
variable "password" {
  type      = string
  sensitive = true
}
variable "plain" { default = "x" }
component "c" {
  phase  = "p"
  driver = "terraform"
  terraform {
    dir  = "tf"
    vars = {
      conn  = "user:${var.password}@db"
      plain = var.plain
    }
  }
}
component "h" {
  phase = "p"
  helm {
    release = "r"
    chart   = "./chart"
    values  = { secret = var.password }
  }
}
`})
	s := mustLoad(t, dir, LoadOptions{Vars: []string{"password=hunter2"}})
	vars := s.Component("c").Instances[0].Terraform.Vars
	if !IsSensitive(vars["conn"]) {
		t.Errorf("terraform var derived from a sensitive variable is not marked: %#v", vars["conn"])
	}
	if IsSensitive(vars["plain"]) {
		t.Errorf("plain var is marked sensitive")
	}
	if !IsSensitive(s.Component("h").Instances[0].Helm.Values["secret"]) {
		t.Errorf("helm value from a sensitive variable is not marked")
	}
	if v := s.Variables[0]; !v.Sensitive || !IsSensitive(v.Value) {
		t.Errorf("variable password: %+v", v)
	}
}

func TestModesAndBudgets(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": `
deployment "d" { default_mode = mode.fast }
phase "p" {}
mode "fast" {
  phase_barrier         = true
  batch_barrier         = true
  max_parallel          = 50
  region_parallel       = 8
  terraform_parallelism = 20
  component_parallel    = { web = 3 }
}
component "web" {
  phase = phase.p
  command { argv = ["true"] }
}
budget "b" {
  mode          = mode.fast
  p50           = "45m"
  p90           = "1h"
  max_throttled = 0.5
}
budget "c" {
  mode = "fast"
  p90  = "2h"
}
`})
	s := mustLoad(t, dir, LoadOptions{})
	m := s.Mode("fast")
	want := &Mode{Name: "fast", PhaseBarrier: true, BatchBarrier: true, MaxParallel: 50, RegionParallel: 8,
		TerraformParallelism: 20, ComponentParallel: map[string]int{"web": 3}, DeclRange: m.DeclRange}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("mode (-want +got):\n%s", diff)
	}
	if s.Deployment.DefaultMode != "fast" {
		t.Errorf("default_mode = %q", s.Deployment.DefaultMode)
	}
	b := s.Budgets[0]
	if b.Mode != "fast" || b.P50 != 45*time.Minute || b.P90 != time.Hour || b.MaxThrottled != 0.5 {
		t.Errorf("budget b: %+v", b)
	}
	if c := s.Budgets[1]; c.P50 != 0 || c.MaxThrottled >= 0 {
		t.Errorf("budget c unset fields: %+v", c)
	}
}

func TestContainersAndRunsAlone(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "app" {
  phase = "p"
  container "ui" {}
  container "batch" { parallel = false }
  command { argv = ["true"] }
}
`})
	s := mustLoad(t, dir, LoadOptions{})
	c := s.Component("app")
	if len(c.Containers) != 2 || !c.Containers[0].Parallel || c.Containers[1].Parallel {
		t.Fatalf("containers = %+v", c.Containers)
	}
	if alone, why := c.RunsAlone(); !alone || !strings.Contains(why, "batch") {
		t.Errorf("RunsAlone = %v, %q", alone, why)
	}
}

func TestWriteDiagnosticsJSON(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "c" {
  phase   = "p"
  retries = -1
  command { argv = ["true"] }
  duration = "1m"
}
budget "b" { mode = "m" }
`})
	path := filepath.Join(dir, "s.hcl")
	spec, diags := Load(path, LoadOptions{})
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, diags, spec.Sources, true); err != nil {
		t.Fatal(err)
	}
	var got DiagnosticsReport
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.FormatVersion != "1" || got.Valid || got.ErrorCount != 1 || got.WarningCount != 1 || len(got.Diagnostics) != 2 {
		t.Fatalf("report = %+v", got)
	}
	d := got.Diagnostics[0]
	if d.Severity != "error" || d.Summary != "Invalid retries" || d.Range == nil || d.Range.Filename != path ||
		d.Range.Start.Line != 8 || d.Range.Start.Column != 13 || d.Range.End.Column != 15 {
		t.Errorf("diagnostic = %+v %+v", d, d.Range)
	}
	if w := got.Diagnostics[1]; w.Severity != "warning" || w.Summary != "Empty budget" {
		t.Errorf("warning = %+v", w)
	}

	// Text: the first line of each is FILE:LINE:COL: severity: summary.
	b.Reset()
	WriteDiagnostics(&b, diags, spec.Sources, false)
	lines := strings.Split(b.String(), "\n")
	if want := path + ":8:13: error: Invalid retries"; lines[0] != want {
		t.Errorf("first line = %q, want %q", lines[0], want)
	}
	if !strings.Contains(b.String(), path+":12:1: warning: Empty budget\n") {
		t.Errorf("warning line missing:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "  8:   retries = -1\n") {
		t.Errorf("snippet missing:\n%s", b.String())
	}
}

// TestDedupInstances: a mistake in a per-instance attribute is reported
// once, not once per region.
func TestDedupInstances(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "c" {
  phase    = "p"
  regions  = ["a", "b", "c"]
  replicas = 3
  on_error = "explode"
  duration = "1m"
  command { argv = ["true"] }
}
`})
	_, diags := Load(dir, LoadOptions{})
	if len(diags) != 1 || diags[0].Summary != "Invalid on_error" {
		t.Fatalf("diags = %v", diags)
	}
}

func TestLoadMissingPath(t *testing.T) {
	spec, diags := Load(filepath.Join(t.TempDir(), "nope.hcl"), LoadOptions{})
	if spec == nil || !diags.HasErrors() || diags[0].Summary != "Cannot read spec" {
		t.Fatalf("diags = %v", diags)
	}
	_, diags = Load(t.TempDir(), LoadOptions{})
	if !diags.HasErrors() || diags[0].Summary != "No spec files" {
		t.Fatalf("diags = %v", diags)
	}
}

// TestAllFilesAtOnce: mistakes in several files of a directory are all
// reported by one Load, in file order.
func TestAllFilesAtOnce(t *testing.T) {
	dir := writeSpec(t, map[string]string{
		"a.hcl": skeleton + "mode \"x\" { max_parallel = -1 }\n",
		"b.hcl": "component \"c\" {\n  phase = phase.q\n  duration = \"1m\"\n  command { argv = [] }\n}\n",
		"c.hcl": "phase \"broken\" {\n",
	})
	_, diags := Load(dir, LoadOptions{})
	var got []string
	for _, d := range diags {
		got = append(got, filepath.Base(d.Subject.Filename)+": "+d.Summary)
	}
	want := []string{
		"a.hcl: Invalid max_parallel",
		"b.hcl: Reference to undeclared phase",
		"b.hcl: Empty argv",
		"c.hcl: Unclosed configuration block",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

// TestEachMixedLists: attributes without each.* are evaluated once per
// component and lists mix such elements with per-instance ones; every
// instance must still get its own values, and a driver struct of its own.
func TestEachMixedLists(t *testing.T) {
	dir := writeSpec(t, map[string]string{"spec.hcl": skeleton + `
variable "token" {
  type      = string
  default   = "t0k3n"
  sensitive = true
}
component "run" {
  phase    = "p"
  regions  = ["eu", "asia"]
  replicas = 2
  duration = "2m"
  command {
    argv = ["deploy", upper("x"), each.region, "${each.replica}", var.token]
    env  = { MODE = "fast" }
    dir  = "scripts/${each.region}"
  }
}
component "kube" {
  phase   = "p"
  regions = ["eu", "asia"]
  kubectl {
    manifests = ["base.yaml", "${each.region}.yaml"]
    namespace = "apps"
  }
}
`})
	s := mustLoad(t, dir, LoadOptions{})
	var argv [][]string
	var dirs []string
	for _, in := range s.Component("run").Instances {
		argv = append(argv, in.Command.Argv)
		dirs = append(dirs, in.Command.Dir)
		if in.Duration != (Duration{2 * time.Minute, 2 * time.Minute}) || in.Command.Env["MODE"] != "fast" {
			t.Errorf("%s/%d: duration %v, env %v", in.Region, in.Replica, in.Duration, in.Command.Env)
		}
	}
	wantArgv := [][]string{
		{"deploy", "X", "eu", "0", "t0k3n"}, {"deploy", "X", "eu", "1", "t0k3n"},
		{"deploy", "X", "asia", "0", "t0k3n"}, {"deploy", "X", "asia", "1", "t0k3n"},
	}
	if diff := cmp.Diff(wantArgv, argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"scripts/eu", "scripts/eu", "scripts/asia", "scripts/asia"}, dirs); diff != "" {
		t.Errorf("dir (-want +got):\n%s", diff)
	}
	var manifests [][]string
	for _, in := range s.Component("kube").Instances {
		manifests = append(manifests, in.Kubectl.Manifests)
		if in.Kubectl.Namespace != "apps" {
			t.Errorf("%s: namespace %q", in.Region, in.Kubectl.Namespace)
		}
	}
	if diff := cmp.Diff([][]string{{"base.yaml", "eu.yaml"}, {"base.yaml", "asia.yaml"}}, manifests); diff != "" {
		t.Errorf("manifests (-want +got):\n%s", diff)
	}
	// A driver field set on one instance stays there.
	ins := s.Component("run").Instances
	ins[0].Command.Dir = "elsewhere"
	if ins[1].Command.Dir != "scripts/eu" {
		t.Errorf("instance 1 dir = %q after setting instance 0's", ins[1].Command.Dir)
	}
}

// TestPerInstanceErrors: an error that only some instances' values make is
// reported for those, once per distinct message; an error in an attribute
// without each.* once for the component.
func TestPerInstanceErrors(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
component "c" {
  phase    = "p"
  regions  = ["a", "b", "c"]
  replicas = 2
  retries  = each.replica == 1 ? -1 : 2
  duration = "soon"
  command {
    argv = ["run", each.region == "b" ? tostring(null) : each.region, jsondecode(each.region == "c" ? "[1]" : "1")]
  }
}
`})
	spec, diags := Load(dir, LoadOptions{})
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary+": "+d.Detail)
	}
	want := []string{
		"Invalid retries: retries must be a whole number of at least 0; got -1.",
		`Invalid duration: The value of duration is invalid: "soon" is not a duration: write a number and a unit, such as "90s", "6m" or "1h30m".`,
		"Incorrect attribute value type: The value of argv element must be a string: it is null.",
		"Incorrect attribute value type: The value of argv element must be a string: string required, but have tuple.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("diagnostics (-want +got):\n%s", diff)
	}
	var argv [][]string
	var retries []int
	for _, in := range spec.Component("c").Instances {
		argv = append(argv, in.Command.Argv)
		retries = append(retries, in.Retries)
	}
	// Failed values keep the defaults; the others are decoded.
	if diff := cmp.Diff([][]string{{"run", "a", "1"}, {"run", "a", "1"}, {}, {}, {}, {}}, argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 0, 2, 0, 2, 0}, retries); diff != "" {
		t.Errorf("retries (-want +got):\n%s", diff)
	}
}
