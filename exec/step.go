package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
	"github.com/echelonhq/echelon/store"
)

// One step: the locks, the journal records and the log files of one
// attempt of one operation (or of coalesced terraform instances), and the
// driver that runs it.

// StepError is a step's failure told apart per operation: a driver that
// can say which of a coalesced step's operations failed (terraform's -json
// stream names the failed resources) returns it. Operations not in Failed
// succeeded.
type StepError struct {
	Failed map[string]*OpError // by operation ID
}

// OpError is one operation's part in a StepError.
type OpError struct {
	Err error
	// Blameless: the operation did not fail itself; the step stopped on
	// another operation's error before its changes were applied.
	Blameless bool
}

func (e *StepError) Error() string {
	ids := make([]string, 0, len(e.Failed))
	for id := range e.Failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + ": " + e.Failed[id].Err.Error()
	}
	return strings.Join(parts, "; ")
}

// opErrors splits a step's error into one per operation (nil: succeeded).
func opErrors(ops []*opState, err error) ([]error, []bool) {
	errs := make([]error, len(ops))
	blameless := make([]bool, len(ops))
	var se *StepError
	if err == nil {
		return errs, blameless
	}
	if !errors.As(err, &se) {
		for i := range errs {
			errs[i] = err
		}
		return errs, blameless
	}
	for i, s := range ops {
		if oe := se.Failed[s.op.ID]; oe != nil {
			errs[i], blameless[i] = oe.Err, oe.Blameless
		}
	}
	return errs, blameless
}

// stepDone is what a step's goroutine reports to the central loop.
type stepDone struct {
	st       *stepRun
	started  bool // locks were taken and the driver ran
	lockBusy bool // another apply holds part of the lock set
	err      error
	errs     []error // per operation of st.ops (nil: succeeded), when err != nil
	blame    []bool  // per operation: failed only because the step stopped
	logs     []string
	dur      time.Duration // the driver's, less paced
	paced    time.Duration // waited for shared api tokens (pace.go)
	queued   time.Duration // dispatched: waited for a worker (Event.Queued)
	// withdrawn: dispatched, taken back unclaimed at the first Ctrl-C:
	// cancelled, not failed (it never ran)
	withdrawn bool
}

type stepRun struct {
	seq      int // the policy's step number
	members  []int32
	ops      []*opState
	key      string // terraform state key ("" otherwise)
	started  time.Time
	attempts []int
}

// start launches one step: its goroutine takes the locks (unless the batch
// holds them), journals the start durably, runs the driver and journals the
// end.
func (r *runner) startStep(start *sched.Start, done chan<- stepDone) {
	st := &stepRun{seq: start.Step, members: append([]int32(nil), start.Members...), started: time.Now()}
	for _, rank := range st.members {
		s := r.byRank[rank]
		s.cancelled = false
		st.ops = append(st.ops, s)
		st.attempts = append(st.attempts, r.sch.Attempts(rank))
	}
	st.key = st.ops[0].op.StateKey()
	withLocks := !r.plan.Mode.BatchBarrier
	par := start.Parallelism
	go func() {
		d := r.runStep(st, withLocks, par)
		done <- d
	}()
}

func (r *runner) runStep(st *stepRun, withLocks bool, parallelism int) stepDone {
	if r.opts.Dispatch != nil {
		return r.dispatchStep(st, withLocks, parallelism)
	}
	d := stepDone{st: st}
	// The lock holder's name: the child process groups the step starts
	// are recorded under it (see GroupRecorder).
	owner := r.owner
	var held store.Held // let go with the end records
	if withLocks {
		owner = r.owner + "#" + st.ops[0].op.ID
		exclN, sharedN := r.stepLocks(st)
		if r.opts.Locks == nil {
			// The store's own lock table: the set is taken in the same
			// write as the start records, and let go with the ends.
			st.started = time.Now()
			evs := r.startEvents(st)
			h, err := r.journal.Take(store.LockSet{Owner: owner, Exclusive: exclN, Shared: sharedN}, evs)
			if err != nil {
				d.err = fmt.Errorf("locks: %w", err)
				return d
			}
			if !h.Ok() {
				d.lockBusy = true
				return d
			}
			held = h
			for _, ev := range evs {
				r.emit(ev)
			}
		} else {
			rel, busy, err := r.takeLocks(owner, exclN, sharedN)
			if err != nil || busy {
				d.err, d.lockBusy = err, busy
				return d
			}
			defer rel()
		}
	}
	d.started = true
	if !held.Ok() {
		st.started = time.Now()
		for _, ev := range r.startEvents(st) {
			if err := r.journal.Append(ev); err != nil {
				d.started = false
				d.err = err
				return d
			}
			r.emit(ev)
		}
	}
	d = r.driveStep(st, d, owner, parallelism)
	if err := r.journal.End(held, r.endEvents(st, &d)); err != nil && d.err == nil {
		d.err = err
		d.errs, d.blame = opErrors(st.ops, d.err)
	}
	return d
}

