package calib

import (
	"math"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
)

// Terraform's overhead is fitted as the simulator applies it: the first
// step of a directory gives Init, steps that start while it runs (they wait
// for the init) give nothing, later ones give Process, each divided by the
// slowdown of start-ups beyond the run's cores.
func TestTerraformOverheadTakesOffContention(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	op := &planner.Operation{ID: "u", Driver: "terraform", Terraform: &planner.Terraform{Dir: "units/u"}}
	at := func(step int, start, wall float64) *attempt {
		return &attempt{op: op, n: 1, step: step, start: t0.Add(time.Duration(start * 1e6 * float64(time.Microsecond))),
			wall: wall, outcome: exec.OutcomeSucceeded, ended: true}
	}
	steps := map[int][]*attempt{
		1: {at(1, 0, 2)},   // the init: overhead 2
		2: {at(2, 0.5, 1)}, // starts during it: waits, left out
		// Three at once after it, on 2 cores, each truly 0.4: the first
		// runs at full speed, the second shares (2/2), the third 3/2.
		3: {at(3, 5, 0.4)},
		4: {at(4, 5, 0.4)},
		5: {at(5, 5, 0.6)},
	}
	b := &builder{}
	b.addSteps(steps, []int{1, 2, 3, 4, 5}, 0, 2)
	if len(b.tfInit) != 1 || b.tfInit[0] != 2 {
		t.Errorf("init samples %v, want [2]", b.tfInit)
	}
	if len(b.tfProc) != 3 {
		t.Fatalf("process samples %v, want 3 (the waiting step left out)", b.tfProc)
	}
	for _, x := range b.tfProc {
		if math.Abs(x-0.4) > 1e-9 {
			t.Errorf("process samples %v, want all 0.4 with the contention taken off", b.tfProc)
		}
	}
	// Without the cores recorded, nothing is taken off.
	b = &builder{}
	b.addSteps(steps, []int{1, 2, 3, 4, 5}, 0, 0)
	if b.tfProc[2] != 0.6 {
		t.Errorf("process samples %v without cores: want the observed 0.6 last", b.tfProc)
	}
}

// Times below the journal's resolution are not a spread: resources deleted
// in 0.1 to 3 ms fit as one 10 ms point, not a 30x tail.
func TestFitFloorsNoise(t *testing.T) {
	f := fitLognormal([]float64{0.0001, 0.003, 0.0002, 0.002, 0.0005}, 0)
	if math.Abs(f.P50-minSeconds) > 1e-12 || math.Abs(f.P90-minSeconds) > 1e-12 {
		t.Errorf("fit %+v: want p50 = p90 = %v", f, minSeconds)
	}
	// Above the floor nothing changes.
	g := fitLognormal([]float64{0.02, 0.02, 0.02}, 0)
	if math.Abs(g.P50-0.02) > 1e-12 {
		t.Errorf("fit %+v: want p50 0.02", g)
	}
}
