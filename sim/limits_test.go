package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

func TestTrialsBounded(t *testing.T) {
	p := mkPlan(planner.Mode{}, fixed("a", 1))
	_, err := Simulate(p, Options{Trials: MaxTrials + 1, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "1000000") {
		t.Fatalf("Simulate(MaxTrials+1) = %v; want an error naming the limit", err)
	}
}

// TestBytesPerTrial holds the aggregate to what the quantiles need: a
// makespan, a span per phase and a peak per api (8 bytes each), plus two
// scratch slices of 8 bytes a trial. 2e9 trials once allocated ~170 bytes
// each up front and died with "runtime: out of memory".
func TestBytesPerTrial(t *testing.T) {
	a := calling(lognormalOp("a", 10, 20), 50)
	b := calling(lognormalOp("b", 10, 20), 50)
	b.Phase = "second"
	p := withAPI(mkPlan(planner.Mode{}, a, b), 5, 10, 1, 8)
	const n = 50000
	if _, err := Simulate(p, Options{Trials: 10, Seed: 1, Workers: 1}); err != nil {
		t.Fatal(err) // warm up: package-level allocations out of the figure
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Simulate(p, Options{Trials: n, Seed: 1, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	perTrial := float64(after.TotalAlloc-before.TotalAlloc) / n
	nPh, nAPI := 2, 1
	limit := float64(8*(1+nPh+nAPI) + 16 + 8) // figures, scratch, slack for the model and engine
	t.Logf("%.1f bytes per trial (limit %.0f)", perTrial, limit)
	if perTrial > limit {
		t.Errorf("%.1f bytes allocated per trial, want at most %.0f", perTrial, limit)
	}
}

func TestSearchTrialsAtMostTrials(t *testing.T) {
	p := mkPlan(planner.Mode{MaxParallel: 1}, fixed("a", 1), fixed("b", 1))
	for _, tc := range []struct{ trials, rec, want int }{
		{100, 0, 100},
		{1000, 0, DefaultRecommendTrials},
		{1000, 300, 300},
		{50, 300, 50},
	} {
		r, err := Simulate(p, Options{Trials: tc.trials, Seed: 1, Recommend: true, RecommendTrials: tc.rec})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Recommended.Trials; got != tc.want {
			t.Errorf("trials %d, recommend-trials %d: search ran %d trials per candidate, want %d", tc.trials, tc.rec, got, tc.want)
		}
	}
}

// TestSearchTrialsBoundedByOperations: the search spends at most
// RecommendOpTrials operation-trials a candidate, and at least 10 trials.
func TestSearchTrialsBoundedByOperations(t *testing.T) {
	defer func(v int) { recommendOpTrials = v }(recommendOpTrials)
	p := mkPlan(planner.Mode{MaxParallel: 1}, fixed("a", 1), fixed("b", 1))
	for _, tc := range []struct{ budget, trials, want int }{
		{100, 100, 50}, // 100 / 2 operations
		{2, 100, 10},   // never under 10
		{2, 5, 5},      // nor over the prediction's own trials
		{1000, 100, 100},
	} {
		recommendOpTrials = tc.budget
		r, err := Simulate(p, Options{Trials: tc.trials, Seed: 1, Recommend: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Recommended.Trials; got != tc.want {
			t.Errorf("budget %d, trials %d: %d trials per candidate, want %d", tc.budget, tc.trials, got, tc.want)
		}
	}
}

// TestRecommendationStatesItsTolerance: a recommendation that throttles a
// little (under the tolerance) must not be described as not throttling,
// and the output must name the tolerance it was held to.
func TestRecommendationStatesItsTolerance(t *testing.T) {
	// 4 operations of 2000 requests at 100/s with a burst of 1000: any
	// overlap throttles. Tolerance: 0.1% of 8000 = 8 a run.
	var ops []planner.Operation
	for _, id := range []string{"a", "b", "c", "d"} {
		ops = append(ops, calling(lognormalOp(id, 20, 30), 2000))
	}
	p := withAPI(mkPlan(planner.Mode{}, ops...), 100, 1000, 1, 8)
	r, err := Simulate(p, Options{Trials: 100, Seed: 1, Recommend: true})
	if err != nil {
		t.Fatal(err)
	}
	rc := r.Recommended
	t.Logf("recommended %d: %.2f throttled a run, tolerance %.1f", rc.MaxParallel, rc.ThrottledMean, rc.Tolerated)
	if rc.Tolerated != 8 {
		t.Errorf("tolerance %v, want 8 (0.1%% of 8000 requests)", rc.Tolerated)
	}
	var txt, js bytes.Buffer
	if err := WriteText(&txt, "d", []*Result{r}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(txt.String(), "do not throttle") {
		t.Errorf("legend claims the caps do not throttle:\n%s", txt.String())
	}
	for _, want := range []string{ToleranceRule, "tolerance 8.0"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}
	if err := WriteJSON(&js, "d", []*Result{r}, nil); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Modes []map[string]any `json:"modes"`
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.Modes[0]["recommended_throttle_tolerance"]; got != 8.0 {
		t.Errorf("recommended_throttle_tolerance = %v, want 8", got)
	}
	if _, ok := out.Modes[0]["recommended_throttled_mean"]; !ok {
		t.Errorf("recommended_throttled_mean missing: %s", js.String())
	}
}

func TestUncheckedBudgetIsNeitherOKNorBroken(t *testing.T) {
	r, err := Simulate(mkPlan(planner.Mode{Name: "fast"}, fixed("a", 10)), Options{Trials: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	checks := CheckBudgets([]planner.Budget{
		{Name: "quick", Mode: "fast", P50: 60, MaxThrottled: -1},
		{Name: "careful", Mode: "slow", P50: 60, MaxThrottled: -1},
	}, []*Result{r})
	var js bytes.Buffer
	if err := WriteJSON(&js, "d", []*Result{r}, checks); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Budgets []map[string]any `json:"budgets"`
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Budgets) != 2 {
		t.Fatalf("budgets: %s", js.String())
	}
	for _, b := range out.Budgets {
		checked := b["checked"] == true
		ok, has := b["ok"]
		switch {
		case !has:
			t.Errorf("budget %v: no ok key", b["name"])
		case checked && ok != true:
			t.Errorf("budget %v: checked, ok = %v, want true", b["name"], ok)
		case !checked && ok != nil:
			t.Errorf("budget %v: not checked, ok = %v, want null", b["name"], ok)
		}
	}
}

// TestAbsurdSpreadStaysInRange: p90 = 1e300 x p50 overflows math.Exp and
// int64 in a draw; draws are clamped to maxDraw, never negative.
func TestAbsurdSpreadStaysInRange(t *testing.T) {
	for _, d := range []planner.Duration{{P50: 1, P90: 1e300}, {P50: 1e300, P90: 1e308}, {P50: 1, P90: math.Inf(1)}} {
		o := fixed("a", 1)
		o.Duration = d
		r, err := Simulate(mkPlan(planner.Mode{}, o, fixed("b", 1, "a")), Options{Trials: 300, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := 1.0, maxDraw/usPerSecond+1
		for _, x := range r.makespans {
			s := float64(x) / usPerSecond
			if !(s >= lo && s <= hi) {
				t.Fatalf("duration %+v: a trial took %gs, want within [%g, %g]", d, s, lo, hi)
			}
		}
	}
}

// TestAxisLabelsOneForm: every label of a Gantt axis has one form (digits
// aside), whatever the run's length: no "2m00s" next to "10m".
func TestAxisLabelsOneForm(t *testing.T) {
	label := regexp.MustCompile(`y="79.0" text-anchor="middle" fill="#444">([^<]*)<`)
	digits := regexp.MustCompile(`[0-9]+`)
	for _, total := range []float64{7, 45, 100, 330, 720, 1500, 3000, 5400, 7300, 40000} {
		run := &Run{Mode: "m", Makespan: total, Phases: []string{"main"},
			Spans: []Span{{ID: "a", Phase: "main", Start: 0, End: total}}}
		var buf bytes.Buffer
		if err := WriteGantt(&buf, "t", run); err != nil {
			t.Fatal(err)
		}
		ms := label.FindAllStringSubmatch(buf.String(), -1)
		if len(ms) < 2 {
			t.Fatalf("total %gs: %d axis labels", total, len(ms))
		}
		form := digits.ReplaceAllString(ms[0][1], "9")
		for _, m := range ms {
			if f := digits.ReplaceAllString(m[1], "9"); f != form {
				t.Errorf("total %gs: labels %q and %q differ in form", total, ms[0][1], m[1])
				break
			}
		}
	}
}
