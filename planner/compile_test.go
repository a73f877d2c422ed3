package planner

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// Hand-built specs: a component is declared with options applied to it.
type copt func(*lang.Component)

func regions(rs ...string) copt { return func(c *lang.Component) { c.Regions = rs } }
func replicas(n int) copt       { return func(c *lang.Component) { c.Replicas = n } }
func restart() copt             { return func(c *lang.Component) { c.Restart = true } }
func serial() copt              { return func(c *lang.Component) { c.Parallel = false } }
func container(name string, parallel bool) copt {
	return func(c *lang.Component) {
		c.Containers = append(c.Containers, lang.Container{Name: name, Parallel: parallel})
	}
}
func deps(names ...string) copt {
	return func(c *lang.Component) {
		for i, n := range names {
			c.DependsOn = append(c.DependsOn, lang.Ref{Name: n, Range: hcl.Range{Filename: "spec.hcl",
				Start: hcl.Pos{Line: 10 + i, Column: 3}, End: hcl.Pos{Line: 10 + i, Column: 3 + len(n)}}})
		}
	}
}
func dur(d time.Duration) copt {
	return func(c *lang.Component) { c.Instances[0].Duration = lang.Duration{P50: d, P90: d} }
}

func comp(name, phase string, opts ...copt) *lang.Component {
	c := &lang.Component{Name: name, Phase: phase, Driver: lang.DriverCommand, Replicas: 1, Parallel: true,
		Instances: []*lang.Instance{{}}}
	for _, o := range opts {
		o(c)
	}
	// Instances region-major, as lang builds them; a dur option set
	// instance 0's duration, copied to all.
	d := c.Instances[0].Duration
	c.Instances = nil
	rs := c.Regions
	if len(rs) == 0 {
		rs = []string{""}
	}
	for _, r := range rs {
		for i := 0; i < c.Replicas; i++ {
			c.Instances = append(c.Instances, &lang.Instance{Region: r, Replica: i, Duration: d,
				OnError: lang.OnErrorStop, Command: &lang.Command{Argv: []string{"true"}}})
		}
	}
	return c
}

func mkspec(modes []*lang.Mode, phases []string, comps ...*lang.Component) *lang.Spec {
	s := &lang.Spec{Path: "spec.hcl", Dir: ".", Deployment: &lang.Deployment{Name: "t"}, Modes: modes, Components: comps}
	for _, p := range phases {
		s.Phases = append(s.Phases, &lang.Phase{Name: p})
	}
	if len(modes) == 0 {
		s.Modes = []*lang.Mode{{Name: "m"}}
	}
	return s
}

// b is a batch as the tests write it.
type b struct {
	Phase     string
	Ops       string // space-separated
	Exclusive string
	Shared    string
}

func batchesOf(p *Plan) []b {
	var out []b
	for i, x := range p.Batches {
		if x.Index != i {
			out = append(out, b{Phase: "BAD INDEX"})
		}
		out = append(out, b{x.Phase, strings.Join(x.Operations, " "), strings.Join(x.Exclusive, " "), strings.Join(x.Shared, " ")})
	}
	return out
}

