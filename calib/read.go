package calib

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
)

// Source is a plan and the journals of its runs: files, or journals read
// from a shared store (Stored, named by Where in messages).
type Source struct {
	Plan     *planner.Plan
	Journals []string
	Stored   [][]byte
	Where    string
}

// run is one run of a plan as a journal tells it: the records from its
// run_start up to the next one.
type run struct {
	plan   *planner.Plan
	start  time.Time
	action string
	// resources: the run journals resource records (its run_start names
	// the action, which came with them), so a terraform step without any
	// applied no resource.
	resources bool
	cores     int // the machine's CPUs (run_start); 0: not recorded
	events    []exec.Event
}

// readRuns reads every run of the sources' journals, oldest first.
func readRuns(srcs []Source) ([]*run, []string, error) {
	var runs []*run
	var notes []string
	for _, s := range srcs {
		read := func(path string, each func(func(exec.Event)) error) error {
			var cur *run
			err := each(func(ev exec.Event) {
				if ev.Kind == exec.EvRunStart {
					cur = nil
					if ev.PlanDigest != s.Plan.PlanDigest {
						notes = append(notes, fmt.Sprintf("%s: a run of plan %s, not %s: left out", path, short(ev.PlanDigest), short(s.Plan.PlanDigest)))
						return
					}
					action := ev.Action
					if action == "" {
						action = s.Plan.Action
					}
					cur = &run{plan: s.Plan, start: ev.Time, action: action, resources: ev.Action != "", cores: ev.Cores}
					runs = append(runs, cur)
					return
				}
				if cur != nil {
					cur.events = append(cur.events, ev)
				}
			})
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			return nil
		}
		for _, path := range s.Journals {
			if err := read(path, func(f func(exec.Event)) error { return exec.ReadEvents(path, f) }); err != nil {
				return nil, nil, err
			}
		}
		for _, b := range s.Stored {
			if err := read(s.Where, func(f func(exec.Event)) error { return exec.ReadEventsFrom(bytes.NewReader(b), f) }); err != nil {
				return nil, nil, err
			}
		}
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].start.Before(runs[j].start) })
	return runs, notes, nil
}

func short(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 16 {
		d = d[:16]
	}
	return d
}

// attempt is one attempt of one operation in a run.
type attempt struct {
	op         *planner.Operation
	n          int
	step       int
	start, end time.Time
	wall       float64 // op_end's duration
	outcome    string
	err        string
	throttled  bool
	ended      bool
	res        []resRec
}

type resRec struct {
	addr string
	end  time.Time
	dur  float64
}

// span is the time the attempt's resources took: the first one's start to
// the last one's end (0 without any).
func spanOf(recs []resRec) float64 {
	if len(recs) == 0 {
		return 0
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range recs {
		e := float64(r.end.UnixMicro()) / 1e6
		lo = math.Min(lo, e-r.dur)
		hi = math.Max(hi, e)
	}
	return math.Max(hi-lo, 0)
}

// attempts replays a run's records into its attempts, in start order.
func (r *run) attempts() []*attempt {
	ops := make(map[string]*planner.Operation, len(r.plan.Operations))
	for i := range r.plan.Operations {
		ops[r.plan.Operations[i].ID] = &r.plan.Operations[i]
	}
	var all []*attempt
	cur := map[string]*attempt{}
	for _, ev := range r.events {
		switch ev.Kind {
		case exec.EvOpStart:
			op := ops[ev.Op]
			if op == nil {
				continue
			}
			a := &attempt{op: op, n: ev.Attempt, step: ev.Step, start: ev.Time}
			cur[ev.Op] = a
			all = append(all, a)
		case exec.EvOpEnd:
			if a := cur[ev.Op]; a != nil && !a.ended {
				a.ended, a.end, a.wall, a.outcome, a.err = true, ev.Time, ev.Duration, ev.Outcome, ev.Error
			}
		case exec.EvResource:
			if a := cur[ev.Op]; a != nil && ev.Action != "" {
				a.res = append(a.res, resRec{addr: ev.Resource, end: ev.Time, dur: math.Max(ev.Duration, 0)})
			}
		case exec.EvThrottle:
			for _, id := range ev.Ops {
				if a := cur[id]; a != nil {
					a.throttled = true
				}
			}
		}
	}
	return all
}

// blameless is a coalesced step's instance cut short by another's error
// (exec's message for it): not a failure of its own.
func blameless(msg string) bool {
	return strings.Contains(msg, "the apply stopped on another instance's error") || msg == exec.OutcomeCancelled
}
