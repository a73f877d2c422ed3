package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/store/pgtest"
)

// Issue 11 on a real PostgreSQL: a step's shell dies with a process killed
// by -9 (its death signal), but a subshell it started lives on in the
// step's process group, writing a tick to a file every 50 ms. The dead
// process's group guard is killed first (as by a kill of everything), so
// only the store stands between that orphan and the step's next attempt:
// the marks must show the orphan's last tick before the next attempt's
// start.

// orphanStep is the step: its first run (the first to make the directory
// first.d) ticks for ever from a subshell; a later run starts and ends.
// Each mark is "KIND PPID PGID NANOSECONDS" (PPID: the echelon process
// that started the step; $$ leads the step's process group).
func orphanStep(dir string) string {
	m := filepath.Join(dir, "marks")
	return fmt.Sprintf(`m=%q; echo "start $PPID $$ $(date +%%s%%N)" >> $m; `+
		`if mkdir %q 2>/dev/null; then (while :; do echo "tick $PPID $$ $(date +%%s%%N)" >> $m; sleep 0.05; done); fi; `+
		`echo "done $PPID $$ $(date +%%s%%N)" >> $m`, m, filepath.Join(dir, "first.d"))
}

type mark struct {
	kind      string
	ppid, pg  int
	ns        int64
	line      string
	afterKill bool
}

func readMarks(t *testing.T, dir string) []mark {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "marks"))
	var out []mark
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			continue // a line being written
		}
		ppid, _ := strconv.Atoi(f[1])
		pg, _ := strconv.Atoi(f[2])
		ns, _ := strconv.ParseInt(f[3], 10, 64)
		out = append(out, mark{kind: f[0], ppid: ppid, pg: pg, ns: ns, line: l})
	}
	return out
}

// firstStart waits for the step's first start and returns its mark.
func firstStart(t *testing.T, dir string) mark {
	t.Helper()
	var m mark
	waitFor(t, "the step to start", func() bool {
		for _, x := range readMarks(t, dir) {
			if x.kind == "start" {
				m = x
				return true
			}
		}
		return false
	})
	return m
}

// waitRecorded waits until the store records process group pg: the window
// between a tool's start and its record is the one a kill -9 can still
// slip through (docs/store.md, "Orphaned process groups").
func waitRecorded(t *testing.T, url string, pg int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	waitFor(t, fmt.Sprintf("process group %d to be recorded", pg), func() bool {
		var n int
		return conn.QueryRow(ctx, "SELECT count(*) FROM step_groups WHERE pgid = $1", pg).Scan(&n) == nil && n > 0
	})
}

// killWithGuard kills process pid and its group guard with -9 and waits
// until the orphan's next tick shows it survived them.
func killWithGuard(t *testing.T, dir string, pid int, wait func()) {
	t.Helper()
	g := waitGuard(t, pid)
	if err := syscall.Kill(g, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	killed := time.Now().UnixNano()
	waitFor(t, "the orphan to tick after the kill", func() bool {
		for _, m := range readMarks(t, dir) {
			if m.kind == "tick" && m.ppid == pid && m.ns > killed {
				return true
			}
		}
		return false
	})
}

// checkNoOverlap: every tick of the orphan (of dead's step) came before
// the start of the step's run by next; the orphan is gone; next ran the
// step to its end.
func checkNoOverlap(t *testing.T, dir string, dead, next int) {
	t.Helper()
	ms := readMarks(t, dir)
	var last, start int64
	var done bool
	pg := 0
	for _, m := range ms {
		switch {
		case m.kind == "tick" && m.ppid == dead:
			last, pg = max(last, m.ns), m.pg
		case m.kind == "start" && m.ppid == next && start == 0:
			start = m.ns
		case m.kind == "done" && m.ppid == next:
			done = true
		}
	}
	if last == 0 || start == 0 || !done {
		t.Fatalf("marks lack the orphan's ticks, or the next run's start and end (dead %d, next %d):\n%s", dead, next, marksText(ms))
	}
	if st := store.CheckGroup(pg, 0); st != store.GroupGone {
		t.Errorf("the orphan of %d (process group %d) still runs after the next run (by %d) ended: two copies of the operation at once", dead, pg, next)
	}
	if last >= start {
		t.Errorf("the orphan of %d ticked %.3f s after the next run (by %d) started: two copies of the operation at once", dead, float64(last-start)/1e9, next)
	}
}

func marksText(ms []mark) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.line + "\n")
	}
	return b.String()
}