func TestLockModel(t *testing.T) {
	barrier := []*lang.Mode{{Name: "barrier", PhaseBarrier: true}}
	free := []*lang.Mode{{Name: "free"}}
	sharedLibs := func() *lang.Spec {
		return mkspec(nil, []string{"p"},
			comp("lib1", "p"), comp("lib2", "p"),
			comp("app1", "p", deps("lib1", "lib2")), comp("app2", "p", deps("lib1")))
	}
	chain := func() *lang.Spec {
		return mkspec(nil, []string{"p"},
			comp("db", "p"), comp("app", "p", deps("db")), comp("web", "p", deps("app")), comp("other", "p"))
	}
	tests := []struct {
		name string
		spec *lang.Spec
		opts Options
		want []b
	}{
		{"shared libraries", sharedLibs(), Options{}, []b{
			{"p", "lib1 lib2", "lib1 lib2", ""},
			{"p", "app1 app2", "app1 app2", "lib1 lib2"},
		}},
		{"offline application runs alone", mkspec(nil, []string{"p"},
			comp("lib", "p"), comp("app1", "p", deps("lib"), restart()), comp("app2", "p", deps("lib"))), Options{}, []b{
			{"p", "lib", "lib", ""},
			{"p", "app2", "app2", "lib"},
			{"p", "app1", "app1", "lib"},
		}},
		{"non-parallel container runs alone", mkspec(nil, []string{"p"},
			comp("a", "p", container("web", true), container("batch", false)), comp("b", "p"), comp("c", "p", serial())), Options{}, []b{
			{"p", "b", "b", ""},
			{"p", "a", "a", ""},
			{"p", "c", "c", ""},
		}},
		{"regional and replicated expansion", mkspec(nil, []string{"p"},
			comp("net", "p", regions("eu", "us")),
			comp("val", "p", regions("eu", "us"), replicas(2), deps("net")),
			comp("contracts", "p", deps("val"), serial())), Options{}, []b{
			{"p", "net/eu net/us", "net/eu net/us", ""},
			{"p", "val/eu/0 val/eu/1 val/us/0 val/us/1", "val/eu/0 val/eu/1 val/us/0 val/us/1", "net/eu net/us"},
			{"p", "contracts", "contracts", "val/eu/0 val/eu/1 val/us/0 val/us/1"},
		}},
		// (A dependent region the dependency lacks is an error: see
		// TestRegionalDependencyWithoutCounterpart.)
		{"regional dependency on a superset of regions", mkspec(nil, []string{"p"},
			comp("net", "p", regions("eu", "us")),
			comp("app", "p", regions("eu"), deps("net"))), Options{}, []b{
			{"p", "net/eu net/us", "net/eu net/us", ""},
			{"p", "app/eu", "app/eu", "net/eu"},
		}},
		{"phase barrier on", mkspec(barrier, []string{"one", "two"},
			comp("a1", "one"), comp("a2", "one", deps("a1")), comp("b", "two")), Options{}, []b{
			{"one", "a1", "a1", ""},
			{"one", "a2", "a2", "a1"},
			{"two", "b", "b", ""},
		}},
		{"phase barrier off mixes phases", mkspec(free, []string{"one", "two"},
			comp("a1", "one"), comp("a2", "one", deps("a1")), comp("b", "two")), Options{}, []b{
			{"", "a1 b", "a1 b", ""},
			{"one", "a2", "a2", "a1"},
		}},
		{"phase barrier levels restart per phase", mkspec(barrier, []string{"one", "two"},
			comp("a1", "one"), comp("a2", "one", deps("a1")), comp("b", "two", deps("a2")), comp("c", "two")), Options{}, []b{
			{"one", "a1", "a1", ""},
			{"one", "a2", "a2", "a1"},
			{"two", "b c", "b c", "a2"},
		}},
		{"destroy all, if_depending_stop", chain(), Options{Destroy: true}, []b{
			{"p", "other web", "other web", ""},
			{"p", "app", "app", "web"},
			{"p", "db", "db", "app"},
		}},
		{"destroy --only with dependents removed too, skip_depending", chain(), Options{Destroy: true, Only: []string{"app", "web"}, Strategy: SkipDepending}, []b{
			{"p", "web", "web", ""},
			{"p", "app", "app", ""},
		}},
		{"destroy --only, skip_depending leaves dependents", chain(), Options{Destroy: true, Only: []string{"db"}, Strategy: SkipDepending}, []b{
			{"p", "db", "db", ""},
		}},
		{"destroy --only, undeploy_depending removes dependents first", chain(), Options{Destroy: true, Only: []string{"db"}, Strategy: UndeployDepending}, []b{
			{"p", "web", "web", ""},
			{"p", "app", "app web", ""},
			{"p", "db", "app db web", ""},
		}},
		{"destroy --only leaf, if_depending_stop", chain(), Options{Destroy: true, Only: []string{"web", "other"}}, []b{
			{"p", "other web", "other web", ""},
		}},
		{"destroy regional, phases reversed under barrier", mkspec(barrier, []string{"infra", "app"},
			comp("net", "infra", regions("eu", "us")), comp("svc", "app", regions("eu", "us"), deps("net"))), Options{Destroy: true}, []b{
			{"app", "svc/eu svc/us", "svc/eu svc/us", ""},
			{"infra", "net/eu net/us", "net/eu net/us", "svc/eu svc/us"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := Compile(tc.spec, tc.opts)
			if diags.HasErrors() {
				t.Fatalf("Compile: %v", diags)
			}
			if diff := cmp.Diff(tc.want, batchesOf(p)); diff != "" {
				t.Errorf("batches (-want +got):\n%s", diff)
			}
			checkInvariants(t, p)
		})
	}
}

// checkInvariants holds for every plan: ops sorted and each in exactly one
// batch, every dependency in an earlier batch, alone ops alone.
func checkInvariants(t *testing.T, p *Plan) {
	t.Helper()
	batchOf := map[string]int{}
	for _, x := range p.Batches {
		for _, id := range x.Operations {
			if _, dup := batchOf[id]; dup {
				t.Errorf("%s in two batches", id)
			}
			batchOf[id] = x.Index
		}
	}
	for i, o := range p.Operations {
		if i > 0 && p.Operations[i-1].ID >= o.ID {
			t.Errorf("operations not sorted at %s", o.ID)
		}
		bi, ok := batchOf[o.ID]
		if !ok {
			t.Errorf("%s in no batch", o.ID)
		}
		for _, d := range o.DependsOn {
			if batchOf[d] >= bi {
				t.Errorf("%s (batch %d) depends on %s (batch %d)", o.ID, bi, d, batchOf[d])
			}
		}
		if o.Alone != "" && len(p.Batches[bi].Operations) != 1 {
			t.Errorf("%s must run alone but shares batch %d", o.ID, bi)
		}
	}
	if len(batchOf) != len(p.Operations) {
		t.Errorf("%d ops in batches, %d operations", len(batchOf), len(p.Operations))
	}
}

func TestAloneReason(t *testing.T) {
	p, diags := Compile(mkspec(nil, []string{"p"}, comp("a", "p", restart()), comp("b", "p", container("x", false)), comp("c", "p")), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := map[string]string{}
	for _, o := range p.Operations {
		got[o.ID] = o.Alone
	}
	want := map[string]string{"a": "restart = true (offline deployment)", "b": "container x is not parallel", "c": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestCycle(t *testing.T) {
	s := mkspec(nil, []string{"p"},
		comp("z", "p", regions("eu"), deps("y")),
		comp("y", "p", regions("eu"), deps("x")),
		comp("x", "p", regions("eu"), deps("base", "z")),
		comp("base", "p"))
	_, diags := Compile(s, Options{})
	if len(diags) != 1 {
		t.Fatalf("want one diagnostic, got %v", diags)
	}
	d := diags[0]
	if want := "x/eu -> z/eu -> y/eu -> x/eu"; !strings.Contains(d.Detail, want) {
		t.Errorf("detail %q does not name the cycle %q", d.Detail, want)
	}
	// x's depends_on names z second: line 11 in the synthetic ranges.
	if d.Subject == nil || d.Subject.Start.Line != 11 {
		t.Errorf("subject %v, want x's reference to z (line 11)", d.Subject)
	}
}

func TestSelfCycle(t *testing.T) {
	_, diags := Compile(mkspec(nil, []string{"p"}, comp("a", "p", deps("a"))), Options{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "a -> a") {
		t.Fatalf("got %v", diags)
	}
}

func TestIfDependingStopNamesDependents(t *testing.T) {
	s := mkspec(nil, []string{"p"},
		comp("db", "p", regions("eu", "us")), comp("app", "p", regions("eu", "us"), deps("db")), comp("cron", "p", deps("db")))
	_, diags := Compile(s, Options{Destroy: true, Only: []string{"db"}})
	if len(diags) != 2 {
		t.Fatalf("want a diagnostic per dependent component, got %v", diags)
	}
	for i, want := range []string{`"app" still depends on it (app/eu, app/us)`, `"cron" still depends on it (cron)`} {
		if !strings.Contains(diags[i].Detail, want) {
			t.Errorf("diag %d: %q lacks %q", i, diags[i].Detail, want)
		}
		if diags[i].Subject == nil {
			t.Errorf("diag %d has no subject", i)
		}
	}

	// The hint names every component --only needs, transitively: report
	// depends on app, so "--only db,app" would fail again.
	s = mkspec(nil, []string{"p"},
		comp("db", "p"), comp("app", "p", deps("db")), comp("report", "p", deps("app")), comp("other", "p"))
	_, diags = Compile(s, Options{Destroy: true, Only: []string{"db"}})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "(--only app,db,report)") {
		t.Fatalf("want one diagnostic suggesting --only app,db,report, got %v", diags)
	}
	if _, diags := Compile(s, Options{Destroy: true, Only: []string{"app", "db", "report"}}); diags.HasErrors() {
		t.Errorf("the suggested --only fails: %v", diags)
	}
}

func TestBadOptions(t *testing.T) {
	s := mkspec([]*lang.Mode{{Name: "a"}, {Name: "b"}}, []string{"p"}, comp("db", "p"))
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Mode: "c"}, `There is no mode "c"; the spec declares: a, b.`},
		{Options{Only: []string{"db"}}, "add --destroy"},
		{Options{Destroy: true, Strategy: "nope"}, `"nope" is not one of`},
		{Options{Destroy: true, Only: []string{"dbb"}}, `Did you mean "db"?`},
	} {
		_, diags := Compile(s, tc.opts)
		if !diags.HasErrors() || !strings.Contains(diags[0].Detail, tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.opts, diags, tc.want)
		}
	}
}

