package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/store/pgtest"
)

// liveWorkers counts the store's live workers (0 before the first
// process made the schema).
func liveWorkers(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE slots IS NOT NULL AND lease_until > now()").Scan(&n); err != nil {
		return 0
	}
	return n
}

// TestWorkerWaitTold: apply --workers --worker-label region=mars with two
// live workers, neither labelled so: the step waits unclaimed, and after a
// third of the coordinator's lease (9s here: 3s) apply says once what it
// waits for and which workers there are, instead of nothing. Two Ctrl-Cs
// then withdraw the task.
func TestWorkerWaitTold(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "m.hcl"), [][2]string{{"a", "true"}}, false)
	compilePlan(t, dir, "m.hcl", "m.json")
	startWorker(t, dir, url, "w0", "--label", "region=earth")
	startWorker(t, dir, url, "w1")
	waitFor(t, "two live workers", func() bool { return liveWorkers(t, url) == 2 })

	apply, out := startApply(t, dir, "m.json", "--store", url, "--store-lease", "9s", "--state", "st",
		"--workers", "--worker-label", "region=mars")
	told := regexp.MustCompile(`(?m)^[0-9:.]+ a: waited [0-9.]+m?s for a worker with region=mars: 2 workers are live, none has these labels$`)
	waitFor(t, "apply to say what the step waits for", func() bool { return told.MatchString(out.String()) })
	for range 2 {
		_ = apply.Process.Signal(syscall.SIGINT)
		time.Sleep(200 * time.Millisecond)
	}
	_ = apply.Wait()
	if !regexp.MustCompile(`(?m)^[0-9:.]+ a: cancelled after [0-9.]+m?s: context canceled before a worker claimed it$`).MatchString(out.String()) {
		t.Errorf("the cancelled step does not say no worker had it (or ends in an empty log):\n%s", out.String())
	}
	if n := len(told.FindAllString(out.String(), -1)); n != 1 {
		t.Errorf("told %d times, want once (a minute apart at most):\n%s", n, out.String())
	}
	if got := taskStates(t, url); got != "cancelled:false" {
		t.Errorf("task states %q, want the task withdrawn:\n%s", got, out.String())
	}
}

// syncBuffer is a bytes.Buffer a process writes to while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkerClaimAndLossTold: apply says which worker claimed a step;
// when that worker is lost (killed, its session gone as when a worker
// ends a session it lost) the step's failure names it, though the store
// no longer can; and no failure line ends in an empty "(log )". The step
// then runs again on another worker (its claim is told only if the
// coordinator reads the task claimed before it is done: not asserted).
func TestWorkerClaimAndLossTold(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "c.hcl"), [][2]string{{"a",
		`echo $PPID >> a.ran; if [ "$(wc -l < a.ran)" -eq 1 ]; then exec sleep 60; fi`}}, false)
	compilePlan(t, dir, "c.hcl", "c.json")
	w0 := startWorker(t, dir, url, "w0", "--slots", "1")
	apply, out := startApply(t, dir, "c.json", "--store", url, "--state", "st", "--workers")
	var pid int
	waitFor(t, "the step to start on the worker", func() bool {
		if l := readLines(t, filepath.Join(dir, "a.ran")); len(l) > 0 {
			pid, _ = strconv.Atoi(l[0])
		}
		return pid > 0
	})
	if pid != w0.cmd.Process.Pid {
		t.Fatalf("the step's parent %d is not the worker %d", pid, w0.cmd.Process.Pid)
	}
	claimed := regexp.MustCompile(`(?m)^[0-9:.]+ a: claimed by worker [^ ]+:` + strconv.Itoa(pid) + ` \(attempt 1\)$`)
	waitFor(t, "apply to say which worker claimed the step", func() bool { return claimed.MatchString(out.String()) })

	startWorker(t, dir, url, "w1", "--slots", "1")
	_ = w0.cmd.Process.Signal(syscall.SIGKILL)
	_ = w0.cmd.Wait()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM sessions WHERE pid = $1", pid); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := apply.Wait(); err != nil {
		t.Fatalf("the run did not finish: %v\n%s", err, out.String())
	}
	lost := regexp.MustCompile(`(?m)^[0-9:.]+ a: failed after [0-9.]+m?s: lost its worker [^ ]+:` + strconv.Itoa(pid) + ` \(its lease ran out\)$`)
	if !lost.MatchString(out.String()) {
		t.Errorf("no line names the lost worker:\n%s", out.String())
	}
	if strings.Contains(out.String(), "(log )") {
		t.Errorf("an empty (log ):\n%s", out.String())
	}
	if !regexp.MustCompile(`(?m)^[0-9:.]+ a: succeeded in `).MatchString(out.String()) {
		t.Errorf("the step did not run again:\n%s", out.String())
	}
}

// TestWorkerInterruptWaits: Ctrl-C on a worker stops it claiming and
// waits for its running step, whose result it still stores (the apply
// succeeds), then exits 130 (interrupted), as docs/exit-codes.md says.
func TestWorkerInterruptWaits(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "i.hcl"), [][2]string{{"a", `touch a.started; while [ ! -e go ]; do sleep 0.02; done; touch a.done`}}, false)
	compilePlan(t, dir, "i.hcl", "i.json")
	w := startWorker(t, dir, url, "w", "--slots", "1")
	apply, out := startApply(t, dir, "i.json", "--store", url, "--state", "st", "--workers")
	waitFor(t, "the step to start on the worker", func() bool { return fileExists(filepath.Join(dir, "a.started")) })
	if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the worker exited (%v) with its step running:\n%s", err, w.output())
	case <-time.After(500 * time.Millisecond): // it waits (guards against an early exit only)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var ee *osexec.ExitError
	if err := <-exited; !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("the worker exited with %v, want exit status 130:\n%s", err, w.output())
	}
	if !fileExists(filepath.Join(dir, "a.done")) {
		t.Errorf("the step did not finish")
	}
	if err := apply.Wait(); err != nil {
		t.Errorf("the apply failed (%v): the step's result was not stored:\n%s", err, out.String())
	}
}

