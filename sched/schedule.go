package sched

import (
	"fmt"
	"math"
	"slices"

	"github.com/echelonhq/echelon/lang"
)

// Never is the wake time that means "no time-based reason to look again".
const Never int64 = -1

// Schedule decides what starts at now: the steps to start (valid until the
// next call), when to call again for a time-based reason (a retry's
// backoff, a Retry-After pause, AIMD's quiet period; Never if none), and
// the batch whose lock set must be taken first under batch_barrier (-1
// none: tell BatchHeld when it is held, then call Schedule again).
//
// Ready operations start in rank order (critical path first) as far as the
// caps, barriers and run-alone rules allow. Terraform instances of one
// state admitted in one pass start together as one step; while a state's
// step runs, its newly ready instances wait for the next one. The steps of
// single operations come first, then the coalesced ones, in admission order.
func (s *State) Schedule(now int64) (starts []Start, wake int64, needBatch int32) {
	s.starts = s.starts[:0]
	wake = Never
	if s.aimd.lastThrottle >= 0 { // AIMD has nothing to raise before a first throttle
		s.aimd.tick(s, now)
		wake = s.aimd.nextWake()
	}
	if s.anyScope {
		for b := range s.scopeAIMD {
			a := &s.scopeAIMD[b]
			if a.lastThrottle >= 0 {
				a.tick(s, now)
				wake = earliest(wake, a.nextWake())
			}
		}
	}
	if s.stopping || s.ready.n == 0 {
		return s.starts, wake, -1
	}
	if p := s.aimd.pausedUntil; now < p {
		return s.starts, earliest(wake, p), -1 // honour Retry-After: nothing new starts until then
	}
	pol := s.P
	if pol.BatchBarrier && s.batchHeld != s.curBatch {
		// The batch's whole lock set is taken at once before any of its
		// operations starts, and released when the batch is done.
		if !s.batchWaiting && int(s.curBatch) < pol.NBatches {
			s.batchWaiting = true
			return s.starts, wake, s.curBatch
		}
		return s.starts, wake, -1
	}
	if s.alone {
		return s.starts, wake, -1
	}
	wake = s.admit(now, wake)
	if len(s.plain) > 0 || len(s.groupOrder) > 0 {
		s.startAdmitted()
	}
	return s.starts, wake, -1
}

// earliest is the earlier of two wake times (Never: none).
func earliest(a, b int64) int64 {
	if a == Never || (b != Never && b < a) {
		return b
	}
	return a
}

// admit walks the ready list in rank order and admits what may start now:
// single operations to s.plain, coalesced terraform instances to s.groups
// by state (s.groupOrder). It returns wake lowered to the earliest backoff
// that held an operation back.
func (s *State) admit(now, wake int64) int64 {
	pol := s.P
	maxPar := s.aimd.parallel
	s.plain = s.plain[:0]
	for r := s.ready.next(0); r >= 0; r = s.ready.next(r + 1) {
		op := &pol.hot[r]
		if s.delayed > 0 && s.o[r].notAfter > now {
			wake = earliest(wake, s.o[r].notAfter)
			continue
		}
		if op.alone {
			// Nothing may overtake a ready run-alone operation: no new work
			// starts until everything has drained, then it runs alone.
			if s.inFlight == 0 && (!s.anyScope || s.scopesAllow(r, now, &wake)) {
				s.occupy(r)
				s.alone = true
				s.plain = append(s.plain, r)
			}
			return wake
		}
		if maxPar > 0 && s.inFlight >= maxPar {
			return wake
		}
		if !s.fits(r) || (s.anyScope && !s.scopesAllow(r, now, &wake)) {
			continue
		}
		if op.state < 0 {
			s.plain = append(s.plain, r)
			s.occupy(r)
			continue
		}
		if s.stateBusy[op.state] {
			// One process per state: it waits, off the ready list, for
			// this one to end (startAdmitted takes it off).
			s.o[r].mark = mStateWait
			s.stateWait[op.state] = append(s.stateWait[op.state], r)
			s.ready.remove(r)
			continue
		}
		s.groupOrder = append(s.groupOrder, op.state)
		s.groups[op.state] = append(s.groups[op.state], r)
		s.occupy(r)
		if !s.o[r].solo { // a coalesced attempt failed: it runs on its own
			s.coalesce(op.state, r+1, now)
		}
	}
	return wake
}

