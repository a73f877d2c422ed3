package sched

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRankSet holds the two-level bit set to a sorted slice under random
// adds, removes and next queries, across word and summary boundaries.
func TestRankSet(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 4095, 4096, 4097, 20000} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		b := newRankSet(n)
		var want []int32
		for range 5000 {
			r := int32(rng.IntN(n))
			i, found := slices.BinarySearch(want, r)
			if rng.IntN(3) == 0 {
				b.remove(r)
				if found {
					want = slices.Delete(want, i, i+1)
				}
			} else {
				b.add(r)
				if !found {
					want = slices.Insert(want, i, r)
				}
			}
			q := int32(rng.IntN(n + 2))
			j, _ := slices.BinarySearch(want, q)
			exp := int32(-1)
			if j < len(want) {
				exp = want[j]
			}
			if got := b.next(q); got != exp {
				t.Fatalf("n %d: next(%d) = %d, want %d", n, q, got, exp)
			}
			if b.n != len(want) {
				t.Fatalf("n %d: %d members, want %d", n, b.n, len(want))
			}
		}
		var all []int32
		for r := b.next(0); r >= 0; r = b.next(r + 1) {
			all = append(all, r)
		}
		if !slices.Equal(all, want) {
			t.Fatalf("n %d: iteration gives %v, want %v", n, all, want)
		}
	}
}
