package sched

import (
	"math"
	"math/rand/v2"
)

// Status is an operation's state in a run.
type Status int8

const (
	Pending Status = iota
	Running
	Succeeded
	Failed
	Skipped
)

// Kind is what happened to one operation of an ended step.
type Kind int8

const (
	OK        Kind = iota
	Fail           // its own failure: uses up retries
	Throttled      // the api said slow down: throttle retries, AIMD
	Blameless      // cut short by another instance's error in its step
	Cancelled      // killed by a hard stop: pending for --resume
	// Lost: the process running it was lost (a worker died or lost its
	// lease): it runs again as the next attempt at once, without using up
	// retries, up to ThrottleRetries times (then as a Fail).
	Lost
)

// Outcome is one operation's result in an ended step.
type Outcome struct {
	Kind       Kind
	RetryAfter int64 // Throttled: the api's Retry-After, microseconds
}

// Start is one step to start: one operation, or the coalesced instances of
// one terraform state, applied by one process with -parallelism Parallelism.
type Start struct {
	Step        int     // sequence number of the step in the run, from 1
	Members     []int32 // ranks, ascending; valid until the next Schedule
	Parallelism int
}

// NoteKind says what a Note tells.
type NoteKind int8

const (
	NoteRetry NoteKind = iota // Op runs again at Time+Delay (attempt Attempt)
	NoteSkip                  // Op is skipped: it depends on failed Cause
	NoteStop                  // the run stops starting work: Message
	NoteAIMD                  // the effective caps changed: Parallel, TF, Message
)

// Note is a decision a driver may report (exec journals and shows them;
// sim ignores them). Notes pile up in State.Notes until the driver clears
// them.
type Note struct {
	Kind       NoteKind
	Time       int64
	Op, Cause  int32
	Attempt    int
	Delay      int64
	Parallel   int
	TF         int
	RetryAfter int64
	Throttle   bool   // NoteAIMD: lowered by a throttle (else raised after quiet)
	Scope      string // NoteAIMD: the api scope it acts on ("": every operation)
	Message    string
}

// marks of an operation in the ready machinery.
const (
	mNone      int8 = iota
	mReady          // in the ready list
	mParked         // dependencies done, held by a barrier
	mAdmitted       // taken into a step in this scheduling pass
	mStateWait      // ready, but its terraform state is busy (stateWait)
)

// opRun is one operation's part of a State.
type opRun struct {
	notAfter int64 // notBefore: backoff before the next attempt (0: none)
	attempts int32 // attempts started
	charged  int32 // failed attempts counted against retries
	throttle int32 // throttled attempts
	lost     int32 // attempts lost with their worker
	status   Status
	mark     int8
	solo     bool // a coalesced attempt failed: runs on its own
}

// State is one run (or one simulated trial) of a Policy.
type State struct {
	P *Policy
	// Notes are the decisions made since the driver last cleared them
	// (only rare ones: retries, skips, stops, AIMD changes).
	Notes []Note
	// KeepNotes turns Notes on (sim leaves it off).
	KeepNotes bool
	// PerScope makes throttling act on the api scopes the throttled
	// operations call (Policy.Scopes: an api, or one region's bucket of a
	// scope = "region" api) rather than on every operation; operations
	// that declare no calls still throttle the whole run. Set it before
	// Begin; it costs a count per scope an operation calls.
	PerScope bool

	rng *rand.Rand
	pcg *rand.PCG

	o       []opRun // by rank
	indeg   []int32
	delayed int  // ready operations with a notBefore set
	resumed bool // Resume was called since Reset

	ready  rankSet // ready operations, iterated by rank
	parked []int32
	// stateWait holds, by state, ready operations whose terraform state is
	// busy: every pass would skip them until it frees, so they leave the
	// ready list meanwhile and come back (wakeState) when it does.
	stateWait     [][]int32
	released      []int32 // scratch: parked operations a barrier let go
	scratchScopes []int32

	inFlight    int // operations in running steps
	steps       int // running steps
	regionBusy  []int32
	regionFail  []bool // failure_tolerance: a region with an operation failed for good
	failed      int    // such regions
	regionsUsed int
	compBusy    []int32
	stateBusy   []bool
	alone       bool
	phaseDone   []int32
	curPhase    int32
	batchDone   []int32
	curBatch    int32
	finished    int // succeeded, failed or skipped
	stopping    bool
	stepSeq     int

	batchHeld    int32 // batch_barrier: batch whose lock set is held, -1 none
	batchWaiting bool

	aimd aimd
	// By api scope (PerScope): its AIMD and its operations in flight.
	scopeAIMD []aimd
	scopeBusy []int32
	anyScope  bool // a scope has been throttled: admit checks scopes

	groups     [][]int32 // by state: instances admitted in this pass
	groupOrder []int32
	plain      []int32
	starts     []Start
	members    []int32
}

