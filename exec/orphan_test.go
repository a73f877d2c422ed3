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
)

// TestKilledApplyKeepsLocks is the review's scenario: apply is killed
// with -9 while its operation runs, and a second apply of the same
// operation starts at once. The operation's shell gets the death signal
// and dies with apply (it never writes "done"); a subshell it started
// lives on in the operation's process group for a moment, and the lock
// store keeps the dead apply's EXCLUSIVE lock until that group is gone, so
// the second apply's run does not overlap it.
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
