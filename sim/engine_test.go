package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStreamOffsets holds the cached offsets (seek, advance, second, below)
// to the closed forms they replace (off, kEnd) on random streams.
func TestStreamOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 2000; trial++ {
		u := &unit{work: rng.Int64N(1 << uint(rng.IntN(34)))}
		s := &stream{n: 1 + rng.Int64N(1<<uint(rng.IntN(16)))}
		u.initOffsets(s)
		if s.last != u.off(s, s.n-1) {
			t.Fatalf("work %d n %d: last %d, want %d", u.work, s.n, s.last, u.off(s, s.n-1))
		}
		for s.k < s.n {
			if s.next != u.off(s, s.k) {
				t.Fatalf("work %d n %d k %d: next %d, want %d", u.work, s.n, s.k, s.next, u.off(s, s.k))
			}
			if s.k+1 < s.n && s.second() != u.off(s, s.k+1) {
				t.Fatalf("work %d n %d k %d: second %d, want %d", u.work, s.n, s.k, s.second(), u.off(s, s.k+1))
			}
			// below against kEnd, at limits around the next offsets.
			for _, lim := range []int64{0, s.next, s.next + 1, s.last, s.last + 1, rng.Int64N(u.work + 2), math.MaxInt64} {
				want := s.n - s.k
				if lim != math.MaxInt64 {
					want = max(kEnd(u.work, s.n, lim)-s.k, 0)
				}
				if got := u.below(s, lim); got != want {
					t.Fatalf("work %d n %d k %d lim %d: below %d, want %d", u.work, s.n, s.k, lim, got, want)
				}
			}
			// Jump now and then, as a window serving several requests does.
			if step := rng.Int64N(4); step > 1 {
				u.seek(s, min(s.k+step, s.n))
			} else {
				s.advance()
			}
		}
		if s.next != math.MaxInt64 {
			t.Fatalf("work %d n %d: next %d after the last request", u.work, s.n, s.next)
		}
	}
}

// TestEventHeapOrder checks that the heap pops in (t, kind, seq) order
// under the engine's mix of push, pop and replaceTop.
func TestEventHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const unitBits = 8
	var h eventHeap
	var ref []event
	var seq uint64
	mk := func() event {
		seq++
		return event{key: uint64(rng.Int64N(50))<<1 | uint64(rng.IntN(2)), lo: seq<<unitBits | uint64(rng.IntN(1<<unitBits))}
	}
	cmp := func(a, b event) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	}
	for step := 0; step < 20000; step++ {
		switch op := rng.IntN(3); {
		case op == 0 || len(h) == 0:
			e := mk()
			h.push(e)
			ref = append(ref, e)
		case op == 1:
			slices.SortFunc(ref, cmp)
			if got := h.pop(); got != ref[0] {
				t.Fatalf("step %d: pop %+v, want %+v", step, got, ref[0])
			}
			ref = ref[1:]
		default:
			slices.SortFunc(ref, cmp)
			if h[0] != ref[0] {
				t.Fatalf("step %d: top %+v, want %+v", step, h[0], ref[0])
			}
			e := mk()
			h.replaceTop(e)
			ref[0] = e
		}
	}
	slices.SortFunc(ref, cmp)
	for i := range ref {
		if got := h.pop(); got != ref[i] {
			t.Fatalf("drain %d: pop %+v, want %+v", i, got, ref[i])
		}
	}
}
