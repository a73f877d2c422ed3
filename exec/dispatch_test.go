package exec

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestRunTask: a worker's step runs with the local drivers and says how
// each operation ended, with the worker's secrets masked in the result
// and in the log file it names (host:path); an operation not in the plan
// is refused.
func TestRunTask(t *testing.T) {
	p := &planner.Plan{PlanDigest: "sha256:task", Operations: []planner.Operation{
		{ID: "ok", Driver: "command", Command: &planner.Command{Argv: []string{"sh", "-c", "echo hunter2"}}},
		{ID: "bad", Driver: "command", Command: &planner.Command{Argv: []string{"/nonexistent/hunter2"}}},
	}}
	state := t.TempDir()
	o := TaskOptions{StateDir: state, SpecDir: t.TempDir(), Secrets: []string{"hunter2"}}
	out, err := RunTask(context.Background(), p, StepTask{Ops: []string{"ok"}, Attempts: []int{1}, Step: 1}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Ops) != 1 || out.Ops[0].Error != "" {
		t.Fatalf("ok: %+v", out)
	}
	host, _ := os.Hostname()
	log, found := strings.CutPrefix(out.Ops[0].Log, host+":")
	if !found {
		t.Fatalf("log %q does not name this host", out.Ops[0].Log)
	}
	if b, err := os.ReadFile(log); err != nil || strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), "(sensitive)") {
		t.Errorf("log %s: %q %v: want the secret masked", log, b, err)
	}
	out, err = RunTask(context.Background(), p, StepTask{Ops: []string{"bad"}, Attempts: []int{2}, Step: 2}, o)
	if err != nil {
		t.Fatal(err)
	}
	if e := out.Ops[0].Error; !strings.Contains(e, "/nonexistent/(sensitive)") {
		t.Errorf("bad's error %q: want its failure with the secret masked", e)
	}
	if _, err := RunTask(context.Background(), p, StepTask{Ops: []string{"nope"}, Attempts: []int{1}}, o); err == nil {
		t.Error("an operation not in the plan ran")
	}
}
