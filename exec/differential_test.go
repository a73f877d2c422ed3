package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
	"github.com/echelonhq/echelon/sim"
)

// The differential test holds the simulator and the executor together:
// random plans with fixed durations, run by exec with a fake driver on a
// fake clock (testing/synctest) and by sim with one trial, must start the
// same attempts in the same order at the same times and end at the same
// time. Both drive package sched; what this catches is either side taking
// a decision of its own, or feeding the policy a different sequence.

// diffPlans is how many random plans `go test` checks; make bench sets
// ECHELON_DIFF_PLANS for more.
func diffPlans() int {
	if n, err := strconv.Atoi(os.Getenv("ECHELON_DIFF_PLANS")); err == nil && n > 0 {
		return n
	}
	return 500
}

// genPlan is a random plan: phases, regional and global components with
// replicas, dependencies by region, terraform instances sharing states,
// run-alone operations, retries and on_error rules, and a random mode
// (caps, barriers, terraform -parallelism). Durations are fixed (p50 =
// p90), in whole milliseconds.
func genPlan(seed uint64) *planner.Plan {
	rng := rand.New(rand.NewPCG(seed, 0xd1ff))
	p := &planner.Plan{
		FormatVersion: planner.FormatVersion,
		PlanDigest:    fmt.Sprintf("sha256:%016x", seed+1),
		Action:        planner.ActionDeploy,
		Deployment:    "diff",
	}
	nPhases := 1 + rng.IntN(3)
	for i := range nPhases {
		p.Phases = append(p.Phases, planner.Phase{Name: fmt.Sprintf("ph%d", i)})
	}
	regions := []string{"r0", "r1", "r2", "r3"}[:1+rng.IntN(4)]
	mode := planner.Mode{Name: "m", PhaseBarrier: rng.IntN(2) == 0, BatchBarrier: rng.IntN(4) == 0,
		ComponentParallel: map[string]int{}}
	if rng.IntN(3) > 0 {
		mode.MaxParallel = 1 + rng.IntN(6)
	}
	if rng.IntN(3) == 0 {
		mode.RegionParallel = 1 + rng.IntN(3)
	}
	if rng.IntN(3) == 0 {
		ft := rng.IntN(3)
		mode.FailureTolerance = &ft
	}
	mode.TerraformParallelism = []int{0, 3, 10}[rng.IntN(3)]
	// Apis, one of them per region: a throttle slows the scope it came from.
	// Rate 0: the simulator's own token buckets do not delay anything (the
	// fake driver has none); throttles come from the failure script.
	p.APIs = []planner.API{{Name: "global", Scope: "deployment"}, {Name: "regional", Scope: "region"}}
	apiNames := []string{"global", "regional"}

	type inst struct {
		id, region string
	}
	var comps [][]inst
	depth := map[string]int{}
	phaseOf := 0
	nComps := 2 + rng.IntN(5)
	onErrors := []string{"continue", "continue", "skip_dependents", "stop"}
	for c := range nComps {
		name := fmt.Sprintf("c%d", c)
		if c > 0 && rng.IntN(3) == 0 && phaseOf < nPhases-1 {
			phaseOf++
		}
		if rng.IntN(4) == 0 {
			mode.ComponentParallel[name] = 1 + rng.IntN(2)
		}
		regional := rng.IntN(4) > 0
		replicas := 1 + rng.IntN(2)
		driver := "command"
		var tf *planner.Terraform
		if rng.IntN(2) == 0 {
			driver = "terraform"
			tf = &planner.Terraform{Dir: fmt.Sprintf("tf%d", rng.IntN(2))}
		}
		sharedWS := rng.IntN(2) == 0 // one state for every region, or a workspace per region
		alone := rng.IntN(10) == 0
		calls := map[string]int{}
		for _, a := range apiNames {
			if rng.IntN(3) == 0 {
				calls[a] = 1 + rng.IntN(5)
			}
		}
		retries := rng.IntN(3)
		onError := onErrors[rng.IntN(len(onErrors))]
		dur := float64(100+100*rng.IntN(40)) / 1000
		resources, resDur := 0, 0.0
		if driver == "terraform" && rng.IntN(2) == 0 {
			resources, resDur, dur = 1+rng.IntN(12), float64(100+100*rng.IntN(10))/1000, 0
		}
		var deps []int
		for d := range c {
			if rng.IntN(3) == 0 {
				deps = append(deps, d)
			}
		}
		var insts []inst
		rs := []string{""}
		if regional {
			rs = regions[:1+rng.IntN(len(regions))]
		}
		for _, region := range rs {
			for k := range replicas {
				id := name
				if region != "" {
					id += "/" + region
				}
				if replicas > 1 {
					id += "/" + strconv.Itoa(k)
				}
				op := planner.Operation{ID: id, Component: name, Region: region, Phase: p.Phases[phaseOf].Name,
					Driver: driver, Priority: float64(rng.IntN(100)), OnError: onError, Retries: retries,
					Duration: planner.Duration{P50: dur, P90: dur}, Resources: resources,
					ResourceDuration: planner.Duration{P50: resDur, P90: resDur}, Calls: calls}
				if alone {
					op.Alone = "parallel = false"
				}
				if tf != nil {
					t := *tf
					if !sharedWS && region != "" {
						t.Workspace = region
					}
					op.Terraform = &t
				}
				dp := 0
				for _, d := range deps {
					for _, o := range comps[d] {
						if region == "" || o.region == "" || o.region == region {
							op.DependsOn = append(op.DependsOn, o.id)
							dp = max(dp, depth[o.id]+1)
						}
					}
				}
				depth[id] = dp
				p.Operations = append(p.Operations, op)
				insts = append(insts, inst{id, region})
			}
		}
		comps = append(comps, insts)
	}
	p.Mode = mode
	// Batches in (phase, depth) order: every dependency is in an earlier
	// batch, and no batch holds a later phase than the next one's.
	phaseIdx := map[string]int{}
	for i, ph := range p.Phases {
		phaseIdx[ph.Name] = i
	}
	batchOf := map[[2]int]int{}
	var keys [][2]int
	for _, o := range p.Operations {
		k := [2]int{phaseIdx[o.Phase], depth[o.ID]}
		if _, ok := batchOf[k]; !ok {
			batchOf[k] = 0
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	for i, k := range keys {
		batchOf[k] = i
		p.Batches = append(p.Batches, planner.Batch{Index: i})
	}
	for _, o := range p.Operations {
		b := &p.Batches[batchOf[[2]int{phaseIdx[o.Phase], depth[o.ID]}]]
		b.Operations = append(b.Operations, o.ID)
		b.Exclusive = append(b.Exclusive, o.ID)
	}
	return p
}

func sortKeys(k [][2]int) {
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && (k[j][0] < k[j-1][0] || (k[j][0] == k[j-1][0] && k[j][1] < k[j-1][1])); j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
}

// diffOutcome is the plan's failure script: a pure function of the plan
// seed, the operation and the attempt. Mostly successes; failures,
// throttles (Retry-After 1-3 s) and blameless cut-shorts otherwise.
func diffOutcome(seed uint64) func(op string, attempt int) sched.Outcome {
	return func(op string, attempt int) sched.Outcome {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s/%d", seed, op, attempt)
		x := h.Sum64() % 100
		switch {
		case attempt > 4 || x < 80:
			return sched.Outcome{}
		case x < 90:
			return sched.Outcome{Kind: sched.Fail}
		case x < 97:
			return sched.Outcome{Kind: sched.Throttled, RetryAfter: int64(1+x%3) * sched.Second}
		default:
			return sched.Outcome{Kind: sched.Blameless}
		}
	}
}

// fakeDriver sleeps what the simulator's model says a step takes (the
// longest member's duration, or terraform's rounds of -parallelism over the
// members' resources) and returns the failure script's outcomes.
type fakeDriver struct {
	outcome func(op string, attempt int) sched.Outcome
	mu      sync.Mutex
	calls   map[string]int
}

func (f *fakeDriver) drive(ctx context.Context, s Step) error {
	var work time.Duration
	res, resUS := 0, 0.0
	for _, o := range s.Ops {
		if o.Resources > 0 && o.Duration.P50 == 0 && o.ResourceDuration.P50 > 0 {
			res += o.Resources
			resUS += float64(o.Resources) * o.ResourceDuration.P50 * 1e6
			continue
		}
		work = max(work, time.Duration(math.Round(o.Duration.P50*1000))*time.Millisecond)
	}
	if res > 0 {
		rounds := (res + s.Parallelism - 1) / s.Parallelism
		// One round takes the members' resource time weighted by their
		// resources, on the microsecond clock.
		work = max(work, time.Duration(rounds)*time.Duration(math.Round(resUS/float64(res)))*time.Microsecond)
	}
	time.Sleep(work)
	se := &StepError{Failed: map[string]*OpError{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range s.Ops {
		f.calls[o.ID]++
		out := f.outcome(o.ID, f.calls[o.ID])
		switch out.Kind {
		case sched.Fail:
			se.Failed[o.ID] = &OpError{Err: fmt.Errorf("failed on purpose")}
		case sched.Throttled:
			se.Failed[o.ID] = &OpError{Err: &ThrottledError{RetryAfter: time.Duration(out.RetryAfter) * time.Microsecond, Msg: "429 Too Many Requests"}}
		case sched.Blameless:
			se.Failed[o.ID] = &OpError{Err: fmt.Errorf("cut short"), Blameless: true}
		}
	}
	if len(se.Failed) == 0 {
		return nil
	}
	return se
}

// attemptRec is one attempt as both sides report it.
type attemptRec struct {
	Op         string
	Attempt    int
	Step       int
	Start, End int64 // µs from the run's start
}

// journalAttempts reads a journal's attempts in the order it holds their
// starts, and the run's makespan.
func journalAttempts(path string) ([]attemptRec, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var out []attemptRec
	at := map[[2]any]int{}
	var t0 time.Time
	var makespan int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, 0, err
		}
		us := ev.Time.Sub(t0).Microseconds()
		switch ev.Kind {
		case EvRunStart:
			t0 = ev.Time
		case EvOpStart:
			at[[2]any{ev.Op, ev.Attempt}] = len(out)
			out = append(out, attemptRec{Op: ev.Op, Attempt: ev.Attempt, Step: ev.Step, Start: us})
		case EvOpEnd:
			if i, ok := at[[2]any{ev.Op, ev.Attempt}]; ok {
				out[i].End = us
			}
		case EvRunEnd:
			makespan = us
		}
	}
	return out, makespan, sc.Err()
}

// stepOrder sorts attempts by step, keeping the order within a step.
func stepOrder(a []attemptRec) []attemptRec {
	b := append([]attemptRec(nil), a...)
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j].Step < b[j-1].Step; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
	return b
}

var diffCfg = sched.Config{Backoff: sched.Second, MaxBackoff: 20 * sched.Second, ThrottleRetries: 3, Quiet: 10 * sched.Second}

func TestDifferentialSimExec(t *testing.T) {
	n := diffPlans()
	if testing.Short() {
		n = min(n, 50)
	}
	stats := struct{ ops, attempts, retried, throttled, coalesced, stopped, scoped int }{}
	for i := range n {
		seed := uint64(i)
		p := genPlan(seed)
		outcome := diffOutcome(seed)
		run, err := sim.TraceTrial(p, sim.Options{Seed: seed, Policy: diffCfg, Outcome: outcome}, 0)
		if err != nil {
			t.Fatalf("plan %d: sim: %v", i, err)
		}
		want := make([]attemptRec, len(run.Attempts))
		var simSpan int64
		for k, a := range run.Attempts {
			want[k] = attemptRec{Op: a.Op, Attempt: a.Attempt, Step: a.Step, Start: a.Start, End: a.End}
			simSpan = max(simSpan, a.End)
		}
		var got []attemptRec
		var execSpan int64
		var res *Result
		stateDir := t.TempDir()
		synctest.Test(t, func(t *testing.T) {
			fd := &fakeDriver{outcome: outcome, calls: map[string]int{}}
			res, err = Run(context.Background(), p, Options{StateDir: stateDir, Seed: seed,
				Backoff: time.Second, MaxBackoff: 20 * time.Second, ThrottleRetries: 3, QuietPeriod: 10 * time.Second,
				drive: fd.drive, settle: synctest.Wait,
				OnEvent: func(e Event) {
					if e.Kind == EvAIMD && (strings.HasPrefix(e.Message, "global: ") || strings.HasPrefix(e.Message, "regional/")) {
						stats.scoped++
					}
				}})
			if err != nil {
				t.Fatalf("plan %d: exec: %v", i, err)
			}
			got, execSpan, err = journalAttempts(filepath.Join(RunDir(stateDir, p), "journal.jsonl"))
			if err != nil {
				t.Fatalf("plan %d: journal: %v", i, err)
			}
		})
		got = stepOrder(got)
		if len(got) != len(want) {
			t.Fatalf("plan %d (%s): exec made %d attempts, sim %d\nexec %v\nsim  %v", i, describe(p), len(got), len(want), got, want)
		}
		for k := range got {
			if got[k] != want[k] {
				t.Fatalf("plan %d (%s): attempt %d differs:\nexec %+v\nsim  %+v\nexec %v\nsim  %v", i, describe(p), k, got[k], want[k], got, want)
			}
		}
		if execSpan != simSpan {
			t.Fatalf("plan %d (%s): makespan exec %dµs, sim %dµs", i, describe(p), execSpan, simSpan)
		}
		stats.ops += len(p.Operations)
		stats.attempts += len(got)
		stats.throttled += res.Throttled
		if !res.OK() {
			stats.stopped++
		}
		seen := map[int]int{}
		for _, a := range got {
			if a.Attempt > 1 {
				stats.retried++
			}
			if seen[a.Step]++; seen[a.Step] == 2 {
				stats.coalesced++
			}
		}
	}
	t.Logf("%d plans, %d operations, %d attempts (%d retries), %d throttled steps (%d scoped AIMD changes), %d coalesced steps, %d runs not OK",
		n, stats.ops, stats.attempts, stats.retried, stats.throttled, stats.scoped, stats.coalesced, stats.stopped)
	// The generator must reach what the test is for.
	if n >= 100 && (stats.retried == 0 || stats.throttled == 0 || stats.coalesced == 0 || stats.stopped == 0 || stats.scoped == 0) {
		t.Errorf("the generator missed a feature: %+v", stats)
	}
}

func describe(p *planner.Plan) string {
	m := p.Mode
	return fmt.Sprintf("%d ops, max_parallel %d, region_parallel %d, component_parallel %v, phase_barrier %v, batch_barrier %v, tf %d",
		len(p.Operations), m.MaxParallel, m.RegionParallel, m.ComponentParallel, m.PhaseBarrier, m.BatchBarrier, m.TerraformParallelism)
}