// coalesce adds the ready instances of state st, in rank order, to its
// group as far as the caps allow.
func (s *State) coalesce(st int32, from int32, now int64) {
	pol := s.P
	maxPar := s.aimd.parallel
	for r2 := s.ready.next(from); r2 >= 0; r2 = s.ready.next(r2 + 1) {
		if maxPar > 0 && s.inFlight >= maxPar {
			return
		}
		o2 := &pol.hot[r2]
		if o2.state != st || o2.alone || s.o[r2].solo || (s.delayed > 0 && s.o[r2].notAfter > now) {
			continue
		}
		if s.fits(r2) && (!s.anyScope || s.scopesAllow(r2, now, nil)) {
			s.groups[st] = append(s.groups[st], r2)
			s.occupy(r2)
		}
	}
}

// startAdmitted turns what admit took into steps: the single operations
// first, then the coalesced groups, in admission order. The steps' members
// are s.plain and s.groups themselves, valid until the next Schedule.
func (s *State) startAdmitted() {
	for _, r := range s.plain {
		s.started(r)
	}
	for _, st := range s.groupOrder {
		for _, r := range s.groups[st] {
			s.started(r)
		}
	}
	for k := range s.plain {
		s.addStart(s.plain[k : k+1 : k+1])
	}
	for _, st := range s.groupOrder {
		g := s.groups[st]
		s.addStart(g[:len(g):len(g)])
		s.groups[st] = g[:0]
	}
	s.groupOrder = s.groupOrder[:0]
}

func (s *State) addStart(m []int32) {
	s.stepSeq++
	s.steps++
	tf := s.aimd.tf
	if s.anyScope {
		// A throttled scope's -parallelism holds for every step calling it.
		for _, r := range m {
			for _, b := range s.P.scopesOf(r) {
				tf = min(tf, s.scopeAIMD[b].tf)
			}
		}
	}
	s.starts = append(s.starts, Start{Step: s.stepSeq, Members: m, Parallelism: tf})
}

// scopesAllow reports whether r may start next to what its api scopes
// have in flight, and lowers *wake to the end of a scope's Retry-After
// pause that holds it back (wake may be nil).
func (s *State) scopesAllow(r int32, now int64, wake *int64) bool {
	for _, b := range s.P.scopesOf(r) {
		a := &s.scopeAIMD[b]
		if now < a.pausedUntil {
			if wake != nil {
				*wake = earliest(*wake, a.pausedUntil)
			}
			return false
		}
		if a.parallel > 0 && int(s.scopeBusy[b]) >= a.parallel {
			return false
		}
	}
	return true
}

// fits reports whether a ready operation passes the barriers and the
// region and component caps next to what is in flight or admitted.
func (s *State) fits(r int32) bool {
	pol := s.P
	op := &pol.hot[r]
	if s.o[r].mark == mAdmitted || !s.barriersAllow(op) {
		return false
	}
	if op.region >= 0 && s.regionBusy[op.region] == 0 && pol.RegionParallel > 0 && s.regionsUsed >= pol.RegionParallel {
		return false
	}
	if c := pol.CompCap[op.comp]; c > 0 && s.compBusy[op.comp] >= c {
		return false
	}
	return true
}

// occupy takes an admitted operation's slots.
func (s *State) occupy(r int32) {
	op := &s.P.hot[r]
	s.inFlight++
	if op.region >= 0 {
		if s.regionBusy[op.region] == 0 {
			s.regionsUsed++
		}
		s.regionBusy[op.region]++
	}
	s.compBusy[op.comp]++
	if op.state >= 0 {
		s.stateBusy[op.state] = true
	}
	if s.PerScope {
		for _, b := range s.P.scopesOf(r) {
			s.scopeBusy[b]++
		}
	}
	s.ready.remove(r)
	o := &s.o[r]
	o.mark = mAdmitted // startAdmitted clears it
	o.status = Running
	o.attempts++
}

// release gives back a step's slots.
func (s *State) release(members []int32) {
	s.endStep(members[0])
	for _, r := range members {
		s.freeSlots(r, &s.P.hot[r])
	}
}

// endStep frees what a step holds as a whole: its terraform state (the
// operations waiting for it come back) and the run-alone flag.
func (s *State) endStep(first int32) {
	s.steps--
	if h := &s.P.hot[first]; h.state >= 0 || h.alone {
		if h.state >= 0 {
			s.freeState(h.state)
		}
		if h.alone {
			s.alone = false
		}
	}
}

