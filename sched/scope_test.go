package sched

import (
	"fmt"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// scopePlan is 8 operations in each of regions a and b, each calling a
// region-scoped api, and 8 calling nothing, with no caps.
func scopePlan() *planner.Plan {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "p"}},
		APIs: []planner.API{{Name: "arm", Scope: "region"}}}
	var ids []string
	for _, region := range []string{"a", "b", ""} {
		for i := range 8 {
			id := fmt.Sprintf("op/%s/%d", region, i)
			o := planner.Operation{ID: id, Component: "op", Region: region, Phase: "p", Calls: map[string]int{}}
			if region != "" {
				o.Calls["arm"] = 3
			}
			p.Operations = append(p.Operations, o)
			ids = append(ids, id)
		}
	}
	p.Batches = []planner.Batch{{Operations: ids}}
	return p
}

// TestThrottleActsOnItsScope: a throttle from region a's bucket halves
// what region a runs and pauses it for Retry-After; region b and the
// operations calling no api go on as before.
func TestThrottleActsOnItsScope(t *testing.T) {
	pol, err := Compile(scopePlan(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pol.Scopes, ","); got != "arm/a,arm/b" {
		t.Fatalf("scopes %s, want arm/a,arm/b", got)
	}
	s := New(pol)
	s.PerScope, s.KeepNotes = true, true
	s.Reset(1, 1)
	s.Begin()
	starts, _, _ := s.Schedule(0)
	if len(starts) != 24 {
		t.Fatalf("%d steps started, want all 24", len(starts))
	}
	region := func(st Start) string { return pol.Regions[pol.Ops[st.Members[0]].Region] }
	// One of region a's operations is throttled (Retry-After 2 s); the
	// others all succeed at once.
	var throttledOne bool
	for _, st := range starts {
		op := &pol.Ops[st.Members[0]]
		if op.Region >= 0 && region(st) == "a" && !throttledOne {
			throttledOne = true
			s.Ended(st.Members, []Outcome{{Kind: Throttled, RetryAfter: 2 * Second}}, Second)
			continue
		}
		s.EndedOK(st.Members, Second)
	}
	if n := len(s.Notes); n != 2 || s.Notes[0].Kind != NoteAIMD || s.Notes[0].Scope != "arm/a" || s.Notes[0].Parallel != 4 {
		t.Fatalf("notes %+v: want one AIMD change of arm/a down to 4 (half of 8), then the retry", s.Notes)
	}
	if p, _ := s.Parallel(); p != 0 {
		t.Errorf("the run's own cap moved to %d; a scope's throttle must not touch it", p)
	}
	// The retry waits for Retry-After: at 2 s nothing starts, at 3 s it does.
	if st, wake, _ := s.Schedule(2 * Second); len(st) != 0 || wake != 3*Second {
		t.Errorf("during region a's pause: %d started, wake %d; want 0 and 3s", len(st), wake)
	}
	if st, _, _ := s.Schedule(3*Second + 1); len(st) != 1 {
		t.Errorf("after the pause: %d started, want the retry", len(st))
	}
}

// TestThrottleWithoutCallsActsOnTheRun: an operation that declares no api
// calls still slows the whole run when throttled (nothing better is known).
func TestThrottleWithoutCallsActsOnTheRun(t *testing.T) {
	pol, err := Compile(scopePlan(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(pol)
	s.PerScope, s.KeepNotes = true, true
	s.Reset(1, 1)
	s.Begin()
	starts, _, _ := s.Schedule(0)
	done := false
	for _, st := range starts {
		if pol.Ops[st.Members[0]].Region < 0 && !done {
			done = true
			s.Ended(st.Members, []Outcome{{Kind: Throttled}}, Second)
			continue
		}
		s.EndedOK(st.Members, Second)
	}
	if p, _ := s.Parallel(); p == 0 {
		t.Errorf("a throttle of an operation without calls left the run uncapped")
	}
	if len(s.Notes) == 0 || s.Notes[0].Scope != "" {
		t.Errorf("notes %+v: want a run-wide change", s.Notes)
	}
}
