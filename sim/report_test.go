package sim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

func TestDuration(t *testing.T) {
	for sec, want := range map[float64]string{
		0: "0s", 0.5: "0.5s", 3: "3s", 9.96: "10s", 42: "42s", 59.6: "1m",
		245: "4m5s", 599: "9m59s", 600: "10m", 2290: "38m", 3599: "1h",
		4320: "1h12m", 31631: "8h47m", 25200: "7h",
	} {
		if got := Duration(sec); got != want {
			t.Errorf("Duration(%v) = %q, want %q", sec, got, want)
		}
	}
}

func TestCheckBudgets(t *testing.T) {
	rs := []*Result{
		{Mode: "fast", WallClock: Quantiles{P50: 100, P90: 150}, ThrottledMean: 3},
		{Mode: "slow", WallClock: Quantiles{P50: 300, P90: 320}},
	}
	budgets := []planner.Budget{
		{Name: "fast-ok", Mode: "fast", P50: 120, P90: 150, MaxThrottled: -1},
		{Name: "fast-p90", Mode: "fast", P50: 120, P90: 140, MaxThrottled: 2},
		// max_throttled = 0 is a limit (no 429 at all), not "unset".
		{Name: "no-429", MaxThrottled: 0},
		{Name: "any", P50: 200, MaxThrottled: -1},
		{Name: "other", Mode: "ultra", P50: 1, MaxThrottled: -1},
	}
	got := CheckBudgets(budgets, rs)
	type row struct {
		name, mode string
		checked    bool
		what       string
	}
	var rows []row
	for _, c := range got {
		var what []string
		for _, v := range c.Violations {
			what = append(what, v.What)
		}
		if c.OK != (len(c.Violations) == 0) {
			t.Errorf("%s: OK = %v with %d violations", c.Name, c.OK, len(c.Violations))
		}
		rows = append(rows, row{c.Name, c.Mode, c.Checked, strings.Join(what, ",")})
	}
	want := []row{
		{"fast-ok", "fast", true, ""}, // P90 equal to the limit holds
		{"fast-p90", "fast", true, "p90,max_throttled"},
		{"no-429", "fast", true, "max_throttled"},
		{"no-429", "slow", true, ""},
		{"any", "fast", true, ""},
		{"any", "slow", true, "p50"},
		{"other", "ultra", false, ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("check %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
}

func TestPick(t *testing.T) {
	cs := []candidate{
		{cap: 0, p50: 100, throttled: 0},
		{cap: 4, p50: 200, throttled: 0},
		{cap: 16, p50: 104, throttled: 0},
		{cap: 8, p50: 110, throttled: 0},
		{cap: 64, p50: 90, throttled: 40}, // fastest, but throttles
	}
	// Throttle-free best is 100 (no cap); 16 is the smallest within 5%.
	if got := pick(cs, 0.5).cap; got != 16 {
		t.Errorf("pick = %d, want 16", got)
	}
	// Tolerating 40 throttled requests, 64 is best and nothing else is
	// within 5% of 90 except... nothing: 64.
	if got := pick(cs, 50).cap; got != 64 {
		t.Errorf("pick with tolerance = %d, want 64", got)
	}
	all := []candidate{{cap: 2, p50: 10, throttled: 9}, {cap: 4, p50: 8, throttled: 3}, {cap: 8, p50: 7, throttled: 3}}
	if got := pick(all, 0.5).cap; got != 4 {
		t.Errorf("when all throttle: pick = %d, want the least throttling, smallest: 4", got)
	}
}

func TestRegionalBuckets(t *testing.T) {
	// Three regions each make 300 requests in 10s (30/s) against 40/s: one
	// bucket per region never runs dry; a single deployment-wide bucket
	// would see 90/s and throttle.
	var ops []planner.Operation
	for _, r := range []string{"eu", "us", "ap"} {
		o := regional(calling(fixed("x/"+r, 10), 300), "x", r, 0)
		ops = append(ops, o)
	}
	for _, tc := range []struct {
		scope    string
		throttle bool
	}{{"region", false}, {"deployment", true}} {
		p := withAPI(mkPlan(planner.Mode{}, ops...), 40, 5, 0.5, 4)
		p.APIs[0].Scope = tc.scope
		r, err := Simulate(p, Options{Trials: 20, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if (r.ThrottledMean > 0) != tc.throttle {
			t.Errorf("scope %s: %v throttled a run", tc.scope, r.ThrottledMean)
		}
	}
}

func TestJSONArraysNeverNull(t *testing.T) {
	r, err := Simulate(mkPlan(planner.Mode{}, fixed("a", 1)), Options{Trials: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, "d", []*Result{r}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "null") {
		t.Errorf("null in JSON:\n%s", buf.String())
	}
	var out struct {
		FormatVersion string `json:"format_version"`
		Modes         []struct {
			WallClock struct{ P50 float64 } `json:"wall_clock"`
			APIs      []any                 `json:"apis"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.FormatVersion != "1" || len(out.Modes) != 1 || out.Modes[0].WallClock.P50 != 1 || out.Modes[0].APIs == nil {
		t.Errorf("unexpected JSON: %s", buf.String())
	}
}
