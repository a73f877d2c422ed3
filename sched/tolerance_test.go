package sched

import (
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// tolerancePlan: in each of regions a, b, c an op "base" and a dependent
// "top" (on_error = stop everywhere), with failure_tolerance = tol.
func tolerancePlan(tol int) *planner.Plan {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "p"}}, Mode: planner.Mode{FailureTolerance: &tol}}
	var ids []string
	for _, r := range []string{"a", "b", "c"} {
		p.Operations = append(p.Operations,
			planner.Operation{ID: "base/" + r, Component: "base", Region: r, Phase: "p", OnError: "stop"},
			planner.Operation{ID: "top/" + r, Component: "top", Region: r, Phase: "p", OnError: "stop", DependsOn: []string{"base/" + r}})
		ids = append(ids, "base/"+r, "top/"+r)
	}
	p.Batches = []planner.Batch{{Operations: ids}}
	return p
}

// TestFailureTolerance: with failure_tolerance = 1, region a's failure
// skips its own dependents and the other regions go on; a second failed
// region stops the run. Without a tolerance the first failure stops it.
func TestFailureTolerance(t *testing.T) {
	run := func(p *planner.Plan, fail map[string]bool) *State {
		pol, err := Compile(p, Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := New(pol)
		s.Reset(1, 1)
		s.Begin()
		for now := int64(1); !s.Done(); now++ {
			starts, _, _ := s.Schedule(now)
			if len(starts) == 0 && s.Steps() == 0 {
				break
			}
			for _, st := range starts {
				out := make([]Outcome, len(st.Members))
				for i, r := range st.Members {
					if fail[pol.Ops[r].ID] {
						out[i] = Outcome{Kind: Fail}
					}
				}
				s.Ended(st.Members, out, now)
			}
		}
		return s
	}
	status := func(s *State, id string) Status { return s.Status(s.P.Rank[id]) }

	s := run(tolerancePlan(1), map[string]bool{"base/a": true})
	if s.Stopping() || status(s, "top/a") != Skipped || status(s, "top/b") != Succeeded || status(s, "top/c") != Succeeded {
		t.Errorf("one failed region within tolerance 1: stopping %v, top/a %v, top/b %v, top/c %v",
			s.Stopping(), status(s, "top/a"), status(s, "top/b"), status(s, "top/c"))
	}
	s = run(tolerancePlan(1), map[string]bool{"base/a": true, "base/b": true})
	if !s.Stopping() {
		t.Errorf("two failed regions, tolerance 1: the run did not stop")
	}
	p := tolerancePlan(0)
	p.Mode.FailureTolerance = nil
	s = run(p, map[string]bool{"base/a": true})
	if !s.Stopping() {
		t.Errorf("no tolerance: the first on_error = stop failure did not stop the run")
	}
}
