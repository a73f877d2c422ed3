package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
	"github.com/echelonhq/echelon/store"
)

// Outcomes of an operation.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeSkipped   = "skipped"   // a dependency failed (skip_dependents)
	OutcomeNotRun    = "not_run"   // the run stopped before it started (on_error stop, Ctrl-C)
	OutcomeCancelled = "cancelled" // killed by a second Ctrl-C
)

// Options configure Run.
type Options struct {
	// StateDir is the state directory: the store unless Store is set, and
	// with a Store, where the run's log files go on this machine.
	StateDir string
	// Store, when set, is the store of locks, runs and journals (a shared
	// database); Run does not close it. When it loses its lease, the run
	// cancels its running steps and ends with an error.
	Store store.Store
	// SpecDir is the directory driver paths are relative to.
	SpecDir string
	// Resume continues the plan's last journal: succeeded operations are
	// skipped, failed and in-flight ones run again.
	Resume bool
	// Env is the drivers' base environment (default os.Environ()).
	Env []string
	// Vars are terraform variable values per operation ID with sensitive
	// values filled in; operations not in it use the plan's values.
	Vars map[string]map[string]any
	// Locks overrides the store's lock table (tests).
	Locks LockStore
	// OnEvent receives every event, one call at a time.
	OnEvent func(Event)
	// Hard, when done, cancels running steps (the second Ctrl-C). The ctx
	// given to Run only stops new work from starting.
	Hard context.Context
	// QuietPeriod is how long without throttling before AIMD raises the
	// effective parallelism again (default 30s).
	QuietPeriod time.Duration
	// Backoff is the first retry's delay, doubled per attempt up to
	// MaxBackoff, with jitter (defaults 1s and 60s).
	Backoff, MaxBackoff time.Duration
	// ThrottleRetries caps the extra attempts a throttled operation gets;
	// throttling is not the operation's fault, so it does not use up
	// `retries` (default 10).
	ThrottleRetries int
	// OnResumed, when set, is told which operations succeeded in an
	// earlier run (Resume) before anything starts: a view counts them done.
	OnResumed func(ids []string)
	// Seed seeds the backoff jitter.
	Seed uint64
	// drive, when set, replaces the drivers (tests: a fake driver).
	drive func(ctx context.Context, s Step) error
	// settle, when set, is called after the loop wakes and before it
	// takes what ended: a test on a fake clock waits there until every
	// step that ends at this instant has reported (synctest.Wait).
	settle func()

	// Predicted, when set, is the run's prediction, recorded in its
	// run_start record so the journal can be laid beside it.
	Predicted *Predicted

	// Preview, when set, is the plan's preview (ReadPreview, checked with
	// Preview.Check): terraform operations apply its saved plans
	// (terraform_preview.go) instead of planning afresh.
	Preview *Preview
	// pv, when set, makes the run a preview (RunPreview).
	pv *previewState
	// Dispatch, when set (a store that workers serve, with Store), has
	// each step run by a worker (echelon worker) instead of here: the
	// run still follows the one policy and journals every step, and each
	// task asks for a worker with every one of Labels.
	Dispatch store.Dispatcher
	Labels   map[string]string

	// Pacer, when set (a database store), paces each step against the
	// shared api buckets before its driver starts (pace.go); nil: steps
	// start at once and only real throttling slows them.
	Pacer Pacer

	// Secrets are the sensitive values (from sensitive variables, and what
	// the spec derives from them): each is masked as "(sensitive)" in every
	// log file, journal record, event and the Result. The drivers still get
	// the real values.
	Secrets []string

	// Spec is the plan's spec, loaded with its variables: an operation
	// that reads outputs is evaluated from it again with Terraform's
	// values when it starts (nil: the plan may read no output).
	Spec *lang.Spec
}

type opState struct {
	op        *planner.Operation
	rank      int32 // in the policy
	lockWaits int   // tries that found the locks held elsewhere
	lastLog   string
	lastErr   string // the last failed attempt's error, this run
	cancelled bool   // running when running work was cancelled
	ran       bool   // an attempt ended in this run
	// lastStart and lastEnd time that attempt: seconds from the run's start.
	lastStart, lastEnd float64
	lastPaced          float64 // of that attempt, seconds waited for shared api tokens
}