// freeSlots gives back one operation's slots: in flight, its region's and
// its component's.
func (s *State) freeSlots(r int32, h *hot) {
	if s.PerScope {
		for _, b := range s.P.scopesOf(r) {
			s.scopeBusy[b]--
		}
	}
	s.inFlight--
	if h.region >= 0 {
		if s.regionBusy[h.region]--; s.regionBusy[h.region] == 0 {
			s.regionsUsed--
		}
	}
	s.compBusy[h.comp]--
}

// BatchHeld tells that the lock set Schedule asked for is held.
func (s *State) BatchHeld(b int32) {
	s.batchWaiting = false
	s.batchHeld = b
}

// BatchFailed tells that the lock set Schedule asked for could not be
// taken: the run stops.
func (s *State) BatchFailed(now int64, why string) {
	s.batchWaiting = false
	s.Stop(now, why)
}

// Requeue puts back a step that could not start (its locks are held by
// another run, or it was interrupted before its driver ran): not an
// attempt. notBefore is when it may try again (0: at once).
func (s *State) Requeue(members []int32, notBefore int64) {
	s.release(members)
	for _, r := range members {
		s.o[r].attempts--
		s.o[r].status = Pending
		s.o[r].notAfter = notBefore
		s.insertReady(r)
	}
}

// EndedOK is Ended for a step whose every member succeeded (the
// simulator's common case, without an outcome per member).
func (s *State) EndedOK(members []int32, now int64) {
	pol := s.P
	s.endStep(members[0])
	for _, r := range members {
		op := &pol.hot[r]
		s.freeSlots(r, op)
		s.o[r].status = Succeeded
		s.finished++
		s.phaseDone[op.phase]++
		if op.batch >= 0 {
			s.batchDone[op.batch]++
		}
		for _, d := range pol.depList[pol.depOff[r]:pol.depOff[r+1]] {
			if s.indeg[d]--; s.indeg[d] == 0 {
				s.insertReady(d)
			}
		}
	}
	s.advanceBarriers()
}

// Ended reports a step's end at now with each member's outcome (members
// as Schedule gave them). Successes release their dependents; failures
// retry with backoff or apply on_error; throttling lowers the caps.
func (s *State) Ended(members []int32, out []Outcome, now int64) {
	pol := s.P
	s.endStep(members[0])
	failed := false
	var retryAfter int64
	throttled := false
	for i, r := range members {
		op := &pol.hot[r]
		s.freeSlots(r, op)
		switch out[i].Kind {
		case OK:
			s.o[r].status = Succeeded
			s.finished++
			s.finishBarriers(r)
			for _, d := range pol.depList[pol.depOff[r]:pol.depOff[r+1]] {
				if s.indeg[d]--; s.indeg[d] == 0 {
					s.insertReady(d)
				}
			}
		case Throttled:
			throttled = true
			retryAfter = max(retryAfter, out[i].RetryAfter)
			failed = true
		default:
			failed = true
		}
	}
	if throttled {
		s.throttled(members, out, now, retryAfter)
	}
	if failed {
		for i, r := range members {
			if out[i].Kind != OK {
				s.fail(r, out[i], len(members) > 1, now)
			}
		}
	}
	s.advanceBarriers()
}

// depDone counts one of d's dependencies done (succeeded, or failed with
// on_error = continue). Each dependency is done once, so d's count reaches
// zero once; a skipped operation's count never does (skipDependents).
func (s *State) depDone(d int32) {
	if s.indeg[d]--; s.indeg[d] == 0 {
		s.insertReady(d)
	}
}

