package sim

import (
	"testing"

	"github.com/echelonhq/echelon/sched"
)

// TestEndedOKIsEnded: the simulator's fast path for steps without failures
// (sched.State.EndedOK) decides exactly what Ended with every outcome OK
// does, on every mode of every spec: the same starts and ends in each of
// a few trials.
func TestEndedOKIsEnded(t *testing.T) {
	for _, name := range []string{"besu-network", "besu-local", "java-cluster", "hello"} {
		_, plans := specPlans(t, name)
		for _, p := range plans {
			m, err := newModel(p)
			if err != nil {
				t.Fatal(err)
			}
			fast := newEngine(m)
			slow := newEngine(m)
			slow.outcome = func(int32, int) sched.Outcome { return sched.Outcome{} }
			for trial := range 5 {
				if err := fast.run(1, trial); err != nil {
					t.Fatal(err)
				}
				if err := slow.run(1, trial); err != nil {
					t.Fatal(err)
				}
				for r := range m.ops {
					if fast.start[r] != slow.start[r] || fast.end[r] != slow.end[r] {
						t.Fatalf("%s/%s trial %d: %s runs %d-%d on the fast path, %d-%d through Ended",
							name, p.Mode.Name, trial, m.ops[r].id, fast.start[r], fast.end[r], slow.start[r], slow.end[r])
					}
				}
			}
		}
	}
}
