package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/echelonhq/echelon/store"
)

// recoverTasks is --resume --workers taking a run over: a step a worker
// finished under a coordinator that died (while none was alive, or before
// that coordinator journaled its end) is in flight in the journal, yet its
// task is done with a result. Its end is journaled from that result, the
// records the coordinator writes for a done task, instead of running it
// again; st is updated as if the journal had said so. Tasks lost or
// cancelled have no result and run again, as any resume runs what was in
// flight.
func (r *runner) recoverTasks(ctx context.Context, st *journalState) error {
	dt, ok := r.storeRun.(store.DoneTasker)
	if !ok {
		return nil
	}
	tasks, err := dt.DoneTasks(ctx)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		var step StepTask
		if json.Unmarshal(t.Step, &step) != nil || len(step.Attempts) != len(step.Ops) {
			continue
		}
		// Only the attempt the journal has in flight: an earlier one's
		// end is journaled already.
		srun := &stepRun{seq: step.Step}
		var recs []*opRecord
		for i, id := range step.Ops {
			s, rec := r.byID[id], st.Ops[id]
			if s == nil || rec == nil || !rec.InFlight || rec.Attempts != step.Attempts[i] {
				continue
			}
			srun.ops = append(srun.ops, s)
			srun.attempts = append(srun.attempts, step.Attempts[i])
			recs = append(recs, rec)
		}
		if len(srun.ops) != len(step.Ops) {
			continue // not the step the journal has in flight
		}
		d := stepDone{st: srun, started: true}
		out := r.taskOutcome(&d, store.TaskEnd{Result: t.Result, Worker: t.Worker}, t.Worker, nil)
		d.dur = time.Duration(out.Duration * float64(time.Second))
		end := recs[0].Start.Add(d.dur + d.paced) // the step's start, and the worker's time with its wait for tokens
		evs := r.endEvents(srun, &d)
		for i := range evs {
			evs[i].Time = end
			recs[i].InFlight = false
			recs[i].Succeeded = evs[i].Outcome == OutcomeSucceeded
		}
		recs0 := append(resultRecords(out, end), r.resultOutputs(out, end)...)
		evs = append(recs0, evs...)
		b, err := r.journal.lines(evs...)
		if err != nil {
			return err
		}
		if err := r.journal.commit(store.Entry{Lines: b}, nil, true); err != nil {
			return err
		}
		worker := t.Worker
		if worker == "" {
			worker = "(gone)"
		}
		r.warnings = append(r.warnings, fmt.Sprintf("%s: finished on worker %s (task %d) under the coordinator that died: its end is journaled from the task's result, not run again",
			strings.Join(step.Ops, ", "), worker, t.ID))
	}
	return nil
}
