package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
)

// TraceRecord is one line of `simulate --trace`: the journal's record shape
// (kind, op, attempt, step, outcome, duration) with At, seconds from the
// run's start, in place of a wall-clock time. A real run's journal gives
// the same At as its record's time minus its run_start's.
type TraceRecord struct {
	Kind       string  `json:"kind"` // run_start, op_start, op_end, run_end
	At         float64 `json:"at"`
	Op         string  `json:"op,omitempty"`
	Attempt    int     `json:"attempt,omitempty"`
	Step       int     `json:"step,omitempty"`
	Outcome    string  `json:"outcome,omitempty"`
	Duration   float64 `json:"duration,omitempty"`
	PlanDigest string  `json:"plan_digest,omitempty"`
	Mode       string  `json:"mode,omitempty"`
	Trial      *int    `json:"trial,omitempty"`
	// Parallelism is the terraform -parallelism the step ran with.
	Parallelism int `json:"parallelism,omitempty"`
}

// TraceRecords are a traced run's records in the order a journal holds
// them: by time; at one instant what ended before what starts, starts in
// the policy's step order.
func TraceRecords(p *planner.Plan, run *Run) []TraceRecord {
	sec := func(us int64) float64 { return math.Round(float64(us)) / usPerSecond }
	trial := run.Trial
	out := []TraceRecord{{Kind: "run_start", PlanDigest: p.PlanDigest, Mode: p.Mode.Name, Trial: &trial}}
	type ev struct {
		t     int64
		start bool
		i     int // attempt index (step order)
	}
	evs := make([]ev, 0, 2*len(run.Attempts))
	for i, a := range run.Attempts {
		evs = append(evs, ev{a.Start, true, i}, ev{a.End, false, i})
	}
	sort.SliceStable(evs, func(x, y int) bool {
		if evs[x].t != evs[y].t {
			return evs[x].t < evs[y].t
		}
		if evs[x].start != evs[y].start {
			return !evs[x].start
		}
		return evs[x].i < evs[y].i
	})
	tf := make(map[string]bool, len(p.Operations))
	for i := range p.Operations {
		if p.Operations[i].Driver == "terraform" {
			tf[p.Operations[i].ID] = true
		}
	}
	var end int64
	for _, e := range evs {
		a := &run.Attempts[e.i]
		if e.start {
			rec := TraceRecord{Kind: "op_start", At: sec(a.Start), Op: a.Op, Attempt: a.Attempt, Step: a.Step}
			if tf[a.Op] {
				rec.Parallelism = a.Parallelism
			}
			out = append(out, rec)
			continue
		}
		end = max(end, a.End)
		out = append(out, TraceRecord{Kind: "op_end", At: sec(a.End), Op: a.Op, Attempt: a.Attempt,
			Outcome: outcomeName(a.Outcome), Duration: sec(a.End - a.Start)})
	}
	out = append(out, TraceRecord{Kind: "run_end", At: sec(end), Duration: sec(end)})
	return out
}

func outcomeName(k sched.Kind) string {
	switch k {
	case sched.OK:
		return "succeeded"
	case sched.Cancelled:
		return "cancelled"
	default:
		return "failed"
	}
}

// WriteTrace writes a traced run as JSON lines.
func WriteTrace(w io.Writer, p *planner.Plan, run *Run) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, r := range TraceRecords(p, run) {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("trace: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	return nil
}
