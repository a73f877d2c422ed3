package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/store/pgtest"
)

// Workers on a real PostgreSQL: each `echelon worker` is a process of its
// own, in a network namespace of its own where this machine allows
// `unshare -n` (as on another host: it reaches the database only by the
// Unix socket). Every process keeps the default lease (30 s), so none that
// must live loses it to a late renewal on a loaded machine; the one meant
// to lose (killed or SIGSTOPped) has its lease ended by SQL (endLease).

var (
	unshareOnce sync.Once
	unshareOK   bool
)

// inNetns is argv run in a new network namespace when unshare -n works.
func inNetns(argv []string) []string {
	unshareOnce.Do(func() { unshareOK = osexec.Command("unshare", "-n", "true").Run() == nil })
	if unshareOK {
		return append([]string{"unshare", "-n"}, argv...)
	}
	return argv
}

// worker is a running `echelon worker` and its output.
type workerProc struct {
	cmd *osexec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

func (w *workerProc) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// startWorker starts a worker in dir with its own state directory.
func startWorker(t *testing.T, dir, url, name string, extra ...string) *workerProc {
	t.Helper()
	bin, err := osexec.LookPath("echelon")
	if err != nil {
		t.Fatal(err)
	}
	argv := inNetns(append([]string{bin, "worker", "--store", url, "--state", "st-" + name, "--slots", "2"}, extra...))
	c := osexec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	c.Env = append(os.Environ(), "ECHELON_STORE=")
	w := &workerProc{cmd: c, out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	c.Stdout, c.Stderr = lockedWriter{w.mu, w.out}, lockedWriter{w.mu, w.out}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Process.Kill()
		_ = c.Wait()
	})
	return w
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// taskStates is every task's state and whether it has a result, in order.
func taskStates(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT state, result IS NOT NULL FROM tasks ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var states []string
	for rows.Next() {
		var s string
		var res bool
		if err := rows.Scan(&s, &res); err != nil {
			t.Fatal(err)
		}
		states = append(states, fmt.Sprintf("%s:%v", s, res))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(states, " ")
}

// TestWorkerKilled: a worker is killed (kill -9) in the middle of an
// operation, 20 rounds, with other workers serving: each run finishes,
// every operation succeeded once, and only the killed step ran twice (as
// its next attempt).
func TestWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("20 rounds of a worker killed mid-operation")
	}
	url := pgtest.URL(t)
	dir := t.TempDir()
	// victim records the pid of the worker running it ($PPID: the
	// command driver starts sh itself) and, the first time, waits to be
	// killed; the others record that they ran.
	victim := `echo $PPID >> victim.ran; if [ "$(wc -l < victim.ran)" -eq 1 ]; then exec sleep 60; fi`
	comps := [][2]string{{"victim", victim}}
	for _, n := range []string{"a", "b", "c"} {
		comps = append(comps, [2]string{n, "echo x >> " + n + ".ran"})
	}
	writeSpec(t, filepath.Join(dir, "k.hcl"), comps, false)
	compilePlan(t, dir, "k.hcl", "k.json")
	// One slot each: the killed worker runs the victim and nothing else.
	workers := []*workerProc{startWorker(t, dir, url, "w0", "--slots", "1"), startWorker(t, dir, url, "w1", "--slots", "1")}
	for round := range 20 {
		for _, f := range []string{"victim", "a", "b", "c"} {
			os.Remove(filepath.Join(dir, f+".ran"))
		}
		apply := echelonCmd(t, dir, "apply", "k.json", "--store", url, "--workers", "--state", "coord", "--json")
		var aout bytes.Buffer
		apply.Stdout, apply.Stderr = &aout, &aout
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		var pid int
		waitFor(t, "the victim to start on a worker", func() bool {
			l := readLines(t, filepath.Join(dir, "victim.ran"))
			if len(l) > 0 {
				pid, _ = strconv.Atoi(l[0])
			}
			return pid > 0
		})
		killed := -1
		for i, w := range workers {
			if w.cmd.Process.Pid == pid {
				killed = i
			}
		}
		if killed < 0 {
			apply.Process.Kill()
			t.Fatalf("round %d: the victim's parent %d is no worker", round, pid)
		}
		if err := workers[killed].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = workers[killed].cmd.Wait()
		endLease(t, url, pid)
		workers[killed] = startWorker(t, dir, url, fmt.Sprintf("w%d-%d", killed, round), "--slots", "1")
		if err := apply.Wait(); err != nil {
			t.Fatalf("round %d: the run did not finish: %v\n%s", round, err, aout.String())
		}
		if got := readLines(t, filepath.Join(dir, "victim.ran")); len(got) != 2 {
			t.Errorf("round %d: the killed step ran %d times, want 2", round, len(got))
		}
		for _, n := range []string{"a", "b", "c"} {
			if got := readLines(t, filepath.Join(dir, n+".ran")); len(got) != 1 {
				t.Errorf("round %d: %s ran %d times, want once", round, n, len(got))
			}
		}
		succeeded := map[string]int{}
		lost := 0
		for _, ev := range journalEvents(t, url, dir, "k.json") {
			if ev.Kind == "op_end" && ev.Outcome == "succeeded" {
				succeeded[ev.Op]++
			}
			if ev.Kind == "op_end" && ev.Op == "victim" && ev.Outcome == "failed" {
				lost++
			}
		}
		for _, n := range []string{"victim", "a", "b", "c"} {
			if succeeded[n] != 1 {
				t.Errorf("round %d: %s succeeded %d times in the journal, want once", round, n, succeeded[n])
			}
		}
		if lost != 1 {
			t.Errorf("round %d: %d failed (lost) ends of the victim, want 1:\n%s", round, lost, aout.String())
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestWorkerStoppedResultRefused: a worker is SIGSTOPped mid-operation
// past its lease; the coordinator gives its task up as lost and another
// worker runs the step. After SIGCONT the stopped worker's late result is
// refused (the lost task has no result), and the worker, having lost its
// lease, opens a new session: the same process then claims and finishes
// new work.
func TestWorkerStoppedResultRefused(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	step := `echo $PPID >> s.ran; if [ "$(wc -l < s.ran)" -eq 1 ]; then while [ ! -e go ]; do sleep 0.02; done; fi`
	writeSpec(t, filepath.Join(dir, "s.hcl"), [][2]string{{"s", step}}, false)
	compilePlan(t, dir, "s.hcl", "s.json")
	a := startWorker(t, dir, url, "a")
	apply := echelonCmd(t, dir, "apply", "s.json", "--store", url, "--workers", "--state", "coord")
	var aout bytes.Buffer
	apply.Stdout, apply.Stderr = &aout, &aout
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	defer apply.Process.Kill()
	waitFor(t, "the step to start on worker a", func() bool { return len(readLines(t, filepath.Join(dir, "s.ran"))) == 1 })
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	endLease(t, url, a.cmd.Process.Pid)
	b := startWorker(t, dir, url, "b")
	if err := apply.Wait(); err != nil {
		t.Fatalf("the run did not finish on worker b: %v\n%s", err, aout.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "worker a to open a new session", func() bool { return strings.Contains(a.output(), "opened a new session") })
	if out := a.output(); !strings.Contains(out, "lost the lease") {
		t.Errorf("worker a does not say it lost its lease:\n%s", out)
	}
	if states := taskStates(t, url); states != "lost:false done:true" {
		t.Errorf("tasks %q, want \"lost:false done:true\": a's late result must be refused", states)
	}
	succeeded := countEvents(t, url, dir, "s.json", func(ev jEvent) bool { return ev.Kind == "op_end" && ev.Outcome == "succeeded" })
	if succeeded != 1 {
		t.Errorf("%d succeeded ends in the journal, want 1 (worker b's)", succeeded)
	}
	// Only a serves now: new work runs on it, under its new session.
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = b.cmd.Wait()
	writeSpec(t, filepath.Join(dir, "n.hcl"), [][2]string{{"n", "echo $PPID >> n.ran"}}, false)
	compilePlan(t, dir, "n.hcl", "n.json")
	if out, err := guarded(echelonCmd(t, dir, "apply", "n.json", "--store", url, "--workers", "--state", "coord")); err != nil {
		t.Fatalf("new work after a's new session: %v\n%s\nworker a:\n%s", err, out, a.output())
	}
	if got, want := strings.Join(readLines(t, filepath.Join(dir, "n.ran")), " "), strconv.Itoa(a.cmd.Process.Pid); got != want {
		t.Errorf("the new step ran in worker %q, want a (%s)", got, want)
	}
	t.Logf("worker a:\n%s", a.output())
}

// guarded is c's combined output, c killed if it has not ended in two
// minutes (a bound against a hang, not a timing assertion).
func guarded(c *osexec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return nil, err
	}
	kill := time.AfterFunc(2*time.Minute, func() { _ = c.Process.Kill() })
	defer kill.Stop()
	err := c.Wait()
	return out.Bytes(), err
}

// killCoordinator starts apply --workers of plan (state directory
// host1), waits until started says its step runs on a worker, then kills
// the coordinator (kill -9) and ends its lease.
func killCoordinator(t *testing.T, dir, url, plan string, started func() bool) {
	t.Helper()
	first := echelonCmd(t, dir, "apply", plan, "--store", url, "--workers", "--state", "host1")
	var fout bytes.Buffer
	first.Stdout, first.Stderr = &fout, &fout
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the step to start on the worker", started)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	endLease(t, url, first.Process.Pid)
}

// taskState is the state of the task of operation op's attempt.
func taskState(t *testing.T, url, op string, attempt int) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state string
	err = conn.QueryRow(ctx, `SELECT state FROM tasks WHERE step -> 'ops' -> 0 = to_jsonb($1::text)
		AND step -> 'attempts' -> 0 = to_jsonb($2::int)`, op, attempt).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// TestWorkerCoordinatorResumedStepFinished: the coordinator is killed
// (kill -9) while a worker runs its second step, and the step finishes
// with no coordinator alive. Another process resumes the run (apply
// --resume --workers, its own state directory): it journals the second
// step's end from its task's result instead of running it again, and
// runs the third: each operation ran exactly once.
func TestWorkerCoordinatorResumedStepFinished(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	second := `echo x >> two.ran; while [ ! -e go ]; do sleep 0.02; done`
	writeSpec(t, filepath.Join(dir, "c.hcl"), [][2]string{{"one", "echo x >> one.ran"}, {"two", second}, {"three", "echo x >> three.ran"}}, true)
	compilePlan(t, dir, "c.hcl", "c.json")
	startWorker(t, dir, url, "w")
	killCoordinator(t, dir, url, "c.json", func() bool { return len(readLines(t, filepath.Join(dir, "two.ran"))) == 1 })
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker to finish two", func() bool { return taskState(t, url, "two", 1) == "done" })
	out, err := echelonCmd(t, dir, "apply", "c.json", "--resume", "--store", url, "--workers", "--state", "host2").CombinedOutput()
	if err != nil {
		t.Fatalf("the resume from another process: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "(2 in an earlier run)") {
		t.Errorf("the resumed run does not count one and two as done earlier:\n%s", out)
	}
	if !strings.Contains(string(out), "two: finished on worker") {
		t.Errorf("the resumed run does not say it took two's end from its task:\n%s", out)
	}
	for _, n := range []string{"one", "two", "three"} {
		if got := readLines(t, filepath.Join(dir, n+".ran")); len(got) != 1 {
			t.Errorf("%s ran %d times, want once", n, len(got))
		}
	}
	// two's end is journaled once, before the resumed run's start (it
	// ended under the first), and two never started again.
	var seq []string
	for _, ev := range journalEvents(t, url, dir, "c.json") {
		if ev.Kind == "run_start" || ev.Op == "two" {
			seq = append(seq, ev.Kind+":"+ev.Outcome)
		}
	}
	if got, want := strings.Join(seq, " "), "run_start: op_start: op_end:succeeded run_start:"; got != want {
		t.Errorf("the journal's run starts and two's records: %q, want %q", got, want)
	}
}

// TestWorkerCoordinatorResumedStepRunning: the coordinator is killed
// (kill -9) while a worker runs its second step; another process resumes
// the run while that step still runs: it waits for the step's lock set
// (the worker holds it), and runs the step again only once the worker's
// run of it ended, never two at once; the first step is not run again.
func TestWorkerCoordinatorResumedStepRunning(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	second := `echo start >> two.ran; if [ "$(wc -l < two.ran)" -eq 1 ]; then while [ ! -e go ]; do sleep 0.02; done; fi; echo end >> two.ran`
	writeSpec(t, filepath.Join(dir, "c.hcl"), [][2]string{{"one", "echo x >> one.ran"}, {"two", second}}, true)
	compilePlan(t, dir, "c.hcl", "c.json")
	startWorker(t, dir, url, "w")
	killCoordinator(t, dir, url, "c.json", func() bool { return len(readLines(t, filepath.Join(dir, "two.ran"))) == 1 })
	resume := echelonCmd(t, dir, "apply", "c.json", "--resume", "--store", url, "--workers", "--state", "host2", "--json")
	var rout bytes.Buffer
	var mu sync.Mutex
	resume.Stdout, resume.Stderr = lockedWriter{&mu, &rout}, lockedWriter{&mu, &rout}
	if err := resume.Start(); err != nil {
		t.Fatal(err)
	}
	defer resume.Process.Kill()
	waitFor(t, "the resumed run to wait for two's locks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(rout.String(), `"kind":"lock_wait"`)
	})
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := resume.Wait(); err != nil {
		t.Fatalf("the resume from another process: %v\n%s", err, rout.String())
	}
	if got := strings.Join(readLines(t, filepath.Join(dir, "two.ran")), " "); got != "start end start end" {
		t.Errorf("two's runs: %q, want \"start end start end\" (the second after the first ended)", got)
	}
	if got := readLines(t, filepath.Join(dir, "one.ran")); len(got) != 1 {
		t.Errorf("one ran %d times, want once", len(got))
	}
	last := ""
	for _, ev := range journalEvents(t, url, dir, "c.json") {
		if ev.Kind == "op_end" && ev.Op == "two" {
			last = ev.Outcome
		}
	}
	if last != "succeeded" {
		t.Errorf("two's last end in the journal is %q, want succeeded", last)
	}
}

// TestWorkerStoreGone: a worker whose store cannot be reached any more
// (its database dropped) loses its lease, cannot open a new session for
// two leases and exits 1, saying so. Its lease is short (--store-lease):
// it is the process meant to lose.
func TestWorkerStoreGone(t *testing.T) {
	url, drop, err := pgtest.NewDatabase(pgtest.Server(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	dir := t.TempDir()
	w := startWorker(t, dir, url, "w", "--store-lease", "1s")
	waitFor(t, "the worker to serve", func() bool { return strings.Contains(w.output(), "serving") })
	drop()
	exited := make(chan error, 1)
	go func() { exited <- w.cmd.Wait() }()
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(2 * time.Minute): // a bound against a hang
		t.Fatalf("the worker did not give up on a store that is gone:\n%s", w.output())
	}
	var ee *osexec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 1 {
		t.Errorf("the worker exited with %v, want exit status 1:\n%s", werr, w.output())
	}
	if out := w.output(); !strings.Contains(out, "lost the lease on the store") || !strings.Contains(out, "could not open a new session for 2s (two leases)") {
		t.Errorf("the worker does not say it lost its lease and could not open a new session:\n%s", out)
	}
}