// runner is one Run: the scheduling policy (package sched) decides what
// starts when; the central loop feeds it what happened on the real clock,
// and each running step is one goroutine.
type runner struct {
	// soft is closed by the first Ctrl-C (nothing new starts): a task
	// no worker has claimed yet is withdrawn then (awaitTask).
	soft       <-chan struct{}
	plan       *planner.Plan
	opts       Options
	pol        *sched.Policy
	sch        *sched.State
	ops        []*opState // by plan index
	byRank     []*opState
	byID       map[string]*opState
	journal    *journal
	store      store.Store
	ownedStore bool // opened by Run, closed by it
	storeRun   store.Run
	lost       atomic.Bool // the store's lease was lost
	hardCancel context.CancelFunc
	runDir     string
	logDir     string
	owner      string
	locks      LockStore
	emit       func(Event)
	red        *redactor // masks Options.Secrets; nil when there are none (and no output is read)
	scope      *RunScope // the drivers' state for this run
	pv         *previewState
	unlockPv   func()         // the preview's flock, held by an apply of its saved plans
	started    func(pgid int) // RunTask: told each process group a step starts
	// putLog gives the store an ended attempt's log file (nil: none
	// does); logWarned: a refusal was told.
	putLog    func(op string, attempt int, path string) error
	logWarned atomic.Bool

	// producers are the operations whose outputs others read, outs their
	// values (nil when none).
	producers map[string]bool
	outs      *outputStore
	taskOuts  map[string]map[string]OutputValue // RunTask: the outputs read, masked, for the result

	warnings []string // found reading the journal (--resume), told at the start

	start        time.Time // the policy's clock counts from here
	stopping     bool
	batchRelease func() error

	res *Result

	stopCtx    context.Context // done once the run stops starting work
	stopCancel context.CancelFunc
}

// clock is t on the policy's clock: microseconds since the run started.
func (r *runner) clock(t time.Time) int64 { return t.Sub(r.start).Microseconds() }

// wallTime is the real time of a policy clock reading.
func (r *runner) wallTime(us int64) time.Time {
	return r.start.Add(time.Duration(us) * time.Microsecond)
}