// TestWorkerQueuedNotDuration: a step that waits to be claimed (no worker
// has its label until one starts later) is journaled with the worker's own
// time as its duration and the wait as queued, so calibration learns what
// the step takes, not how busy the workers were; apply's line says so.
func TestWorkerQueuedNotDuration(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "q.hcl"), [][2]string{{"a", "sleep 0.2"}}, false)
	compilePlan(t, dir, "q.hcl", "q.json")
	apply, out := startLateApply(t, dir, url, "q.json")
	time.Sleep(2 * time.Second) // the step waits, unclaimed: no worker has pool=late
	startWorker(t, dir, url, "late", "--label", "pool=late")
	if err := apply.Wait(); err != nil {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	var end *jEvent
	for _, ev := range journalEvents(t, url, dir, "q.json") {
		if ev.Kind == "op_end" && ev.Op == "a" {
			end = &ev
		}
	}
	if end == nil {
		t.Fatalf("no op_end of a in the journal:\n%s", out.String())
	}
	if end.Queued < 2 {
		t.Errorf("queued %.3fs, want at least the 2s the step waited unclaimed", end.Queued)
	}
	if end.Duration < 0.2 || end.Duration >= end.Queued {
		t.Errorf("duration %.3fs (queued %.3fs), want the worker's time for sleep 0.2, not the wait", end.Duration, end.Queued)
	}
	if !regexp.MustCompile(`(?m)^[0-9:.]+ a: succeeded in [0-9.]+m?s \(after [0-9.]+s waiting for a worker\)$`).MatchString(out.String()) {
		t.Errorf("apply's line does not tell the wait for a worker apart:\n%s", out.String())
	}
}

// TestWorkerFirstInterruptWithdraws: the first Ctrl-C (nothing new
// starts) takes back a task no worker has claimed, so a worker arriving
// later does not run it; the step ends cancelled, not failed, and apply
// ends without a second Ctrl-C.
func TestWorkerFirstInterruptWithdraws(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "i.hcl"), [][2]string{{"a", "echo ran >> a.ran"}}, false)
	compilePlan(t, dir, "i.hcl", "i.json")
	apply, out := startLateApply(t, dir, url, "i.json")
	if err := apply.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- apply.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("apply still waits for its unclaimed task a minute after one Ctrl-C:\n%s", out.String())
	}
	if !regexp.MustCompile(`(?m)^[0-9:.]+ a: cancelled after [0-9.]+m?s: context canceled before a worker claimed it$`).MatchString(out.String()) {
		t.Errorf("the withdrawn step does not end cancelled before any claim:\n%s", out.String())
	}
	if got := taskStates(t, url); got != "cancelled:false" {
		t.Errorf("task states %q, want the task withdrawn:\n%s", got, out.String())
	}
	w := startWorker(t, dir, url, "late", "--label", "pool=late")
	waitFor(t, "the late worker to serve", func() bool { return liveWorkers(t, url) == 1 })
	time.Sleep(2 * time.Second) // a poll or two more: a ready task would be claimed by now
	if _, err := os.Stat(filepath.Join(dir, "a.ran")); err == nil {
		t.Errorf("a worker ran the withdrawn step:\n%s", w.output())
	}
}

// startLateApply starts `apply PLAN --workers` for a label no worker has
// yet (pool=late), in the background, and returns once its step a is
// dispatched; its output is out.
func startLateApply(t *testing.T, dir, url, plan string) (*osexec.Cmd, *syncBuffer) {
	t.Helper()
	apply, out := startApply(t, dir, plan, "--store", url, "--state", "st", "--workers", "--worker-label", "pool=late")
	waitFor(t, "the step to be dispatched", func() bool { return strings.Contains(out.String(), "a: started") })
	return apply, out
}

// startApply starts `echelon apply ARGS...` in dir in the background (killed
// at the test's end); out is its output so far.
func startApply(t *testing.T, dir string, args ...string) (*osexec.Cmd, *syncBuffer) {
	t.Helper()
	apply := echelonCmd(t, dir, append([]string{"apply"}, args...)...)
	out := &syncBuffer{}
	apply.Stdout, apply.Stderr = out, out
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = apply.Process.Kill(); _ = apply.Wait() })
	return apply, out
}

// TestWorkerCancelledTold: the coordinator's second Ctrl-C cancels a step
// a worker runs; the worker kills it and says cancelled, not failed.
func TestWorkerCancelledTold(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "c.hcl"), [][2]string{{"a", "echo x >> a.started; sleep 60"}}, false)
	compilePlan(t, dir, "c.hcl", "c.json")
	w := startWorker(t, dir, url, "w")
	apply, _ := startApply(t, dir, "c.json", "--store", url, "--state", "st", "--workers")
	waitFor(t, "the step to run on the worker", func() bool { return len(readLines(t, filepath.Join(dir, "a.started"))) == 1 })
	for range 2 {
		_ = apply.Process.Signal(syscall.SIGINT)
		time.Sleep(200 * time.Millisecond)
	}
	_ = apply.Wait()
	waitFor(t, "the worker to tell the step's end", func() bool { return strings.Contains(w.output(), "(a): ") })
	if !regexp.MustCompile(`(?m)^echelon worker: task [0-9]+ \(a\): cancelled$`).MatchString(w.output()) {
		t.Errorf("the worker does not say the cancelled step was cancelled:\n%s", w.output())
	}
}
