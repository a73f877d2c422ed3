package sim

import (
	"math"
	"testing"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
)

// failing is a TrialOutcome that fails each attempt with probability p.
func failing(p float64) func(uint64, string, int) sched.Outcome {
	return func(key uint64, op string, attempt int) sched.Outcome {
		if Uniform(key, op, attempt) < p {
			return sched.Outcome{Kind: sched.Fail}
		}
		return sched.Outcome{}
	}
}

// TestTrialOutcomeDrawsPerTrial: a failure probability drawn per trial
// makes that share of trials retry (and so take longer), the same on any
// number of workers, and leaves the duration draws alone.
func TestTrialOutcomeDrawsPerTrial(t *testing.T) {
	o := fixed("x", 10)
	o.Retries, o.OnError = 2, "stop"
	p := mkPlan(planner.Mode{MaxParallel: 1}, o)
	const trials, pf = 4000, 0.3
	r1, err := Simulate(p, Options{Trials: trials, Seed: 3, Workers: 1, TrialOutcome: failing(pf)})
	if err != nil {
		t.Fatal(err)
	}
	r3, err := Simulate(p, Options{Trials: trials, Seed: 3, Workers: 3, TrialOutcome: failing(pf)})
	if err != nil {
		t.Fatal(err)
	}
	if r1.WallClock != r3.WallClock {
		t.Errorf("results differ by worker count: %+v, %+v", r1.WallClock, r3.WallClock)
	}
	first := 0
	for _, ms := range r1.makespans {
		if ms == 10*usPerSecond {
			first++
		}
	}
	// The first attempt succeeds in 1 - pf of the trials, within 4
	// standard errors of a binomial share.
	got, want := float64(first)/trials, 1-pf
	if se := math.Sqrt(want * (1 - want) / trials); math.Abs(got-want) > 4*se {
		t.Errorf("%.3f of trials succeeded at once, want %.3f +- %.3f", got, want, 4*se)
	}
	if r1.WallClock.P50 != 10 || r1.WallClock.P90 <= 20 {
		t.Errorf("wall clock %+v: want P50 10s (no retry) and P90 over 20s (a retry, its backoff)", r1.WallClock)
	}
}

// TestUniformIsSpreadAndPure: the draw is a pure function of its inputs
// and changes with each of them.
func TestUniformIsSpreadAndPure(t *testing.T) {
	a := Uniform(TrialKey(1, 0), "x", 1)
	if a != Uniform(TrialKey(1, 0), "x", 1) {
		t.Fatal("Uniform is not pure")
	}
	for _, b := range []float64{Uniform(TrialKey(1, 1), "x", 1), Uniform(TrialKey(2, 0), "x", 1), Uniform(TrialKey(1, 0), "y", 1), Uniform(TrialKey(1, 0), "x", 2)} {
		if a == b {
			t.Errorf("a different input drew the same %v", a)
		}
	}
	// Mean of n uniforms: 1/2 within 4 standard errors (1/sqrt(12 n)).
	const n = 20000
	sum := 0.0
	for i := range n {
		u := Uniform(TrialKey(9, i), "op", 1)
		if u < 0 || u >= 1 {
			t.Fatalf("draw %v outside [0, 1)", u)
		}
		sum += u
	}
	if m, se := sum/n, 1/math.Sqrt(12*n); math.Abs(m-0.5) > 4*se {
		t.Errorf("mean draw %.4f, want 0.5 +- %.4f", m, 4*se)
	}
}
