package sched

import (
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestLostRunsAgain: an operation whose worker was lost runs again as
// the next attempt, at once and without using up its retries (it has
// none), up to ThrottleRetries times; then a loss fails it.
func TestLostRunsAgain(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "p"}},
		Operations: []planner.Operation{{ID: "x", Component: "x", Phase: "p", OnError: "stop"}},
		Batches:    []planner.Batch{{Operations: []string{"x"}}}}
	run := func(losses int) (*State, int) {
		pol, err := Compile(p, Config{ThrottleRetries: 2})
		if err != nil {
			t.Fatal(err)
		}
		s := New(pol)
		s.Reset(1, 1)
		s.Begin()
		attempts := 0
		for now := int64(1); !s.Done() && now < 100; now++ {
			starts, _, _ := s.Schedule(now)
			if len(starts) == 0 && s.Steps() == 0 {
				break
			}
			for _, st := range starts {
				attempts++
				out := []Outcome{{Kind: OK}}
				if attempts <= losses {
					out[0] = Outcome{Kind: Lost}
				}
				s.Ended(st.Members, out, now)
			}
		}
		return s, attempts
	}
	s, n := run(1)
	if got := s.Status(0); got != Succeeded || n != 2 || s.Attempts(0) != 2 {
		t.Errorf("one loss: %v after %d attempts (policy says %d), want succeeded after 2", got, n, s.Attempts(0))
	}
	s, n = run(3)
	if got := s.Status(0); got != Failed || n != 3 {
		t.Errorf("three losses with ThrottleRetries 2: %v after %d attempts, want failed after 3", got, n)
	}
}
