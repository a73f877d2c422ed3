package sim

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/echelonhq/echelon/sched"
)

// Event kinds, in the order simultaneous events run: a unit's end frees its
// slots before requests made at the same instant are served.
const (
	evEnd     uint8 = 0
	evRequest uint8 = 1
)

// event is one entry of the heap, ordered by (t, kind, seq): seq makes the
// order total, so a trial is a pure function of its seed. Two words, so
// the heap moves 16 bytes a level: key = t<<1 | kind (t >= 0), and
// lo = seq<<unitBits | unit, which orders by seq as seq is unique.
type event struct {
	key uint64
	lo  uint64
}

func (a *event) t() int64    { return int64(a.key >> 1) }
func (a *event) kind() uint8 { return uint8(a.key & 1) }
func (a *event) less(b *event) bool {
	return a.key < b.key || a.key == b.key && a.lo < b.lo
}

// eventHeap is a binary min-heap written out by hand: container/heap's
// interface calls cost a third of the run time here. Sifts move a hole
// instead of swapping. (A 4-ary heap measured slower: a trial's heap holds
// one event per unit in flight, tens to hundreds.) The order of pops is
// that of (t, kind, seq), a total order, so it does not depend on the
// heap's shape.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(&s[p]) {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	*h = s[:n]
	if n > 0 {
		h.siftDown(last)
	}
	return top
}

// replaceTop puts e in place of the minimum.
func (h *eventHeap) replaceTop(e event) {
	h.siftDown(e)
}

