package calib

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// lognormal draws through p50 and p90, as sim does.
type lognormal struct{ p50, p90 float64 }

func (d lognormal) draw(r *rand.Rand) float64 {
	sigma := math.Log(d.p90/d.p50) / z90
	return d.p50 * math.Exp(sigma*r.NormFloat64())
}

// synthPlan has a command component "web" (3 instances) and a terraform
// component "db" (2 instances of one directory, 4 resources each).
func synthPlan(action string) *planner.Plan {
	ops := []planner.Operation{}
	for _, r := range []string{"eu", "us", "ap"} {
		ops = append(ops, planner.Operation{ID: "web/" + r, Component: "web", Region: r, Phase: "main", Driver: "command",
			DependsOn: []string{}, Duration: planner.Duration{P50: 10, P90: 15}, Calls: map[string]int{"cloud": 5}, OnError: "stop", Retries: 2})
	}
	for _, r := range []string{"eu", "us"} {
		ops = append(ops, planner.Operation{ID: "db/" + r, Component: "db", Region: r, Phase: "main", Driver: "terraform",
			DependsOn: []string{}, Resources: 4, ResourceDuration: planner.Duration{P50: 3, P90: 6}, Calls: map[string]int{},
			OnError: "stop", Terraform: &planner.Terraform{Dir: "tf", Workspace: r}})
	}
	return &planner.Plan{FormatVersion: "1", PlanDigest: "sha256:00112233445566778899aabbccddeeff", Action: action,
		Deployment: "synth", Mode: planner.Mode{Name: "m", MaxParallel: 8}, Phases: []planner.Phase{{Name: "main", After: []string{}}},
		APIs: []planner.API{{Name: "cloud", Rate: 100, Burst: 100, Scope: "deployment", Retry: planner.Retry{MaxAttempts: 5, Backoff: 1, MaxBackoff: 8}}}, Budgets: []planner.Budget{}, Operations: ops, Batches: []planner.Batch{}}
}

// truth is what the synthetic journals are drawn from.
type truth struct {
	web, res lognormal
	process  float64 // terraform's overhead per step beyond its resources
	init     float64 // a directory's first step's extra
	failWeb  float64 // web's per-attempt failure probability
}

// synthJournal writes runs of p, one after another, drawn from tr with seed.
// Every step runs alone (no overlap), which the fit does not rely on.
func synthJournal(t *testing.T, path string, p *planner.Plan, tr truth, runs int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	put := func(ev exec.Event) {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Duration { return time.Duration(math.Round(s*1e6)) * time.Microsecond }
	for run := 0; run < runs; run++ {
		at = at.Add(24 * time.Hour)
		now := at
		put(exec.Event{Time: now, Kind: exec.EvRunStart, PlanDigest: p.PlanDigest, Action: p.Action})
		step := 0
		dirInit := false
		for i := range p.Operations {
			o := &p.Operations[i]
			for attempt := 1; attempt <= o.Retries+1; attempt++ {
				step++
				put(exec.Event{Time: now, Kind: exec.EvOpStart, Op: o.ID, Attempt: attempt, Step: step})
				var wall float64
				outcome := exec.OutcomeSucceeded
				if o.Driver == "terraform" {
					def := sim.DefaultOverhead()["terraform"]
					oh := tr.process + 4*def.Resource
					if !dirInit {
						oh += tr.init + def.Run
						dirInit = true
					}
					cursor := now.Add(sec(oh))
					for k := 0; k < o.Resources; k++ {
						d := tr.res.draw(r)
						cursor = cursor.Add(sec(d))
						put(exec.Event{Time: cursor, Kind: exec.EvResource, Op: o.ID, Resource: "x[" + string(rune('0'+k)) + "]", Action: "create", Duration: math.Round(d*1e6) / 1e6})
					}
					wall = cursor.Sub(now).Seconds()
				} else {
					wall = tr.web.draw(r) + sim.DefaultOverhead()["command"].Process
					if r.Float64() < tr.failWeb {
						outcome = exec.OutcomeFailed
					}
				}
				now = now.Add(sec(wall))
				ev := exec.Event{Time: now, Kind: exec.EvOpEnd, Op: o.ID, Attempt: attempt, Outcome: outcome, Duration: wall}
				if outcome == exec.OutcomeFailed {
					ev.Error = "exit status 1"
				}
				put(ev)
				if outcome == exec.OutcomeSucceeded {
					break
				}
			}
		}
		put(exec.Event{Time: now, Kind: exec.EvRunEnd, Outcome: exec.OutcomeSucceeded, Duration: now.Sub(at).Seconds()})
	}
}

func build(t *testing.T, p *planner.Plan, tr truth, runs int, seed uint64) *Calibration {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	synthJournal(t, path, p, tr, runs, seed)
	c, _, err := Build([]Source{{Plan: p, Journals: []string{path}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func within(x float64, r []float64) bool { return r != nil && x >= r[0] && x <= r[1] }