// stepLocks is a step's lock set: its operations EXCLUSIVE, their
// dependencies outside the step SHARED.
func (r *runner) stepLocks(st *stepRun) (excl, shared []string) {
	inStep := map[string]bool{}
	for _, s := range st.ops {
		excl = append(excl, s.op.ID)
		inStep[s.op.ID] = true
	}
	seen := map[string]bool{}
	for _, s := range st.ops {
		for _, dep := range s.op.DependsOn {
			if !inStep[dep] && !seen[dep] {
				seen[dep] = true
				shared = append(shared, dep)
			}
		}
	}
	return lockNames(r.plan.Deployment, excl), lockNames(r.plan.Deployment, shared)
}

// takeLocks takes a step's set from Options.Locks (a lock store apart
// from the run's store): its release, or busy.
func (r *runner) takeLocks(owner string, exclN, sharedN []string) (func() error, bool, error) {
	if tl, ok := r.locks.(TryLocker); ok {
		rel, got, err := tl.TryAcquire(owner, exclN, sharedN)
		if err != nil {
			return nil, false, fmt.Errorf("locks: %w", err)
		}
		return rel, !got, nil
	}
	rel, err := r.locks.Acquire(r.opts.Hard, owner, exclN, sharedN)
	if err != nil {
		return nil, false, fmt.Errorf("locks: %w", err)
	}
	return rel, false, nil
}

// startEvents are a step's op_start records, at st.started.
func (r *runner) startEvents(st *stepRun) []Event {
	evs := make([]Event, len(st.ops))
	for i, s := range st.ops {
		evs[i] = Event{Time: st.started, Kind: EvOpStart, Op: s.op.ID, Attempt: st.attempts[i], Step: st.seq}
	}
	return evs
}

// endEvents are a step's op_end records.
func (r *runner) endEvents(st *stepRun, d *stepDone) []Event {
	end := time.Now()
	cancelled := r.opts.Hard.Err() != nil || d.withdrawn
	evs := make([]Event, len(st.ops))
	for i, s := range st.ops {
		outcome, msg := OutcomeSucceeded, ""
		if e := d.errs[i]; e != nil {
			outcome, msg = OutcomeFailed, opMessage(d.err, e, d.blame[i], len(st.ops), cancelled)
			if cancelled {
				outcome = OutcomeCancelled
			}
		}
		evs[i] = Event{Time: end, Kind: EvOpEnd, Op: s.op.ID, Attempt: st.attempts[i],
			Outcome: outcome, Duration: d.dur.Seconds(), Log: d.logs[i], Error: msg, Paced: d.paced.Seconds(), Queued: d.queued.Seconds()}
	}
	return evs
}

