package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

const tfProcsSpec = `
deployment "tf-procs" {}

locals {
  regions = ["r1", "r2", "r3"]
}

phase "main" {}

mode "m" {}

component "net" {
  phase   = phase.main
  driver  = "terraform"
  regions = local.regions
  terraform {
    dir       = "net"
    workspace = each.region
    vars      = { region = each.region }
    BINARY
  }
}

component "app" {
  phase   = phase.main
  driver  = "terraform"
  regions = local.regions
  terraform {
    dir    = "app"
    target = "terraform_data.region[\"${each.region}\"]"
    vars   = { regions = local.regions }
    BINARY
  }
}
`

// tfCounter is a PATH-style wrapper around the real terraform (or tofu:
// name) that logs each invocation's directory, workspace and subcommand.
type tfCounter struct {
	wrapper, log string
}

func newTFCounter(t *testing.T, dir, name, bin string) *tfCounter {
	t.Helper()
	c := &tfCounter{wrapper: filepath.Join(dir, name), log: filepath.Join(dir, "calls.log")}
	script := `#!/bin/sh
echo "$(basename "$PWD") ${TF_WORKSPACE:-default} $1" >> '` + c.log + `'
exec '` + bin + `' "$@"
`
	if err := os.WriteFile(c.wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// take returns the calls logged since the last take: "dir workspace
// subcommand" -> count; version calls count under "version" alone (they
// run in whichever directory came first).
func (c *tfCounter) take(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile(c.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	os.Remove(c.log)
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) != 3:
			continue
		case f[2] == "version":
			got["version"]++
		case f[2] == "init":
			got[f[0]+" init"]++
		default:
			got[strings.Join(f, " ")]++
		}
	}
	return got
}

// TestTerraformProcesses counts the terraform processes of real runs of two
// directories: net with a workspace per region (three states), app with
// every region in one state (one coalesced apply). Each run starts exactly
// one `version`, one `init` per directory, and one apply (or destroy) per
// state and attempt; no workspace command at all, although net's
// workspaces did not exist before the first run. In the first run app's
// apply fails (a var of the wrong type); the resumed run checks the version
// and initialises again, app only. A second apply in the same state
// directory (terraform already initialised) and the destroy do the same as
// the first. Resource events name their operation.
func TestTerraformProcesses(t *testing.T) {
	testTFProcesses(t, "terraform", terraformBin(t), "")
}

// TestTofuProcesses is TestTerraformProcesses with binary = "tofu": the
// real OpenTofu runs every process (terraform is not even found), with the
// same counts, workspaces, states and events.
func TestTofuProcesses(t *testing.T) {
	testTFProcesses(t, "tofu", tofuBin(t), `binary = "tofu"`)
}

