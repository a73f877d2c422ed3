package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
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
	// StateDir is the state store: journals, logs and (by default) locks.
	StateDir string
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
	// Locks is the lock store (default DirLocks in StateDir/locks).
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

	// Secrets are the sensitive values (from sensitive variables, and what
	// the spec derives from them): each is masked as "(sensitive)" in every
	// log file, journal record, event and the Result. The drivers still get
	// the real values.
	Secrets []string
}

// Failure is one operation that failed for good, or that the run stopped
// short of finishing (Result.Cancelled, Result.RetryPending): its last
// attempt's error and log.
type Failure struct {
	Op       string `json:"op"`
	Log      string `json:"log"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts,omitempty"` // attempts so far, earlier runs included
}

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

// Result summarises a run.
type Result struct {
	RunDir    string    `json:"run_dir"`
	Journal   string    `json:"journal"`
	Succeeded []string  `json:"succeeded"`
	Resumed   []string  `json:"resumed"` // succeeded in an earlier run
	Failed    []Failure `json:"failed"`
	Skipped   []string  `json:"skipped"`
	NotRun    []string  `json:"not_run"`   // never started: the run stopped first
	Throttled int       `json:"throttled"` // throttled attempts
	Duration  float64   `json:"duration"`  // seconds
	// Cancelled were running when running work was cancelled (the second
	// Ctrl-C); RetryPending failed an attempt and were due another when the
	// run stopped. --resume runs both again.
	Cancelled    []Failure `json:"cancelled"`
	RetryPending []Failure `json:"retry_pending"`
}

// OK reports whether every operation succeeded.
func (r *Result) OK() bool {
	return len(r.Failed) == 0 && len(r.Skipped) == 0 && len(r.NotRun) == 0 &&
		len(r.Cancelled) == 0 && len(r.RetryPending) == 0
}

// lockRun takes the run directory's apply lock (an flock, so a killed
// apply never leaves it behind) and records this process's PID in it.
func lockRun(runDir string) (*os.File, error) {
	path := filepath.Join(runDir, "apply.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("another apply of this plan is running (pid %s) with the state directory %s; wait for it to finish", pid, filepath.Dir(filepath.Dir(runDir)))
		}
		return nil, fmt.Errorf("state directory: lock %s: %w", path, err)
	}
	// The PID only informs the message above: a failed write is harmless.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return f, nil
}

// RunDir is where a plan's journal and logs live in a state store.
func RunDir(stateDir string, p *planner.Plan) string {
	d := strings.TrimPrefix(p.PlanDigest, "sha256:")
	if len(d) > 16 {
		d = d[:16]
	}
	if d == "" {
		d = "undigested"
	}
	return filepath.Join(stateDir, "runs", d)
}

type opState struct {
	op        *planner.Operation
	idx       int   // in the plan's Operations
	rank      int32 // in the policy
	lockWaits int   // tries that found the locks held elsewhere
	lastLog   string
	lastErr   string // the last failed attempt's error, this run
	cancelled bool   // running when running work was cancelled
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
	dur      time.Duration
}

type stepRun struct {
	seq      int // the policy's step number
	members  []int32
	ops      []*opState
	key      string // terraform state key ("" otherwise)
	started  time.Time
	attempts []int
}

// runner is one Run: the scheduling policy (package sched) decides what
// starts when; the central loop feeds it what happened on the real clock,
// and each running step is one goroutine.
type runner struct {
	plan    *planner.Plan
	opts    Options
	pol     *sched.Policy
	sch     *sched.State
	ops     []*opState // by plan index
	byRank  []*opState
	byID    map[string]*opState
	journal *journal
	runDir  string
	logDir  string
	owner   string
	locks   LockStore
	emit    func(Event)
	runLock *os.File  // flocked: one apply of a plan at a time per state dir
	red     *redactor // masks Options.Secrets; nil when there are none

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
	r, err := newRunner(p, opts)
	if err != nil {
		return nil, err
	}
	defer r.runLock.Close() // releases the flock
	defer r.journal.Close()
	return r.run(ctx)
}

