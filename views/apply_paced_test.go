package views

import (
	"bytes"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// TestPacedLines: a step's wait for shared api tokens is a line of its
// own, its operations' ends say how long they waited, the summary totals
// the waits, and the prediction line names the preview it counted with.
func TestPacedLines(t *testing.T) {
	for _, tc := range []struct {
		e    exec.Event
		want string
	}{
		{exec.Event{Kind: exec.EvPaced, Op: "a/eu", Duration: 1.5, Message: "cloud@eu (2 tokens)"}, "a/eu: waiting 1.5s for shared api tokens: cloud@eu (2 tokens) (the store's buckets, shared by every run using them)"},
		{exec.Event{Kind: exec.EvPaced, Op: "a/0", Ops: []string{"a/0", "a/1"}, Duration: 0.25, Message: "cloud (4 tokens), db (1 token)"}, "a/0, a/1: waiting 0.25s for shared api tokens: cloud (4 tokens), db (1 token) (the store's buckets, shared by every run using them)"},
		{exec.Event{Kind: exec.EvOpEnd, Op: "a", Outcome: exec.OutcomeSucceeded, Duration: 2, Paced: 1.5}, "a: succeeded in 2s (after 1.5s waiting for shared api tokens)"},
		{exec.Event{Kind: exec.EvOpEnd, Op: "a", Outcome: exec.OutcomeSucceeded, Duration: 2}, "a: succeeded in 2s"},
	} {
		if got := eventLine(tc.e); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.e.Kind, got, tc.want)
		}
	}
	p := &planner.Plan{Action: "deploy", Deployment: "d", Operations: []planner.Operation{{ID: "a"}}}
	var b bytes.Buffer
	res := &exec.Result{Succeeded: []string{"a"}, Duration: 3, Paced: 1.5, PacedSteps: 1}
	cmp := &sim.Comparison{Trials: 10, Predicted: sim.Quantiles{P10: 1, P50: 2, P90: 3}, Actual: 3, Previewed: "the preview of 2026-12-02T01:30:00Z on ci-7"}
	if err := (applySummaryHuman{out: &b}).Summary(p, res, cmp, Next{Resume: "echelon apply p.json --state .echelon --resume"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"deploy d: 1/1 operations succeeded in 3s, 1.5s waiting for shared api tokens (1 step)\n",
		"from 10 simulated runs, with the changes counted by the preview of 2026-12-02T01:30:00Z on ci-7; took 3s",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary:\n%s\nwant %q", b.String(), want)
		}
	}
}
