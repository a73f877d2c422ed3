package sched

import (
	"strings"
	"testing"
)

// aimdHarness drives one aimd and returns the note each step made.
type aimdHarness struct {
	s *State
	a *aimd
}

func newHarness(maxParallel, tf int, quiet int64, noTF bool) *aimdHarness {
	s := &State{KeepNotes: true}
	s.aimd = newAIMD(maxParallel, tf, quiet, noTF)
	return &aimdHarness{s: s, a: &s.aimd}
}

func (h *aimdHarness) last(n0 int) *Note {
	if len(h.s.Notes) == n0 {
		return nil
	}
	return &h.s.Notes[len(h.s.Notes)-1]
}

func (h *aimdHarness) throttled(now, retryAfter int64, inFlight int) *Note {
	n0 := len(h.s.Notes)
	h.a.throttled(h.s, now, retryAfter, inFlight)
	return h.last(n0)
}

func (h *aimdHarness) tick(now int64) *Note {
	n0 := len(h.s.Notes)
	h.a.tick(h.s, now)
	return h.last(n0)
}

func at(sec float64) int64 { return int64(sec * float64(Second)) }

func TestAIMD(t *testing.T) {
	h := newHarness(16, 32, 10*Second, false)
	a := h.a
	// A throttle halves both and pauses new work for Retry-After.
	ev := h.throttled(at(0), 2*Second, 16)
	if ev == nil || a.parallel != 8 || a.tf != 16 {
		t.Fatalf("after throttle: parallel %d tf %d ev %v", a.parallel, a.tf, ev)
	}
	if a.pausedUntil != at(2) {
		t.Errorf("paused until %v, want +2s", a.pausedUntil)
	}
	// More 429s from the same burst do not halve again.
	if ev := h.throttled(at(1), 2*Second, 8); ev != nil || a.parallel != 8 {
		t.Errorf("same burst halved again: %d", a.parallel)
	}
	// Later throttles do, down to 1 and no further.
	for i, want := range []int{4, 2, 1} {
		h.throttled(at(float64(5+5*i)), 0, a.parallel)
		if a.parallel != want {
			t.Fatalf("halving %d: %d, want %d", i, a.parallel, want)
		}
	}
	if ev := h.throttled(at(30), 0, 1); ev == nil || a.parallel != 1 || a.tf != 1 {
		t.Errorf("floor: parallel %d tf %d (event %v)", a.parallel, a.tf, ev)
	}
	// No raise before the quiet period; then +1 per period, -parallelism doubling.
	if ev := h.tick(at(39)); ev != nil {
		t.Errorf("raised during the quiet period: %v", ev)
	}
	if ev := h.tick(at(40)); ev == nil || a.parallel != 2 || a.tf != 2 {
		t.Fatalf("first raise: parallel %d tf %d", a.parallel, a.tf)
	}
	now := 40.0
	for a.below() {
		now += 10
		if h.tick(at(now)) == nil {
			t.Fatalf("no raise at %v", now)
		}
	}
	if a.parallel != 16 || a.tf != 32 {
		t.Errorf("recovered to parallel %d tf %d, want the mode's 16 and 32", a.parallel, a.tf)
	}
	if ev := h.tick(at(now + 100)); ev != nil {
		t.Errorf("raised past the mode's caps: %v", ev)
	}
}

func TestAIMDNoCap(t *testing.T) {
	h := newHarness(0, 10, Second, false)
	a := h.a
	// Without max_parallel the halving starts from what was in flight.
	h.throttled(0, 0, 12)
	if a.parallel != 6 {
		t.Fatalf("parallel %d, want 6 (half of 12 in flight)", a.parallel)
	}
	for i := 1; a.below(); i++ {
		h.tick(int64(i) * Second)
		if i > 20 {
			t.Fatal("never went back to no cap")
		}
	}
	if a.parallel != 0 {
		t.Errorf("parallel %d, want 0 (no cap) once back at the peak", a.parallel)
	}
}

// TestAIMDNoTerraform: a plan without terraform halves and raises only the
// operations, and its messages do not mention terraform -parallelism.
func TestAIMDNoTerraform(t *testing.T) {
	h := newHarness(8, 10, Second, true)
	a := h.a
	ev := h.throttled(0, 0, 8)
	if ev == nil || a.parallel != 4 || a.tf != 10 {
		t.Fatalf("after throttle: parallel %d tf %d ev %v", a.parallel, a.tf, ev)
	}
	msgs := []string{ev.Message}
	for i := 1; a.below(); i++ {
		ev := h.tick(int64(i) * Second)
		if ev == nil {
			t.Fatalf("no raise at %ds", i)
		}
		msgs = append(msgs, ev.Message)
	}
	if len(msgs) != 5 { // one halving, four raises back to 8
		t.Errorf("messages %q, want a halving and 4 raises", msgs)
	}
	for _, m := range msgs {
		if strings.Contains(m, "terraform") {
			t.Errorf("message %q mentions terraform in a plan without it", m)
		}
	}
}
