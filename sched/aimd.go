package sched

import (
	"fmt"
	"time"

	"github.com/echelonhq/echelon/lang"
)

// aimd adapts the effective parallelism to throttling: each throttle halves
// the operations in flight and terraform's -parallelism (down to 1); after
// a quiet period without throttling it raises them again, +1 operation and
// doubling -parallelism, until back at the mode's values. Several throttles
// from one burst count once: a second halving waits for the first's
// Retry-After (or a second) to pass.
type aimd struct {
	base, tfBase int // the mode's values; base 0 = no cap
	parallel     int // effective max in flight; 0 = no cap
	tf           int // effective -parallelism
	peak         int // in flight when first throttled without a cap
	quiet        int64
	noTF         bool   // the plan runs no terraform: messages leave -parallelism out
	scope        string // the api scope it acts on ("": every operation)

	lastThrottle int64
	lastChange   int64
	holdDown     int64 // no further halving before this
	pausedUntil  int64 // Retry-After: nothing new starts before this
}

func newAIMD(maxParallel, tfParallelism int, quiet int64, noTF bool) aimd {
	return aimd{base: maxParallel, tfBase: tfParallelism, parallel: maxParallel, tf: tfParallelism, quiet: quiet,
		noTF: noTF, lastThrottle: -1, lastChange: -1, holdDown: -1, pausedUntil: -1}
}

// Parallel is the effective max_parallel (0: no cap) and TF the effective
// terraform -parallelism.
func (s *State) Parallel() (maxParallel, tf int) { return s.aimd.parallel, s.aimd.tf }

// throttled records a throttle at now.
func (a *aimd) throttled(s *State, now, retryAfter int64, inFlight int) {
	a.lastThrottle = now
	if p := now + retryAfter; p > a.pausedUntil {
		a.pausedUntil = p
	}
	if now < a.holdDown {
		return
	}
	a.holdDown = now + max(retryAfter, Second)
	cur := a.parallel
	if cur == 0 {
		cur = max(inFlight, 1)
		a.peak = cur
	}
	np, ntf := max(1, cur/2), a.tf
	if !a.noTF {
		ntf = max(1, a.tf/2)
	}
	if np == a.parallel && ntf == a.tf {
		return
	}
	a.parallel, a.tf, a.lastChange = np, ntf, now
	s.note(Note{Kind: NoteAIMD, Time: now, Op: -1, Cause: -1, Parallel: np, TF: ntf, RetryAfter: retryAfter, Throttle: true,
		Scope: a.scope, Message: a.scopeNote() + fmt.Sprintf("throttled: parallelism down to %d operations%s", np, a.tfNote(ntf))})
}

func (a *aimd) below() bool {
	return (a.base > 0 && a.parallel < a.base) || (a.base == 0 && a.parallel > 0) || a.tf < a.tfBase
}

// nextWake is when tick may next raise the parallelism, or Never.
func (a *aimd) nextWake() int64 {
	if !a.below() {
		return Never
	}
	return max(a.lastThrottle, a.lastChange) + a.quiet
}

// tick raises the parallelism after a quiet period.
func (a *aimd) tick(s *State, now int64) {
	w := a.nextWake()
	if w == Never || now < w {
		return
	}
	switch {
	case a.base > 0:
		a.parallel = min(a.base, a.parallel+1)
	case a.parallel > 0:
		a.parallel++
		if a.parallel >= a.peak {
			a.parallel = 0 // back to no cap
		}
	}
	a.tf = min(a.tfBase, a.tf*2)
	a.lastChange = now
	shown := a.parallel
	msg := fmt.Sprintf("quiet for %s: parallelism up to %d operations%s", fmtDur(a.quiet), shown, a.tfNote(a.tf))
	if shown == 0 {
		msg = fmt.Sprintf("quiet for %s: no cap on operations again%s", fmtDur(a.quiet), a.tfNote(a.tf))
	}
	s.note(Note{Kind: NoteAIMD, Time: now, Op: -1, Cause: -1, Parallel: shown, TF: a.tf, Scope: a.scope, Message: a.scopeNote() + msg})
}

// scopeNote names the api scope a change acts on ("" for every operation).
func (a *aimd) scopeNote() string {
	if a.scope == "" {
		return ""
	}
	return a.scope + ": "
}

func (a *aimd) tfNote(tf int) string {
	if a.noTF {
		return ""
	}
	return fmt.Sprintf(", terraform -parallelism=%d", tf)
}

// fmtDur writes a duration on the policy's clock as a spec does ("30s").
func fmtDur(us int64) string { return lang.FormatDuration(time.Duration(us) * time.Microsecond) }