func TestPhaseOrderUnderBarrier(t *testing.T) {
	s := mkspec([]*lang.Mode{{Name: "b", PhaseBarrier: true}, {Name: "f"}}, []string{"one", "two"},
		comp("a", "one", deps("b")), comp("b", "two"))
	if _, diags := Compile(s, Options{Mode: "b"}); !diags.HasErrors() || diags[0].Summary != "Dependency against phase order" {
		t.Errorf("barrier: got %v", diags)
	}
	if _, diags := Compile(s, Options{Mode: "f"}); diags.HasErrors() {
		t.Errorf("no barrier: %v", diags)
	}
}

func TestModeDefault(t *testing.T) {
	s := mkspec([]*lang.Mode{{Name: "a"}, {Name: "b"}}, []string{"p"}, comp("x", "p"))
	p, _ := Compile(s, Options{})
	if p.Mode.Name != "a" {
		t.Errorf("no default_mode: got %q, want the first", p.Mode.Name)
	}
	s.Deployment.DefaultMode = "b"
	p, _ = Compile(s, Options{})
	if p.Mode.Name != "b" {
		t.Errorf("default_mode b: got %q", p.Mode.Name)
	}
}

func TestPriorities(t *testing.T) {
	// a(10) -> b(20) -> d(5); a -> c(100); priorities include own duration.
	s := mkspec(nil, []string{"p"},
		comp("a", "p", dur(10*time.Second)),
		comp("b", "p", deps("a"), dur(20*time.Second)),
		comp("c", "p", deps("a"), dur(100*time.Second)),
		comp("d", "p", deps("b"), dur(5*time.Second)))
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := map[string]float64{}
	for _, o := range p.Operations {
		got[o.ID] = o.Priority
	}
	want := map[string]float64{"a": 110, "b": 25, "c": 100, "d": 5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	// Destroy reverses: d first, a last.
	p, _ = Compile(s, Options{Destroy: true})
	for _, o := range p.Operations {
		got[o.ID] = o.Priority
	}
	want = map[string]float64{"a": 10, "b": 30, "c": 110, "d": 35}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error("destroy:", diff)
	}
}

