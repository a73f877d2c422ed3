package exec

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Outputs between components on workers (docs/store.md, "Workers"). The
// coordinator keeps the producers' outputs as a local run does (from the
// journal, and from each producer's result); when it dispatches a step
// whose operations read outputs, the task carries the values they read,
// and the worker evaluates the operations' settings from its own spec
// (its own sensitive values) with them. A sensitive output is journaled
// masked and never written to the store in clear, so an operation that
// reads one cannot run on a worker: the run stops, naming the output. A
// worker reads its producers' outputs with terraform output after they
// succeed, as apply does, and returns them, sensitive values masked, in
// its result; the coordinator journals them.

// taskOutputs are the outputs st's operations read, for its task: the
// values this coordinator has, or reads with terraform output when it has
// none of a producer (a destroy, whose producers run after their
// consumers). An error refuses the step: an output it reads is sensitive.
func (r *runner) taskOutputs(st *stepRun) (map[string]map[string]OutputValue, error) {
	var out map[string]map[string]OutputValue
	for _, s := range st.ops {
		for _, ref := range s.op.Outputs {
			vals, masked, known := r.outs.values(ref.Operation)
			if !known {
				var log bytes.Buffer
				started := func(pgid int) { r.recordGroup(r.owner, pgid) }
				v, err := r.readOutputs(r.opts.Hard, ref.Operation, &log, started)
				if err != nil {
					return nil, fmt.Errorf("%s: %w\n%s", s.op.ID, err, r.red.String(strings.TrimSpace(log.String())))
				}
				vals = v
			}
			v, ok := vals[ref.Output]
			if masked[ref.Output] || ok && v.Sensitive {
				return nil, fmt.Errorf("%s reads the sensitive output %s of %s: a sensitive value is never written to the store, so an operation that reads one cannot run on a worker (apply the plan without --workers)",
					s.op.ID, ref.Output, ref.Operation)
			}
			if !ok {
				continue // the worker's evaluation says it is missing
			}
			if out == nil {
				out = map[string]map[string]OutputValue{}
			}
			if out[ref.Operation] == nil {
				out[ref.Operation] = map[string]OutputValue{}
			}
			out[ref.Operation][ref.Output] = v
		}
	}
	return out, nil
}

// values are a producer's outputs as this run knows them, and which of
// them the journal masked (sensitive).
func (o *outputStore) values(id string) (map[string]OutputValue, map[string]bool, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.vals[id]
	return v, o.masked[id], ok
}

// putRecorded keeps a producer's outputs as a record holds them, the
// sensitive ones masked (as restore does for the journal's).
func (o *outputStore) putRecorded(id, from string, vals map[string]OutputValue) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.vals[id], o.from[id] = vals, from
	delete(o.masked, id)
	for name, v := range vals {
		if v.Sensitive {
			if o.masked[id] == nil {
				o.masked[id] = map[string]bool{}
			}
			o.masked[id][name] = true
		}
	}
}

// resultOutputs are the outputs records of a worker's result, journaled
// with the step's end (one commit: never an end without them), and kept
// for the producers' consumers.
func (r *runner) resultOutputs(out StepOutcome, at time.Time) []Event {
	if len(out.Outputs) == 0 || r.outs == nil {
		return nil
	}
	var evs []Event
	for _, id := range slices.Sorted(maps.Keys(out.Outputs)) {
		if !r.producers[id] {
			continue // not a producer of this plan's: nothing reads it
		}
		vals := out.Outputs[id]
		r.outs.putRecorded(id, "its worker", vals)
		evs = append(evs, Event{Time: at, Kind: EvOutputs, Op: id, Outputs: vals})
	}
	return evs
}

// recordOutputs records a producer's outputs (sensitive values masked):
// in the journal, durably before its end; in a worker (RunTask), in the
// task's result.
func (r *runner) recordOutputs(id string, rec map[string]OutputValue) error {
	if r.taskOuts != nil {
		r.taskOuts[id] = rec
		return nil
	}
	return r.journal.Append(Event{Time: time.Now(), Kind: EvOutputs, Op: id, Outputs: rec})
}

// taskOutputsIn readies a worker's runner for a plan that reads outputs:
// the task's values are the producers' outputs it knows, and the
// producers it runs have theirs read into the result.
func (r *runner) taskOutputsIn(given map[string]map[string]OutputValue) {
	if r.producers = producers(r.plan); r.producers == nil && len(given) == 0 {
		return
	}
	r.outs = newOutputStore()
	for id, vals := range given {
		r.outs.put(id, "the coordinator", vals)
	}
	r.taskOuts = map[string]map[string]OutputValue{}
	if r.red == nil {
		r.red = &redactor{}
	}
	r.byID = make(map[string]*opState, len(r.plan.Operations))
	for i := range r.plan.Operations {
		r.byID[r.plan.Operations[i].ID] = &opState{op: &r.plan.Operations[i]}
	}
}
