package main

import (
	"context"
	"encoding/json"
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

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

const workerUsage = `worker --store URL [--slots N] [--label KEY=VALUE]... [--state DIR] [--spec SPEC] [--var NAME=VALUE]... [--var-file FILE]...

Runs steps that apply --store URL --workers dispatches, on this machine,
with its own tools: up to --slots at once, only those whose labels this
worker has. A plan's spec is found as apply finds it, in the checkout the
worker runs in, and must match the plan's spec_digest; without one that
matches, the worker runs from the spec's files the apply stored in the
store (its bundle, unpacked in --state DIR/bundles/; --spec turns that
off), and says which in its output. Sensitive values come from this
worker's own environment (ECHELON_VAR_NAME) and var files, never from
the store. Each step's log (masked) is stored for echelon logs. A worker
that loses its lease on the store (it was paused or cut off) kills the
steps it runs (the coordinator runs them again, here or elsewhere) and
opens a new session; it exits 1 when it cannot reach the store for two
leases. Ctrl-C stops claiming and waits for running steps.

  echelon worker --store postgres://ci@db.internal/echelon --slots 8 --label region=eu`

// runWorker serves tasks from the store until interrupted.
func runWorker(ctx context.Context, args []string) error {
	fs := newFlagSet("worker", workerUsage)
	var stf storeFlags
	stf.registerURL(fs)
	slots := fs.Int("slots", runtime.NumCPU(), "at most `N` steps at once")
	labels := fs.StringArray("label", nil, "a label tasks may ask for: `KEY=VALUE` (repeatable)")
	state := fs.String("state", ".echelon", "this machine's state `DIR`: the steps' log files")
	specFlag := fs.String("spec", "", "the `SPEC` of the plans (default: found from each plan's spec.path)")
	sf := specFlags{ctx: ctx}
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 0 {
		return usagef("worker takes no arguments, got %d", fs.NArg())
	}
	if !store.IsURL(stf.value()) {
		return usagef("worker needs a database store: --store postgres://... (or ECHELON_STORE)")
	}
	if *slots < 1 {
		return usagef("--slots must be at least 1, got %d", *slots)
	}
	lab, err := parseLabels(*labels)
	if err != nil {
		return err
	}
	// Absolute: the results name the log files as host:path, read from
	// other working directories.
	if abs, err := filepath.Abs(*state); err == nil {
		*state = abs
	}
	open := func(ctx context.Context) (*store.Postgres, error) {
		st, err := store.OpenPostgres(ctx, stf.value(), store.Options{LocalDir: *state, Lease: *stf.lease})
		if err != nil {
			return nil, err
		}
		if err := st.RegisterWorker(ctx, lab, *slots); err != nil {
			st.Close()
			return nil, err
		}
		// A worker killed outright (kill -9) may have left its steps'
		// children running on this machine: kill them before claiming
		// (docs/store.md, "Orphaned process groups"), and again every third
		// of the lease for any echelon of this host that dies.
		st.SetWarn(func(msg string) { fmt.Fprintf(os.Stderr, "echelon worker: %s\n", msg) })
		if err := st.CleanOrphans(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "echelon worker: %v\n", err)
		}
		return st, nil
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	w := &worker{st: st, open: open, slots: *slots, labels: lab, state: *state, spec: *specFlag, sf: sf,
		log: os.Stderr, lease: *stf.lease, running: map[int64]*workerTask{}, plans: map[string]*workerPlan{},
		done: make(chan int64, *slots)}
	defer func() {
		if w.st != nil {
			w.st.Close()
		}
	}()
	if err := w.serve(ctx); err != nil {
		return err
	}
	// Stopped by Ctrl-C once its steps finished: interrupted (exit 130).
	return ctx.Err()
}

// parseLabels reads --label KEY=VALUE flags.
func parseLabels(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range flags {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, usagef("--label %q is not KEY=VALUE", l)
		}
		out[k] = v
	}
	return out, nil
}

type worker struct {
	st     *store.Postgres // this session's store (a new one after a lost lease)
	open   func(context.Context) (*store.Postgres, error)
	slots  int
	labels map[string]string
	state  string
	spec   string
	sf     specFlags
	log    io.Writer
	lease  time.Duration

	mu      sync.Mutex
	running map[int64]*workerTask
	// plansMu guards plans, held while a plan loads (a bundle fetch may
	// take a while): never mu, which lost() needs to kill running steps
	// at once.
	plansMu sync.Mutex
	plans   map[string]*workerPlan // by digest
	wg      sync.WaitGroup
	done    chan int64
}

type workerTask struct {
	cancel context.CancelFunc
	groups []int
	killed bool // by lost(): its result is not reported
}

// workerPlan is a plan as this worker runs it: its RuntimePlan with this
// worker's own sensitive values, or why it cannot.
type workerPlan struct {
	plan    *planner.Plan
	spec    *lang.Spec     // this worker's, for operations that read outputs
	scope   *exec.RunScope // the drivers' state for the plan on this machine
	specDir string
	secrets []string
	err     error
}

