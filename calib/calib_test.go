package calib

import (
	"bytes"
	"math"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

var base = truth{web: lognormal{20, 35}, res: lognormal{3, 5}, process: 2, init: 5}

// TestRecoversKnownDurations: the fit of synthetic journals drawn from
// known lognormals holds the true p50 and p90 within the 95% ranges it
// reports, for the command component and terraform's resources, and
// terraform's overhead comes back exactly (it is drawn without noise).
func TestRecoversKnownDurations(t *testing.T) {
	c := build(t, synthPlan(planner.ActionDeploy), base, 10, 1)
	web := c.Components["web"]["deploy"]
	if web.Duration.Samples != 30 {
		t.Fatalf("web: %d samples, want 30 (3 instances x 10 runs)", web.Duration.Samples)
	}
	// Within the fit's own error: 1.5 x its 95% range's half-width in log
	// space (about 3 standard errors). TestRangesCoverTheTruth checks the
	// ranges themselves.
	near := func(what string, truth float64, got float64, r []float64) {
		half := (math.Log(r[1]) - math.Log(r[0])) / 2
		if math.Abs(math.Log(got)-math.Log(truth)) > 1.5*half {
			t.Errorf("%s: fit %v, truth %v: off by more than its reported error (range %v)", what, got, truth, r)
		}
	}
	near("web p50", 20, web.Duration.P50, web.Duration.P50Range)
	near("web p90", 35, web.Duration.P90, web.Duration.P90Range)
	db := c.Components["db"]["deploy"]
	if db.Resource.Samples != 80 {
		t.Errorf("db: %d resource samples, want 80", db.Resource.Samples)
	}
	near("db resource p50", 3, db.Resource.P50, db.Resource.P50Range)
	near("db resource p90", 5, db.Resource.P90, db.Resource.P90Range)
	tf := c.Drivers["terraform"]
	if tf == nil || tf.Overhead.Process != 2 || tf.Overhead.Init != 5 {
		t.Fatalf("terraform overhead %+v: want process 2, init 5", tf)
	}
	if c.Runs != 10 || c.LastRun != "2026-11-11" {
		t.Errorf("runs %d, last %s: want 10, 2026-11-11", c.Runs, c.LastRun)
	}
}

// TestRangesCoverTheTruth: over many independent synthetic histories,
// the reported 95% ranges hold the true figures about 95% of the time
// (at least 90%: the ranges are honest, not decoration), and they narrow
// as samples grow.
func TestRangesCoverTheTruth(t *testing.T) {
	const histories = 200
	p := synthPlan(planner.ActionDeploy)
	for _, runs := range []int{2, 10} {
		cov := map[string]int{}
		var width float64
		for s := range histories {
			c := build(t, p, base, runs, uint64(100+s))
			f, r := c.Components["web"]["deploy"].Duration, c.Components["db"]["deploy"].Resource
			for what, ok := range map[string]bool{"web p50": within(20, f.P50Range), "web p90": within(35, f.P90Range),
				"resource p50": within(3, r.P50Range), "resource p90": within(5, r.P90Range)} {
				if ok {
					cov[what]++
				}
			}
			width += f.P50Range[1] / f.P50Range[0]
		}
		t.Logf("%d runs: covered of %d: %v; mean web p50 range hi/lo %.3f", runs, histories, cov, width/histories)
		for _, what := range []string{"web p50", "web p90", "resource p50", "resource p90"} {
			if cov[what] < histories*90/100 {
				t.Errorf("%d runs: the 95%% range held the true %s in %d of %d histories: want at least 90%%", runs, what, cov[what], histories)
			}
		}
	}
}

// TestFewSamples: one sample gives p50 and takes the spec's spread for
// p90, saying so; identical samples say no spread was seen; the figures
// come with their sample counts.
func TestFewSamples(t *testing.T) {
	p := synthPlan(planner.ActionDeploy)
	p.Operations = p.Operations[:1] // web/eu alone
	c := build(t, p, base, 1, 3)
	f := c.Components["web"]["deploy"].Duration
	if f.Samples != 1 || f.P90From != FromSpec || f.P50Range != nil || math.Abs(f.P90/f.P50-1.5) > 1e-3 {
		t.Errorf("one sample: %+v: want p90 = p50 x the spec's 1.5, said so, no ranges", f)
	}
	same := fitLognormal([]float64{4, 4, 4}, 2)
	if same.P90From != FromNoSpread || same.P90 != 4 {
		t.Errorf("identical samples: %+v: want p90 4, no spread seen", same)
	}
	if one := fitLognormal([]float64{4}, 0); one.P90From != FromOne || one.P90 != 4 {
		t.Errorf("one sample, no spec spread: %+v", one)
	}
	if fitLognormal(nil, 0) != nil {
		t.Error("no samples gave a fit")
	}
	// A resource deleted in no measurable time does not break the log.
	if z := fitLognormal([]float64{0, 0.5, 1}, 0); !finite(z.P50) || !finite(z.P90) {
		t.Errorf("a zero sample: %+v", z)
	}
}

// TestOutliersNamed: a sample far beyond the others is named with its
// operation, run and attempt, and kept in the fit.
func TestOutliersNamed(t *testing.T) {
	xs := []float64{10, 11, 9.5, 10.2, 10.8, 9.9, 120}
	got := outlierIdx(xs)
	if len(got) != 1 || got[0] != 6 {
		t.Fatalf("outliers %v: want the 120 s sample alone", got)
	}
	a := &acc{}
	for i, x := range xs {
		a.dur.add(x, Outlier{Op: "web/eu", Run: i + 1, Attempt: 1})
	}
	f := a.finish()
	if len(f.Outliers) != 1 || f.Outliers[0].Run != 7 || f.Outliers[0].Seconds != 120 || f.Duration.Samples != 7 {
		t.Errorf("outliers %+v, fit %+v: want run 7's 120 s named and kept", f.Outliers, f.Duration)
	}
}

// TestFailureRates: failed attempts over attempts; retries counted.
func TestFailureRates(t *testing.T) {
	tr := base
	tr.failWeb = 0.3
	c := build(t, synthPlan(planner.ActionDeploy), tr, 40, 5)
	web := c.Components["web"]["deploy"]
	if web.Failed == 0 || web.Retried == 0 {
		t.Fatalf("web: %+v: want failures and retries", web)
	}
	if got := float64(web.Failed) / float64(web.Attempts); math.Abs(got-web.FailureRate) > 1e-3 {
		t.Errorf("failure rate %v, want failed/attempts = %v", web.FailureRate, got)
	}
	// Binomial: 0.3 within 4 standard errors.
	if se := math.Sqrt(0.3 * 0.7 / float64(web.Attempts)); math.Abs(web.FailureRate-0.3) > 4*se {
		t.Errorf("failure rate %v over %d attempts: want 0.3 +- %.3f", web.FailureRate, web.Attempts, 4*se)
	}
	if db := c.Components["db"]["deploy"]; db.Failed != 0 || db.FailureRate != 0 {
		t.Errorf("db never failed: %+v", db)
	}
}

// TestDeterministicFile: the same journals give the same bytes.
func TestDeterministicFile(t *testing.T) {
	p := synthPlan(planner.ActionDeploy)
	a, _ := build(t, p, base, 5, 9).Marshal()
	b, _ := build(t, p, base, 5, 9).Marshal()
	if !bytes.Equal(a, b) {
		t.Errorf("two fits of the same runs differ")
	}
	if bytes.Contains(a, []byte("T09:")) {
		t.Errorf("the file holds a timestamp:\n%s", a)
	}
}
