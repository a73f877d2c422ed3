package sched

import "math/bits"

// rankSet is the ready list: a set of ranks iterated in ascending order
// (critical path first). Two levels of bits: adding, removing and finding
// the next member cost O(1) plus a scan of the summary (one word per 4,096
// ranks), so neither a long list nor one that changes at every pass costs
// more than what a pass looks at.
type rankSet struct {
	words []uint64 // bit r%64 of words[r/64]: r is a member
	sum   []uint64 // bit w%64 of sum[w/64]: words[w] != 0
	n     int
}

func newRankSet(n int) rankSet {
	nw := (n + 63) / 64
	return rankSet{words: make([]uint64, nw), sum: make([]uint64, (nw+63)/64)}
}

func (b *rankSet) reset() {
	clear(b.words)
	clear(b.sum)
	b.n = 0
}

func (b *rankSet) add(r int32) {
	w := r >> 6
	if b.words[w]&(1<<(r&63)) != 0 {
		return
	}
	b.words[w] |= 1 << (r & 63)
	b.sum[w>>6] |= 1 << (w & 63)
	b.n++
}

func (b *rankSet) remove(r int32) {
	w := r >> 6
	if b.words[w]&(1<<(r&63)) == 0 {
		return
	}
	b.words[w] &^= 1 << (r & 63)
	if b.words[w] == 0 {
		b.sum[w>>6] &^= 1 << (w & 63)
	}
	b.n--
}

// next is the smallest member >= r, or -1.
func (b *rankSet) next(r int32) int32 {
	if r < 0 {
		r = 0
	}
	w := int(r >> 6)
	if w >= len(b.words) {
		return -1
	}
	if m := b.words[w] & (^uint64(0) << (r & 63)); m != 0 {
		return int32(w<<6 | bits.TrailingZeros64(m))
	}
	// The next non-empty word after w, through the summary.
	w++
	s := w >> 6
	if s >= len(b.sum) {
		return -1
	}
	m := b.sum[s] & (^uint64(0) << (w & 63))
	for m == 0 {
		s++
		if s >= len(b.sum) {
			return -1
		}
		m = b.sum[s]
	}
	w = s<<6 | bits.TrailingZeros64(m)
	return int32(w<<6 | bits.TrailingZeros64(b.words[w]))
}