// errSessionLost ends a session whose lease was lost: its steps were killed.
var errSessionLost = errors.New("session lost")

// serve serves sessions one after the other: after a lost lease, a new
// one (a new lease, a new fencing token), until ctx ends or the store
// stays unreachable.
func (w *worker) serve(ctx context.Context) error {
	for {
		err := w.session(ctx)
		if !errors.Is(err, errSessionLost) {
			return err
		}
		if err := w.reopen(ctx); err != nil || w.st == nil {
			return err
		}
	}
}

// reopen ends the lost session and opens a new one, trying for two
// leases; nil st: ctx ended meanwhile.
func (w *worker) reopen(ctx context.Context) error {
	_ = w.st.Close() // its tasks are lost for their coordinators at once
	w.st = nil
	retry := min(w.lease/3, time.Second)
	giveUp := time.Now().Add(2 * w.lease)
	for {
		octx, cancel := context.WithTimeout(ctx, min(w.lease, 10*time.Second))
		st, err := w.open(octx)
		cancel()
		if err == nil {
			w.st = st
			fmt.Fprintf(w.log, "echelon worker: opened a new session on the store %s\n", st.Where())
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Now().After(giveUp) {
			return fmt.Errorf("lost the lease on the store and could not open a new session for %s (two leases): %w", 2*w.lease, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// session claims tasks while it has free slots, woken by NOTIFY (or a
// poll), until ctx ends (then it waits for its running steps) or the
// lease is lost (then it kills them: errSessionLost).
func (w *worker) session(ctx context.Context) error {
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	wake := make(chan struct{}, 1)
	go w.listen(lctx, w.st, wake)
	tick := time.NewTicker(min(w.lease/3, time.Second))
	defer tick.Stop()
	fmt.Fprintf(w.log, "echelon worker: serving %s with %d slots\n", w.st.Where(), w.slots)
	lastErr := ""
	for {
		if ctx.Err() != nil {
			w.wg.Wait()
			return nil
		}
		w.mu.Lock()
		free := w.slots - len(w.running)
		w.mu.Unlock()
		if free > 0 {
			claimed, err := w.st.Claim(ctx, free, w.labels)
			if errors.Is(err, store.ErrFenced) {
				return w.lost()
			}
			if err != nil && ctx.Err() == nil && err.Error() != lastErr {
				fmt.Fprintf(w.log, "echelon worker: %v\n", err) // once while it lasts
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
			}
			for _, c := range claimed {
				w.start(c)
			}
		}
		select {
		case <-ctx.Done():
		case <-w.st.Lost():
			return w.lost()
		case id := <-w.done:
			w.finished(id)
		case <-wake:
			w.cancelled(ctx)
		case <-tick.C:
			w.cancelled(ctx)
		}
	}
}

// finished frees the slots of id and of every other step that ended
// meanwhile, so that one claim fills them all.
func (w *worker) finished(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.running, id)
	for {
		select {
		case id := <-w.done:
			delete(w.running, id)
		default:
			return
		}
	}
}

// listen turns notifications (new tasks, cancellations) into wakes.
func (w *worker) listen(ctx context.Context, st *store.Postgres, wake chan<- struct{}) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			c, err := st.Listen()
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			conn = c
		}
		if _, err := conn.WaitForNotification(ctx); err != nil {
			conn.Close(context.Background())
			conn = nil
			continue
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// lost kills every running step's process groups (their coordinators
// run them again, another worker or this one) and ends the session.
func (w *worker) lost() error {
	w.mu.Lock()
	n := len(w.running)
	for _, t := range w.running {
		for _, g := range t.groups {
			_ = syscall.Kill(-g, syscall.SIGKILL)
		}
		t.killed = true
		t.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
	w.mu.Lock()
	clear(w.running)
	for len(w.done) > 0 {
		<-w.done
	}
	w.mu.Unlock()
	fmt.Fprintf(w.log, "echelon worker: lost the lease on the store %s: killed %d running steps; opening a new session\n", w.st.Where(), n)
	return errSessionLost
}

// cancelled kills the steps their coordinator cancelled.
func (w *worker) cancelled(ctx context.Context) {
	w.mu.Lock()
	n := len(w.running)
	w.mu.Unlock()
	if n == 0 {
		return
	}
	ids, err := w.st.CancelledTasks(ctx)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if t := w.running[id]; t != nil {
			t.cancel()
		}
	}
}

// start runs a claimed task in its own goroutine, its result for this
// session's store.
func (w *worker) start(c store.Claimed) {
	st := w.st
	tctx, cancel := context.WithCancel(context.Background())
	t := &workerTask{cancel: cancel}
	w.mu.Lock()
	w.running[c.ID] = t
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { w.done <- c.ID }()
		defer cancel()
		w.run(tctx, st, c, t)
	}()
}

// run runs one task and reports its result.
func (w *worker) run(ctx context.Context, st *store.Postgres, c store.Claimed, t *workerTask) {
	var task exec.StepTask
	out := exec.StepOutcome{}
	err := json.Unmarshal(c.Step, &task)
	if err == nil {
		wp := w.plan(st, c.Digest)
		err = wp.err
		if err == nil {
			out, err = exec.RunTask(ctx, wp.plan, task, exec.TaskOptions{StateDir: w.state, SpecDir: wp.specDir,
				Secrets: wp.secrets, Scope: wp.scope, Spec: wp.spec, Pacer: st, Started: func(pgid int) {
					w.mu.Lock()
					t.groups = append(t.groups, pgid)
					w.mu.Unlock()
					// With the task's lock set, which then waits for the
					// group if this worker dies.
					if err := st.AddTaskGroup(ctx, c, pgid); err != nil {
						fmt.Fprintf(w.log, "echelon worker: task %d: process group %d not recorded with its locks: %v\n", c.ID, pgid, err)
					}
				}, PutLog: func(op string, attempt int, path string) error {
					w.putLog(st, c, op, attempt, path)
					return nil
				}})
		}
	}
	if err != nil {
		host, _ := os.Hostname()
		out = exec.StepOutcome{Ops: make([]exec.OpOutcome, len(task.Ops))}
		for i := range out.Ops {
			out.Ops[i].Error = fmt.Sprintf("worker %s:%d: %v", host, os.Getpid(), err)
		}
	}
	w.mu.Lock()
	killed := t.killed
	w.mu.Unlock()
	if killed {
		// Killed for a lost lease: lost, not failed (its coordinator runs
		// it again); the old session's end tells it so.
		fmt.Fprintf(w.log, "echelon worker: task %d (%s): killed, not reported: this worker lost its lease\n", c.ID, strings.Join(task.Ops, ", "))
		return
	}
	res, _ := json.Marshal(out)
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ferr := st.Finish(fctx, c, res)
	switch {
	case ferr != nil:
		fmt.Fprintf(w.log, "echelon worker: task %d (%s): %v\n", c.ID, strings.Join(task.Ops, ", "), ferr)
	case ctx.Err() != nil:
		// Cancelled (by its coordinator's second Ctrl-C, or this worker
		// stopping): the step was stopped, not failed by its own doing.
		fmt.Fprintf(w.log, "echelon worker: task %d (%s): cancelled\n", c.ID, strings.Join(task.Ops, ", "))
	default:
		fmt.Fprintf(w.log, "echelon worker: task %d (%s): %s\n", c.ID, strings.Join(task.Ops, ", "), outcomeWord(out))
	}
}

// putLog stores an attempt's log in the store (docs/store.md, "Logs"); a
// log refused is told in the worker's output, the step's result stays.
func (w *worker) putLog(st *store.Postgres, c store.Claimed, op string, attempt int, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.PutTaskLog(ctx, c, op, attempt, path); err != nil {
		fmt.Fprintf(w.log, "echelon worker: task %d: the log of %s (attempt %d) is not in the store: %v; it stays in %s\n", c.ID, op, attempt, err, path)
	}
}

func outcomeWord(out exec.StepOutcome) string {
	var failed []string
	for _, o := range out.Ops {
		if o.Error != "" {
			failed = append(failed, o.Error)
		}
	}
	if len(failed) == 0 {
		return "succeeded"
	}
	sort.Strings(failed)
	return "failed: " + failed[0]
}

// plan loads (once per digest) the plan from the store and its spec from
// this machine: checked against the plan's digests, with this worker's
// own sensitive values (RuntimePlan).
func (w *worker) plan(st *store.Postgres, digest string) *workerPlan {
	w.plansMu.Lock()
	defer w.plansMu.Unlock()
	if wp := w.plans[digest]; wp != nil {
		return wp
	}
	wp := w.loadPlan(st, digest)
	if wp.err == nil {
		// A failed load (the store unreachable a moment, a bundle not
		// fetched) is tried again by the plan's next task.
		w.plans[digest] = wp
	}
	return wp
}

func (w *worker) loadPlan(st *store.Postgres, digest string) *workerPlan {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := st.Plan(ctx, digest)
	if err != nil {
		return &workerPlan{err: err}
	}
	plan, err := planner.Parse(raw)
	if err != nil {
		return &workerPlan{err: fmt.Errorf("plan %s: %w", digest, err)}
	}
	spec, from, err := w.findSpec(ctx, plan)
	if err != nil {
		return &workerPlan{err: err}
	}
	fmt.Fprintf(w.log, "echelon worker: plan %s: the spec from %s\n", store.RunKey(digest), from)
	runPlan, secrets, err := exec.RuntimePlan(plan, spec)
	if err != nil {
		return &workerPlan{err: err}
	}
	return &workerPlan{plan: runPlan, spec: spec, specDir: spec.Dir, secrets: secrets, scope: &exec.RunScope{StateDir: w.state}}
}
