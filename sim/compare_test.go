package sim

import (
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestCompare: phase spans from the real starts and ends, and an operation
// named when its time falls outside its own P10-P90 (beyond the slack).
func TestCompare(t *testing.T) {
	p := mkPlan(planner.Mode{}, fixed("a", 10), fixed("b", 10))
	p.Operations[1].Duration = planner.Duration{P50: 10, P90: 20} // P10 = 5
	r, err := Simulate(p, Options{Trials: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ph := p.Operations[0].Phase
	c := Compare(p, r, []Actual{
		{Op: "a", Phase: ph, Start: 0, End: 10.3, OK: true}, // within the slack of a point
		{Op: "b", Phase: ph, Start: 1, End: 31, OK: true},   // 30 s > P90 20 s
		{Op: "b", Phase: ph, Start: 0, End: 0},              // a failure: not held to anything
	}, 31)
	if c.Checked != 2 || len(c.Outliers) != 1 || c.Outliers[0].Op != "b" || c.Outliers[0].Actual != 30 || c.Outliers[0].P10 != 5 {
		t.Errorf("outliers %+v (checked %d): want b alone, 30 s against 5-20 s", c.Outliers, c.Checked)
	}
	if len(c.Phases) != 1 || c.Phases[0].Actual != 31 {
		t.Errorf("phases %+v: want one of 31 s (first start to last end)", c.Phases)
	}
	if c.Actual != 31 || c.Predicted != r.WallClock || c.Trials != 20 {
		t.Errorf("totals %+v", c)
	}
}

// TestComparePacedLeftOut: the wait for shared api tokens before an
// operation's driver started is not its own time: an operation that ran
// its 10 s after waiting 20 s is no outlier; the phase's span keeps the
// wait (it is wall-clock time).
func TestComparePacedLeftOut(t *testing.T) {
	p := mkPlan(planner.Mode{}, fixed("a", 10))
	r, err := Simulate(p, Options{Trials: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ph := p.Operations[0].Phase
	c := Compare(p, r, []Actual{{Op: "a", Phase: ph, Start: 0, End: 30, Paced: 20, OK: true}}, 30)
	if c.Checked != 1 || len(c.Outliers) != 0 {
		t.Errorf("outliers %+v (checked %d): want none, the 20 s wait left out", c.Outliers, c.Checked)
	}
	if len(c.Phases) != 1 || c.Phases[0].Actual != 30 {
		t.Errorf("phases %+v: want one of 30 s, the wait included", c.Phases)
	}
	c = Compare(p, r, []Actual{{Op: "a", Phase: ph, Start: 0, End: 30, Paced: 5, OK: true}}, 30)
	if len(c.Outliers) != 1 || c.Outliers[0].Actual != 25 {
		t.Errorf("outliers %+v: want a at 25 s (30 less its 5 s wait)", c.Outliers)
	}
}