// Run executes a plan: it journals every step durably, takes the plan's
// locks in the lock store, runs the drivers under the mode's caps and
// returns a summary. An error means the run could not be carried out at
// all (state store, journal, bad plan); failed operations are in the Result.
func Run(ctx context.Context, p *planner.Plan, opts Options) (*Result, error) {
	r, err := newRunner(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.run(ctx)
}

// close lets the run go: journal, run, and the store if Run opened it.
func (r *runner) close() {
	if r.unlockPv != nil {
		r.unlockPv()
	}
	r.journal.Close()
	r.storeRun.Close() // the state directory: releases the flock
	if w, ok := r.store.(store.Warner); ok {
		w.SetWarn(nil)
	}
	if r.ownedStore {
		r.store.Close()
	}
	r.hardCancel()
}

func (opts Options) withDefaults() Options {
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	if opts.Hard == nil {
		opts.Hard = context.Background()
	}
	if opts.QuietPeriod <= 0 {
		opts.QuietPeriod = 30 * time.Second
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 60 * time.Second
	}
	if opts.ThrottleRetries <= 0 {
		opts.ThrottleRetries = 10
	}
	return opts
}

// checkPlan refuses a plan the executor cannot walk: an operation twice,
// a dependency on an unknown one, an operation in no batch.
func checkPlan(p *planner.Plan) error {
	seen := make(map[string]bool, len(p.Operations))
	for _, op := range p.Operations {
		if seen[op.ID] {
			return fmt.Errorf("plan has operation %q twice", op.ID)
		}
		seen[op.ID] = true
	}
	inBatch := map[string]bool{}
	for _, b := range p.Batches {
		for _, id := range b.Operations {
			inBatch[id] = true
		}
	}
	for i := range p.Operations {
		op := &p.Operations[i]
		for _, d := range op.DependsOn {
			if !seen[d] {
				return fmt.Errorf("operation %s depends on unknown %s", op.ID, d)
			}
		}
		if !inBatch[op.ID] {
			return fmt.Errorf("operation %s is in no batch", op.ID)
		}
	}
	return nil
}

// usePreview sets the run's previewState: a preview's, or the saved plans
// of Options.Preview, whose flock an apply holds while it runs.
func (r *runner) usePreview() error {
	r.pv = r.opts.pv
	if r.opts.Preview == nil || r.pv != nil {
		return nil
	}
	unlock, err := lockPreview(r.opts.Preview.Dir)
	if err != nil {
		return err
	}
	r.unlockPv = unlock
	r.pv = r.opts.Preview.applying(r.plan)
	return nil
}

func newRunner(ctx context.Context, p *planner.Plan, opts Options) (*runner, error) {
	if opts.StateDir == "" && opts.Store == nil {
		return nil, errors.New("no state directory")
	}
	opts = opts.withDefaults()
	// Losing the store's lease cancels running steps, as a second Ctrl-C.
	var hardCancel context.CancelFunc
	opts.Hard, hardCancel = context.WithCancel(opts.Hard)
	r := &runner{
		plan: p, opts: opts,
		byID:       make(map[string]*opState, len(p.Operations)),
		res:        &Result{},
		red:        newRedactor(opts.Secrets),
		hardCancel: hardCancel,
		scope:      &RunScope{StateDir: opts.StateDir},
	}
	if r.producers = producers(p); r.producers != nil {
		r.outs = newOutputStore()
		if r.red == nil {
			r.red = &redactor{} // sensitive outputs are added as they are read
		}
	}
	var emitMu sync.Mutex
	r.emit = func(e Event) {
		if r.opts.OnEvent != nil {
			// Steps emit their own start and driver progress: serialise.
			emitMu.Lock()
			// Stamped as emitted: a step's event is made before its
			// journal fsync, and printed lines must stay in time order.
			e.Time = time.Now()
			r.opts.OnEvent(r.red.event(e))
			emitMu.Unlock()
		}
	}
	if err := checkPlan(p); err != nil {
		hardCancel()
		return nil, err
	}
	pol, err := sched.Compile(p, sched.Config{
		Backoff:         opts.Backoff.Microseconds(),
		MaxBackoff:      opts.MaxBackoff.Microseconds(),
		ThrottleRetries: opts.ThrottleRetries,
		Quiet:           opts.QuietPeriod.Microseconds(),
	})
	if err != nil {
		hardCancel()
		return nil, fmt.Errorf("plan: %w", err)
	}
	r.pol = pol
	r.sch = sched.New(pol)
	r.sch.KeepNotes = true
	r.sch.PerScope = true // a throttle slows the api scope it came from
	r.sch.Reset(opts.Seed, 0x5eed)
	r.ops = make([]*opState, len(p.Operations))
	r.byRank = make([]*opState, len(pol.Ops))
	for rank := range pol.Ops {
		i := pol.Ops[rank].Index
		s := &opState{op: &p.Operations[i], rank: int32(rank)}
		r.ops[i], r.byRank[rank] = s, s
		r.byID[s.op.ID] = s
	}
	r.stopCtx, r.stopCancel = context.WithCancel(opts.Hard)
	if err := r.usePreview(); err != nil {
		hardCancel()
		return nil, err
	}

	if err := r.openStore(ctx); err != nil {
		if r.unlockPv != nil {
			r.unlockPv()
		}
		hardCancel()
		return nil, err
	}
	host, _ := os.Hostname()
	r.owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), p.PlanDigest)
	return r, nil
}

// openStore opens the state directory (unless Options.Store is given),
// takes the plan's run in it and picks the lock table.
func (r *runner) openStore(ctx context.Context) error {
	r.store = r.opts.Store
	if r.pv != nil && !r.pv.applying {
		r.store = previewStore{dir: r.pv.dir}
	}
	if r.store == nil {
		d, err := store.OpenDir(r.opts.StateDir)
		if err != nil {
			return err
		}
		r.store, r.ownedStore = d, true
	}
	if err := r.openRunDir(ctx); err != nil {
		if r.ownedStore {
			r.store.Close()
		}
		return err
	}
	r.locks = r.store
	if r.opts.Locks != nil {
		r.locks = r.opts.Locks
	}
	if w, ok := r.store.(store.Warner); ok {
		// The store's warnings (orphaned process groups in a step's way)
		// are the run's.
		w.SetWarn(func(msg string) { r.emit(Event{Time: time.Now(), Kind: EvWarning, Message: msg}) })
	}
	return nil
}