// driveStep runs a started step's driver: its log files, masked, and the
// driver; d comes back with its errors per operation.
func (r *runner) driveStep(st *stepRun, d stepDone, owner string, parallelism int) stepDone {
	now := st.started
	// One log file per operation and attempt; a coalesced step's output
	// goes to each of its operations' files.
	// A log that cannot be created (EMFILE, a full disk) fails this
	// attempt of the step's operations: d.logs keeps one entry per
	// operation ("" for a file not created) and the driver does not run.
	var ws []io.Writer
	var files []*os.File
	d.logs = make([]string, len(st.ops))
	for i, s := range st.ops {
		p := filepath.Join(r.logDir, store.LogName(s.op.ID, st.attempts[i]))
		f, err := os.Create(p)
		if err != nil {
			d.err = fmt.Errorf("cannot create the log file: %w", err)
			break
		}
		files = append(files, f)
		ws = append(ws, f)
		d.logs[i] = p
	}
	var log io.Writer = io.MultiWriter(ws...)
	if len(ws) == 1 {
		log = ws[0]
	}
	// Tools' output is masked on its way to the files (a command then
	// writes through a pipe rather than to its file directly).
	log = newRedactWriter(log, r.red)
	ops := make([]*planner.Operation, len(st.ops))
	for i, s := range st.ops {
		ops[i] = s.op
	}
	started := func(pgid int) { r.recordGroup(owner, pgid) }
	if r.started != nil {
		started = r.started // RunTask: the worker's record
	}
	if d.err == nil && r.outs != nil {
		d.err = r.resolveStep(ops, log, started)
	}
	step := Step{Ops: ops, Action: r.plan.Action, SpecDir: r.opts.SpecDir, Parallelism: parallelism,
		Log: log, Env: r.opts.Env, RunDir: r.runDir, Vars: r.opts.Vars, Events: r.driverEvent, Scope: r.scope, pv: r.pv}
	step.Started = started
	if d.err == nil {
		// Its locks are taken and its start journaled: wait for its
		// calls' tokens of the shared api buckets, if any.
		d.paced, d.err = r.pace(r.opts.Hard, ops, log)
	}
	if d.err == nil {
		d.err = r.drive(r.opts.Hard, step)
	}
	if d.err == nil && r.outs != nil && r.plan.Action == planner.ActionDeploy && !r.previewing() {
		d.err = r.readProduced(ops, log, started)
	}
	d.dur = time.Since(now) - d.paced
	if rw, ok := log.(*redactWriter); ok {
		if err := rw.Flush(); err != nil && d.err == nil {
			d.err = fmt.Errorf("log: %w", err)
		}
	}
	for _, f := range files {
		if err := f.Close(); err != nil && d.err == nil {
			d.err = fmt.Errorf("log: %w", err)
		}
	}
	r.putLogs(st, d.logs)
	d.errs, d.blame = opErrors(st.ops, d.err)
	return d
}

// putLogs gives the store the ended attempt's log files (Run.PutLog,
// TaskOptions.PutLog), for readers on other machines. A log the store
// refuses does not fail the step: it stays in its file, and the run is
// told once.
func (r *runner) putLogs(st *stepRun, logs []string) {
	if r.putLog == nil {
		return
	}
	for i, s := range st.ops {
		if logs[i] == "" {
			continue
		}
		if err := r.putLog(s.op.ID, st.attempts[i], logs[i]); err != nil && r.logWarned.CompareAndSwap(false, true) {
			r.emit(Event{Time: time.Now(), Kind: EvWarning,
				Message: fmt.Sprintf("the log of %s (attempt %d) is not in the store: %v; it stays in %s (further such warnings are not shown)", s.op.ID, st.attempts[i], err, logs[i])})
		}
	}
}

// driverEvent passes a driver's progress on; a resource's completion (an
// Action and its time) is journaled too, without waiting for the disk:
// calibrate fits resource times from it, and nothing resumes from it.
func (r *runner) driverEvent(ev Event) {
	if ev.Kind == EvResource && ev.Action != "" && r.journal != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		_ = r.journal.AppendAsync(ev)
	}
	r.emit(ev)
}

// drive dispatches a step to its driver.
func (r *runner) drive(ctx context.Context, s Step) error {
	if r.opts.drive != nil {
		return r.opts.drive(ctx, s)
	}
	d, ok := LookupDriver(s.Ops[0].Driver)
	if !ok {
		return fmt.Errorf("%s: unknown driver %q", s.Ops[0].ID, s.Ops[0].Driver)
	}
	if s.pv != nil && !s.pv.applying {
		pd, ok := d.(Previewer)
		if !ok {
			fmt.Fprintf(s.Log, "echelon: not previewed: the %s driver has no preview; apply runs it\n", s.Ops[0].Driver)
			return nil
		}
		return pd.Preview(ctx, s)
	}
	return d.Run(ctx, s)
}

// opMessage is the error an operation's failed attempt reports. Once
// running work is cancelled, an operation whose error is not its own (a
// coalesced step's one error given to all, or a blameless cut-short) says
// "cancelled" rather than repeat another instance's error.
func opMessage(stepErr, err error, blameless bool, n int, cancelled bool) string {
	if !cancelled || n == 1 {
		return err.Error()
	}
	var se *StepError
	if errors.As(stepErr, &se) && !blameless {
		return err.Error()
	}
	return OutcomeCancelled
}

// shortReason is the first line of an error, cut to fit a progress line.
func shortReason(msg string) string {
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	const maxLen = 100
	if r := []rune(msg); len(r) > maxLen {
		msg = string(r[:maxLen-1]) + "…"
	}
	return msg
}