func TestTerraformDurationEstimate(t *testing.T) {
	c := comp("infra", "p", regions("eu"))
	c.Driver = lang.DriverTerraform
	c.Instances[0].Command = nil
	c.Instances[0].Terraform = &lang.Terraform{Dir: "tf"}
	c.Instances[0].Resources = 25
	c.Instances[0].ResourceDuration = lang.Duration{P50: time.Minute, P90: 2 * time.Minute}
	s := mkspec([]*lang.Mode{{Name: "m", TerraformParallelism: 10}}, []string{"p"}, c)
	s.Dir = t.TempDir()
	write(t, filepath.Join(s.Dir, "tf", "main.tf"), "# empty root module\n")
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := p.Operations[0].Priority; got != 180 { // ceil(25/10) x 60s
		t.Errorf("priority %v, want 180", got)
	}
}

func TestCompressIDs(t *testing.T) {
	s := mkspec(nil, []string{"p"},
		comp("net", "p", regions("eu", "us", "ap")),
		comp("val", "p", regions("eu", "us"), replicas(2)),
		comp("solo", "p"))
	p, diags := Compile(s, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ops := p.opIndex()
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"net/ap", "net/eu", "net/us"}, "net/{ap,eu,us} (3)"},
		{[]string{"net/eu"}, "net/eu"},
		{[]string{"val/eu/0", "val/eu/1", "val/us/0", "val/us/1"}, "val/{eu,us}/{0,1} (4)"},
		// Not a full product: every member is listed.
		{[]string{"val/eu/0", "val/eu/1", "val/us/1"}, "val/{eu/0,eu/1,us/1} (3)"},
		{[]string{"net/eu", "net/us", "solo", "unknown/x"}, "net/{eu,us} (2), solo, unknown/x"},
	} {
		if got := strings.ReplaceAll(compressIDs(tc.ids, ops), brk, ""); got != tc.want {
			t.Errorf("compressIDs(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
}

// A regional -> regional dependency links the same region: a region of the
// dependent that the dependency lacks is an error at the depends_on entry
// (review #11), not a silently dropped edge.
func TestRegionalDependencyWithoutCounterpart(t *testing.T) {
	s := mkspec(nil, []string{"p"},
		comp("a", "p", regions("eu", "us"), deps("b")),
		comp("b", "p", regions("us", "asia")))
	_, diags := Compile(s, Options{})
	if len(diags) != 1 || diags[0].Summary != "Regional dependency without a counterpart" {
		t.Fatalf("want one regional-dependency error, got %v", diags)
	}
	d := diags[0]
	if !strings.Contains(d.Detail, `"b" has no instance in "eu"`) || strings.Contains(d.Detail, `"us"`) {
		t.Errorf("detail %q should name eu only", d.Detail)
	}
	if d.Subject == nil {
		t.Error("no subject: want a's depends_on entry")
	}
	// A dependency with more regions than the dependent is fine.
	ok := mkspec(nil, []string{"p"},
		comp("a", "p", regions("us"), deps("b")),
		comp("b", "p", regions("us", "asia")))
	if _, diags := Compile(ok, Options{}); diags.HasErrors() {
		t.Errorf("a subset of the dependency's regions: %v", diags)
	}
}
