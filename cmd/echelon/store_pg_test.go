package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/store/pgtest"
)

// These tests run echelon processes against a real PostgreSQL
// (store/pgtest): each `echelon` is a separate process, as on separate
// runners, reaching the database by its Unix socket.

// writeSpec writes a spec of deployment "team" whose components are given
// as name -> argv (each after the one before it when chain is set).
func writeSpec(t *testing.T, path string, comps [][2]string, chain bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("deployment \"team\" {}\n\nphase \"main\" {}\n\nmode \"m\" {}\n")
	for i, c := range comps {
		fmt.Fprintf(&b, "\ncomponent %q {\n  phase    = phase.main\n  driver   = \"command\"\n  duration = \"1s\"\n", c[0])
		if chain && i > 0 {
			fmt.Fprintf(&b, "  depends_on = [component.%s]\n", comps[i-1][0])
		}
		fmt.Fprintf(&b, "  command {\n    argv = [\"sh\", \"-c\", %q]\n  }\n}\n", c[1])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// echelonCmd is the echelon binary (testscript put it on PATH) with args.
func echelonCmd(t *testing.T, dir string, args ...string) *osexec.Cmd {
	t.Helper()
	bin, err := osexec.LookPath("echelon")
	if err != nil {
		t.Fatal(err)
	}
	c := osexec.Command(bin, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "ECHELON_STORE=")
	return c
}

func compilePlan(t *testing.T, dir, spec, plan string) {
	t.Helper()
	if out, err := echelonCmd(t, dir, "compile", spec, "-o", plan).CombinedOutput(); err != nil {
		t.Fatalf("compile %s: %v\n%s", spec, err, out)
	}
}

// TestStoreConcurrentApplies: two applies of plans sharing a component,
// run at once from two processes against one database, 20 rounds. The
// shared operation's command notes when it finds another copy of itself
// running (mkdir is atomic): no EXCLUSIVE overlap, and every round ends
// (no deadlock).
func TestStoreConcurrentApplies(t *testing.T) {
	if testing.Short() {
		t.Skip("20 rounds of two applies")
	}
	url := pgtest.URL(t)
	dir := t.TempDir()
	shared := `mkdir in.d 2>/dev/null || echo overlap >> overlaps; sleep 0.02; rmdir in.d 2>/dev/null; true`
	writeSpec(t, filepath.Join(dir, "a.hcl"), [][2]string{{"shared", shared}, {"a", "true"}}, true)
	writeSpec(t, filepath.Join(dir, "b.hcl"), [][2]string{{"shared", shared}, {"b", "true"}}, true)
	compilePlan(t, dir, "a.hcl", "a.json")
	compilePlan(t, dir, "b.hcl", "b.json")
	for round := range 20 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([][]byte, 2)
		for i, plan := range []string{"a.json", "b.json"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := echelonCmd(t, dir, "apply", plan, "--store", url, "--state", "st-"+plan)
				outs[i], errs[i] = c.CombinedOutput()
			}()
		}
		wg.Wait()
		for i := range errs {
			if errs[i] != nil {
				t.Fatalf("round %d, apply %d: %v\n%s", round, i, errs[i], outs[i])
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "overlaps")); err == nil {
		t.Fatalf("the shared operation ran twice at once %d times", bytes.Count(b, []byte("\n")))
	}
}

// waitFor polls until ok or a minute passes (a bound, not a timing
// assertion: the test fails only if it never happens).
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestStoreStoppedHolderFenced: an apply holding a lock is SIGSTOPped
// past its lease. Another apply then gets the lock (judged by the
// server's clock, the stopped one's lease is over); after SIGCONT the
// stopped one's late writes are refused: it ends in error, and its
// operation's end is not in its journal.
func TestStoreStoppedHolderFenced(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "a.hcl"), [][2]string{{"shared", `touch started; while [ ! -e go ]; do sleep 0.02; done`}, {"a", "true"}}, true)
	writeSpec(t, filepath.Join(dir, "b.hcl"), [][2]string{{"shared", "true"}, {"b", "true"}}, true)
	compilePlan(t, dir, "a.hcl", "a.json")
	compilePlan(t, dir, "b.hcl", "b.json")
	a := echelonCmd(t, dir, "apply", "a.json", "--store", url, "--state", "st-a")
	var aout bytes.Buffer
	a.Stdout, a.Stderr = &aout, &aout
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Process.Kill()
	waitFor(t, "a's shared operation to start", func() bool { return fileExists(filepath.Join(dir, "started")) })
	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	endLease(t, url, a.Process.Pid)
	if out, err := echelonCmd(t, dir, "apply", "b.json", "--store", url, "--state", "st-b").CombinedOutput(); err != nil {
		t.Fatalf("b while a is stopped past its lease: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err == nil {
		t.Fatalf("a succeeded after losing its lease:\n%s", aout.String())
	}
	if !strings.Contains(aout.String(), "lease") {
		t.Errorf("a does not say it lost its lease:\n%s", aout.String())
	}
	if strings.Contains(aout.String(), "interrupted: running operations finish") {
		t.Errorf("a, cut off by the store, says its running operations finish (they are killed):\n%s", aout.String())
	}
	for _, ev := range journalEvents(t, url, dir, "a.json") {
		if ev.Kind == "op_end" && ev.Op == "shared" && ev.Outcome == "succeeded" {
			t.Errorf("a's late end of shared is in its journal: %+v", ev)
		}
	}
}