// watchLease stops the run and cancels its running steps (their process
// groups are killed) once the store says this process lost its lease:
// another process may hold its locks now.
func (r *runner) watchLease(cancelSoft context.CancelFunc) (stop func()) {
	lost := r.store.Lost()
	if lost == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-lost:
			r.lost.Store(true)
			r.emit(Event{Time: time.Now(), Kind: EvStopping, Message: "lost the lease on the store " + r.store.Where() + ": cancelling running operations"})
			cancelSoft()
			r.hardCancel()
		case <-done:
		}
	}()
	return func() { close(done) }
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	defer r.stopCancel()
	ctx, cancelSoft := context.WithCancel(ctx)
	defer cancelSoft()
	defer r.watchLease(cancelSoft)()
	r.soft = ctx.Done()
	start := time.Now()
	r.start = start
	_, tf := r.sch.Parallel()
	ev := Event{Time: start, Kind: EvRunStart, PlanDigest: r.plan.PlanDigest, Action: r.plan.Action,
		Parallel: r.plan.Mode.MaxParallel, Parallelism: tf, Predicted: r.opts.Predicted, Cores: runtime.NumCPU()}
	if err := r.journal.Append(ev); err != nil {
		return nil, err
	}
	r.emit(ev)
	for _, w := range r.warnings {
		r.emit(Event{Time: start, Kind: EvWarning, Message: w})
	}

	if r.opts.OnResumed != nil && len(r.res.Resumed) > 0 {
		ids := append([]string(nil), r.res.Resumed...)
		sort.Strings(ids)
		r.opts.OnResumed(ids)
	}
	r.sch.Begin()

	journalErr := r.walk(ctx)
	if r.batchRelease != nil {
		_ = r.batchRelease()
		r.batchRelease = nil
	}

	res := r.summarize()
	res.Duration = time.Since(start).Seconds()
	outcome := OutcomeSucceeded
	if !res.OK() {
		outcome = OutcomeFailed
	}
	end := Event{Time: time.Now(), Kind: EvRunEnd, Outcome: outcome, Duration: res.Duration}
	if err := r.journal.Append(end); err != nil && journalErr == nil {
		journalErr = err
	}
	r.emit(end)
	if journalErr != nil {
		return res, journalErr
	}
	if r.lost.Load() {
		return res, fmt.Errorf("lost the lease on the store %s: %w", r.store.Where(), store.ErrFenced)
	}
	return res, nil
}

// stop stops starting work (Ctrl-C, a journal failure).
func (r *runner) stop(why string) {
	r.sch.Stop(r.clock(time.Now()), why)
	r.notes()
}

// notes reports what the policy decided since the last call: retries,
// skips, the stop, AIMD's changes.
func (r *runner) notes() {
	for _, n := range r.sch.Notes {
		t := r.wallTime(n.Time)
		switch n.Kind {
		case sched.NoteRetry:
			s := r.byRank[n.Op]
			r.emit(Event{Time: t, Kind: EvRetry, Op: s.op.ID, Attempt: n.Attempt,
				Duration: (time.Duration(n.Delay) * time.Microsecond).Seconds(), Message: shortReason(s.lastErr)})
		case sched.NoteSkip:
			s := r.byRank[n.Op]
			ev := Event{Time: t, Kind: EvOpSkip, Op: s.op.ID, Outcome: OutcomeSkipped,
				Message: "depends on failed " + r.byRank[n.Cause].op.ID}
			r.emit(ev)
			_ = r.journal.AppendAsync(ev)
		case sched.NoteStop:
			if !r.stopping {
				r.stopping = true
				r.stopCancel()
				ev := Event{Time: t, Kind: EvStopping, Message: n.Message}
				r.emit(ev)
				_ = r.journal.AppendAsync(ev)
			}
		case sched.NoteAIMD:
			ev := Event{Time: t, Kind: EvAIMD, Parallel: n.Parallel, Parallelism: n.TF, Message: n.Message}
			if n.Throttle {
				ev.RetryAfter = (time.Duration(n.RetryAfter) * time.Microsecond).Seconds()
			}
			r.emit(ev)
			_ = r.journal.AppendAsync(ev)
		}
	}
	r.sch.Notes = r.sch.Notes[:0]
}