// killOrphans kills, when the test ends, the process groups of the marks
// (a test that failed may leave the orphan ticking).
func killOrphans(t *testing.T, dir string) {
	t.Cleanup(func() {
		for _, m := range readMarks(t, dir) {
			if m.pg > 1 {
				_ = syscall.Kill(-m.pg, syscall.SIGKILL)
			}
		}
	})
}

// TestStoreKilledApplyOrphan: apply is killed with -9 (its guard too)
// while its step's subshell runs; once its lease is over, apply --resume
// from another state directory (another machine's, on this host) takes
// the run and the step's lock set over, but only after it killed that
// subshell: no overlap.
func TestStoreKilledApplyOrphan(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	killOrphans(t, dir)
	writeSpec(t, filepath.Join(dir, "o.hcl"), [][2]string{{"o", orphanStep(dir)}}, false)
	compilePlan(t, dir, "o.hcl", "o.json")
	a := echelonCmd(t, dir, "apply", "o.json", "--store", url, "--state", "st-a")
	var aout bytes.Buffer
	a.Stdout, a.Stderr = &aout, &aout
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Process.Kill()
	s := firstStart(t, dir)
	if s.ppid != a.Process.Pid {
		t.Fatalf("the step's parent is %d, not apply %d", s.ppid, a.Process.Pid)
	}
	waitRecorded(t, url, s.pg)
	killWithGuard(t, dir, a.Process.Pid, func() { a.Wait() })
	endLease(t, url, a.Process.Pid)
	b := echelonCmd(t, dir, "apply", "o.json", "--resume", "--store", url, "--state", "st-b")
	var bout bytes.Buffer
	b.Stdout, b.Stderr = &bout, &bout
	if err := b.Run(); err != nil {
		t.Fatalf("apply --resume: %v\n%s", err, bout.String())
	}
	t.Logf("resume:\n%s", bout.String())
	checkNoOverlap(t, dir, a.Process.Pid, b.Process.Pid)
	if !strings.Contains(bout.String(), fmt.Sprintf("killed process group %d", s.pg)) {
		t.Errorf("the resumed apply does not say it killed the orphaned group %d:\n%s", s.pg, bout.String())
	}
}

// TestWorkerKilledOrphan: a worker is killed with -9 (its guard too)
// while its step's subshell runs; a new worker started on this host kills
// that subshell at its start, before the dead worker's lease is even
// over; once it is, the coordinator runs the step again (on the new
// worker): no overlap.
func TestWorkerKilledOrphan(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	killOrphans(t, dir)
	writeSpec(t, filepath.Join(dir, "o.hcl"), [][2]string{{"o", orphanStep(dir)}}, false)
	compilePlan(t, dir, "o.hcl", "o.json")
	w1 := startWorker(t, dir, url, "w1", "--slots", "1")
	apply := echelonCmd(t, dir, "apply", "o.json", "--store", url, "--workers", "--state", "coord")
	var aout bytes.Buffer
	apply.Stdout, apply.Stderr = &aout, &aout
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	defer apply.Process.Kill()
	s := firstStart(t, dir)
	if s.ppid != w1.cmd.Process.Pid {
		t.Fatalf("the step's parent is %d, not worker %d", s.ppid, w1.cmd.Process.Pid)
	}
	waitRecorded(t, url, s.pg)
	killWithGuard(t, dir, w1.cmd.Process.Pid, func() { w1.cmd.Wait() })
	w2 := startWorker(t, dir, url, "w2", "--slots", "1")
	waitFor(t, "the new worker to kill the orphan", func() bool {
		return strings.Contains(w2.output(), fmt.Sprintf("killed process group %d", s.pg))
	})
	if st := store.CheckGroup(s.pg, 0); st != store.GroupGone {
		t.Fatalf("the orphan's group %d is %s after the new worker said it killed it", s.pg, st)
	}
	endLease(t, url, w1.cmd.Process.Pid)
	if err := apply.Wait(); err != nil {
		t.Fatalf("the run did not finish: %v\n%s\nworker:\n%s", err, aout.String(), w2.output())
	}
	checkNoOverlap(t, dir, w1.cmd.Process.Pid, w2.cmd.Process.Pid)
}

// waitGuard waits for the group guard of echelon process pid (its child
// in the guard's mode: exec/guard_linux.go) and returns its PID.
func waitGuard(t *testing.T, pid int) int {
	t.Helper()
	g := 0
	waitFor(t, fmt.Sprintf("the group guard of %d", pid), func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			c, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil || bytes.LastIndexByte(b, ')') < 0 {
				continue
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(f) < 2 || f[1] != strconv.Itoa(pid) {
				continue
			}
			if cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); bytes.Contains(cl, []byte("__echelon_group_guard__")) {
				g = c
				return true
			}
		}
		return false
	})
	return g
}
