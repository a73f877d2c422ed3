package views

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
)

// After a second Ctrl-C the summary lists the operations that were running
// as cancelled, with their logs, apart from those that never started; a
// long list is cut after 10 entries.
func TestApplySummaryGroups(t *testing.T) {
	plan := &planner.Plan{Action: planner.ActionDeploy, Deployment: "d"}
	for i := range 20 {
		plan.Operations = append(plan.Operations, planner.Operation{ID: fmt.Sprintf("x/r%02d", i)})
	}
	res := &exec.Result{Journal: "j.jsonl", Succeeded: []string{"x/r00"}, Duration: 4.7,
		Cancelled: []exec.Failure{{Op: "x/r05", Log: "logs/x_r05.1.log", Error: "signal: killed", Attempts: 1},
			{Op: "x/r06", Log: "logs/x_r06.1.log", Error: "cancelled", Attempts: 1}},
		RetryPending: []exec.Failure{{Op: "x/r07", Log: "logs/x_r07.10.log", Error: "throttled: 429", Attempts: 10}},
		NotRun:       []string{"x/r08"},
	}
	for i := 9; i < 20; i++ {
		res.Cancelled = append(res.Cancelled, exec.Failure{Op: fmt.Sprintf("x/r%02d", i), Log: "l", Error: "cancelled", Attempts: 1})
	}
	var b bytes.Buffer
	if err := NewApply(false, &b, nil, plan).Summary(plan, res, nil, Next{Resume: "echelon apply plan.json --state .echelon --resume"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\ncancelled while running (13):\n  x/r05: signal: killed\n    log: logs/x_r05.1.log\n  x/r06: cancelled\n    log: logs/x_r06.1.log\n",
		"\n  ... and 3 more (see the journal)\n",
		"\nfailed, the run stopped before the next attempt (1):\n  x/r07 (attempt 10): throttled: 429\n    log: logs/x_r07.10.log\n",
		"\nnot started, the run stopped (1): x/r08\n",
		"\ncontinue with: echelon apply plan.json --state .echelon --resume\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "x/r05, ") || strings.Contains(out, "not run") {
		t.Errorf("cancelled operations listed as not run:\n%s", out)
	}
}

// A saved plan Terraform called stale is not resumed as it is: the summary
// says to preview again first.
func TestApplySummaryStalePreview(t *testing.T) {
	plan := &planner.Plan{Action: planner.ActionDeploy, Deployment: "d", Operations: []planner.Operation{{ID: "app/eu", Region: "eu"}}}
	res := &exec.Result{Journal: "j.jsonl", Failed: []exec.Failure{{Op: "app/eu", Log: "l",
		Error: "Saved plan is stale: the state of app (workspace eu) changed since the preview (another apply?); nothing was applied; preview again (echelon plan)"}}}
	var b bytes.Buffer
	if err := NewApply(false, &b, nil, plan).Summary(plan, res, nil, Next{Resume: "echelon apply p.json --state st --resume", Preview: "echelon plan p.json --state st"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "\npreview again, then continue: echelon plan p.json --state st && echelon apply p.json --state st --resume\n") ||
		strings.Contains(out, "continue with:") {
		t.Errorf("summary:\n%s", out)
	}
}
