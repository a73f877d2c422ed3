package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// Workers (docs/store.md, "Workers"): with Options.Dispatch the runner
// still drives the one policy (package sched) and journals every step, but
// a step is a task in the store, run by whichever worker claims it
// (echelon worker, RunTask), instead of a driver here.

// StepTask is a step as a coordinator dispatches it (store.Task.Step):
// the plan's operations by ID, never their values (a worker has the plan
// by its digest, and evaluates sensitive values from its own environment
// and var files).
type StepTask struct {
	Ops         []string `json:"ops"`
	Attempts    []int    `json:"attempts"`
	Step        int      `json:"step"`
	Parallelism int      `json:"parallelism"`
	// Outputs are the producers' outputs the step's operations read, by
	// producer and name, as the coordinator knows them (never a
	// sensitive one: such a consumer is refused); the worker evaluates
	// the operations' settings from its own spec with them.
	Outputs map[string]map[string]OutputValue `json:"outputs,omitempty"`
}

// StepOutcome is a worker's result of a StepTask (store.TaskEnd.Result).
type StepOutcome struct {
	Ops      []OpOutcome `json:"ops"` // one per StepTask.Ops
	Duration float64     `json:"duration"`
	Paced    float64     `json:"paced,omitempty"` // seconds waited for shared api tokens first
	// Resources are the step's terraform resource records (what
	// calibrate fits), masked by the worker, for the coordinator to
	// journal as it journals a local step's.
	Resources []TaskResource `json:"resources,omitempty"`
	// Outputs are the step's producers' outputs, read after they
	// succeeded, sensitive values "(sensitive)": the coordinator journals
	// them (the outputs records) and gives them to their consumers.
	Outputs map[string]map[string]OutputValue `json:"outputs,omitempty"`
}

// TaskResource is one resource record of a StepOutcome: a resource Event
// with an Action, its time as At, seconds after the step started on the
// worker (the worker's clock is not the coordinator's).
type TaskResource struct {
	Op       string   `json:"op,omitempty"`
	Ops      []string `json:"ops,omitempty"`
	Resource string   `json:"resource"`
	Action   string   `json:"action"`
	Duration float64  `json:"duration"`
	Message  string   `json:"message,omitempty"`
	At       float64  `json:"at"`
}

// resultRecords are the records a worker's result adds to the journal
// before its step's ends: its resource records, timed back from end,
// the step's end on the coordinator's clock.
func resultRecords(out StepOutcome, end time.Time) []Event {
	evs := make([]Event, 0, len(out.Resources))
	for _, x := range out.Resources {
		// At counts from the step's start, its wait for api tokens
		// included; Duration leaves the wait out.
		at := end.Add(-time.Duration((out.Duration + out.Paced - x.At) * float64(time.Second)))
		evs = append(evs, Event{Time: at, Kind: EvResource, Op: x.Op, Ops: x.Ops, Resource: x.Resource,
			Action: x.Action, Duration: x.Duration, Message: x.Message})
	}
	return evs
}

// OpOutcome is one operation's part of a StepOutcome: Error "" succeeded.
type OpOutcome struct {
	Error      string  `json:"error,omitempty"`
	Blameless  bool    `json:"blameless,omitempty"`
	Throttled  bool    `json:"throttled,omitempty"`
	RetryAfter float64 `json:"retry_after,omitempty"`
	// Log is the log file on the worker's machine, as host:path.
	Log string `json:"log,omitempty"`
}

// WorkerLostError is a step whose worker was lost before it finished (it
// died, or its lease ran out): the policy runs it again as the next
// attempt (sched.Lost).
type WorkerLostError struct{ Worker string }

func (e *WorkerLostError) Error() string {
	if e.Worker == "" {
		return WorkerLostPrefix
	}
	return WorkerLostPrefix + " " + e.Worker + " (its lease ran out)"
}

