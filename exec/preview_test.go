package exec

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

const tfPreviewSpec = `
deployment "tf-preview" {}

variable "label" {
  default = "v1"
}

locals {
  regions = ["r1", "r2", "r3"]
}

phase "net" {}

phase "app" {
  after = [phase.net]
}

# Under the barrier app's instances are ready at once: one step.
mode "m" {
  phase_barrier = true
}

# One at a time: app's instances are three steps of one state.
mode "one" {
  phase_barrier = true
  max_parallel  = 1
}

component "net" {
  phase   = phase.net
  driver  = "terraform"
  regions = local.regions
  terraform {
    dir       = "net"
    workspace = each.region
    vars      = { region = each.region }
  }
}

component "app" {
  phase   = phase.app
  driver  = "terraform"
  regions = local.regions
  terraform {
    dir    = "app"
    target = "terraform_data.region[\"${each.region}\"]"
    vars   = { regions = local.regions, label = var.label }
  }
}

component "smoke" {
  phase      = phase.app
  driver     = "command"
  depends_on = [component.app]
  command {
    argv = ["sh", "-c", "echo smoke >> smoke.log"]
  }
}
`

type previewFixture struct {
	t     *testing.T
	dir   string
	state string
	c     *tfCounter
	tool  string // "terraform" or "tofu"
}

func newPreviewFixture(t *testing.T) *previewFixture {
	return newPreviewFixtureFor(t, "terraform", terraformBin(t))
}

