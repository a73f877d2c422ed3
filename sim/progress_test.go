package sim

import (
	"sync"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestProgressCountsEveryTrial: Options.Progress ends at the prediction's
// trials plus the recommendation search's.
func TestProgressCountsEveryTrial(t *testing.T) {
	p := mkPlan(planner.Mode{MaxParallel: 1}, fixed("a", 1), fixed("b", 1))
	var mu sync.Mutex
	last := 0
	r, err := Simulate(p, Options{Trials: 300, Seed: 1, Workers: 2, Recommend: true, RecommendTrials: 100,
		Progress: func(done int) {
			mu.Lock()
			last = max(last, done)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if last <= 300 || (last-300)%r.Recommended.Trials != 0 {
		t.Errorf("progress ended at %d: want 300 and whole searches of %d trials", last, r.Recommended.Trials)
	}
}
