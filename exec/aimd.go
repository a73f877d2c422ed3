package exec

import (
	"fmt"
	"time"
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
	quiet        time.Duration
	noTF         bool // the plan runs no terraform: messages leave -parallelism out

	lastThrottle time.Time
	lastChange   time.Time
	holdDown     time.Time // no further halving before this
	pausedUntil  time.Time // Retry-After: nothing new starts before this
}

func newAIMD(maxParallel, tfParallelism int, quiet time.Duration) *aimd {
	return &aimd{base: maxParallel, tfBase: tfParallelism, parallel: maxParallel, tf: tfParallelism, quiet: quiet}
}

// throttled records a throttle; it returns the change event, if any.
func (a *aimd) throttled(now time.Time, retryAfter time.Duration, inFlight int) *Event {
	a.lastThrottle = now
	if p := now.Add(retryAfter); p.After(a.pausedUntil) {
		a.pausedUntil = p
	}
	if now.Before(a.holdDown) {
		return nil
	}
	a.holdDown = now.Add(max(retryAfter, time.Second))
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
		return nil
	}
	a.parallel, a.tf, a.lastChange = np, ntf, now
	return &Event{Time: now, Kind: EvAIMD, Parallel: np, Parallelism: ntf,
		RetryAfter: retryAfter.Seconds(),
		Message:    fmt.Sprintf("throttled: parallelism down to %d operations%s", np, a.tfNote(ntf))}
}

func (a *aimd) below() bool {
	return (a.base > 0 && a.parallel < a.base) || (a.base == 0 && a.parallel > 0) || a.tf < a.tfBase
}

// nextWake is when tick may next raise the parallelism, or zero.
func (a *aimd) nextWake() time.Time {
	if !a.below() {
		return time.Time{}
	}
	last := a.lastThrottle
	if a.lastChange.After(last) {
		last = a.lastChange
	}
	return last.Add(a.quiet)
}

// tick raises the parallelism after a quiet period; it returns the change.
func (a *aimd) tick(now time.Time) *Event {
	w := a.nextWake()
	if w.IsZero() || now.Before(w) {
		return nil
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
	msg := fmt.Sprintf("quiet for %s: parallelism up to %d operations%s", a.quiet, shown, a.tfNote(a.tf))
	if shown == 0 {
		msg = fmt.Sprintf("quiet for %s: no cap on operations again%s", a.quiet, a.tfNote(a.tf))
	}
	return &Event{Time: now, Kind: EvAIMD, Parallel: shown, Parallelism: a.tf, Message: msg}
}

func (a *aimd) tfNote(tf int) string {
	if a.noTF {
		return ""
	}
	return fmt.Sprintf(", terraform -parallelism=%d", tf)
}