// newPreviewFixtureFor is the fixture run by tool, bin counted: for
// "tofu", every terraform block of the spec says binary = "tofu".
func newPreviewFixtureFor(t *testing.T, tool, bin string) *previewFixture {
	dir := t.TempDir()
	copyDir(t, "testdata/tf-preview", dir)
	spec := tfPreviewSpec
	if tool == "tofu" {
		spec = strings.ReplaceAll(spec, "  terraform {\n", "  terraform {\n    binary = \"tofu\"\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return &previewFixture{t: t, dir: dir, state: filepath.Join(dir, ".echelon"), c: newTFCounter(t, dir, tool, bin), tool: tool}
}

func (f *previewFixture) compile(vars []string, destroy bool) *planner.Plan {
	return f.compileMode(vars, destroy, "m")
}

func (f *previewFixture) compileMode(vars []string, destroy bool, mode string) *planner.Plan {
	_, p := compileSpec(f.t, filepath.Join(f.dir, "spec.hcl"), vars, planner.Options{Destroy: destroy, Mode: mode})
	return p
}

func (f *previewFixture) opts() Options {
	env := append(os.Environ(), "ECHELON_TERRAFORM="+f.c.wrapper)
	if f.tool == "tofu" {
		env = append(os.Environ(), "ECHELON_TOFU="+f.c.wrapper, "ECHELON_TERRAFORM="+filepath.Join(f.dir, "no-terraform"))
	}
	return Options{StateDir: f.state, SpecDir: f.dir, Env: env}
}

// preview runs RunPreview and wants it complete.
func (f *previewFixture) preview(p *planner.Plan) *Preview {
	f.t.Helper()
	pv, res, err := RunPreview(context.Background(), p, f.opts())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, fl := range res.Failed {
		f.t.Errorf("preview: %s failed: %s\n%s", fl.Op, fl.Error, logOf(f.t, fl.Log))
	}
	if !pv.Complete || !res.OK() {
		f.t.Fatalf("preview incomplete: %+v", res)
	}
	return pv
}

// apply runs p, with pv's saved plans when pv is set, and returns the
// operations that failed with their errors.
func (f *previewFixture) apply(p *planner.Plan, pv *Preview, vars map[string]map[string]any) map[string]string {
	f.t.Helper()
	o := f.opts()
	o.Preview, o.Vars = pv, vars
	res, err := Run(context.Background(), p, o)
	if err != nil {
		f.t.Fatal(err)
	}
	failed := map[string]string{}
	for _, fl := range res.Failed {
		failed[fl.Op] = fl.Error
	}
	return failed
}

func counts(pv *Preview) map[string]Changes {
	m := map[string]Changes{}
	for _, o := range pv.Operations {
		if o.Previewed {
			m[o.Op] = o.Changes
		}
	}
	return m
}

func wantCounts(t *testing.T, what string, pv *Preview, net, app, total Changes) {
	t.Helper()
	got := counts(pv)
	for _, r := range []string{"r1", "r2", "r3"} {
		if got["net/"+r] != net || got["app/"+r] != app {
			t.Errorf("%s: net/%s %+v, app/%s %+v; want %+v and %+v", what, r, got["net/"+r], r, got["app/"+r], net, app)
		}
	}
	if pv.Total != total {
		t.Errorf("%s: total %+v, want %+v", what, pv.Total, total)
	}
	for _, o := range pv.Operations {
		if o.Op == "smoke" && (o.Previewed || !strings.Contains(o.Note, "not previewed")) {
			t.Errorf("%s: the command operation: %+v, want not previewed", what, o)
		}
	}
}

// TestPreviewTerraform: a preview with real terraform counts each
// operation's changes on a fresh state and on a partly applied one, runs
// one `plan` per state and applies nothing; the apply of a preview applies
// its saved plans (one `apply` per state, no plan) and exactly their
// changes; a changed module or a state changed since makes the preview
// stale, refused naming the operations; a destroy plan previews its
// destroys.
func TestPreviewTerraform(t *testing.T) {
	testPreview(t, newPreviewFixture(t))
}

// TestTofuPreview is TestPreviewTerraform on OpenTofu: `tofu plan -out`
// and the apply of its saved plans, with the same process counts.
func TestTofuPreview(t *testing.T) {
	testPreview(t, newPreviewFixtureFor(t, "tofu", tofuBin(t)))
}

func testPreview(t *testing.T, f *previewFixture) {
	deploy := f.compile(nil, false)

	// A fresh state: everything to add, nothing applied.
	pv := f.preview(deploy)
	wantCounts(t, "fresh", pv, Changes{Add: 1}, Changes{Add: 1}, Changes{Add: 7})
	if got, want := f.c.take(t), map[string]int{"version": 1, "net init": 1, "app init": 1,
		"net r1 plan": 1, "net r2 plan": 1, "net r3 plan": 1, "app default plan": 1}; !mapsEqual(got, want) {
		t.Errorf("preview: terraform calls %v, want %v", got, want)
	}
	if len(pv.SavedPlans) != 4 {
		t.Fatalf("saved plans %+v, want 4 (3 net workspaces, app)", pv.SavedPlans)
	}
	for _, sp := range pv.SavedPlans {
		fi, err := os.Stat(filepath.Join(pv.Dir, "plans", sp.File))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("saved plan %s: %v %v, want mode 0600", sp.File, fi, err)
		}
	}
	for _, st := range []string{"app/terraform.tfstate", "net/terraform.tfstate.d/r1/terraform.tfstate"} {
		if b, err := os.ReadFile(filepath.Join(f.dir, st)); err == nil && strings.Contains(string(b), "terraform_data") {
			t.Errorf("a preview applied something: %s holds %s", st, b)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "smoke.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a preview ran the command operation (%v)", err)
	}
	read, err := ReadPreview(f.state, deploy)
	if err != nil || read.Total != pv.Total || len(read.Operations) != len(deploy.Operations) {
		t.Fatalf("ReadPreview: %+v %v", read, err)
	}

	// Partly applied: app's apply fails (a var of the wrong type) after
	// net's succeeded; no preview used.
	bad := map[string]map[string]any{}
	for _, r := range []string{"r1", "r2", "r3"} {
		bad["app/"+r] = map[string]any{"regions": "not-a-list", "label": "v1"}
	}
	if failed := f.apply(deploy, nil, bad); len(failed) != 3 {
		t.Fatalf("failed %v, want app's three instances", failed)
	}
	f.c.take(t)
	pv = f.preview(deploy)
	wantCounts(t, "partly applied", pv, Changes{}, Changes{Add: 1}, Changes{Add: 4})
	f.c.take(t)

	// The apply of the preview: its saved plans, one apply per state.
	if err := pv.Check(deploy, f.dir); err != nil {
		t.Fatal(err)
	}
	if failed := f.apply(deploy, pv, nil); len(failed) > 0 {
		t.Fatalf("apply of the preview: %v", failed)
	}
	if got, want := f.c.take(t), map[string]int{"version": 1, "net init": 1, "app init": 1,
		"net r1 apply": 1, "net r2 apply": 1, "net r3 apply": 1, "app default apply": 1}; !mapsEqual(got, want) {
		t.Errorf("apply of the preview: terraform calls %v, want %v", got, want)
	}
	if st := readTFState(t, filepath.Join(f.dir, "app", "terraform.tfstate")); !strings.HasPrefix(st, "2 resource(s)") || !strings.Contains(st, "shared:v1") {
		t.Errorf("app's state after the apply: %s", st)
	}

	// A changed variable: changes, then a stale preview.
	v2 := f.compile([]string{"label=v2"}, false)
	pv = f.preview(v2)
	wantCounts(t, "label v2", pv, Changes{}, Changes{Change: 1}, Changes{Change: 4})
	if err := pv.Check(v2, f.dir); err != nil {
		t.Fatal(err)
	}
	// The module changes after the preview: refused up front, naming
	// app's operations.
	mod := filepath.Join(f.dir, "app", "main.tf")
	orig, _ := os.ReadFile(mod)
	if err := os.WriteFile(mod, append(orig, []byte("\n# changed\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	var se *StalePreviewError
	if err := pv.Check(v2, f.dir); !errors.As(err, &se) || !slices.Equal(se.Ops, []string{"app/r1", "app/r2", "app/r3"}) ||
		!strings.Contains(err.Error(), "app changed") {
		t.Errorf("Check after a module change: %v, want stale naming app's operations", err)
	}
	if err := os.WriteFile(mod, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pv.Check(v2, f.dir); err != nil {
		t.Fatal(err)
	}
	// The state changes after the preview (another apply of app):
	// terraform refuses the saved plan as stale; nothing of app changes
	// again, net's saved plans (no changes) apply.
	if failed := f.apply(v2, nil, nil); len(failed) > 0 {
		t.Fatal(failed)
	}
	f.c.take(t)
	failed := f.apply(v2, pv, nil)
	if len(failed) != 3 {
		t.Fatalf("apply of a stale preview: failed %v, want app's three instances", failed)
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		if msg := failed["app/"+r]; !strings.Contains(msg, "Saved plan is stale") || !strings.Contains(msg, "preview again") {
			t.Errorf("app/%s: %q, want terraform's stale saved plan and the advice", r, msg)
		}
	}
	if got := f.c.take(t); got["app default apply"] != 1 || got["app default plan"] != 0 {
		t.Errorf("stale apply: terraform calls %v, want one apply of app (refused) and no plan", got)
	}

	// A destroy plan previews its destroys and applies them. A targeted
	// destroy leaves what its targets depend on (app's shared resource),
	// and the preview says so: 6, not 7.
	destroy := f.compile([]string{"label=v2"}, true)
	pv = f.preview(destroy)
	wantCounts(t, "destroy", pv, Changes{Destroy: 1}, Changes{Destroy: 1}, Changes{Destroy: 6})
	if failed := f.apply(destroy, pv, nil); len(failed) > 0 {
		t.Fatalf("apply of the destroy preview: %v", failed)
	}
	if st := readTFState(t, filepath.Join(f.dir, "app", "terraform.tfstate")); !strings.HasPrefix(st, "1 resource(s)") || !strings.Contains(st, "shared:v2") {
		t.Errorf("app's state after the destroy: %s, want only the shared resource", st)
	}
}

// TestPreviewSplitState: with max_parallel 1 app's three instances of one
// state are three steps, and one saved plan cannot be split: each step
// plans its target afresh and applies only what the preview showed; a
// change the preview did not show is refused, naming the operation.
func TestPreviewSplitState(t *testing.T) {
	f := newPreviewFixture(t)
	deploy := f.compileMode(nil, false, "one")
	pv := f.preview(deploy)
	wantCounts(t, "fresh", pv, Changes{Add: 1}, Changes{Add: 1}, Changes{Add: 7})
	f.c.take(t)
	if failed := f.apply(deploy, pv, nil); len(failed) > 0 {
		t.Fatalf("apply: %v", failed)
	}
	if got := f.c.take(t); got["app default plan"] != 3 || got["app default apply"] != 3 || got["net r1 apply"] != 1 {
		t.Errorf("terraform calls %v, want app planned and applied per instance, net's saved plans applied", got)
	}
	if st := readTFState(t, filepath.Join(f.dir, "app", "terraform.tfstate")); !strings.Contains(st, "r1:shared:v1") || !strings.Contains(st, "r3:shared:v1") {
		t.Errorf("app's state: %s", st)
	}

	// Previewed with label v2 (an update of each region), applied after
	// app/r1's resource left the state behind echelon's back: the fresh
	// plan of r1 creates it, a change the preview did not show, and
	// nothing is applied.
	v2 := f.compileMode([]string{"label=v2"}, false, "one")
	pv = f.preview(v2)
	cmd := osexec.Command(terraformBin(t), "state", "rm", `terraform_data.region["r1"]`)
	cmd.Dir = filepath.Join(f.dir, "app")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("state rm: %v\n%s", err, out)
	}
	failed := f.apply(v2, pv, nil)
	if msg := failed["app/r1"]; !strings.Contains(msg, "did not show") || !strings.Contains(msg, `create terraform_data.region["r1"]`) {
		t.Errorf("app/r1: %q, want the change the preview did not show", msg)
	}
	if st := readTFState(t, filepath.Join(f.dir, "app", "terraform.tfstate")); strings.Contains(st, "shared:v2") {
		t.Errorf("app's state changed: %s", st)
	}
}