func (s *State) fail(r int32, o Outcome, coalesced bool, now int64) {
	op := &s.P.Ops[r]
	if o.Kind == Cancelled {
		s.o[r].status = Pending // in flight at the cancel: --resume runs it again
		return
	}
	wasSolo := s.o[r].solo
	if coalesced {
		s.o[r].solo = true
	}
	retry := false
	var delay int64
	switch {
	case o.Kind == Blameless && !wasSolo:
		// Cut short by another instance's error: its own apply decides,
		// without using up its retries. Once: it is solo now.
		retry = true
	case o.Kind == Lost && int(s.o[r].lost) < s.P.Cfg.ThrottleRetries:
		s.o[r].lost++
		retry = true
	case o.Kind == Throttled && int(s.o[r].throttle) < s.P.Cfg.ThrottleRetries:
		s.o[r].throttle++
		retry = true
		delay = max(o.RetryAfter, s.backoff(int(s.o[r].throttle)))
	case s.o[r].charged < op.Retries:
		s.o[r].charged++
		retry = true
		delay = s.backoff(int(s.o[r].charged))
	}
	if retry {
		s.o[r].status = Pending
		if s.stopping {
			return // left for --resume
		}
		s.o[r].notAfter = now + delay
		if s.o[r].notAfter == 0 {
			s.o[r].notAfter = 1 // 0 means "none"; the clock starts at 0
		}
		s.note(Note{Kind: NoteRetry, Time: now, Op: r, Cause: -1, Attempt: int(s.o[r].attempts) + 1, Delay: delay})
		s.insertReady(r)
		return
	}
	s.o[r].status = Failed
	s.finished++
	s.finishBarriers(r)
	if tol := s.P.FailureTolerance; tol >= 0 && op.Region >= 0 {
		// failure_tolerance: the region fails, the others go on until more
		// regions than tol have failed. on_error = "stop" stops the region
		// (its dependents are skipped), not the run.
		if !s.regionFail[op.Region] {
			s.regionFail[op.Region] = true
			s.failed++
		}
		if op.OnError == OnErrorContinue {
			for _, d := range op.Dependent {
				s.depDone(d)
			}
		} else {
			s.skipDependents(r, now)
		}
		if s.failed > tol {
			s.Stop(now, fmt.Sprintf("%s failed: %s failed, more than failure_tolerance = %d; running operations finish, nothing new starts",
				op.ID, lang.Plural(s.failed, "region"), tol))
		}
		return
	}
	switch op.OnError {
	case OnErrorContinue:
		// The failure is recorded; dependents go ahead.
		for _, d := range op.Dependent {
			s.depDone(d)
		}
	case OnErrorSkipDependents:
		s.skipDependents(r, now)
	default:
		s.skipDependents(r, now)
		s.Stop(now, fmt.Sprintf("%s failed (on_error = stop): running operations finish, nothing new starts", op.ID))
	}
}

// skipDependents marks everything downstream of a failed operation skipped.
func (s *State) skipDependents(r int32, now int64) {
	stack := append([]int32(nil), s.P.Ops[r].Dependent...)
	for len(stack) > 0 {
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.o[o].status != Pending {
			continue
		}
		s.o[o].status = Skipped
		s.indeg[o] = math.MaxInt32 // never ready, whatever else finishes
		if s.o[o].mark == mReady || s.o[o].mark == mParked {
			s.removeWaiting(o)
		}
		s.finished++
		s.finishBarriers(o)
		s.note(Note{Kind: NoteSkip, Time: now, Op: o, Cause: r})
		stack = append(stack, s.P.Ops[o].Dependent...)
	}
}

// backoff is the delay before retry n (1-based): exponential with full
// jitter in its upper half.
func (s *State) backoff(n int) int64 {
	c := s.P.Cfg
	d := c.Backoff
	for i := 1; i < n && d < c.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxBackoff)
	return d/2 + s.rng.Int64N(d/2+1)
}

// started clears an admitted operation's admission marks.
func (s *State) started(r int32) {
	o := &s.o[r]
	o.mark = mNone
	if o.notAfter != 0 {
		o.notAfter = 0
		s.delayed--
	}
}

// throttled lowers the caps after a throttled step: of each api scope its
// throttled operations call (PerScope), or of the whole run when they call
// none. One throttle per step and scope, however many operations it hit.
func (s *State) throttled(members []int32, out []Outcome, now, retryAfter int64) {
	if s.PerScope {
		hit := s.scratchScopes[:0]
		for i, r := range members {
			if out[i].Kind != Throttled {
				continue
			}
			for _, b := range s.P.scopesOf(r) {
				if !slices.Contains(hit, b) {
					hit = append(hit, b)
				}
			}
		}
		s.scratchScopes = hit
		if len(hit) > 0 {
			s.anyScope = true
			for _, b := range hit {
				n := int(s.scopeBusy[b]) // in flight still, plus this step's members calling it
				for _, r := range members {
					if slices.Contains(s.P.scopesOf(r), b) {
						n++
					}
				}
				s.scopeAIMD[b].throttled(s, now, retryAfter, n)
			}
			return
		}
	}
	s.aimd.throttled(s, now, retryAfter, s.inFlight+len(members))
}