// schedule starts what the policy says starts now; it returns when the
// policy next wants to be asked (sched.Never: only when something ends)
// and how many steps it started.
func (r *runner) schedule(now time.Time, done chan<- stepDone, batchLocked chan<- batchLock) (int64, int) {
	starts, wake, batch := r.sch.Schedule(r.clock(now))
	r.notes()
	if batch >= 0 {
		// The batch's whole lock set is taken at once before any of its
		// operations starts, and released when the batch is done.
		if r.batchRelease != nil {
			_ = r.batchRelease()
			r.batchRelease = nil
		}
		b := r.plan.Batches[batch]
		go func() {
			rel, err := r.locks.Acquire(r.hardCtxUnlessStopping(), r.owner,
				lockNames(r.plan.Deployment, b.Exclusive), lockNames(r.plan.Deployment, b.Shared))
			batchLocked <- batchLock{batch: batch, release: rel, err: err}
		}()
		r.emit(Event{Time: now, Kind: EvLockWait, Message: fmt.Sprintf("batch %d", batch)})
	}
	for i := range starts {
		r.startStep(&starts[i], done)
	}
	return wake, len(starts)
}

type batchLock struct {
	batch   int32
	release func() error
	err     error
}

// hardCtxUnlessStopping is the context batch lock waits use: they end when
// the run stops (nothing new would start anyway) or on the second Ctrl-C.
func (r *runner) hardCtxUnlessStopping() context.Context { return r.stopCtx }

// stepFinished updates the walk after a step ends: successes release
// dependents, failures retry with backoff or apply on_error.
func (r *runner) stepFinished(d stepDone) error {
	st := d.st
	now := time.Now()
	clock := r.clock(now)
	if d.lockBusy {
		// Another apply holds the locks: try again soon, and let other
		// ready operations have the slot meanwhile.
		waits := 0
		for _, s := range st.ops {
			s.lockWaits++
			waits = max(waits, s.lockWaits)
			if s.lockWaits == 1 {
				r.emit(Event{Time: now, Kind: EvLockWait, Op: s.op.ID, Message: s.op.ID + " (held by another apply)"})
			}
		}
		delay := min(5*time.Millisecond<<min(waits, 6), 250*time.Millisecond)
		r.sch.Requeue(st.members, clock+delay.Microseconds())
		return nil
	}
	if !d.started {
		// Never ran (lock wait cancelled, journal failure): not an attempt.
		r.sch.Requeue(st.members, 0)
		if d.err != nil && r.opts.Hard.Err() == nil && !errors.Is(d.err, context.Canceled) {
			r.stop(d.err.Error())
			return d.err
		}
		r.stop("interrupted")
		return nil
	}
	if d.errs == nil {
		d.errs, d.blame = opErrors(st.ops, d.err)
	}
	for _, s := range st.ops {
		s.ran, s.lastStart, s.lastEnd = true, st.started.Sub(r.start).Seconds(), now.Sub(r.start).Seconds()
		s.lastPaced = (d.paced + d.queued).Seconds() // left out of its time (Timing.Paced)
	}
	if d.paced > 0 {
		r.res.Paced += d.paced.Seconds()
		r.res.PacedSteps++
	}
	outs := make([]sched.Outcome, len(st.ops))
	// Operations a coalesced step got through go ahead; only the failed
	// ones retry, each alone (only its own -target), within its own budget.
	var failed []int
	for i, s := range st.ops {
		if d.errs[i] != nil {
			failed = append(failed, i)
			continue
		}
		s.lastLog = d.logs[i]
		r.res.Succeeded = append(r.res.Succeeded, s.op.ID)
		r.emit(Event{Time: now, Kind: EvOpEnd, Op: s.op.ID, Attempt: st.attempts[i], Outcome: OutcomeSucceeded,
			Duration: d.dur.Seconds(), Log: d.logs[i], Paced: d.paced.Seconds(), Queued: d.queued.Seconds()})
	}

	// One throttle per step, however many of its operations it hit.
	var te *ThrottledError
	var throttledIDs []string
	for _, i := range failed {
		var t *ThrottledError
		if errors.As(d.errs[i], &t) {
			throttledIDs = append(throttledIDs, st.ops[i].op.ID)
			if te == nil || t.RetryAfter > te.RetryAfter {
				te = t
			}
		}
	}
	if te != nil {
		r.res.Throttled++
		tev := Event{Time: now, Kind: EvThrottle, Ops: throttledIDs, RetryAfter: te.RetryAfter.Seconds(), Message: te.Msg}
		_ = r.journal.AppendAsync(tev) // what the simulator's throttling model can be checked against
		r.emit(tev)
	}
	cancelled := r.opts.Hard.Err() != nil || d.withdrawn
	for _, i := range failed {
		s := st.ops[i]
		s.lastLog, s.lastErr = d.logs[i], opMessage(d.err, d.errs[i], d.blame[i], len(st.ops), cancelled)
		outcome := OutcomeFailed
		if cancelled {
			outcome = OutcomeCancelled
		}
		r.emit(Event{Time: now, Kind: EvOpEnd, Op: s.op.ID, Attempt: st.attempts[i], Outcome: outcome,
			Duration: d.dur.Seconds(), Log: d.logs[i], Error: s.lastErr, Paced: d.paced.Seconds(), Queued: d.queued.Seconds()})
		var t *ThrottledError
		var lost *WorkerLostError
		switch {
		case cancelled:
			s.cancelled = true
			outs[i] = sched.Outcome{Kind: sched.Cancelled}
		case d.blame[i]:
			outs[i] = sched.Outcome{Kind: sched.Blameless}
		case errors.As(d.errs[i], &t):
			outs[i] = sched.Outcome{Kind: sched.Throttled, RetryAfter: t.RetryAfter.Microseconds()}
		case errors.As(d.errs[i], &lost):
			outs[i] = sched.Outcome{Kind: sched.Lost}
		default:
			outs[i] = sched.Outcome{Kind: sched.Fail}
		}
	}
	r.sch.Ended(st.members, outs, clock)
	r.notes()
	return nil
}