// testTFProcesses runs tfProcsSpec, its terraform blocks given binaryLine,
// with bin under the name tool (ECHELON_TERRAFORM or ECHELON_TOFU; the
// other one names no program).
func testTFProcesses(t *testing.T, tool, bin, binaryLine string) {
	dir := t.TempDir()
	copyDir(t, "testdata/tf-procs", dir)
	spec := strings.ReplaceAll(tfProcsSpec, "BINARY", binaryLine)
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newTFCounter(t, dir, tool, bin)
	env := append(os.Environ(), "ECHELON_TERRAFORM="+c.wrapper, "ECHELON_TOFU="+filepath.Join(dir, "no-tofu"))
	if tool == "tofu" {
		// A CLI configuration file that does not exist: tofu warns about
		// it on stdout, before version -json's object (terraform says
		// nothing).
		env = append(os.Environ(), "ECHELON_TOFU="+c.wrapper, "ECHELON_TERRAFORM="+filepath.Join(dir, "no-terraform"),
			"TF_CLI_CONFIG_FILE="+filepath.Join(dir, "no-such.tfrc"))
	}
	state := filepath.Join(dir, ".echelon")
	type runOpts struct {
		vars   map[string]map[string]any
		resume bool
		failed []string // the operations expected to fail
	}
	run := func(p *planner.Plan, specDir string, ro runOpts) []Event {
		t.Helper()
		var mu sync.Mutex
		var evs []Event
		res, err := Run(context.Background(), p, Options{
			StateDir: state, SpecDir: specDir, Vars: ro.vars, Resume: ro.resume,
			Env: env,
			OnEvent: func(e Event) {
				mu.Lock()
				evs = append(evs, e)
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if ro.failed != nil {
			var got []string
			for _, f := range res.Failed {
				got = append(got, f.Op)
			}
			if !slices.Equal(got, ro.failed) {
				for _, f := range res.Failed {
					t.Logf("%s failed: %s\n%s", f.Op, f.Error, logOf(t, f.Log))
				}
				t.Fatalf("failed %v, want %v", got, ro.failed)
			}
			return evs
		}
		for _, f := range res.Failed {
			t.Errorf("%s failed: %s\n%s", f.Op, f.Error, logOf(t, f.Log))
		}
		if !res.OK() {
			t.Fatalf("result: %+v", res)
		}
		return evs
	}
	want := func(verb string) map[string]int {
		return map[string]int{"version": 1, "net init": 1, "app init": 1,
			"net r1 " + verb: 1, "net r2 " + verb: 1, "net r3 " + verb: 1, "app default " + verb: 1}
	}
	sp, deploy := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{})
	// A first run where app's var is of the wrong type: its one apply
	// fails before it changes anything; net applies.
	bad := map[string]map[string]any{}
	for _, r := range []string{"r1", "r2", "r3"} {
		bad["app/"+r] = map[string]any{"regions": "not-a-list"}
	}
	evs := run(deploy, sp.Dir, runOpts{vars: bad, failed: []string{"app/r1", "app/r2", "app/r3"}})
	if got := c.take(t); !mapsEqual(got, want("apply")) {
		t.Errorf("first apply: terraform calls %v, want %v", got, want("apply"))
	}
	checkResourceEvents(t, evs, false)
	// --resume: a new run, so a new version check and init, but only of
	// what it runs: app.
	evs = run(deploy, sp.Dir, runOpts{resume: true})
	if got, w := c.take(t), map[string]int{"version": 1, "app init": 1, "app default apply": 1}; !mapsEqual(got, w) {
		t.Errorf("resumed apply: terraform calls %v, want %v", got, w)
	}
	checkResourceEvents(t, evs, true)
	run(deploy, sp.Dir, runOpts{})
	if got := c.take(t); !mapsEqual(got, want("apply")) {
		t.Errorf("second apply (initialised, same state directory): terraform calls %v, want %v", got, want("apply"))
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		st := readTFState(t, filepath.Join(dir, "net", "terraform.tfstate.d", r, "terraform.tfstate"))
		if !strings.Contains(st, `"`+r+`/`+r+`"`) {
			t.Errorf("net workspace %s: state does not hold %s/%s:\n%s", r, r, r, st)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "terraform", "plugin-cache")); err != nil {
		t.Errorf("no plugin cache in the state directory: %v", err)
	}

	_, destroy := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{Destroy: true})
	run(destroy, sp.Dir, runOpts{})
	if got := c.take(t); !mapsEqual(got, want("destroy")) {
		t.Errorf("destroy: terraform calls %v, want %v", got, want("destroy"))
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		st := readTFState(t, filepath.Join(dir, "net", "terraform.tfstate.d", r, "terraform.tfstate"))
		if strings.Contains(st, "terraform_data") {
			t.Errorf("net workspace %s still holds resources after destroy:\n%s", r, st)
		}
	}
}

// checkResourceEvents: every resource event names its operation; app's
// shared resource, under no instance's target, names the coalesced step's
// operations instead. app says whether app's resources were applied.
func checkResourceEvents(t *testing.T, evs []Event, app bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Kind != EvResource {
			continue
		}
		var want string
		switch {
		case e.Resource == "terraform_data.shared":
			if e.Op != "" || !slices.Equal(e.Ops, []string{"app/r1", "app/r2", "app/r3"}) {
				t.Errorf("%s %s: op %q ops %v, want no op and the three app instances", e.Resource, e.Message, e.Op, e.Ops)
			}
			seen[e.Resource] = true
			continue
		case e.Resource == "terraform_data.net":
			want = "net/"
		case strings.HasPrefix(e.Resource, "terraform_data.region["):
			want = "app/" + strings.Trim(strings.TrimPrefix(e.Resource, "terraform_data.region["), `"]`)
		default:
			t.Errorf("unexpected resource event %+v", e)
			continue
		}
		if !strings.HasPrefix(e.Op, want) || (want == "net/" && len(e.Op) != len("net/r1")) {
			t.Errorf("%s %s: op %q, want %s", e.Resource, e.Message, e.Op, want)
		}
		seen[e.Op+" "+e.Resource] = true
	}
	want := []string{"net/r1 terraform_data.net", "net/r3 terraform_data.net"}
	if app {
		want = []string{"terraform_data.shared", `app/r1 terraform_data.region["r1"]`, `app/r3 terraform_data.region["r3"]`}
	}
	for _, k := range want {
		if !seen[k] {
			t.Errorf("no resource event for %s (saw %v)", k, seen)
		}
	}
}

func readTFState(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Resources []json.RawMessage }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fmt.Sprintf("%d resource(s): %s", len(st.Resources), b)
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