// New returns a State for pol; call Reset before use.
func New(pol *Policy) *State {
	n := len(pol.Ops)
	s := &State{P: pol}
	s.pcg = rand.NewPCG(0, 0)
	s.rng = rand.New(s.pcg)
	s.o = make([]opRun, n)
	s.indeg = make([]int32, n)
	s.ready = newRankSet(n)
	s.members = make([]int32, 0, n)
	s.regionBusy = make([]int32, len(pol.Regions))
	s.regionFail = make([]bool, len(pol.Regions))
	s.compBusy = make([]int32, len(pol.Comps))
	s.stateBusy = make([]bool, len(pol.States))
	s.groups = make([][]int32, len(pol.States))
	s.stateWait = make([][]int32, len(pol.States))
	s.scopeAIMD = make([]aimd, len(pol.Scopes))
	s.scopeBusy = make([]int32, len(pol.Scopes))
	s.phaseDone = make([]int32, len(pol.Phases))
	s.batchDone = make([]int32, pol.NBatches)
	return s
}

// Reset starts a new run: everything pending, the backoff jitter seeded
// with (seed1, seed2).
func (s *State) Reset(seed1, seed2 uint64) {
	pol := s.P
	s.pcg.Seed(seed1, seed2)
	clear(s.o)
	copy(s.indeg, pol.indeg0)
	s.delayed, s.resumed = 0, false
	s.ready.reset()
	s.parked = s.parked[:0]
	for i := range s.stateWait {
		s.stateWait[i] = s.stateWait[i][:0]
	}
	s.inFlight, s.steps, s.regionsUsed, s.finished, s.stepSeq = 0, 0, 0, 0, 0
	clear(s.regionBusy)
	clear(s.regionFail)
	s.failed = 0
	clear(s.compBusy)
	clear(s.stateBusy)
	clear(s.phaseDone)
	clear(s.batchDone)
	s.alone, s.stopping, s.batchWaiting = false, false, false
	s.curPhase, s.curBatch, s.batchHeld = 0, 0, -1
	s.aimd = newAIMD(pol.MaxParallel, pol.TFParallelism, pol.Cfg.Quiet, pol.NoTF)
	for b := range s.scopeAIMD {
		s.scopeAIMD[b] = newAIMD(0, pol.TFParallelism, pol.Cfg.Quiet, pol.NoTF)
		s.scopeAIMD[b].scope = pol.Scopes[b]
	}
	clear(s.scopeBusy)
	s.anyScope = false
	s.Notes = s.Notes[:0]
}

// Resume marks operations that succeeded in an earlier run (and the
// attempts they and others made then) before Begin.
func (s *State) Resume(r int32, succeeded bool, attempts int) {
	s.resumed = true
	s.o[r].attempts = int32(attempts)
	if succeeded && s.o[r].status != Succeeded {
		s.o[r].status = Succeeded
		s.finishBarriers(r)
		s.finished++
	}
}

// Begin puts the operations whose dependencies are done on the ready list.
func (s *State) Begin() {
	pol := s.P
	if !s.resumed {
		s.advanceBarriers()
		for _, r := range pol.Roots {
			s.insertReady(r)
		}
		return
	}
	for r := range pol.Ops {
		if s.o[r].status != Pending {
			s.indeg[r] = math.MaxInt32 // done in an earlier run: never ready again
			continue
		}
		n := int32(0)
		for _, d := range pol.Ops[r].Deps {
			if s.o[d].status != Succeeded {
				n++
			}
		}
		s.indeg[r] = n
	}
	s.advanceBarriers()
	for r := range pol.Ops {
		if s.o[r].status == Pending && s.indeg[r] == 0 {
			s.insertReady(int32(r))
		}
	}
}

// Status is operation r's state.
func (s *State) Status(r int32) Status { return s.o[r].status }

// Attempts is how many attempts of operation r have started.
func (s *State) Attempts(r int32) int { return int(s.o[r].attempts) }

// Stopping reports whether the run has stopped starting work.
func (s *State) Stopping() bool { return s.stopping }

// Steps is the number of running steps.
func (s *State) Steps() int { return s.steps }

// Finished is the number of operations that succeeded, failed or were
// skipped.
func (s *State) Finished() int { return s.finished }

// Waiting reports whether operations wait to start (ready or behind a
// barrier).
func (s *State) Waiting() bool { return s.ready.n > 0 || len(s.parked) > 0 }