// siftDown places e, which replaces the top. Bottom-up: the hole goes
// down along the smaller children to a leaf (one compare a level), then e
// climbs back from there; new events are mostly later than most of the
// heap, so the climb is short and this saves about half the compares.
func (h *eventHeap) siftDown(e event) {
	s := *h
	n := len(s)
	i := 0
	for {
		c := 2*i + 1
		if c+1 < n {
			// The smaller child without a branch: (key, lo) as one
			// 128-bit number, right < left when the subtraction borrows.
			// Which child wins is a coin toss the predictor would lose.
			_, b := bits.Sub64(s[c+1].lo, s[c].lo, 0)
			_, b = bits.Sub64(s[c+1].key, s[c].key, b)
			c += int(b)
		} else if c >= n {
			break
		}
		s[i] = s[c]
		i = c
	}
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(&s[p]) {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

// stream is the requests a unit makes to one bucket, spread evenly over the
// unit's work: request k is made at work offset (k + 1/2) * work / n.
type stream struct {
	bucket int32
	api    int32
	n      int64
	k      int64   // next request
	per    float64 // tokens refilled between two of its requests; < 0: api not limited

	// The offsets are kept up to date as k moves, so the hot path divides
	// only when a window serves several requests at once:
	// next = off(k) (MaxInt64 once k = n) with rem the remainder of its
	// division; step is off(k+1) - off(k) as quotient and remainder
	// (2·work / 2n); last = off(n-1).
	next         int64
	rem          uint64
	stepQ, stepR uint64
	last         int64

	take int64 // window scratch: requests served before any throttle
}

// unit is what runs: one operation, or a terraform process applying the
// coalesced instances of one state.
type unit struct {
	members []int32
	start   int64
	work    int64 // sampled run time without throttling, µs
	waited  int64 // time spent backing off so far
	streams []stream
	retry   int32     // stream whose request waits for a retry, -1: none
	attempt int32     // throttled attempts of that request
	tfPar   int       // terraform -parallelism it runs with
	step    int       // the policy's step number
	demand  []float64 // nominal requests per second, by api
	slot    int32     // index in engine.active while in flight
}

func (u *unit) off(s *stream, k int64) int64 {
	return (2*k + 1) * u.work / (2 * s.n)
}

// initOffsets fills the stream's cached offsets for k = 0.
func (u *unit) initOffsets(s *stream) {
	// One division: off(0) = w/2n = q r; then step = 2w/2n = 2q + 2r/2n
	// and off(n-1) = (2n-1)w/2n = w - ceil(w/2n).
	w, den := uint64(u.work), uint64(2*s.n)
	q, r := w/den, w%den
	s.k, s.next, s.rem = 0, int64(q), r
	s.stepQ, s.stepR = 2*q, 2*r
	if s.stepR >= den {
		s.stepQ++
		s.stepR -= den
	}
	s.last = int64(w - q)
	if r > 0 {
		s.last--
	}
}

// seek moves the stream to request k (one division).
func (u *unit) seek(s *stream, k int64) {
	s.k = k
	if k >= s.n {
		s.next = math.MaxInt64
		return
	}
	num, den := uint64(2*k+1)*uint64(u.work), uint64(2*s.n)
	s.next, s.rem = int64(num/den), num%den
}

// advance moves the stream to its next request (no division).
func (s *stream) advance() {
	s.k++
	if s.k >= s.n {
		s.next = math.MaxInt64
		return
	}
	s.next += int64(s.stepQ)
	s.rem += s.stepR
	if den := uint64(2 * s.n); s.rem >= den {
		s.rem -= den
		s.next++
	}
}

// second is off(k+1), for k+1 < n.
func (s *stream) second() int64 {
	o := s.next + int64(s.stepQ)
	if s.rem+s.stepR >= uint64(2*s.n) {
		o++
	}
	return o
}

// below is the number of the stream's remaining requests at offsets below
// lim: max(kEnd(work, n, lim) - k, 0), without dividing in the common cases.
func (u *unit) below(s *stream, lim int64) int64 {
	switch {
	case s.k >= s.n:
		return 0
	case lim == math.MaxInt64 || s.last < lim:
		return s.n - s.k
	case s.next >= lim:
		return 0
	case s.second() >= lim:
		return 1 // k+1 < n: off(n-1) >= lim > off(k)
	}
	return kEnd(u.work, s.n, lim) - s.k
}

// bucket is a token bucket: level tokens at time last (lazy refill), with
// its api's parameters at hand (tokens per µs, size).
type bucket struct {
	level float64
	last  int64
	perUS float64
	burst float64
	api   int32
	// remaining is the requests in-flight units still have to make here.
	remaining int64
	// safeUntil: until then the bucket can neither run dry (it holds more
	// than remaining) nor fill up, so the order of requests does not
	// matter and units are served without interleaving (level is then the
	// level at last, which may be ahead of now).
	safeUntil int64
}

// ThrottleMark is one throttled request of a traced run.
type ThrottleMark struct {
	Op   int32 // rank of the operation it is drawn on
	At   int64 // µs
	Wait int64 // µs
	API  int32
}

// engine runs trials of one model; it is reused across trials by one worker.
type engine struct {
	m   *model
	rng *rand.Rand
	pcg *rand.PCG

	now int64
	seq uint64
	// unitBits is the width of the unit index in event.lo: units never
	// outnumber operations, and seq keeps 64 - unitBits bits (a trial
	// would need over 2^40 events to run out at a million operations).
	unitBits uint
	heap     eventHeap
	cur      bool // heap[0] is the event being handled
	units    []unit
	nUnits   int
	active   []int32 // units in flight
	// horizonAt caches horizon() until a unit starts, ends or waits.
	horizonAt int64
	horizonOK bool
	events    int64

	// st is the scheduling policy's state for this trial: every decision
	// of what starts when is its (the same code exec runs).
	st      *sched.State
	wakeAt  int64 // when st next wants to be asked, sched.Never: not
	outs    []sched.Outcome
	opUnit  []int32
	buckets []bucket
	demand  []float64

	// Outcome, when set, decides each attempt's outcome (tests, failure
	// models); nil: every attempt succeeds.
	outcome func(rank int32, attempt int) sched.Outcome
	key     uint64 // the trial's TrialKey
	// attempts, when recording, gets every attempt of the trial.
	recording bool
	attempts  []Attempt

	// Per-trial outputs.
	start, end []int64 // by rank
	throttled  []int64 // by api
	exhausted  []int64
	peak       []float64

	spanLo, spanHi []int64 // scratch for collect

	// Tool overhead's per-trial state: drivers whose version was checked
	// and directories initialised, and when each was done (µs); when the
	// start-ups in flight end.
	driverRan   []bool
	driverReady []int64
	dirInit     []bool
	dirReady    []int64
	cpuBusy     []int64

	trace bool
	marks []ThrottleMark
	// oneByOne turns the closed-form windows off (one event per request),
	// for tests that check the two agree.
	oneByOne    bool
	safeWindows int64 // windows served order-free (tests)
}

func newEngine(m *model) *engine {
	e := &engine{m: m}
	e.pcg = rand.NewPCG(0, 0)
	e.rng = rand.New(e.pcg)
	n := len(m.ops)
	// A trial starts one unit per attempt: one per operation when every
	// attempt succeeds, at most every retry the policy allows otherwise.
	units := n
	if m.hasOutcome() {
		most := 0
		for r := range m.pol.Ops {
			most = max(most, int(m.pol.Ops[r].Retries))
		}
		units = n * (most + m.pol.Cfg.ThrottleRetries + 2)
	}
	e.unitBits = uint(bits.Len(uint(units)))
	e.opUnit = make([]int32, n)
	e.st = sched.New(m.pol)
	switch {
	case m.outcome != nil:
		e.outcome = func(r int32, attempt int) sched.Outcome { return m.outcome(m.ops[r].id, attempt) }
	case m.trialOutcome != nil:
		e.outcome = func(r int32, attempt int) sched.Outcome { return m.trialOutcome(e.key, m.ops[r].id, attempt) }
	}
	if e.outcome != nil {
		// Throttles come only from an outcome: scopes are worth counting.
		e.st.PerScope = true
	}
	e.outs = make([]sched.Outcome, n)
	e.buckets = make([]bucket, m.nBuckets)
	e.demand = make([]float64, len(m.apis))
	e.start = make([]int64, n)
	e.end = make([]int64, n)
	e.throttled = make([]int64, len(m.apis))
	e.exhausted = make([]int64, len(m.apis))
	e.peak = make([]float64, len(m.apis))
	return e
}

// errStuck means no operation can ever start again: the plan contradicts
// its mode (say, a dependency on a later phase under phase_barrier).
var errStuck = errors.New("the plan cannot finish under its mode: operations wait for each other")

// trialSeed derives trial i's RNG seed from the run's seed, so a trial's
// outcome does not depend on which worker runs it.
func trialSeed(seed uint64, i int) (uint64, uint64) {
	return seed, uint64(i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
}

// run simulates one trial; outputs stay in the engine until the next run.
func (e *engine) run(seed uint64, trial int) error {
	m := e.m
	e.pcg.Seed(trialSeed(seed, trial))
	e.key = TrialKey(seed, trial)
	e.now, e.seq, e.events = 0, 0, 0
	e.heap = e.heap[:0]
	e.nUnits = 0
	e.active = e.active[:0]
	e.horizonOK = false
	e.st.Reset(schedSeed(seed, trial))
	e.wakeAt = sched.Never
	e.attempts = e.attempts[:0]
	clear(e.demand)
	clear(e.throttled)
	clear(e.exhausted)
	clear(e.peak)
	e.marks = e.marks[:0]
	e.resetOverhead()
	for b := range e.buckets {
		a := e.apiOfBucket(int32(b))
		ad := &m.apis[a]
		e.buckets[b] = bucket{level: ad.burst, perUS: ad.rate / usPerSecond, burst: ad.burst, api: a}
	}
	// Per-trial state from the model's templates: copies, not loops.
	copy(e.opUnit, m.minus1)
	copy(e.start, m.minus1L)
	copy(e.end, m.minus1L)
	e.st.Begin()
	e.schedule()
	for {
		if len(e.heap) == 0 || (e.wakeAt >= 0 && e.wakeAt < e.heap[0].t()) {
			// The policy asked to look again (a retry's backoff, a
			// Retry-After pause, AIMD's quiet period) before any event.
			if e.wakeAt < 0 {
				break
			}
			e.now, e.wakeAt = e.wakeAt, sched.Never
			e.schedule()
			continue
		}
		// The event stays at the top while it is handled: the first event
		// the handler pushes replaces it (one sift instead of a pop and a
		// push, the common case of a unit queueing its next request).
		ev := e.heap[0]
		e.cur = true
		e.events++
		e.now = ev.t()
		switch ev.kind() {
		case evEnd:
			e.finish(e.unitOf(&ev))
			// Run every end of this instant before choosing what starts,
			// so the highest-priority ready operations get the freed slots.
			if nx, ok := e.peekNext(); !ok || nx.key != ev.key {
				e.schedule()
			}
		case evRequest:
			e.request(e.unitOf(&ev))
		}
		if e.cur {
			e.heap.pop()
			e.cur = false
		}
	}
	if !e.st.Stopping() && e.st.Finished() != len(m.ops) {
		return errStuck
	}
	return nil
}

// schedSeed seeds trial i's policy (the backoff jitter): trial 0 draws
// what exec.Run does with Options.Seed = seed.
func schedSeed(seed uint64, i int) (uint64, uint64) {
	return seed, 0x5eed + uint64(i)
}

// unitOf is the unit an event belongs to.
func (e *engine) unitOf(ev *event) int32 {
	return int32(ev.lo & (1<<e.unitBits - 1))
}

func (e *engine) apiOfBucket(b int32) int32 {
	for i := len(e.m.apis) - 1; i >= 0; i-- {
		if b >= e.m.apis[i].bucket0 {
			return int32(i)
		}
	}
	return 0
}

func (e *engine) push(t int64, kind uint8, u int32) {
	e.seq++
	ev := event{key: uint64(t)<<1 | uint64(kind), lo: e.seq<<e.unitBits | uint64(u)}
	if e.cur {
		e.cur = false
		e.heap.replaceTop(ev)
		return
	}
	e.heap.push(ev)
}

// peekNext is the earliest event other than the one being handled: the
// top, or while it is being handled the least of its children.
func (e *engine) peekNext() (event, bool) {
	h := e.heap
	if !e.cur {
		if len(h) == 0 {
			return event{}, false
		}
		return h[0], true
	}
	if len(h) < 2 {
		return event{}, false
	}
	if len(h) > 2 && h[2].less(&h[1]) {
		return h[2], true
	}
	return h[1], true
}

// schedule asks the policy what starts now and starts it.
func (e *engine) schedule() {
	for {
		starts, wake, batch := e.st.Schedule(e.now)
		for i := range starts {
			e.startGroup(&starts[i])
		}
		if batch >= 0 {
			// A batch's lock set is free in a simulation: held at once.
			e.st.BatchHeld(batch)
			continue
		}
		e.wakeAt = wake
		return
	}
}

// newUnit returns a cleared unit slot.
func (e *engine) newUnit() int32 {
	if e.nUnits == len(e.units) {
		e.units = append(e.units, unit{})
	}
	u := int32(e.nUnits)
	e.nUnits++
	un := &e.units[u]
	un.members = un.members[:0]
	un.streams = un.streams[:0]
	un.waited = 0
	un.retry = -1
	un.attempt = 0
	if un.demand == nil {
		un.demand = make([]float64, len(e.m.apis))
	} else {
		clear(un.demand)
	}
	return u
}

// startGroup starts one unit for the given operations (one operation, or
// the coalesced instances of one terraform state).
func (e *engine) startGroup(st *sched.Start) {
	members, tfPar := st.Members, st.Parallelism
	m := e.m
	ui := e.newUnit()
	u := &e.units[ui]
	u.members = append(u.members, members...)
	u.start = e.now
	u.tfPar, u.step = tfPar, st.Step

	// Work: terraform applies the union of the members' resources with
	// -parallelism P: ceil(sum/P) rounds, each taking one draw of the
	// resource time (median and spread weighted by resources). Members
	// without resources take their own duration, and the process lasts as
	// long as its longest part.
	var res int64
	var wMed, wSig float64
	var work int64
	for _, r := range members {
		op := &m.ops[r]
		if op.resources > 0 {
			res += int64(op.resources)
			wMed += float64(op.resources) * op.resDur.median
			wSig += float64(op.resources) * op.resDur.sigma
		} else if d := op.dur.sample(e.rng); d > work {
			work = d
		}
	}
	if res > 0 {
		rounds := (res + int64(tfPar) - 1) / int64(tfPar)
		rd := dist{median: wMed / float64(res), sigma: wSig / float64(res)}
		var w int64
		for i := int64(0); i < rounds; i++ {
			w = min(w+rd.sample(e.rng), maxDraw) // each term <= maxDraw: no overflow
		}
		work = max(work, w)
	}
	work = min(work+e.overhead(members), maxDraw)
	u.work = work

	for _, r := range members {
		e.opUnit[r] = ui
		if e.start[r] < 0 {
			e.start[r] = e.now // its first attempt
		}
	}
	if len(members) == 1 {
		// One operation: its streams are ready-made in the model.
		u.streams = append(u.streams, m.ops[members[0]].streams...)
	} else {
		e.mergeStreams(u)
	}
	for i := range u.streams {
		s := &u.streams[i]
		s.per = -1
		if bk := &e.buckets[s.bucket]; bk.perUS > 0 {
			s.per = bk.perUS * float64(u.work) / float64(s.n)
			bk.remaining += s.n
		}
		u.initOffsets(s)
	}
	u.slot = int32(len(e.active))
	e.active = append(e.active, ui)
	e.horizonOK = false

	// Peak demand: what the unit would ask for without throttling.
	if work > 0 {
		for i := range u.streams {
			s := &u.streams[i]
			u.demand[s.api] += float64(s.n) * usPerSecond / float64(work)
		}
		for a, d := range u.demand {
			if d != 0 {
				e.demand[a] += d
				if e.demand[a] > e.peak[a] {
					e.peak[a] = e.demand[a]
				}
			}
		}
	}

	if len(u.streams) == 0 {
		e.push(e.now+work, evEnd, ui)
		return
	}
	e.pushNext(ui)
}

// mergeStreams builds a unit's streams from its members' calls: one per
// bucket, in bucket order.
func (e *engine) mergeStreams(u *unit) {
	m := e.m
	for _, r := range u.members {
		op := &m.ops[r]
		for _, c := range op.calls {
			b := m.bucketOf(c.api, op.region)
			found := false
			for i := range u.streams {
				if u.streams[i].bucket == b {
					u.streams[i].n += int64(c.n)
					found = true
					break
				}
			}
			if !found {
				u.streams = append(u.streams, stream{bucket: b, api: c.api, n: int64(c.n)})
			}
		}
	}
	sortStreams(u.streams)
}

// sortStreams orders a unit's streams by bucket (insertion sort: a unit
// has a handful, and sort.Slice would allocate).
func sortStreams(ss []stream) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && ss[j].bucket < ss[j-1].bucket; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}

// pushNext queues the unit's next request, or its end when none is left.
func (e *engine) pushNext(ui int32) {
	u := &e.units[ui]
	next := int64(math.MaxInt64)
	for i := range u.streams {
		next = min(next, u.streams[i].next)
	}
	if next == math.MaxInt64 {
		e.push(u.start+u.waited+u.work, evEnd, ui)
		return
	}
	e.push(u.start+u.waited+next, evRequest, ui)
}

// finish ends a unit: its operations are done, their dependents may become
// ready.
func (e *engine) finish(ui int32) {
	u := &e.units[ui]
	for a, d := range u.demand {
		if d != 0 {
			e.demand[a] -= d
		}
	}
	e.horizonOK = false
	// Swap-remove from active (its order matters to no one).
	last := e.active[len(e.active)-1]
	e.active[u.slot] = last
	e.units[last].slot = u.slot
	e.active = e.active[:len(e.active)-1]
	if e.outcome == nil && !e.recording {
		for _, r := range u.members {
			e.end[r] = e.now
		}
		e.st.EndedOK(u.members, e.now)
		return
	}
	outs := e.outs[:len(u.members)]
	for i, r := range u.members {
		e.end[r] = e.now
		if e.outcome != nil { // else outs stays all OK
			outs[i] = e.outcome(r, e.st.Attempts(r))
		}
		if e.recording {
			e.attempts = append(e.attempts, Attempt{Rank: r, Attempt: e.st.Attempts(r), Step: u.step,
				Start: u.start, End: e.now, Outcome: outs[i].Kind, Parallelism: u.tfPar})
		}
	}
	e.st.Ended(u.members, outs, e.now)
}

// Attempt is one simulated attempt of one operation, for a trace.
type Attempt struct {
	Rank        int32
	Attempt     int // 1-based
	Step        int // the policy's step number (coalesced instances share it)
	Start, End  int64
	Outcome     sched.Kind
	Parallelism int
}

// refill brings a bucket up to time t.
func (e *engine) refill(b int32, t int64) float64 {
	bk := &e.buckets[b]
	if t > bk.last {
		bk.level += bk.perUS * float64(t-bk.last)
		if bk.level > bk.burst {
			bk.level = bk.burst
		}
		bk.last = t
	}
	return bk.level
}

// eps absorbs float rounding in token counts, the same way in the
// per-request and the analytic path.
const eps = 1e-9

// request handles a unit's request event: a retry of a throttled request,
// or the first request of a run of them.
func (e *engine) request(ui int32) {
	u := &e.units[ui]
	if u.retry >= 0 {
		s := &u.streams[u.retry]
		if e.m.apis[s.api].rate > 0 && e.refill(s.bucket, e.now) < 1-eps {
			e.throttle(ui, u.retry, e.now)
			return
		}
		if e.m.apis[s.api].rate > 0 {
			e.buckets[s.bucket].level--
			e.buckets[s.bucket].remaining--
		}
		s.advance()
		u.retry = -1
		u.attempt = 0
	}
	e.window(ui)
}

// window serves the unit's requests up to the next event of the heap (no
// other unit can touch a bucket before it) in closed form per stream, up to
// the first request that finds its bucket empty. Streams of one unit use
// distinct buckets, so they are independent until that throttle delays the
// unit. This is exact: it gives what one event per request would give, at
// the cost of one event per window.
func (e *engine) window(ui int32) {
	u := &e.units[ui]
	base := u.start + u.waited
	limW := int64(math.MaxInt64)
	if nx, ok := e.peekNext(); ok {
		// Requests at work offsets < limW come before any other event;
		// the ones due now are always this event's.
		limW = max(nx.t(), e.now+1) - base
	}
	if e.oneByOne {
		// Reference mode for tests: serve only the requests due now.
		limW = e.now + 1 - base
	} else if safeAll, until := e.markSafe(u); safeAll {
		// No other unit can change what these requests find: serve them
		// up to the horizon of safety.
		limW = until - base
		e.safeWindows++
	} else if until != math.MaxInt64 {
		limW = min(limW, until-base)
	}
	failS := int32(-1)
	failOff := int64(math.MaxInt64)
	for si := range u.streams {
		s := &u.streams[si]
		cnt := u.below(s, limW)
		f := cnt
		if cnt > 0 && s.per >= 0 && e.buckets[s.bucket].safeUntil <= e.now {
			t0 := base + s.next
			pre0 := e.peekLevel(s.bucket, t0)
			per := s.per
			switch {
			case pre0 < 1-eps:
				f = 0
			case per >= 1:
				f = cnt
			default:
				if mx := int64(math.Floor((pre0-1+eps)/(1-per))) + 1; mx < f {
					f = mx
				}
			}
			if f < cnt {
				if o := u.off(s, s.k+f); o < failOff {
					failOff, failS = o, int32(si)
				}
			}
		}
		s.take = f
	}
	for si := range u.streams {
		s := &u.streams[si]
		c := s.take
		if failS >= 0 && int32(si) != failS && c > 0 {
			// Only the requests made before the throttle (at the same
			// offset: those of lower stream index) happen.
			lim := failOff
			if int32(si) < failS {
				lim++
			}
			if k := kEnd(u.work, s.n, lim); k-s.k < c {
				c = max(k-s.k, 0)
			}
		}
		if c == 0 {
			continue
		}
		t0 := base + s.next
		// Move to the last request served, then past it.
		if c > 1 {
			u.seek(s, s.k+c-1)
		}
		tl := base + s.next
		s.advance()
		if bk := &e.buckets[s.bucket]; s.per >= 0 && bk.safeUntil > e.now {
			// Order-free: refill to the latest request seen, take c.
			if tl > bk.last {
				bk.level += bk.perUS * float64(tl-bk.last)
				bk.last = tl
			}
			bk.level -= float64(c)
			bk.remaining -= c
		} else if per := s.per; per >= 0 {
			bk.remaining -= c
			pre0 := e.refill(s.bucket, t0)
			var pre float64
			if per >= 1 {
				pre = min(e.buckets[s.bucket].burst, pre0+float64(c-1)*(per-1))
			} else {
				pre = pre0 - float64(c-1)*(1-per)
			}
			bk := &e.buckets[s.bucket]
			bk.level = pre - 1
			bk.last = tl
		}
	}
	if failS >= 0 {
		e.throttle(ui, failS, base+failOff)
		return
	}
	e.pushNext(ui)
}

// markSafe re-examines the buckets of the unit's streams. A bucket is safe
// until horizon H (the earliest time any unit in flight can end: before
// that no new unit starts, so no new requests come) when it holds at least
// one token more than every request still due on it, and cannot fill to
// its burst before H. It reports whether all the unit's buckets are safe,
// and the earliest safeUntil among its safe ones (MaxInt64: none).
func (e *engine) markSafe(u *unit) (bool, int64) {
	all := true
	until := int64(math.MaxInt64)
	h := int64(-1)
	for i := range u.streams {
		s := &u.streams[i]
		if s.per < 0 {
			continue // not limited: nothing to wait for
		}
		bk := &e.buckets[s.bucket]
		if bk.safeUntil <= e.now {
			// The cheap tests first: under contention the bucket is short.
			// A level never exceeds burst (+ rounding), so with burst
			// requests or more still due it cannot hold one more.
			if float64(bk.remaining) >= bk.burst {
				all = false
				continue
			}
			lvl := e.peekLevel(s.bucket, e.now)
			if lvl-float64(bk.remaining) < 1 {
				all = false
				continue
			}
			if h < 0 {
				h = e.horizon()
			}
			if h > e.now && lvl+bk.perUS*float64(h-e.now) <= bk.burst {
				bk.safeUntil = h
			} else {
				all = false
				continue
			}
		}
		until = min(until, bk.safeUntil)
	}
	return all, until
}

// horizon is the earliest time a unit in flight can end (its run and the
// waits so far; waits only push it later).
func (e *engine) horizon() int64 {
	if e.horizonOK {
		return e.horizonAt
	}
	h := int64(math.MaxInt64)
	for _, ui := range e.active {
		u := &e.units[ui]
		h = min(h, u.start+u.waited+u.work)
	}
	e.horizonAt, e.horizonOK = h, true
	return h
}

// kEnd is the number of requests (of n spread over work) whose offset is
// below lim.
func kEnd(work, n, lim int64) int64 {
	if lim <= 0 {
		return 0
	}
	if work == 0 {
		return n
	}
	// offset(k) = floor((2k+1)work / 2n) < lim  <=>  (2k+1)work < 2n·lim.
	num := 2*n*lim - work
	if num <= 0 {
		return 0
	}
	k := (num + 2*work - 1) / (2 * work)
	if k > n {
		k = n
	}
	return k
}

// peekLevel is the bucket's level at t without updating it.
func (e *engine) peekLevel(b int32, t int64) float64 {
	bk := &e.buckets[b]
	if t > bk.last {
		return min(bk.burst, bk.level+bk.perUS*float64(t-bk.last))
	}
	return bk.level
}

// throttle counts a 429 for the stream's request made at t and queues its
// retry after the api's backoff; the unit is delayed by the wait.
//
// Backoff: exponential from retry.backoff, doubled per throttled attempt,
// capped at retry.max_backoff, with "equal jitter" (half fixed, half
// uniform), so retries of concurrent clients spread out but never come
// back at once. Without a backoff the client waits exactly for the next
// token (an honoured Retry-After). After retry.max_attempts throttled
// attempts the request counts as exhausted (a real client would give up and
// fail the operation) but keeps retrying at max_backoff, so one trial still
// yields a time; exhaustion makes the risk high.
func (e *engine) throttle(ui int32, si int32, t int64) {
	u := &e.units[ui]
	s := &u.streams[si]
	ad := &e.m.apis[s.api]
	e.throttled[s.api]++
	u.retry = si
	u.attempt++
	if ad.maxAttempts > 0 && int(u.attempt) == ad.maxAttempts {
		e.exhausted[s.api]++
	}
	var wait int64
	if ad.backoff <= 0 {
		lvl := e.refill(s.bucket, t)
		wait = int64(math.Ceil((1 - lvl) / ad.rate * usPerSecond))
	} else {
		b := ad.backoff
		for i := int32(1); i < u.attempt; i++ {
			b *= 2
			if ad.maxBackoff > 0 && b >= ad.maxBackoff || b > 1<<50 {
				break
			}
		}
		if ad.maxBackoff > 0 && b > ad.maxBackoff {
			b = ad.maxBackoff
		}
		wait = b/2 + e.rng.Int64N(b-b/2+1)
	}
	if wait < 1 {
		wait = 1
	}
	if e.trace {
		e.marks = append(e.marks, ThrottleMark{Op: e.markOp(u, s.bucket), At: t, Wait: wait, API: s.api})
	}
	u.waited += wait
	e.horizonOK = false
	e.push(t+wait, evRequest, ui)
}

// markOp picks the member a throttle is drawn on: the one in the bucket's
// region for a regional bucket, else the first.
func (e *engine) markOp(u *unit, b int32) int32 {
	ad := &e.m.apis[e.buckets[b].api]
	if ad.regional {
		reg := b - ad.bucket0
		for _, r := range u.members {
			if e.m.ops[r].region == reg {
				return r
			}
		}
	}
	return u.members[0]
}