func newRunner(p *planner.Plan, opts Options) (*runner, error) {
	if opts.StateDir == "" {
		return nil, errors.New("no state directory")
	}
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
	r := &runner{
		plan: p, opts: opts,
		byID: make(map[string]*opState, len(p.Operations)),
		res:  &Result{},
		red:  newRedactor(opts.Secrets),
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
	for _, op := range p.Operations {
		if r.byID[op.ID] != nil {
			return nil, fmt.Errorf("plan has operation %q twice", op.ID)
		}
		r.byID[op.ID] = &opState{}
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
			if r.byID[d] == nil {
				return nil, fmt.Errorf("operation %s depends on unknown %s", op.ID, d)
			}
		}
		if !inBatch[op.ID] {
			return nil, fmt.Errorf("operation %s is in no batch", op.ID)
		}
	}
	pol, err := sched.Compile(p, sched.Config{
		Backoff:         opts.Backoff.Microseconds(),
		MaxBackoff:      opts.MaxBackoff.Microseconds(),
		ThrottleRetries: opts.ThrottleRetries,
		Quiet:           opts.QuietPeriod.Microseconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	r.pol = pol
	r.sch = sched.New(pol)
	r.sch.KeepNotes = true
	r.sch.Reset(opts.Seed, 0x5eed)
	r.ops = make([]*opState, len(p.Operations))
	r.byRank = make([]*opState, len(pol.Ops))
	for rank := range pol.Ops {
		i := pol.Ops[rank].Index
		s := &opState{op: &p.Operations[i], idx: i, rank: int32(rank)}
		r.ops[i], r.byRank[rank] = s, s
		r.byID[s.op.ID] = s
	}
	r.stopCtx, r.stopCancel = context.WithCancel(opts.Hard)

	r.runDir = RunDir(opts.StateDir, p)
	r.logDir = filepath.Join(r.runDir, "logs")
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	// Two applies of one plan would share the journal and the log files:
	// the second one refuses. Taken before the journal is rotated.
	lf, err := lockRun(r.runDir)
	if err != nil {
		return nil, err
	}
	r.runLock = lf
	defer func() {
		if r.journal == nil || r.locks == nil {
			lf.Close() // newRunner failed: Run will not release it
		}
	}()
	jpath := filepath.Join(r.runDir, "journal.jsonl")
	r.res.RunDir, r.res.Journal = r.runDir, jpath
	if opts.Resume {
		if fileExists(jpath) {
			st, err := ReadJournal(jpath)
			if err != nil {
				return nil, err
			}
			for id, rec := range st.Ops {
				s := r.byID[id]
				if s == nil {
					continue
				}
				r.sch.Resume(s.rank, rec.Succeeded, rec.Attempts)
				if rec.Succeeded {
					r.res.Resumed = append(r.res.Resumed, id)
				}
			}
		}
	} else if fileExists(jpath) {
		// A fresh run keeps the old journal beside the new one.
		old := filepath.Join(r.runDir, fmt.Sprintf("journal-%s.jsonl", time.Now().UTC().Format("20060102T150405.000000000")))
		if err := os.Rename(jpath, old); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
		if err := os.RemoveAll(r.logDir); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
		if err := os.MkdirAll(r.logDir, 0o755); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	j, err := openJournal(jpath)
	if err != nil {
		return nil, err
	}
	r.journal = j
	j.red = r.red
	if opts.Locks == nil {
		dl, err := NewDirLocks(filepath.Join(opts.StateDir, "locks"))
		if err != nil {
			j.Close()
			return nil, err
		}
		r.locks = dl
	} else {
		r.locks = opts.Locks
	}
	host, _ := os.Hostname()
	r.owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), p.PlanDigest)
	return r, nil
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	defer r.stopCancel()
	start := time.Now()
	r.start = start
	if dl, ok := r.locks.(*DirLocks); ok && r.opts.Locks == nil {
		defer dl.Close()
	}
	_, tf := r.sch.Parallel()
	ev := Event{Time: start, Kind: EvRunStart, PlanDigest: r.plan.PlanDigest,
		Parallel: r.plan.Mode.MaxParallel, Parallelism: tf}
	if err := r.journal.Append(ev); err != nil {
		return nil, err
	}
	r.emit(ev)

	if r.opts.OnResumed != nil && len(r.res.Resumed) > 0 {
		ids := append([]string(nil), r.res.Resumed...)
		sort.Strings(ids)
		r.opts.OnResumed(ids)
	}
	r.sch.Begin()

	done := make(chan stepDone)
	batchLocked := make(chan batchLock)
	softDone := ctx.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var journalErr error
	var ended []stepDone
	for {
		now := time.Now()
		wake := sched.Never
		started := 0
		if !r.stopping && journalErr == nil {
			wake, started = r.schedule(now, done, batchLocked)
		}
		if r.sch.Steps() == 0 && !r.sch.BatchWaiting() && (r.stopping || !r.sch.Waiting() || journalErr != nil) {
			break
		}
		if r.sch.Steps() == 0 && !r.sch.BatchWaiting() && started == 0 && wake == sched.Never {
			// Nothing running and nothing can start: a barrier waits on
			// work that will never finish (should not happen); stop.
			break
		}
		var tc <-chan time.Time
		if wake != sched.Never {
			d := time.Until(r.wallTime(wake))
			if d < time.Millisecond {
				d = time.Millisecond
			}
			timer.Reset(d)
			tc = timer.C
		}
		ended = ended[:0]
		select {
		case d := <-done:
			ended = append(ended, d)
		case bl := <-batchLocked:
			if bl.err != nil {
				r.sch.BatchFailed(r.clock(time.Now()), fmt.Sprintf("locks for batch %d: %v", bl.batch, bl.err))
				r.notes()
			} else {
				r.batchRelease = bl.release
				r.sch.BatchHeld(bl.batch)
			}
		case <-softDone:
			softDone = nil
			r.stop("interrupted: running operations finish, nothing new starts")
		case <-tc:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		// Every step that ended by now is taken before anything new
		// starts, in the order the steps started: the policy then sees
		// the same sequence the simulator does.
		if r.opts.settle != nil {
			r.opts.settle()
		}
	drain:
		for {
			select {
			case d := <-done:
				ended = append(ended, d)
			default:
				break drain
			}
		}
		sort.Slice(ended, func(a, b int) bool { return ended[a].st.seq < ended[b].st.seq })
		for _, d := range ended {
			if err := r.stepFinished(d); err != nil && journalErr == nil {
				journalErr = err
			}
		}
	}
	if r.batchRelease != nil {
		_ = r.batchRelease()
		r.batchRelease = nil
	}

	// Summary.
	res := r.res
	for _, s := range r.ops {
		switch r.sch.Status(s.rank) {
		case sched.Succeeded:
		case sched.Failed:
			res.Failed = append(res.Failed, Failure{Op: s.op.ID, Log: s.lastLog, Error: r.red.String(s.lastErr)})
		case sched.Skipped:
			res.Skipped = append(res.Skipped, s.op.ID)
		default:
			// Pending: tell what ran (and has an error and a log to show)
			// from what never started.
			f := Failure{Op: s.op.ID, Log: s.lastLog, Error: r.red.String(s.lastErr), Attempts: r.sch.Attempts(s.rank)}
			switch {
			case s.cancelled:
				res.Cancelled = append(res.Cancelled, f)
			case s.lastErr != "":
				res.RetryPending = append(res.RetryPending, f)
			default:
				res.NotRun = append(res.NotRun, s.op.ID)
			}
		}
	}
	sort.Strings(res.Resumed)
	if res.Succeeded == nil {
		res.Succeeded = []string{}
	}
	if res.Resumed == nil {
		res.Resumed = []string{}
	}
	if res.Failed == nil {
		res.Failed = []Failure{}
	}
	if res.Skipped == nil {
		res.Skipped = []string{}
	}
	if res.NotRun == nil {
		res.NotRun = []string{}
	}
	if res.Cancelled == nil {
		res.Cancelled = []Failure{}
	}
	if res.RetryPending == nil {
		res.RetryPending = []Failure{}
	}
	sort.Strings(res.Succeeded)
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
			r.emit(Event{Time: t, Kind: EvOpSkip, Op: s.op.ID, Outcome: OutcomeSkipped,
				Message: "depends on failed " + r.byRank[n.Cause].op.ID})
		case sched.NoteStop:
			if !r.stopping {
				r.stopping = true
				r.stopCancel()
				r.emit(Event{Time: t, Kind: EvStopping, Message: n.Message})
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
	d := stepDone{st: st}
	// The lock holder's name: the child process groups the step starts
	// are recorded under it (see GroupRecorder).
	owner := r.owner
	if withLocks {
		owner = r.owner + "#" + st.ops[0].op.ID
		var excl, shared []string
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
		exclN, sharedN := lockNames(r.plan.Deployment, excl), lockNames(r.plan.Deployment, shared)
		var rel func() error
		var err error
		if tl, ok := r.locks.(TryLocker); ok {
			var got bool
			rel, got, err = tl.TryAcquire(owner, exclN, sharedN)
			if err == nil && !got {
				d.lockBusy = true
				return d
			}
		} else {
			rel, err = r.locks.Acquire(r.opts.Hard, owner, exclN, sharedN)
		}
		if err != nil {
			d.err = fmt.Errorf("locks: %w", err)
			return d
		}
		defer rel()
	}
	d.started = true
	now := time.Now()
	st.started = now
	for i, s := range st.ops {
		ev := Event{Time: now, Kind: EvOpStart, Op: s.op.ID, Attempt: st.attempts[i], Step: st.seq}
		if err := r.journal.Append(ev); err != nil {
			d.started = false
			d.err = err
			return d
		}
		r.emit(ev)
	}
	// One log file per operation and attempt; a coalesced step's output
	// goes to each of its operations' files.
	var ws []io.Writer
	var files []*os.File
	for i, s := range st.ops {
		p := filepath.Join(r.logDir, fmt.Sprintf("%s.%d.log", logName(s.op.ID), st.attempts[i]))
		f, err := os.Create(p)
		if err != nil {
			d.err = fmt.Errorf("log: %w", err)
			return d
		}
		files = append(files, f)
		ws = append(ws, f)
		d.logs = append(d.logs, p)
	}
	var log io.Writer = ws[0]
	if len(ws) > 1 {
		log = io.MultiWriter(ws...)
	}
	// Tools' output is masked on its way to the files (a command then
	// writes through a pipe rather than to its file directly).
	log = newRedactWriter(log, r.red)
	ops := make([]*planner.Operation, len(st.ops))
	for i, s := range st.ops {
		ops[i] = s.op
	}
	step := Step{Ops: ops, Action: r.plan.Action, SpecDir: r.opts.SpecDir, Parallelism: parallelism,
		Log: log, Env: r.opts.Env, Vars: r.opts.Vars, Events: r.emit}
	step.Started = func(pgid int) { r.recordGroup(owner, pgid) }
	d.err = r.drive(r.opts.Hard, step)
	d.dur = time.Since(now)
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
	d.errs, d.blame = opErrors(st.ops, d.err)
	end := time.Now()
	var journalErr error
	cancelled := r.opts.Hard.Err() != nil
	for i, s := range st.ops {
		outcome, msg := OutcomeSucceeded, ""
		if e := d.errs[i]; e != nil {
			outcome, msg = OutcomeFailed, opMessage(d.err, e, d.blame[i], len(st.ops), cancelled)
			if cancelled {
				outcome = OutcomeCancelled
			}
		}
		if err := r.journal.AppendAsync(Event{Time: end, Kind: EvOpEnd, Op: s.op.ID, Attempt: st.attempts[i],
			Outcome: outcome, Duration: d.dur.Seconds(), Log: d.logs[i], Error: msg}); err != nil && journalErr == nil {
			journalErr = err
		}
	}
	if journalErr != nil && d.err == nil {
		d.err = journalErr
		d.errs, d.blame = opErrors(st.ops, d.err)
	}
	return d
}

// drive dispatches a step to its driver.
func (r *runner) drive(ctx context.Context, s Step) error {
	if r.opts.drive != nil {
		return r.opts.drive(ctx, s)
	}
	// The tools' death signal is tied to the thread that forks them (see
	// runChild); terraform-exec forks on this goroutine too.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d, ok := LookupDriver(s.Ops[0].Driver)
	if !ok {
		return fmt.Errorf("%s: unknown driver %q", s.Ops[0].ID, s.Ops[0].Driver)
	}
	if td, ok := d.(ToolDriver); ok {
		key, name := td.Tool()
		defer watchToolGroups(s, toolPath(s.Env, key, name))()
	}
	return d.Run(ctx, s)
}

func logName(id string) string {
	return strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(id)
}

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
			Duration: d.dur.Seconds(), Log: d.logs[i]})
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
	cancelled := r.opts.Hard.Err() != nil
	for _, i := range failed {
		s := st.ops[i]
		s.lastLog, s.lastErr = d.logs[i], opMessage(d.err, d.errs[i], d.blame[i], len(st.ops), cancelled)
		outcome := OutcomeFailed
		if cancelled {
			outcome = OutcomeCancelled
		}
		r.emit(Event{Time: now, Kind: EvOpEnd, Op: s.op.ID, Attempt: st.attempts[i], Outcome: outcome,
			Duration: d.dur.Seconds(), Log: d.logs[i], Error: s.lastErr})
		var t *ThrottledError
		switch {
		case cancelled:
			s.cancelled = true
			outs[i] = sched.Outcome{Kind: sched.Cancelled}
		case d.blame[i]:
			outs[i] = sched.Outcome{Kind: sched.Blameless}
		case errors.As(d.errs[i], &t):
			outs[i] = sched.Outcome{Kind: sched.Throttled, RetryAfter: t.RetryAfter.Microseconds()}
		default:
			outs[i] = sched.Outcome{Kind: sched.Fail}
		}
	}
	r.sch.Ended(st.members, outs, clock)
	r.notes()
	return nil
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