// endLease ends the lease of process pid's live session by the server's
// clock, as a pause or a death past its lease would: the process is
// stopped or dead, so it cannot renew it, and a renewal already sent is
// refused (it renews only a lease that has not run out). Every other
// process keeps the default lease (30 s): none that must live loses it to
// a late renewal on a loaded machine.
func endLease(t *testing.T, url string, pid int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, "UPDATE sessions SET lease_until = now() - interval '1 second' WHERE pid = $1 AND lease_until > now()", pid)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("ending the lease of process %d: %d live sessions, want 1", pid, tag.RowsAffected())
	}
}

type jEvent struct {
	Kind, Op, Outcome string
	Duration, Queued  float64
}

// countEvents counts the records of a plan's journal in the store that
// match.
func countEvents(t *testing.T, url, dir, plan string, match func(jEvent) bool) int {
	t.Helper()
	n := 0
	for _, ev := range journalEvents(t, url, dir, plan) {
		if match(ev) {
			n++
		}
	}
	return n
}

// journalEvents reads the store's journal of a plan file.
func journalEvents(t *testing.T, url, dir, plan string) []jEvent {
	t.Helper()
	var p struct {
		PlanDigest string `json:"plan_digest"`
	}
	b, err := os.ReadFile(filepath.Join(dir, plan))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.Options{LocalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc, err := st.Journal(context.Background(), p.PlanDigest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var evs []jEvent
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		var ev jEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestStoreResumeElsewhere: a run that failed in one process is resumed
// by another one, with its own state directory (another machine): what
// succeeded is not run again.
func TestStoreResumeElsewhere(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "r.hcl"), [][2]string{{"one", "echo x >> one.ran"}, {"two", "test -e ok"}}, true)
	compilePlan(t, dir, "r.hcl", "r.json")
	if out, err := echelonCmd(t, dir, "apply", "r.json", "--store", url, "--state", "host1").CombinedOutput(); err == nil {
		t.Fatalf("the first run succeeded though two fails:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := echelonCmd(t, dir, "apply", "r.json", "--resume", "--store", url, "--state", "host2").CombinedOutput()
	if err != nil {
		t.Fatalf("resume from another process: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "(1 in an earlier run)") {
		t.Errorf("the resumed run does not count one as done earlier:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "one.ran")); string(b) != "x\n" {
		t.Errorf("one ran %d times, want once", bytes.Count(b, []byte("\n")))
	}
	if starts := countEvents(t, url, dir, "r.json", func(ev jEvent) bool { return ev.Kind == "run_start" }); starts != 2 {
		t.Errorf("%d run_start records in the run's journal, want 2 (the first run and the resume)", starts)
	}
}

// TestStoreCalibrateHistory: calibrate with --store learns from every run
// of a plan in the database, whichever runner (state directory) made it:
// two runs from two "hosts", read from a third that ran nothing.
func TestStoreCalibrateHistory(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "c.hcl"), [][2]string{{"work", "sleep 0.2"}, {"flaky", "test -e ok"}}, false)
	compilePlan(t, dir, "c.hcl", "c.json")
	if out, err := echelonCmd(t, dir, "apply", "c.json", "--store", url, "--state", "host1", "--backoff", "10ms").CombinedOutput(); err == nil {
		t.Fatalf("the first run succeeded though flaky fails:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := echelonCmd(t, dir, "apply", "c.json", "--store", url, "--state", "host2").CombinedOutput(); err != nil {
		t.Fatalf("the second run: %v\n%s", err, out)
	}
	// Neither run is in host3's state directory: without the store there
	// is nothing to learn from.
	if out, err := echelonCmd(t, dir, "calibrate", "c.json", "--state", "host3", "-o", "none.json").CombinedOutput(); err == nil {
		t.Fatalf("calibrate found runs in an empty state directory:\n%s", out)
	}
	out, err := echelonCmd(t, dir, "calibrate", "c.json", "--store", url, "--state", "host3", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("calibrate --store: %v\n%s", err, out)
	}
	var res struct {
		Calibration struct {
			Runs       int `json:"runs"`
			Components map[string]map[string]struct {
				Duration struct {
					Samples int `json:"samples"`
				} `json:"duration"`
				FailureRate float64 `json:"failure_rate"`
			} `json:"components"`
		} `json:"calibration"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("calibrate --json: %v\n%s", err, out)
	}
	if res.Calibration.Runs != 2 {
		t.Errorf("calibrate learned from %d runs, want the 2 made on two state directories:\n%s", res.Calibration.Runs, out)
	}
	if n := res.Calibration.Components["work"]["deploy"].Duration.Samples; n != 2 {
		t.Errorf("work has %d duration samples, want 2 (one per run):\n%s", n, out)
	}
	if fr := res.Calibration.Components["flaky"]["deploy"].FailureRate; fr <= 0 || fr >= 1 {
		t.Errorf("flaky's failure rate %v: want between 0 and 1 (it failed in the first run, not the second):\n%s", fr, out)
	}
}

// TestStoreLostLeaseTold: an apply whose lease the store ends (an outage,
// a partition) says it lost the lease and that nothing new starts, not
// that its running operations finish: they are killed.
func TestStoreLostLeaseTold(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "l.hcl"), [][2]string{{"long", "touch started; sleep 30"}, {"next", "true"}}, true)
	compilePlan(t, dir, "l.hcl", "l.json")
	a := echelonCmd(t, dir, "apply", "l.json", "--store", url, "--state", "st", "--store-lease", "9s") // renewed every 3s: it notices the end soon
	var aout syncBuffer
	a.Stdout, a.Stderr = &aout, &aout
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Process.Kill()
	waitFor(t, "the long operation to start", func() bool { return fileExists(filepath.Join(dir, "started")) })
	endLease(t, url, a.Process.Pid)
	if err := a.Wait(); err == nil {
		t.Fatalf("the apply succeeded after losing its lease:\n%s", aout.String())
	}
	out := aout.String()
	if !strings.Contains(out, "lost the lease on the store") {
		t.Errorf("the apply does not say it lost its lease:\n%s", out)
	}
	if strings.Contains(out, "interrupted: running operations finish") {
		t.Errorf("the apply, cut off by the store, says its running operations finish (they are killed):\n%s", out)
	}
}
