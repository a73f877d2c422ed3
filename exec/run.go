package exec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/echelonhq/echelon/planner"
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

type opStatus int8

const (
	stPending opStatus = iota
	stRunning
	stSucceeded
	stFailed
	stSkipped
)

type opState struct {
	op         *planner.Operation
	idx        int
	deps       []int
	dependents []int
	phase      int
	batch      int
	status     opStatus
	waitDeps   int       // dependencies not yet satisfied
	inReady    bool      // in the ready list
	attempt    int       // attempts started (journal numbering)
	charged    int       // failed attempts counted against retries
	throttles  int       // throttled attempts
	notBefore  time.Time // backoff before the next attempt
	solo       bool      // a coalesced attempt failed: run on its own
	lockWaits  int       // tries that found the locks held elsewhere
	lastLog    string
	lastErr    string // the last failed attempt's error, this run
	cancelled  bool   // running when running work was cancelled
	started    time.Time
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
	ops      []*opState
	key      string // terraform state key ("" otherwise)
	region   map[string]int
	started  time.Time
	attempts []int
}

// runner is one Run: the walk (dependencies, barriers, retries) lives in
// the central loop; the concurrency limits are counters it checks before
// starting a step; each running step is one goroutine.
type runner struct {
	plan    *planner.Plan
	opts    Options
	ops     []*opState
	byID    map[string]*opState
	ready   []*opState // sorted by priority desc, then ID
	journal *journal
	runDir  string
	logDir  string
	owner   string
	locks   LockStore
	rng     *rand.Rand
	emit    func(Event)
	runLock *os.File  // flocked: one apply of a plan at a time per state dir
	red     *redactor // masks Options.Secrets; nil when there are none

	warnings []string // found reading the journal (--resume), told at the start

	// in flight
	running      int // operations in running steps
	steps        int // running steps
	alone        bool
	regions      map[string]int
	components   map[string]int
	keys         map[string]bool
	phaseLeft    []int
	batchLeft    []int
	stopping     bool
	batchHeld    int // batch whose lock set is held (batch_barrier), -1 none
	batchRelease func() error
	batchWaiting bool

	aimd *aimd
	res  *Result

	stopCtx    context.Context // done once the run stops starting work
	stopCancel context.CancelFunc
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
		byID:       make(map[string]*opState, len(p.Operations)),
		regions:    map[string]int{},
		components: map[string]int{},
		keys:       map[string]bool{},
		batchHeld:  -1,
		rng:        rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		res:        &Result{},
		red:        newRedactor(opts.Secrets),
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
	phaseIdx := map[string]int{}
	for i, ph := range p.Phases {
		phaseIdx[ph.Name] = i
	}
	r.ops = make([]*opState, len(p.Operations))
	for i := range p.Operations {
		op := &p.Operations[i]
		ph, ok := phaseIdx[op.Phase]
		if !ok {
			ph = len(p.Phases) // unknown phase: last, rather than refuse
		}
		s := &opState{op: op, idx: i, phase: ph, batch: -1}
		r.ops[i] = s
		if r.byID[op.ID] != nil {
			return nil, fmt.Errorf("plan has operation %q twice", op.ID)
		}
		r.byID[op.ID] = s
	}
	for _, s := range r.ops {
		for _, d := range s.op.DependsOn {
			ds := r.byID[d]
			if ds == nil {
				return nil, fmt.Errorf("operation %s depends on unknown %s", s.op.ID, d)
			}
			s.deps = append(s.deps, ds.idx)
			ds.dependents = append(ds.dependents, s.idx)
		}
	}
	r.phaseLeft = make([]int, len(p.Phases)+1)
	r.batchLeft = make([]int, len(p.Batches))
	for bi, b := range p.Batches {
		for _, id := range b.Operations {
			if s := r.byID[id]; s != nil {
				s.batch = bi
			}
		}
	}
	for _, s := range r.ops {
		if s.batch < 0 {
			return nil, fmt.Errorf("operation %s is in no batch", s.op.ID)
		}
		r.phaseLeft[s.phase]++
		r.batchLeft[s.batch]++
	}
	tfp := p.Mode.TerraformParallelism
	if tfp <= 0 {
		tfp = 10 // terraform's own default
	}
	r.aimd = newAIMD(p.Mode.MaxParallel, tfp, opts.QuietPeriod)
	r.aimd.noTF = true
	for _, op := range p.Operations {
		if op.Driver == "terraform" {
			r.aimd.noTF = false
			break
		}
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
			r.warnings = st.Warnings
			for id, rec := range st.Ops {
				s := r.byID[id]
				if s == nil {
					continue
				}
				s.attempt = rec.Attempts
				if rec.Succeeded {
					s.status = stSucceeded
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
	if dl, ok := r.locks.(*DirLocks); ok && r.opts.Locks == nil {
		defer dl.Close()
	}
	ev := Event{Time: start, Kind: EvRunStart, PlanDigest: r.plan.PlanDigest,
		Parallel: r.plan.Mode.MaxParallel, Parallelism: r.aimd.tf}
	if err := r.journal.Append(ev); err != nil {
		return nil, err
	}
	r.emit(ev)
	for _, w := range r.warnings {
		r.emit(Event{Time: start, Kind: EvWarning, Message: w})
	}

	// Operations done in an earlier run count as finished.
	for _, s := range r.ops {
		if s.status == stSucceeded {
			r.finish(s)
		}
	}
	if r.opts.OnResumed != nil && len(r.res.Resumed) > 0 {
		ids := append([]string(nil), r.res.Resumed...)
		sort.Strings(ids)
		r.opts.OnResumed(ids)
	}
	for _, s := range r.ops {
		if s.status == stPending {
			s.waitDeps = 0
			for _, d := range s.deps {
				if r.ops[d].status != stSucceeded {
					s.waitDeps++
				}
			}
			if s.waitDeps == 0 {
				r.pushReady(s)
			}
		}
	}

	done := make(chan stepDone)
	batchLocked := make(chan batchLock)
	softDone := ctx.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var journalErr error
	for {
		now := time.Now()
		if ch := r.aimd.tick(now); ch != nil {
			r.emit(*ch)
			_ = r.journal.AppendAsync(*ch)
		}
		wake := time.Time{}
		if !r.stopping && journalErr == nil {
			wake = r.schedule(now, done, batchLocked)
		}
		if r.steps == 0 && !r.batchWaiting && (r.stopping || len(r.ready) == 0 || journalErr != nil) {
			break
		}
		if r.steps == 0 && !r.batchWaiting && wake.IsZero() {
			// Nothing running and nothing can start: a barrier waits on
			// work that will never finish (should not happen); stop.
			break
		}
		if w := r.aimd.nextWake(); !w.IsZero() && (wake.IsZero() || w.Before(wake)) {
			wake = w
		}
		var tc <-chan time.Time
		if !wake.IsZero() {
			d := time.Until(wake)
			if d < time.Millisecond {
				d = time.Millisecond
			}
			timer.Reset(d)
			tc = timer.C
		}
		select {
		case d := <-done:
			if err := r.stepFinished(d); err != nil && journalErr == nil {
				journalErr = err
			}
		case bl := <-batchLocked:
			r.batchWaiting = false
			if bl.err != nil {
				r.stop(fmt.Sprintf("locks for batch %d: %v", bl.batch, bl.err))
			} else {
				r.batchHeld, r.batchRelease = bl.batch, bl.release
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
	}
	if r.batchRelease != nil {
		_ = r.batchRelease()
		r.batchRelease = nil
	}

	// Summary.
	res := r.res
	for _, s := range r.ops {
		switch s.status {
		case stSucceeded:
		case stFailed:
			res.Failed = append(res.Failed, Failure{Op: s.op.ID, Log: s.lastLog, Error: r.red.String(s.lastErr)})
		case stSkipped:
			res.Skipped = append(res.Skipped, s.op.ID)
		default:
			// Pending: tell what ran (and has an error and a log to show)
			// from what never started.
			f := Failure{Op: s.op.ID, Log: s.lastLog, Error: r.red.String(s.lastErr), Attempts: s.attempt}
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

func (r *runner) stop(why string) {
	if r.stopping {
		return
	}
	r.stopping = true
	r.stopCancel()
	r.emit(Event{Time: time.Now(), Kind: EvStopping, Message: why})
}

// pushReady inserts s into the ready list in priority order.
func (r *runner) pushReady(s *opState) {
	if s.inReady {
		return
	}
	s.inReady = true
	i := sort.Search(len(r.ready), func(i int) bool { return before(s, r.ready[i]) })
	r.ready = append(r.ready, nil)
	copy(r.ready[i+1:], r.ready[i:])
	r.ready[i] = s
}

// before orders ready operations: higher priority first, then ID.
func before(a, b *opState) bool {
	if a.op.Priority != b.op.Priority {
		return a.op.Priority > b.op.Priority
	}
	return a.op.ID < b.op.ID
}

// finish marks s as no longer pending for the barriers.
func (r *runner) finish(s *opState) {
	r.phaseLeft[s.phase]--
	r.batchLeft[s.batch]--
}

func (r *runner) currentPhase() int {
	for i, n := range r.phaseLeft {
		if n > 0 {
			return i
		}
	}
	return len(r.phaseLeft)
}

func (r *runner) currentBatch() int {
	for i, n := range r.batchLeft {
		if n > 0 {
			return i
		}
	}
	return len(r.batchLeft)
}

// schedule starts every step the caps allow, in priority order, and returns
// when it next needs to look again for a time-based reason (a retry's
// backoff or a Retry-After pause), or zero.
func (r *runner) schedule(now time.Time, done chan<- stepDone, batchLocked chan<- batchLock) time.Time {
	var wake time.Time
	addWake := func(t time.Time) {
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	if len(r.ready) == 0 {
		return wake
	}
	if p := r.aimd.pausedUntil; now.Before(p) {
		return p // honour Retry-After: nothing new starts until then
	}
	mode := r.plan.Mode
	phase := r.currentPhase()
	batch := r.currentBatch()
	if mode.BatchBarrier && r.batchHeld != batch {
		// The batch's whole lock set is taken at once before any of its
		// operations starts, and released when the batch is done.
		if r.batchRelease != nil {
			_ = r.batchRelease()
			r.batchRelease, r.batchHeld = nil, -1
		}
		if !r.batchWaiting && batch < len(r.plan.Batches) {
			r.batchWaiting = true
			b := r.plan.Batches[batch]
			go func() {
				rel, err := r.locks.Acquire(r.hardCtxUnlessStopping(), r.owner,
					lockNames(r.plan.Deployment, b.Exclusive), lockNames(r.plan.Deployment, b.Shared))
				batchLocked <- batchLock{batch: batch, release: rel, err: err}
			}()
			r.emit(Event{Time: now, Kind: EvLockWait, Message: fmt.Sprintf("batch %d", batch)})
		}
		return wake
	}
	if r.alone {
		return wake
	}
	maxPar := r.aimd.parallel
	for i := 0; i < len(r.ready); i++ {
		if maxPar > 0 && r.running >= maxPar {
			break
		}
		s := r.ready[i]
		if s.notBefore.After(now) {
			addWake(s.notBefore)
			continue
		}
		if mode.PhaseBarrier && s.phase > phase {
			continue
		}
		if mode.BatchBarrier && s.batch != batch {
			continue
		}
		if s.op.Alone != "" {
			if r.steps > 0 {
				// Let the running work drain so it can go alone; starting
				// more would starve it.
				break
			}
			r.start(r.takeReady(i, []*opState{s}), done)
			return wake
		}
		if !r.fits(s, nil) {
			continue
		}
		key := s.op.StateKey()
		if key != "" && r.keys[key] {
			continue // one process per terraform state
		}
		group := []*opState{s}
		if key != "" && !s.solo {
			// Coalesce the ready instances sharing this state into one
			// apply, as many as the caps allow.
			for j := i + 1; j < len(r.ready); j++ {
				o := r.ready[j]
				if maxPar > 0 && r.running+len(group) >= maxPar {
					break
				}
				if o.op.StateKey() != key || o.solo || o.op.Alone != "" || o.notBefore.After(now) ||
					(mode.PhaseBarrier && o.phase > phase) || (mode.BatchBarrier && o.batch != batch) {
					continue
				}
				if r.fits(o, group) {
					group = append(group, o)
				}
			}
		}
		r.start(r.takeReady(i, group), done)
		i-- // the list shifted under i
	}
	return wake
}

// fits reports whether s can start next to what runs and the group being
// formed without breaking the region and component caps.
func (r *runner) fits(s *opState, group []*opState) bool {
	mode := r.plan.Mode
	if c := mode.ComponentParallel[s.op.Component]; c > 0 {
		n := r.components[s.op.Component]
		for _, g := range group {
			if g.op.Component == s.op.Component {
				n++
			}
		}
		if n >= c {
			return false
		}
	}
	if mode.RegionParallel > 0 && s.op.Region != "" && r.regions[s.op.Region] == 0 {
		active := len(r.regions)
		seen := map[string]bool{}
		for _, g := range group {
			if g.op.Region != "" && r.regions[g.op.Region] == 0 && !seen[g.op.Region] {
				seen[g.op.Region] = true
				active++
			}
		}
		if !seen[s.op.Region] && active >= mode.RegionParallel {
			return false
		}
	}
	return true
}

// takeReady removes the group's operations from the ready list.
func (r *runner) takeReady(i int, group []*opState) []*opState {
	in := make(map[*opState]bool, len(group))
	for _, g := range group {
		in[g] = true
		g.inReady = false
	}
	out := r.ready[:0]
	for _, s := range r.ready {
		if !in[s] {
			out = append(out, s)
		}
	}
	for k := len(out); k < len(r.ready); k++ {
		r.ready[k] = nil
	}
	r.ready = out
	sort.Slice(group, func(a, b int) bool { return group[a].op.ID < group[b].op.ID })
	return group
}

type batchLock struct {
	batch   int
	release func() error
	err     error
}

// hardCtxUnlessStopping is the context batch lock waits use: they end when
// the run stops (nothing new would start anyway) or on the second Ctrl-C.
func (r *runner) hardCtxUnlessStopping() context.Context { return r.stopCtx }

// start launches one step: its goroutine takes the locks (unless the batch
// holds them), journals the start durably, runs the driver and journals the
// end.
func (r *runner) start(group []*opState, done chan<- stepDone) {
	st := &stepRun{ops: group, key: group[0].op.StateKey(), started: time.Now()}
	for _, s := range group {
		s.status = stRunning
		s.cancelled = false
		s.attempt++
		st.attempts = append(st.attempts, s.attempt)
		r.running++
		r.components[s.op.Component]++
		if s.op.Region != "" {
			r.regions[s.op.Region]++
		}
	}
	if st.key != "" {
		r.keys[st.key] = true
	}
	if group[0].op.Alone != "" {
		r.alone = true
	}
	r.steps++
	withLocks := !r.plan.Mode.BatchBarrier
	par := r.aimd.tf
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
		ev := Event{Time: now, Kind: EvOpStart, Op: s.op.ID, Attempt: st.attempts[i]}
		if err := r.journal.Append(ev); err != nil {
			d.started = false
			d.err = err
			return d
		}
		r.emit(ev)
	}
	// One log file per operation and attempt; a coalesced step's output
	// goes to each of its operations' files.
	// A log that cannot be created (EMFILE, a full disk) fails this
	// attempt of the step's operations: d.logs keeps one entry per
	// operation ("" for a file not created) and the driver does not run.
	var ws []io.Writer
	var files []*os.File
	d.logs = make([]string, len(st.ops))
	for i, s := range st.ops {
		p := filepath.Join(r.logDir, logName(s.op.ID, st.attempts[i]))
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
	step := Step{Ops: ops, Action: r.plan.Action, SpecDir: r.opts.SpecDir, Parallelism: parallelism,
		Log: log, Env: r.opts.Env, RunDir: r.runDir, Vars: r.opts.Vars, Events: r.emit}
	step.Started = func(pgid int) { r.recordGroup(owner, pgid) }
	if d.err == nil {
		d.err = r.drive(r.opts.Hard, step)
	}
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
	// The tools' death signal is tied to the thread that forks them (see
	// runChild); terraform-exec forks on this goroutine too.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s.Ops[0].Driver == "terraform" {
		defer watchToolGroups(s, toolPath(s.Env, "ECHELON_TERRAFORM", "terraform"))()
	}
	switch s.Ops[0].Driver {
	case "command":
		return commandRun(ctx, s)
	case "terraform":
		return terraformRun(ctx, s)
	case "kubectl":
		return kubectlRun(ctx, s)
	case "helm":
		return helmRun(ctx, s)
	default:
		return fmt.Errorf("%s: unknown driver %q", s.Ops[0].ID, s.Ops[0].Driver)
	}
}

// logName is an operation attempt's log file name: the ID with path
// separators replaced, and an ID too long for a file name (255 bytes)
// truncated and told apart from others by a hash of the whole ID.
func logName(id string, attempt int) string {
	name := strings.NewReplacer("/", "_", "\\", "_", ":", "_", "\x00", "_").Replace(id)
	if len(name) > maxLogStem {
		cut := maxLogStem - 17
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		sum := sha256.Sum256([]byte(id))
		name = name[:cut] + "-" + hex.EncodeToString(sum[:8])
	}
	return fmt.Sprintf("%s.%d.log", name, attempt)
}

// maxLogStem leaves room under the 255-byte name limit for ".ATTEMPT.log".
const maxLogStem = 200

// stepFinished updates the walk after a step ends: successes release
// dependents, failures retry with backoff or apply on_error.
func (r *runner) stepFinished(d stepDone) error {
	st := d.st
	r.steps--
	if st.key != "" {
		delete(r.keys, st.key)
	}
	if st.ops[0].op.Alone != "" {
		r.alone = false
	}
	now := time.Now()
	for _, s := range st.ops {
		r.running--
		r.components[s.op.Component]--
		if s.op.Region != "" {
			if r.regions[s.op.Region]--; r.regions[s.op.Region] == 0 {
				delete(r.regions, s.op.Region)
			}
		}
	}
	if d.lockBusy {
		// Another apply holds the locks: try again soon, and let other
		// ready operations have the slot meanwhile.
		for _, s := range st.ops {
			s.attempt--
			s.status = stPending
			s.lockWaits++
			if s.lockWaits == 1 {
				r.emit(Event{Time: now, Kind: EvLockWait, Op: s.op.ID, Message: s.op.ID + " (held by another apply)"})
			}
			s.notBefore = now.Add(min(5*time.Millisecond<<min(s.lockWaits, 6), 250*time.Millisecond))
			r.pushReady(s)
		}
		return nil
	}
	if !d.started {
		// Never ran (lock wait cancelled, journal failure): not an attempt.
		for _, s := range st.ops {
			s.attempt--
			s.status = stPending
			r.pushReady(s)
		}
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
	// Operations a coalesced step got through go ahead; only the failed
	// ones retry, each alone (only its own -target), within its own budget.
	var failed []int
	for i, s := range st.ops {
		if d.errs[i] != nil {
			failed = append(failed, i)
			continue
		}
		s.status = stSucceeded
		s.lastLog = d.logs[i]
		r.res.Succeeded = append(r.res.Succeeded, s.op.ID)
		r.finish(s)
		r.emit(Event{Time: now, Kind: EvOpEnd, Op: s.op.ID, Attempt: st.attempts[i], Outcome: OutcomeSucceeded,
			Duration: d.dur.Seconds(), Log: d.logs[i]})
		for _, di := range s.dependents {
			r.depDone(r.ops[di])
		}
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
		if ch := r.aimd.throttled(now, te.RetryAfter, r.running+len(st.ops)); ch != nil {
			r.emit(*ch)
			_ = r.journal.AppendAsync(*ch)
		}
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
		if cancelled {
			s.status = stPending // in flight at the cancel: --resume runs it again
			s.cancelled = true
			continue
		}
		wasSolo := s.solo
		if len(st.ops) > 1 {
			s.solo = true
		}
		var t *ThrottledError
		retry := false
		var delay time.Duration
		switch {
		case d.blame[i] && !wasSolo:
			// Cut short by another instance's error: its own apply
			// decides, without using up its retries. Once: it is solo now.
			retry = true
		case errors.As(d.errs[i], &t) && s.throttles < r.opts.ThrottleRetries:
			s.throttles++
			retry = true
			delay = max(t.RetryAfter, r.backoff(s.throttles))
		case s.charged < s.op.Retries:
			s.charged++
			retry = true
			delay = r.backoff(s.charged)
		}
		if retry && !r.stopping {
			s.status = stPending
			s.notBefore = now.Add(delay)
			r.emit(Event{Time: now, Kind: EvRetry, Op: s.op.ID, Attempt: s.attempt + 1, Duration: delay.Seconds(),
				Message: shortReason(s.lastErr)})
			r.pushReady(s)
			continue
		}
		if retry {
			s.status = stPending // stopping: leave it for --resume
			continue
		}
		s.status = stFailed
		r.finish(s)
		switch s.op.OnError {
		case "continue":
			// The failure is recorded; dependents go ahead.
			for _, di := range s.dependents {
				r.depDone(r.ops[di])
			}
		case "skip_dependents":
			r.skipDependents(s, now)
		default:
			r.skipDependents(s, now)
			r.stop(fmt.Sprintf("%s failed (on_error = stop): running operations finish, nothing new starts", s.op.ID))
		}
	}
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

func (r *runner) depDone(s *opState) {
	if s.status != stPending {
		return
	}
	if s.waitDeps--; s.waitDeps == 0 {
		r.pushReady(s)
	}
}

// skipDependents marks everything downstream of a failed operation skipped.
func (r *runner) skipDependents(s *opState, now time.Time) {
	stack := append([]int(nil), s.dependents...)
	for len(stack) > 0 {
		o := r.ops[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		if o.status != stPending {
			continue
		}
		o.status = stSkipped
		if o.inReady {
			o.inReady = false
			for k, x := range r.ready {
				if x == o {
					r.ready = append(r.ready[:k], r.ready[k+1:]...)
					break
				}
			}
		}
		r.finish(o)
		r.emit(Event{Time: now, Kind: EvOpSkip, Op: o.op.ID, Outcome: OutcomeSkipped, Message: "depends on failed " + s.op.ID})
		stack = append(stack, o.dependents...)
	}
}

// backoff is the delay before retry n (1-based): exponential with full
// jitter in its upper half.
func (r *runner) backoff(n int) time.Duration {
	d := r.opts.Backoff
	for i := 1; i < n && d < r.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.opts.MaxBackoff)
	return d/2 + time.Duration(r.rng.Int64N(int64(d/2)+1))
}
