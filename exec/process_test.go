package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// These tests drive the real echelon binary as separate processes.
var (
	echelonOnce sync.Once
	echelonBin  string
	echelonErr  error
)

func buildEchelon(t *testing.T) string {
	t.Helper()
	echelonOnce.Do(func() {
		dir, err := os.MkdirTemp("", "echelon-bin")
		if err != nil {
			echelonErr = err
			return
		}
		echelonBin = filepath.Join(dir, "echelon")
		cmd := osexec.Command("go", "build", "-o", echelonBin, "./cmd/echelon")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			echelonErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if echelonErr != nil {
		t.Fatal(echelonErr)
	}
	return echelonBin
}

// writePlan writes a spec of command operations running the test helper,
// compiles it with the real lang and planner and writes the plan file.
func writePlan(t *testing.T, dir, name, body string) string {
	t.Helper()
	specPath := filepath.Join(dir, name+".hcl")
	if err := os.WriteFile(specPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, p := compileSpec(t, specPath, nil, planner.Options{})
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(dir, name+".plan.json")
	if err := os.WriteFile(planPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return planPath
}

func helperArgv(t *testing.T, marks string, ms int) string {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[%q, \"mark\", %q, \"%d\"]", bin, marks, ms)
}

func regionsList(n int) string { return regionRange(0, n) }

func regionRange(from, to int) string {
	var rs []string
	for i := from; i < to; i++ {
		rs = append(rs, fmt.Sprintf("%q", fmt.Sprintf("r%02d", i)))
	}
	return "[" + strings.Join(rs, ", ") + "]"
}

// TestCrashResume kills the executor with SIGKILL mid-run, resumes, and
// checks from the helpers' marks that every operation ran and that only
// the ones the journal shows in flight at the kill ran twice.
func TestCrashResume(t *testing.T) {
	bin := buildEchelon(t)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.MkdirAll(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := helperArgv(t, marks, 120)
	spec := fmt.Sprintf(`
deployment "crash" {}
phase "main" {}
mode "m" {
  max_parallel = 4
}
component "base" {
  phase   = phase.main
  driver  = "command"
  regions = %[1]s
  command {
    argv = %[2]s
    env  = { EXEC_TEST_HELPER = "1" }
  }
}
component "app" {
  phase      = phase.main
  driver     = "command"
  regions    = %[1]s
  depends_on = [component.base]
  command {
    argv = %[2]s
    env  = { EXEC_TEST_HELPER = "1" }
  }
}
`, regionsList(12), argv)
	plan := writePlan(t, dir, "crash", spec)
	state := filepath.Join(dir, "state")

	cmd := osexec.Command(bin, "apply", plan, "--state", state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once a third of the work is done.
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(marks, "marks"))
		if bytes.Count(b, []byte(" end ")) >= 8 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("apply made no progress:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	p, err := planner.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadJournal(filepath.Join(RunDir(state, p), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	inFlight := map[string]bool{}
	succeeded := 0
	for id, r := range st.Ops {
		if r.InFlight {
			inFlight[id] = true
		}
		if r.Succeeded {
			succeeded++
		}
	}
	if st.Ended || succeeded == 0 || succeeded == len(p.Operations) {
		t.Fatalf("the kill did not land mid-run: ended %v, %d of %d succeeded", st.Ended, succeeded, len(p.Operations))
	}
	// Helpers in flight at the kill die with apply (their death signal):
	// their start marks have no end and do not count as runs. The resume
	// runs them again.

	res := osexec.Command(bin, "apply", plan, "--state", state, "--resume")
	rout, err := res.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, rout)
	}
	runs := map[string]int{}
	for _, x := range readMarks(t, marks) {
		runs[x.op]++
	}
	for _, op := range p.Operations {
		n := runs[op.ID]
		switch {
		case n == 0:
			t.Errorf("%s never ran", op.ID)
		case n > 1 && !inFlight[op.ID]:
			t.Errorf("%s ran %d times but was not in flight at the kill", op.ID, n)
		case n > 2:
			t.Errorf("%s ran %d times", op.ID, n)
		}
	}
	t.Logf("killed with %d succeeded and %d in flight (%v); resume finished the rest", succeeded, len(inFlight), keysOf(inFlight))
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestConcurrentApplies runs two applies of overlapping plans of one
// deployment on one state directory, many rounds: one with batch_barrier
// (a batch's locks at once), one per operation. The helpers' marks prove
// no operation ran in both at once (EXCLUSIVE), and every round finishing
// proves there was no deadlock.
func TestConcurrentApplies(t *testing.T) {
	bin := buildEchelon(t)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.MkdirAll(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := helperArgv(t, marks, 80) // long enough that two applies started together overlap, even on a loaded machine
	spec := func(tag, regions, mode, extra string) string {
		return fmt.Sprintf(`
deployment "shared" {}
phase "main" {}
mode "m" {
  max_parallel = 3
  %[4]s
}
component "net" {
  phase   = phase.main
  driver  = "command"
  regions = %[1]s
  command {
    argv = %[2]s
    env  = { EXEC_TEST_HELPER = "1", EXEC_TEST_TAG = %[3]q }
  }
}
component "app" {
  phase      = phase.main
  driver     = "command"
  regions    = %[1]s
  depends_on = [component.net]
  command {
    argv = %[2]s
    env  = { EXEC_TEST_HELPER = "1", EXEC_TEST_TAG = %[3]q }
  }
}
%[5]s
`, regions, argv, tag, mode, extra)
	}
	extraA := fmt.Sprintf(`
component "only-a" {
  phase  = phase.main
  driver = "command"
  command {
    argv = %s
    env  = { EXEC_TEST_HELPER = "1", EXEC_TEST_TAG = "a" }
  }
}`, argv)
	// r03..r05 are in both plans; the rest can run side by side.
	planA := writePlan(t, dir, "a", spec("a", regionRange(0, 6), "batch_barrier = true", extraA))
	planB := writePlan(t, dir, "b", spec("b", regionRange(3, 9), "", ""))
	state := filepath.Join(dir, "state")

	const rounds = 6
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([][]byte, 2)
		for i, plan := range []string{planA, planB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = osexec.CommandContext(ctx, bin, "apply", plan, "--state", state).CombinedOutput()
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			t.Fatalf("round %d: the applies did not finish in 2 minutes (deadlock?)", round)
		}
		cancel()
		for i := range errs {
			if errs[i] != nil {
				t.Fatalf("round %d apply %d: %v\n%s", round, i, errs[i], outs[i])
			}
		}
	}

	iv := readMarks(t, marks)
	byOp := map[string][]interval{}
	for _, x := range iv {
		id, _, _ := strings.Cut(x.op, "@")
		byOp[id] = append(byOp[id], x)
	}
	overlapsSeen := 0
	for id, xs := range byOp {
		for i := range xs {
			for j := i + 1; j < len(xs); j++ {
				a, b := xs[i], xs[j]
				if a.start < b.end && b.start < a.end {
					t.Errorf("%s: EXCLUSIVE overlap between %s [%d,%d] and %s [%d,%d]", id, a.op, a.start, a.end, b.op, b.start, b.end)
				}
			}
		}
		want := rounds // in one plan
		if _, r, _ := strings.Cut(id, "/r0"); r >= "3" && r <= "5" {
			want = 2 * rounds // in both
		}
		if len(xs) != want {
			t.Errorf("%s ran %d times, want %d", id, len(xs), want)
		}
	}
	// The two applies did run at the same time (else the test proves nothing).
	for _, x := range iv {
		for _, y := range iv {
			if strings.HasSuffix(x.op, "@a") && strings.HasSuffix(y.op, "@b") && x.start < y.end && y.start < x.end {
				overlapsSeen++
			}
		}
	}
	if overlapsSeen == 0 {
		t.Errorf("the two applies never ran operations at the same time")
	}
}

// TestInterrupt: the first Ctrl-C (SIGINT to the process group, as a
// terminal sends it) stops new work and lets running operations finish
// (exit 1, journal ready for --resume); a second one cancels what runs.
func TestInterrupt(t *testing.T) {
	bin := buildEchelon(t)
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.MkdirAll(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`
deployment "intr" {}
phase "main" {}
mode "m" {
  max_parallel = 2
}
component "slow" {
  phase   = phase.main
  driver  = "command"
  regions = %s
  command {
    argv = %s
    env  = { EXEC_TEST_HELPER = "1" }
  }
}
`, regionsList(6), helperArgv(t, marks, 700))
	plan := writePlan(t, dir, "intr", spec)

	startApply := func(state string) (*osexec.Cmd, *bytes.Buffer) {
		cmd := osexec.Command(bin, "apply", plan, "--state", state)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		// A process group, as a shell gives a foreground job: Ctrl-C in a
		// terminal signals the whole group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	ctrlC := func(cmd *osexec.Cmd) {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	waitStarts := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(marks, "marks"))
			if bytes.Count(b, []byte(" start ")) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %d starts", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// One SIGINT.
	state := filepath.Join(dir, "state")
	cmd, out := startApply(state)
	waitStarts(2)
	ctrlC(cmd)
	sent := time.Now().UnixNano()
	err := cmd.Wait()
	var ee *osexec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want 1\n%s", err, out)
	}
	if !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "--resume") {
		t.Errorf("output does not say it was interrupted and how to resume:\n%s", out)
	}
	iv := readMarks(t, marks)
	if len(iv) < 2 {
		t.Fatalf("running operations did not finish after one SIGINT: %d ended\n%s", len(iv), out)
	}
	for _, x := range iv {
		if x.start > sent+int64(50*time.Millisecond) {
			t.Errorf("%s started after the SIGINT", x.op)
		}
	}
	res := osexec.Command(bin, "apply", plan, "--state", state, "--resume")
	if rout, err := res.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, rout)
	}
	done := map[string]bool{}
	for _, x := range readMarks(t, marks) {
		done[x.op] = true
	}
	if len(done) != 6 {
		t.Errorf("after --resume %d of 6 operations ran", len(done))
	}

	// Two SIGINTs: running operations are cancelled (no end mark).
	os.Remove(filepath.Join(marks, "marks"))
	cmd, out = startApply(filepath.Join(dir, "state2"))
	waitStarts(2)
	ctrlC(cmd)
	time.Sleep(100 * time.Millisecond)
	ctrlC(cmd)
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit after two SIGINTs: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "marks")); bytes.Contains(b, []byte(" end ")) {
		t.Errorf("an operation ran to its end after the second SIGINT:\n%s\n%s", b, out)
	}
	if !strings.Contains(out.String(), "cancelled") {
		t.Errorf("output does not name the cancelled operations:\n%s", out)
	}
}