// dispatchStep is runStep for a coordinator: the step's lock set, start
// records and task in one commit, then its end from the worker.
func (r *runner) dispatchStep(st *stepRun, withLocks bool, parallelism int) stepDone {
	d := stepDone{st: st}
	t := StepTask{Step: st.seq, Parallelism: parallelism, Attempts: st.attempts}
	for _, s := range st.ops {
		t.Ops = append(t.Ops, s.op.ID)
	}
	outs, err := r.taskOutputs(st)
	if err != nil {
		d.err = err // not started: the run stops with it
		return d
	}
	t.Outputs = outs
	raw, err := json.Marshal(t)
	if err != nil {
		d.err = err
		return d
	}
	var set *store.LockSet
	if withLocks {
		excl, shared := r.stepLocks(st)
		set = &store.LockSet{Owner: r.owner + "#" + st.ops[0].op.ID, Exclusive: excl, Shared: shared}
	}
	st.started = time.Now()
	h, err := r.journal.Dispatch(set, r.startEvents(st), &store.Task{Step: raw, Labels: r.opts.Labels})
	if err != nil {
		d.err = fmt.Errorf("dispatch: %w", err)
		return d
	}
	if !h.Ok() {
		d.lockBusy = true
		return d
	}
	d.started = true
	for _, ev := range r.startEvents(st) {
		r.emit(ev)
	}
	end, worker, err := r.awaitTask(st, h)
	wall := time.Since(st.started)
	out := r.taskOutcome(&d, end, worker, err)
	d.dur = wall - d.paced
	if len(out.Ops) > 0 && out.Duration > 0 {
		// The worker's own time for the step; the rest of the wall time
		// it waited to be claimed (or for the store).
		d.dur = time.Duration(out.Duration * float64(time.Second))
		d.queued = max(0, wall-d.dur-d.paced)
	}
	now := time.Now()
	recs := append(resultRecords(out, now), r.resultOutputs(out, now)...)
	recs = append(recs, r.endEvents(st, &d)...)
	if err := r.journal.End(store.Held{}, recs); err != nil && d.err == nil {
		d.err = err
		d.errs, d.blame = opErrors(st.ops, d.err)
	}
	return d
}

// taskOutcome fills d from how its task ended: the worker's result, when
// it has one; worker is the one that claimed it ("" none known).
func (r *runner) taskOutcome(d *stepDone, end store.TaskEnd, worker string, err error) StepOutcome {
	n := len(d.st.ops)
	d.logs = make([]string, n)
	var out StepOutcome
	switch {
	case err != nil:
		d.err = err
	case end.Cancelled && worker != "":
		d.err = fmt.Errorf("on worker %s: %w", worker, context.Canceled)
	case end.Cancelled:
		d.err = fmt.Errorf("%w before a worker claimed it", context.Canceled)
		d.withdrawn = r.opts.Hard.Err() == nil // taken back at the first Ctrl-C
	case end.Lost:
		d.err = &WorkerLostError{Worker: worker}
	default:
		if err := json.Unmarshal(end.Result, &out); err != nil || len(out.Ops) != n {
			d.err = fmt.Errorf("worker %s: an unreadable result (%v)", end.Worker, err)
		}
		d.paced = time.Duration(out.Paced * float64(time.Second))
	}
	if d.err != nil {
		d.errs, d.blame = opErrors(d.st.ops, d.err)
		return StepOutcome{}
	}
	se := &StepError{Failed: map[string]*OpError{}}
	for i, o := range out.Ops {
		d.logs[i] = o.Log
		if o.Error == "" {
			continue
		}
		var e error = errors.New(o.Error)
		if o.Throttled {
			e = &ThrottledError{RetryAfter: time.Duration(o.RetryAfter * float64(time.Second)), Msg: o.Error}
		}
		se.Failed[d.st.ops[i].op.ID] = &OpError{Err: e, Blameless: o.Blameless}
	}
	if len(se.Failed) > 0 {
		d.err = se
	}
	d.errs, d.blame = opErrors(d.st.ops, d.err)
	return out
}