// BatchWaiting reports whether a batch lock set was asked for and not yet
// granted.
func (s *State) BatchWaiting() bool { return s.batchWaiting }

// Done reports whether the run is over: nothing runs, no batch lock is
// awaited, and nothing is left to start (or the run stopped).
func (s *State) Done() bool {
	return s.steps == 0 && !s.batchWaiting && (s.stopping || !s.Waiting())
}

// Stop stops starting work (on_error = stop, Ctrl-C); running steps finish.
func (s *State) Stop(now int64, why string) {
	if s.stopping {
		return
	}
	s.stopping = true
	s.note(Note{Kind: NoteStop, Time: now, Op: -1, Cause: -1, Message: why})
}

func (s *State) note(n Note) {
	if s.KeepNotes {
		s.Notes = append(s.Notes, n)
	}
}

func (s *State) finishBarriers(r int32) {
	op := &s.P.hot[r]
	s.phaseDone[op.phase]++
	if op.batch >= 0 {
		s.batchDone[op.batch]++
	}
}

func (s *State) barriersAllow(op *hot) bool {
	pol := s.P
	return !(pol.PhaseBarrier && op.phase > s.curPhase) && !(pol.BatchBarrier && op.batch > s.curBatch)
}

func (s *State) advanceBarriers() {
	pol := s.P
	ph, b := s.curPhase, s.curBatch
	for int(s.curPhase) < len(pol.Phases) && s.phaseDone[s.curPhase] == pol.PhaseOps[s.curPhase] {
		s.curPhase++
	}
	for int(s.curBatch) < pol.NBatches && s.batchDone[s.curBatch] == pol.BatchOps[s.curBatch] {
		s.curBatch++
	}
	if (s.curPhase != ph || s.curBatch != b) && len(s.parked) > 0 {
		// Barriers only move forward: what they now allow joins the ready
		// list for good.
		// One merge into the ready list, not an insertion each: a phase
		// of thousands of operations would otherwise move the list as
		// many times.
		w := 0
		s.released = s.released[:0]
		for _, r := range s.parked {
			h := &pol.hot[r]
			switch {
			case !s.barriersAllow(h):
				s.parked[w] = r
				w++
			case h.state >= 0 && !h.alone && s.stateBusy[h.state]:
				s.o[r].mark = mStateWait
				s.stateWait[h.state] = append(s.stateWait[h.state], r)
			default:
				s.released = append(s.released, r)
			}
		}
		s.parked = s.parked[:w]
		s.mergeReady(s.released)
	}
}

// insertReady adds an operation whose dependencies are done: to the ready
// list in rank order or, while a barrier holds it, to the parked ones.
// Scheduling would skip a barred operation at every pass anyway (it can
// neither start nor hold others back), so parking it changes nothing but
// the length of those passes.
func (s *State) insertReady(r int32) {
	if s.o[r].notAfter != 0 {
		s.delayed++
	}
	h := &s.P.hot[r]
	if !s.barriersAllow(h) {
		s.o[r].mark = mParked
		s.parked = append(s.parked, r)
		return
	}
	if h.state >= 0 && !h.alone && s.stateBusy[h.state] {
		s.o[r].mark = mStateWait
		s.stateWait[h.state] = append(s.stateWait[h.state], r)
		return
	}
	s.insertSorted(r)
}

// insertSorted puts r on the ready list.
func (s *State) insertSorted(r int32) {
	s.o[r].mark = mReady
	s.ready.add(r)
}

// removeWaiting takes r off the ready or parked list (a skip).
func (s *State) removeWaiting(r int32) {
	var list *[]int32
	switch s.o[r].mark {
	case mParked:
		list = &s.parked
	case mStateWait:
		list = &s.stateWait[s.P.hot[r].state]
	default:
		s.ready.remove(r)
	}
	if list != nil {
		for k, x := range *list {
			if x == r {
				*list = append((*list)[:k], (*list)[k+1:]...)
				break
			}
		}
	}
	if s.o[r].notAfter != 0 {
		s.delayed--
	}
	s.o[r].mark = mNone
}

// freeState marks terraform state st free and brings its waiting
// operations back to the ready list (one merge, in rank order).
func (s *State) freeState(st int32) {
	s.stateBusy[st] = false
	s.mergeReady(s.stateWait[st])
	s.stateWait[st] = s.stateWait[st][:0]
}

// mergeReady puts ranks w on the ready list.
func (s *State) mergeReady(w []int32) {
	for _, r := range w {
		s.o[r].mark = mReady
		s.ready.add(r)
	}
}
