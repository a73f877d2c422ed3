package sim

import (
	"math"
	"sort"

	"github.com/echelonhq/echelon/planner"
)

// Actual is one operation's real run for a comparison: its last attempt's
// start and end, seconds from the run's start.
type Actual struct {
	Op         string
	Phase      string
	Start, End float64
	// Paced is the part of Start-End it waited before its driver
	// started, for shared api tokens (the store's buckets) or, run by a
	// worker, to be claimed: not its own time, so not held to its
	// duration's P10-P90.
	Paced float64
	OK    bool // it succeeded: a failure's time is not held to a P10-P90
}

// Comparison lays a real run beside its prediction: in total, per phase,
// and the operations whose real time fell outside their own P10-P90.
type Comparison struct {
	Trials    int         `json:"trials"`
	Predicted Quantiles   `json:"predicted"`
	Actual    float64     `json:"actual"`
	Phases    []PhaseFit  `json:"phases"`
	Outliers  []OpOutlier `json:"outliers"`
	Checked   int         `json:"operations_checked"` // operations with a duration to hold them to
	// ByResources are those timed by their resources (terraform): their
	// time is their step's, so they are held to nothing alone.
	ByResources int `json:"operations_timed_by_resources"`
	// Calibrated says what calibration the prediction used ("calibrated
	// from N runs, last on DATE"; empty: none). Set by the caller.
	Calibrated string `json:"calibrated,omitempty"`
	// Previewed says whose counted changes the prediction used ("the
	// preview of DATE", "... on HOST" for a store's; empty: none). Set by
	// the caller.
	Previewed string `json:"previewed,omitempty"`
}

// PhaseFit is a phase's predicted span beside its real one.
type PhaseFit struct {
	Phase     string    `json:"phase"`
	Predicted Quantiles `json:"predicted"`
	Actual    float64   `json:"actual"`
}

// OpOutlier is an operation whose real time fell outside the P10-P90 of its
// own duration.
type OpOutlier struct {
	Op     string  `json:"op"`
	P10    float64 `json:"p10"`
	P90    float64 `json:"p90"`
	Actual float64 `json:"actual"`
}

// Compare holds what ran (actual, the operations that ran in this run; the
// run took total seconds) to the prediction r of plan p. An operation is
// held to its own duration, its wait for shared api tokens left out (p50 and p90 from the plan; P10 = p50²/p90, the
// lognormal's mirror of P90; with 5% of p50, at least 50 ms, of slack):
// terraform instances timed by their resources are left out, their time
// being the step's.
func Compare(p *planner.Plan, r *Result, actual []Actual, total float64) *Comparison {
	c := &Comparison{Trials: r.Trials, Predicted: r.WallClock, Actual: round3(total),
		Phases: []PhaseFit{}, Outliers: []OpOutlier{}}
	lo, hi := map[string]float64{}, map[string]float64{}
	byID := make(map[string]*planner.Operation, len(p.Operations))
	for i := range p.Operations {
		byID[p.Operations[i].ID] = &p.Operations[i]
	}
	for _, a := range actual {
		if v, ok := lo[a.Phase]; !ok || a.Start < v {
			lo[a.Phase] = a.Start
		}
		hi[a.Phase] = math.Max(hi[a.Phase], a.End)
		o := byID[a.Op]
		if o == nil || !a.OK {
			continue
		}
		if o.Duration.P50 <= 0 {
			if o.Resources > 0 {
				c.ByResources++
			}
			continue
		}
		c.Checked++
		p50, p90 := o.Duration.P50, math.Max(o.Duration.P90, o.Duration.P50)
		p10 := p50 * p50 / p90
		// Slack for a timer's and a process's noise: 5% of p50, at least
		// 50 ms (a fixed duration's P10-P90 is a point).
		slack := math.Max(0.05*p50, 0.05)
		if d := a.End - a.Start - a.Paced; d < p10-slack || d > p90+slack {
			c.Outliers = append(c.Outliers, OpOutlier{Op: a.Op, P10: p10, P90: p90, Actual: round3(d)})
		}
	}
	for _, ph := range r.Phases {
		if _, ran := lo[ph.Phase]; !ran {
			continue
		}
		c.Phases = append(c.Phases, PhaseFit{Phase: ph.Phase, Predicted: ph.Span, Actual: round3(hi[ph.Phase] - lo[ph.Phase])})
	}
	sort.Slice(c.Outliers, func(i, j int) bool { return c.Outliers[i].Op < c.Outliers[j].Op })
	return c
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