// TaskOptions configure RunTask.
type TaskOptions struct {
	// StateDir is this machine's state directory: the step's log files
	// and private files go in its runs/<digest>/.
	StateDir string
	SpecDir  string
	Env      []string // default os.Environ()
	// Secrets are masked in the log files (the worker's own sensitive
	// values, from RuntimePlan).
	Secrets []string
	// Started is told each process group the step starts (a worker kills
	// them when it loses its lease).
	Started func(pgid int)
	// Scope is the drivers' state for the plan's run on this machine
	// (version checks, initialised directories): a worker keeps one per
	// plan. nil: a new one.
	Scope *RunScope
	// Pacer paces the step against the shared api buckets (Options.Pacer).
	Pacer Pacer
	// Spec is the plan's spec as this worker loaded it (its own
	// sensitive values): an operation that reads outputs is evaluated
	// from it with the task's Outputs.
	Spec *lang.Spec
	// PutLog, when set, is given each operation's log file once the
	// attempt has ended (a worker stores it in the store); an error is
	// the caller's to tell, the step's outcome stays.
	PutLog func(op string, attempt int, path string) error
}

// RunTask runs one dispatched step of p (the worker's RuntimePlan of the
// plan) with the local drivers, as apply runs a step, and says how each
// operation ended. ctx ending kills the step's processes.
func RunTask(ctx context.Context, p *planner.Plan, t StepTask, o TaskOptions) (StepOutcome, error) {
	if len(t.Attempts) != len(t.Ops) {
		return StepOutcome{}, fmt.Errorf("task: %d operations, %d attempts", len(t.Ops), len(t.Attempts))
	}
	r := &runner{plan: p, red: newRedactor(o.Secrets),
		opts: Options{SpecDir: o.SpecDir, Env: o.Env, Hard: ctx, Spec: o.Spec, Pacer: o.Pacer}.withDefaults()}
	r.taskOutputsIn(t.Outputs)
	// The resource records go in the result (the coordinator journals
	// them); the rest of the drivers' progress is not sent.
	var resMu sync.Mutex
	var resources []TaskResource
	var origin time.Time
	r.emit = func(ev Event) {
		if ev.Kind != EvResource || ev.Action == "" {
			return
		}
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		ev = r.red.event(ev)
		resMu.Lock()
		defer resMu.Unlock()
		resources = append(resources, TaskResource{Op: ev.Op, Ops: ev.Ops, Resource: ev.Resource, Action: ev.Action,
			Duration: ev.Duration, Message: ev.Message, At: ev.Time.Sub(origin).Seconds()})
	}
	r.runDir = RunDir(o.StateDir, p)
	r.logDir = filepath.Join(r.runDir, "logs")
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return StepOutcome{}, fmt.Errorf("state directory: %w", err)
	}
	byID := make(map[string]*planner.Operation, len(p.Operations))
	for i := range p.Operations {
		byID[p.Operations[i].ID] = &p.Operations[i]
	}
	st := &stepRun{seq: t.Step, started: time.Now(), attempts: t.Attempts}
	origin = st.started
	for _, id := range t.Ops {
		op := byID[id]
		if op == nil {
			return StepOutcome{}, fmt.Errorf("task: operation %s is not in the plan", id)
		}
		st.ops = append(st.ops, &opState{op: op})
	}
	r.started = o.Started
	r.putLog = o.PutLog
	r.scope = o.Scope
	if r.scope == nil {
		r.scope = &RunScope{StateDir: o.StateDir}
	}
	d := r.driveStep(st, stepDone{st: st}, "", t.Parallelism)
	host, _ := os.Hostname()
	resMu.Lock()
	out := StepOutcome{Duration: d.dur.Seconds(), Paced: d.paced.Seconds(), Ops: make([]OpOutcome, len(st.ops)), Resources: resources, Outputs: r.taskOuts}
	resMu.Unlock()
	cancelled := ctx.Err() != nil
	for i := range st.ops {
		oo := OpOutcome{Log: host + ":" + d.logs[i]}
		if e := d.errs[i]; e != nil {
			// Masked here: the result goes to the store, and the
			// coordinator may not know this worker's values.
			oo.Error, oo.Blameless = r.red.String(opMessage(d.err, e, d.blame[i], len(st.ops), cancelled)), d.blame[i]
			var te *ThrottledError
			if errors.As(e, &te) {
				oo.Throttled, oo.RetryAfter = true, te.RetryAfter.Seconds()
			}
		}
		out.Ops[i] = oo
	}
	return out, nil
}
