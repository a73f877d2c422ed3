package calib

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
)

// TestFailureRateLeavesOutLostWorkersAndRefusedPreviews: an attempt whose
// worker was lost (sched.Lost: "lost its worker ...") or whose saved plan
// was refused before anything was applied ("... preview again (echelon
// plan)") is not the operation's failure: calibrate counts neither as an
// attempt nor as a failure. web/eu's four attempts: lost, refused, failed
// by its own error, succeeded: one failure in two attempts.
func TestFailureRateLeavesOutLostWorkersAndRefusedPreviews(t *testing.T) {
	p := synthPlan(planner.ActionDeploy)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	put := func(ev exec.Event) {
		at = at.Add(time.Second)
		ev.Time = at
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	put(exec.Event{Kind: exec.EvRunStart, PlanDigest: p.PlanDigest, Action: p.Action})
	errs := []string{
		(&exec.WorkerLostError{Worker: "vm:19963"}).Error(),
		"terraform: Saved plan is stale: the state of tf (workspace eu) changed since the preview (another apply?); nothing was applied; " + exec.PreviewAgain,
		"sh: exit status 3",
		"",
	}
	for i, e := range errs {
		put(exec.Event{Kind: exec.EvOpStart, Op: "web/eu", Attempt: i + 1, Step: i + 1})
		ev := exec.Event{Kind: exec.EvOpEnd, Op: "web/eu", Attempt: i + 1, Outcome: exec.OutcomeSucceeded, Duration: 10}
		if e != "" {
			ev.Outcome, ev.Error = exec.OutcomeFailed, e
		}
		put(ev)
	}
	put(exec.Event{Kind: exec.EvRunEnd, Outcome: exec.OutcomeSucceeded, Duration: 8})
	c, _, err := Build([]Source{{Plan: p, Stored: [][]byte{b.Bytes()}, Where: "test"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	web := c.Components["web"]["deploy"]
	if web.Attempts != 2 || web.Failed != 1 || web.FailureRate != 0.5 {
		t.Errorf("web: %d attempts, %d failed, failure rate %v; want 2, 1, 0.5 (the lost and the refused left out)", web.Attempts, web.Failed, web.FailureRate)
	}
	if web.Retried != 2 {
		t.Errorf("web: %d retried, want 2 (attempts 3 and 4, after the first)", web.Retried)
	}
}
