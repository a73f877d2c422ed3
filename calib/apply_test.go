package calib

import (
	"bytes"
	"testing"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// TestApplyChangesPredictionsNotPlans: a calibration moves the prediction
// to the runs' durations and leaves the plan's bytes and digests alone;
// a failure rate with the spec's retries raises P90.
func TestApplyChangesPredictionsNotPlans(t *testing.T) {
	p := synthPlan(planner.ActionDeploy)
	before, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	digest, spec := p.PlanDigest, p.SpecDigest
	c := build(t, p, base, 10, 1)
	q, opts := c.Apply(p, sim.Options{Trials: 400, Seed: 1, Overhead: sim.DefaultOverhead()})
	after, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || p.PlanDigest != digest || p.SpecDigest != spec {
		t.Fatal("Apply changed the plan")
	}
	if q.Operations[0].Duration.P50 != c.Components["web"]["deploy"].Duration.P50 {
		t.Errorf("web/eu's duration %+v: want the fit's", q.Operations[0].Duration)
	}
	if q.Operations[3].ResourceDuration.P50 != c.Components["db"]["deploy"].Resource.P50 || q.Operations[3].Duration.P50 != 0 {
		t.Errorf("db/eu: %+v, %+v: want the resource fit, still timed by resources", q.Operations[3].Duration, q.Operations[3].ResourceDuration)
	}
	if opts.Overhead["terraform"].Process != 2 {
		t.Errorf("terraform overhead %+v: want the fitted process 2s", opts.Overhead["terraform"])
	}
	plain, err := sim.Simulate(p, sim.Options{Trials: 400, Seed: 1, Overhead: sim.DefaultOverhead()})
	if err != nil {
		t.Fatal(err)
	}
	cal, err := sim.Simulate(q, opts)
	if err != nil {
		t.Fatal(err)
	}
	// web's p50 goes 10s -> about 20s: the calibrated run is longer.
	if cal.WallClock.P50 <= plain.WallClock.P50 {
		t.Errorf("calibrated P50 %.1f, uncalibrated %.1f: want longer (web takes 20s, not 10s)", cal.WallClock.P50, plain.WallClock.P50)
	}
	if opts.TrialOutcome != nil {
		t.Error("no failures seen, yet a failure model")
	}

	tr := base
	tr.failWeb = 0.3
	cf := build(t, p, tr, 40, 5)
	qf, optsF := cf.Apply(p, sim.Options{Trials: 400, Seed: 1})
	if optsF.TrialOutcome == nil {
		t.Fatal("failures seen, no failure model")
	}
	withFail, err := sim.Simulate(qf, optsF)
	if err != nil {
		t.Fatal(err)
	}
	optsF.TrialOutcome = nil
	noFail, err := sim.Simulate(qf, optsF)
	if err != nil {
		t.Fatal(err)
	}
	if withFail.WallClock.P90 <= noFail.WallClock.P90 {
		t.Errorf("P90 with 30%% failures and 2 retries %.1f, without %.1f: want the retries to cost", withFail.WallClock.P90, noFail.WallClock.P90)
	}
}
