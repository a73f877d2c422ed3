package exec

import (
	"bytes"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/echelonhq/echelon/store"
)

// TestKilledApplyKeepsLocks is the review's scenario: apply is killed
// with -9 while its operation runs, and a second apply of the same
// operation starts at once. The operation's shell gets the death signal
// and dies with apply (it never writes "done"); a subshell it started
// lives on in the operation's process group for a moment (its group
// guard is killed first, as by a kill of everything: see
// TestGuardKillsOrphans), and the lock store keeps the dead apply's
// EXCLUSIVE lock until that group is gone, so the second apply's run does
// not overlap it.
func TestKilledApplyKeepsLocks(t *testing.T) {
	bin := buildEchelon(t)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	// TAG tells the two applies' runs apart; $$ is the operation's shell.
	script := fmt.Sprintf(`m=%q; echo "$TAG start $$ $(date +%%s%%N)" >> $m; `+
		`(sleep 1.5; echo "$TAG orphan-end $$ $(date +%%s%%N)" >> $m); `+
		`echo "$TAG done $$ $(date +%%s%%N)" >> $m`, marks)
	spec := func(tag string) string {
		return fmt.Sprintf(`
deployment "l" {}
phase "p" {}
mode "m" {}
component "a" {
  phase    = "p"
  driver   = "command"
  duration = "1s"
  command {
    argv = ["sh", "-c", %q]
    env  = { TAG = %q }
  }
}
`, script, tag)
	}
	planA := writePlan(t, dir, "a", spec("A"))
	planB := writePlan(t, dir, "b", spec("B"))
	state := filepath.Join(dir, "state")

	a := osexec.Command(bin, "apply", planA, "--state", state)
	var aout bytes.Buffer
	a.Stdout, a.Stderr = &aout, &aout
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !bytes.Contains(readFile(marks), []byte("A start")) {
		if time.Now().After(deadline) {
			a.Process.Kill()
			t.Fatalf("apply A never started its operation:\n%s", aout.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	killGuard(t, a.Process.Pid)
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()

	bout, err := osexec.Command(bin, "apply", planB, "--state", state).CombinedOutput()
	if err != nil {
		t.Fatalf("apply B: %v\n%s", err, bout)
	}
	lines := map[string][]int64{} // "A start" -> [pid, ns]
	for _, l := range strings.Split(strings.TrimSpace(string(readFile(marks))), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("bad mark %q", l)
		}
		pid, _ := strconv.ParseInt(f[2], 10, 64)
		ns, _ := strconv.ParseInt(f[3], 10, 64)
		lines[f[0]+" "+f[1]] = []int64{pid, ns}
	}
	t.Logf("marks:\n%s", readFile(marks))
	if _, ok := lines["A done"]; ok {
		t.Errorf("A's shell outlived apply A: no death signal")
	}
	end, ok := lines["A orphan-end"]
	if !ok {
		t.Fatalf("A's subshell never ended")
	}
	if b := lines["B start"]; b == nil || b[1] < end[1] {
		t.Errorf("apply B started the operation (%v) before A's orphaned process group ended (%v): EXCLUSIVE overlap", b, end)
	}
	if lines["B done"] == nil {
		t.Errorf("apply B did not finish the operation")
	}
	if pid := int(lines["A start"][0]); processAlive(pid) {
		t.Errorf("A's shell %d still runs", pid)
	}
}

func readFile(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

// TestGuardKillsOrphans: apply is killed with -9 while its operation runs
// a subshell that would outlive it; the group guard kills that subshell
// (its process group) at once, long before it would end by itself, and
// then exits.
func TestGuardKillsOrphans(t *testing.T) {
	bin := buildEchelon(t)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	script := fmt.Sprintf(`m=%q; echo "start $$" >> $m; (sleep 60; echo "orphan-end $$" >> $m); echo "done $$" >> $m`, marks)
	plan := writePlan(t, dir, "g", fmt.Sprintf(`
deployment "g" {}
phase "p" {}
mode "m" {}
component "a" {
  phase    = "p"
  driver   = "command"
  duration = "1s"
  command {
    argv = ["sh", "-c", %q]
  }
}
`, script))
	a := osexec.Command(bin, "apply", plan, "--state", filepath.Join(dir, "state"))
	var aout bytes.Buffer
	a.Stdout, a.Stderr = &aout, &aout
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	var pgid int
	deadline := time.Now().Add(30 * time.Second)
	for pgid == 0 {
		if f := strings.Fields(string(readFile(marks))); len(f) >= 2 {
			pgid, _ = strconv.Atoi(f[1]) // the shell leads the operation's group
		}
		if time.Now().After(deadline) {
			a.Process.Kill()
			t.Fatalf("apply never started its operation:\n%s", aout.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	g := waitGuard(t, a.Process.Pid)
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	// Generous: only guards against a hang. The subshell would end by
	// itself after 60 s.
	deadline = time.Now().Add(20 * time.Second)
	for store.CheckGroup(pgid, 0) != store.GroupGone {
		if time.Now().After(deadline) {
			t.Fatalf("the operation's process group %d outlived apply by 20 s: the guard did not kill it", pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for processAlive(g) {
		if time.Now().After(deadline) {
			t.Fatalf("the guard %d outlived apply", g)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := string(readFile(marks)); strings.Contains(m, "orphan-end") || strings.Contains(m, "done") {
		t.Errorf("marks %q: the operation ran on after apply died", m)
	}
}

// waitGuard waits for the group guard of process pid (the child running
// echelon's guard mode) and returns its PID.
func waitGuard(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if g := guardOf(pid); g != 0 {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has no group guard", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killGuard SIGKILLs the group guard of process pid, as a kill of
// everything would: what the guard would have killed is then the lock
// store's to wait for.
func killGuard(t *testing.T, pid int) {
	t.Helper()
	g := waitGuard(t, pid)
	if err := syscall.Kill(g, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for processAlive(g) {
		time.Sleep(2 * time.Millisecond)
	}
}

func guardOf(pid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		if cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); bytes.Contains(cl, []byte(guardArg)) {
			return c
		}
	}
	return 0
}