// walk is the central loop: it asks the policy what starts, waits for
// something to happen (a step ends, a batch's locks are granted, Ctrl-C,
// the policy's wake time) and tells the policy. It returns the first
// journal error.
func (r *runner) walk(ctx context.Context) error {
	w := &waiter{done: make(chan stepDone), batchLocked: make(chan batchLock), soft: ctx.Done(),
		timer: time.NewTimer(time.Hour)}
	defer w.timer.Stop()
	var journalErr error
	for {
		wake, started := sched.Never, 0
		if !r.stopping && journalErr == nil {
			wake, started = r.schedule(time.Now(), w.done, w.batchLocked)
		}
		idle := r.sch.Steps() == 0 && !r.sch.BatchWaiting()
		if idle && (r.stopping || !r.sch.Waiting() || journalErr != nil) {
			return journalErr
		}
		if idle && started == 0 && wake == sched.Never {
			// Nothing running and nothing can start: a barrier waits on
			// work that will never finish (should not happen); stop.
			return journalErr
		}
		for _, d := range r.wait(w, wake) {
			if err := r.stepFinished(d); err != nil && journalErr == nil {
				journalErr = err
			}
		}
	}
}

// waiter is what walk waits on.
type waiter struct {
	done        chan stepDone
	batchLocked chan batchLock
	soft        <-chan struct{} // the first Ctrl-C; nil once seen
	timer       *time.Timer
	ended       []stepDone
}

// wait blocks until a step ends, a batch lock set is granted, the run is
// interrupted or the policy's wake time comes; it returns the steps that
// ended by then, in the order they started: the policy then sees the same
// sequence the simulator does.
func (r *runner) wait(w *waiter, wake int64) []stepDone {
	var tc <-chan time.Time
	if wake != sched.Never {
		w.timer.Reset(max(time.Until(r.wallTime(wake)), time.Millisecond))
		tc = w.timer.C
	}
	w.ended = w.ended[:0]
	select {
	case d := <-w.done:
		w.ended = append(w.ended, d)
	case bl := <-w.batchLocked:
		if bl.err != nil {
			r.sch.BatchFailed(r.clock(time.Now()), fmt.Sprintf("locks for batch %d: %v", bl.batch, bl.err))
			r.notes()
		} else {
			r.batchRelease = bl.release
			r.sch.BatchHeld(bl.batch)
		}
	case <-w.soft:
		w.soft = nil
		if r.lost.Load() {
			// Said already (EvStopping): the store cut this run off; its
			// running operations are being killed, not left to finish.
			r.stop("lost the lease on the store: nothing new starts")
		} else {
			r.stop("interrupted: running operations finish, nothing new starts")
		}
	case <-tc:
	}
	if !w.timer.Stop() {
		select {
		case <-w.timer.C:
		default:
		}
	}
	if r.opts.settle != nil {
		r.opts.settle() // a fake clock: let every step ending now report
	}
	for {
		select {
		case d := <-w.done:
			w.ended = append(w.ended, d)
		default:
			sort.Slice(w.ended, func(a, b int) bool { return w.ended[a].st.seq < w.ended[b].st.seq })
			return w.ended
		}
	}
}
