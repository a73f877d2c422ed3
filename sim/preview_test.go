package sim

import (
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestPreviewed: an operation the preview found nothing to change for
// costs only its overhead; one timed by resources takes the rounds of its
// counted changes; the others keep their time.
func TestPreviewed(t *testing.T) {
	long := planner.Operation{ID: "a", Driver: "terraform", Duration: planner.Duration{P50: 60, P90: 60}}
	byRes := planner.Operation{ID: "b", Driver: "terraform", Resources: 40,
		ResourceDuration: planner.Duration{P50: 10, P90: 10}}
	other := planner.Operation{ID: "c", Driver: "command", Duration: planner.Duration{P50: 5, P90: 5}}
	p := mkPlan(planner.Mode{}, long, byRes, other)
	oh := DefaultOverhead()
	run := func(p *planner.Plan) map[string]float64 {
		t.Helper()
		r, err := Simulate(p, Options{Trials: 1, Seed: 1, Overhead: oh})
		if err != nil {
			t.Fatal(err)
		}
		return map[string]float64{"total": r.WallClock.P50}
	}
	before := run(p)["total"]
	if before < 40 {
		t.Fatalf("unpreviewed plan predicted %.1fs, want at least b's 4 rounds of 10s", before)
	}
	q := Previewed(p, map[string]int{"a": 0, "b": 5})
	if q.Operations[0].Duration.P50 != 0 || q.Operations[1].Resources != 5 || q.Operations[2].Duration.P50 != 5 {
		t.Fatalf("previewed operations %+v", q.Operations)
	}
	if p.Operations[0].Duration.P50 != 60 || p.Operations[1].Resources != 40 {
		t.Fatal("Previewed changed the plan it was given")
	}
	after := run(q)["total"]
	// b: one round of 10s (5 resources, -parallelism 10) plus overhead;
	// a: only its overhead; c: 5s. They run at once.
	if after < 10 || after > 11 {
		t.Errorf("previewed plan predicted %.3fs, want b's one round of 10s plus overhead", after)
	}
}
