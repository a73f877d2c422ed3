package sim

import (
	"math"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// fixed is a deterministic operation of d seconds.
func fixed(id string, d float64, deps ...string) planner.Operation {
	if deps == nil {
		deps = []string{}
	}
	return planner.Operation{
		ID: id, Component: id, Phase: "main", Driver: "command",
		DependsOn: deps, Parallel: true,
		Duration: planner.Duration{P50: d, P90: d},
		Calls:    map[string]int{},
	}
}

func regional(o planner.Operation, comp, region string, replica int) planner.Operation {
	o.Component, o.Region, o.Replica = comp, region, replica
	return o
}

func tf(o planner.Operation, dir string, resources int, rd float64) planner.Operation {
	o.Driver = "terraform"
	o.Terraform = &planner.Terraform{Dir: dir}
	o.Resources = resources
	o.ResourceDuration = planner.Duration{P50: rd, P90: rd}
	return o
}

func mkPlan(mode planner.Mode, ops ...planner.Operation) *planner.Plan {
	phases := []planner.Phase{}
	seen := map[string]bool{}
	for _, o := range ops {
		if !seen[o.Phase] {
			seen[o.Phase] = true
			phases = append(phases, planner.Phase{Name: o.Phase, After: []string{}})
		}
	}
	return &planner.Plan{FormatVersion: "1", Action: planner.ActionDeploy, Mode: mode, Phases: phases, Operations: ops}
}

// exact simulates a deterministic plan and checks that every trial gives
// the same makespan.
func exact(t *testing.T, p *planner.Plan) float64 {
	t.Helper()
	r, err := Simulate(p, Options{Trials: 4, Seed: 1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.WallClock.P10 != r.WallClock.P90 {
		t.Fatalf("deterministic plan gave different makespans: %+v", r.WallClock)
	}
	return r.WallClock.P50
}

func TestExactMakespans(t *testing.T) {
	alone := fixed("c", 5)
	alone.Alone = "parallel = false"
	inPhase := func(o planner.Operation, ph string) planner.Operation { o.Phase = ph; return o }
	tests := []struct {
		name string
		plan *planner.Plan
		want float64
	}{
		{"chain", mkPlan(planner.Mode{}, fixed("a", 10), fixed("b", 20, "a"), fixed("c", 5, "b")), 35},
		{"fan-out under max_parallel", mkPlan(planner.Mode{MaxParallel: 3},
			fixed("root", 1),
			fixed("w1", 7, "root"), fixed("w2", 7, "root"), fixed("w3", 7, "root"), fixed("w4", 7, "root"),
			fixed("w5", 7, "root"), fixed("w6", 7, "root"), fixed("w7", 7, "root")),
			// 1 + ceil(7/3) rounds of 7s.
			1 + 3*7},
		{"phase barrier", mkPlan(planner.Mode{PhaseBarrier: true},
			inPhase(fixed("a", 10), "one"), inPhase(fixed("b", 30), "one"), inPhase(fixed("c", 5), "two")),
			30 + 5},
		{"no phase barrier", mkPlan(planner.Mode{},
			inPhase(fixed("a", 10), "one"), inPhase(fixed("b", 30), "one"), inPhase(fixed("c", 5), "two")),
			30},
		{"region_parallel = 1, non-regional work takes no slot", mkPlan(planner.Mode{RegionParallel: 1},
			regional(fixed("x/eu", 10), "x", "eu", 0), regional(fixed("y/eu", 5, "x/eu"), "y", "eu", 0),
			regional(fixed("x/us", 10), "x", "us", 0), regional(fixed("y/us", 5, "x/us"), "y", "us", 0),
			regional(fixed("x/ap", 10), "x", "ap", 0), regional(fixed("y/ap", 5, "x/ap"), "y", "ap", 0),
			fixed("global", 20)),
			// Regions one after another (15s each); global runs beside them.
			3 * 15},
		{"replicas under component_parallel", mkPlan(planner.Mode{ComponentParallel: map[string]int{"v": 3}},
			regional(fixed("v/eu/0", 10), "v", "eu", 0), regional(fixed("v/eu/1", 10), "v", "eu", 1),
			regional(fixed("v/us/0", 10), "v", "us", 0), regional(fixed("v/us/1", 10), "v", "us", 1),
			regional(fixed("v/ap/0", 10), "v", "ap", 0), regional(fixed("v/ap/1", 10), "v", "ap", 1),
			regional(fixed("v/sa/0", 10), "v", "sa", 0)),
			// 7 replicas, 3 at a time.
			3 * 10},
		{"run-alone", mkPlan(planner.Mode{}, fixed("a", 10), fixed("b", 8), alone, fixed("d", 10)),
			// a and b start; c may not be overtaken, runs alone after
			// both; then d.
			10 + 5 + 10},
		{"coalesced terraform under one -parallelism", mkPlan(planner.Mode{TerraformParallelism: 8},
			tf(regional(fixed("net/eu", 0), "net", "eu", 0), "infra", 10, 60),
			tf(regional(fixed("net/us", 0), "net", "us", 0), "infra", 10, 60),
			tf(regional(fixed("net/ap", 0), "net", "ap", 0), "infra", 5, 60)),
			// One process: ceil(25/8) = 4 rounds of 60s.
			4 * 60},
		{"separate states run side by side", mkPlan(planner.Mode{TerraformParallelism: 8},
			tf(regional(fixed("net/eu", 0), "net", "eu", 0), "infra-eu", 10, 60),
			tf(regional(fixed("net/us", 0), "net", "us", 0), "infra-us", 10, 60),
			tf(regional(fixed("net/ap", 0), "net", "ap", 0), "infra-ap", 5, 60)),
			2 * 60},
		{"late instance waits for the running process", mkPlan(planner.Mode{TerraformParallelism: 8},
			tf(regional(fixed("net/eu", 0), "net", "eu", 0), "infra", 10, 60),
			tf(regional(fixed("net/us", 0), "net", "us", 0), "infra", 10, 60),
			fixed("prep", 30),
			tf(regional(fixed("net/ap", 0, "prep"), "net", "ap", 0), "infra", 8, 60)),
			// eu+us: ceil(20/8)=3 rounds (180s); ap is ready at 30s but
			// starts its own process at 180s: one round.
			3*60 + 60},
		{"coalescing stops at max_parallel", mkPlan(planner.Mode{TerraformParallelism: 8, MaxParallel: 2},
			tf(regional(fixed("net/eu", 0), "net", "eu", 0), "infra", 10, 60),
			tf(regional(fixed("net/us", 0), "net", "us", 0), "infra", 10, 60),
			tf(regional(fixed("net/ap", 0), "net", "ap", 0), "infra", 5, 60)),
			// ap and eu (ID order) in one process: ceil(15/8) = 2 rounds;
			// then us alone: 2 rounds.
			2*60 + 2*60},
		{"a given duration wins over resources", mkPlan(planner.Mode{TerraformParallelism: 8},
			func() planner.Operation {
				o := tf(fixed("net", 0), "infra", 80, 60)
				o.Duration = planner.Duration{P50: 42, P90: 42}
				return o
			}()),
			42},
		{"batch barrier", withBatches(mkPlan(planner.Mode{BatchBarrier: true},
			fixed("a", 10), fixed("b", 30), fixed("c", 5, "a")), [][]string{{"a", "b"}, {"c"}}),
			30 + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exact(t, tt.plan); math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("makespan = %v s, want %v s", got, tt.want)
			}
		})
	}
}

func withBatches(p *planner.Plan, batches [][]string) *planner.Plan {
	for i, b := range batches {
		p.Batches = append(p.Batches, planner.Batch{Index: i, Phase: "main", Operations: b})
	}
	return p
}

func TestPriorityOrder(t *testing.T) {
	// One slot: b has the higher priority, so it starts first although a
	// sorts first by ID.
	a, b := fixed("a", 10), fixed("b", 20)
	b.Priority = 100
	p := mkPlan(planner.Mode{MaxParallel: 1}, a, b)
	m, err := newModel(p)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(m)
	if err := e.run(1, 0); err != nil {
		t.Fatal(err)
	}
	// Rank 0 is b (priority first).
	if m.ops[0].id != "b" || e.start[0] != 0 || e.start[1] != 20*usPerSecond {
		t.Errorf("b should start first: ops %s@%d %s@%d", m.ops[0].id, e.start[0], m.ops[1].id, e.start[1])
	}
}

func TestSameResultWhateverTheWorkers(t *testing.T) {
	var ops []planner.Operation
	for _, r := range []string{"eu", "us", "ap", "sa"} {
		o := regional(fixed("x/"+r, 0), "x", r, 0)
		o.Duration = planner.Duration{P50: 60, P90: 120}
		o.Calls = map[string]int{"api": 50}
		ops = append(ops, o)
	}
	p := mkPlan(planner.Mode{MaxParallel: 2}, ops...)
	p.APIs = []planner.API{{Name: "api", Rate: 1, Burst: 20, Scope: "deployment", Retry: planner.Retry{MaxAttempts: 5, Backoff: 1, MaxBackoff: 8}}}
	r1, err := Simulate(p, Options{Trials: 300, Seed: 7, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	r3, err := Simulate(p, Options{Trials: 300, Seed: 7, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r1.WallClock != r3.WallClock || r1.APIs[0] != r3.APIs[0] {
		t.Errorf("results differ by worker count:\n%+v %+v\n%+v %+v", r1.WallClock, r1.APIs[0], r3.WallClock, r3.APIs[0])
	}
	r4, err := Simulate(p, Options{Trials: 300, Seed: 8, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r4.WallClock == r1.WallClock {
		t.Errorf("another seed gave the very same result")
	}
}

func TestStuckPlanIsAnError(t *testing.T) {
	// Under a phase barrier, an operation of the first phase that depends
	// on one of the second can never start.
	a, b := fixed("a", 1, "b"), fixed("b", 1)
	a.Phase, b.Phase = "one", "two"
	p := mkPlan(planner.Mode{PhaseBarrier: true}, a, b)
	if _, err := Simulate(p, Options{Trials: 1}); err == nil {
		t.Fatal("want an error for a plan that cannot finish")
	}
}
