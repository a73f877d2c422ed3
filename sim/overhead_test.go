package sim

import (
	"math"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

func simOH(t *testing.T, p *planner.Plan, oh map[string]DriverOverhead, cores int) float64 {
	t.Helper()
	r, err := Simulate(p, Options{Trials: 2, Seed: 1, Workers: 1, Overhead: oh, Cores: cores})
	if err != nil {
		t.Fatal(err)
	}
	if r.WallClock.P10 != r.WallClock.P90 {
		t.Fatalf("deterministic plan gave different makespans: %+v", r.WallClock)
	}
	return r.WallClock.P50
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("%s: makespan %.6f s, want %.6f s", what, got, want)
	}
}

// A step pays its driver's process cost and per resource; the first step of
// the run pays Run, the first in each directory pays Init, later ones not.
func TestOverheadPerStep(t *testing.T) {
	oh := map[string]DriverOverhead{"terraform": {Run: 1, Init: 2, Process: 0.5, Resource: 0.25}}
	a := tf(fixed("a", 0), "units/net", 4, 10)
	b := tf(fixed("b", 0, "a"), "units/net", 2, 10)
	c := tf(fixed("c", 0, "b"), "units/app", 1, 10)
	p := mkPlan(planner.Mode{TerraformParallelism: 10}, a, b, c)
	near(t, "no overhead", simOH(t, p, nil, 0), 30)
	// a: 10 + 1 + 2 + 0.5 + 4*0.25; b: 10 + 0.5 + 0.5; c: 10 + 2 + 0.5 + 0.25.
	near(t, "overhead", simOH(t, p, oh, 0), 14.5+11+12.75)
	// A driver without overhead given pays none.
	near(t, "other driver", simOH(t, p, map[string]DriverOverhead{"helm": {Process: 9}}, 0), 30)
}

// Start-ups beyond the cores run slower: the k-th of steps starting at one
// instant shares the machine with k-1 others.
func TestOverheadCores(t *testing.T) {
	oh := map[string]DriverOverhead{"command": {Process: 1}}
	var ops []planner.Operation
	for _, id := range []string{"a", "b", "c", "d"} {
		ops = append(ops, fixed(id, 3))
	}
	p := mkPlan(planner.Mode{}, ops...)
	near(t, "no limit", simOH(t, p, oh, 0), 4)
	near(t, "4 cores", simOH(t, p, oh, 4), 4)
	// On 2 cores the start-ups take 1, 1, 1.5 and 2 s.
	near(t, "2 cores", simOH(t, p, oh, 2), 5)
	// One after another, each start-up has the machine to itself.
	serial := mkPlan(planner.Mode{MaxParallel: 1}, ops...)
	near(t, "serial on 1 core", simOH(t, serial, oh, 1), 16)
}

func TestOverheadRejectsNonsense(t *testing.T) {
	p := mkPlan(planner.Mode{}, fixed("a", 1))
	for _, c := range []struct {
		oh    map[string]DriverOverhead
		cores int
	}{
		{map[string]DriverOverhead{"command": {Process: -1}}, 0},
		{map[string]DriverOverhead{"command": {Init: math.NaN()}}, 0},
		{nil, -2},
	} {
		if _, err := Simulate(p, Options{Trials: 1, Overhead: c.oh, Cores: c.cores}); err == nil {
			t.Errorf("%+v cores %d: no error", c.oh, c.cores)
		}
	}
}

// Steps that start while their driver's version is checked or their
// directory initialised wait for it, as exec's drivers do; only the first
// pays for the work.
func TestOverheadWaitsForInit(t *testing.T) {
	oh := map[string]DriverOverhead{"terraform": {Run: 1, Init: 2, Process: 0.5}}
	a := tf(fixed("a", 0), "units/net", 1, 10)
	a.Terraform.Workspace = "eu"
	b := tf(fixed("b", 0), "units/net", 1, 10)
	b.Terraform.Workspace = "us"
	c := tf(fixed("c", 0), "units/app", 1, 10)
	p := mkPlan(planner.Mode{}, a, b, c)
	// All start at 0: the version check ends at 1, the inits of both
	// directories at 3, each step's own start-up at 3.5, its work at 13.5.
	near(t, "at once", simOH(t, p, oh, 0), 13.5)
	run, err := TraceTrial(p, Options{Seed: 1, Overhead: oh}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range run.Spans {
		if sp.End != 13.5 {
			t.Errorf("%s ends at %v, want 13.5", sp.ID, sp.End)
		}
	}
}

// The start-ups' heap pops in order whatever the pushes.
func TestInt64Heap(t *testing.T) {
	var h []int64
	for _, v := range []int64{5, 1, 9, 3, 3, 7, 0, 8} {
		pushInt64(&h, v)
	}
	var got []int64
	for len(h) > 0 {
		got = append(got, h[0])
		popInt64(&h)
	}
	want := []int64{0, 1, 3, 3, 5, 7, 8, 9}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}
