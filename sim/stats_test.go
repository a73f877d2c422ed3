package sim

import (
	"fmt"
	"math"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// normQuantile is the standard normal's quantile function.
func normQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

func normPDF(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// Each check allows 4 standard errors of the sample quantile:
// se = sqrt(q(1-q)/n) / f(x_q).
func checkQuantile(t *testing.T, name string, got, want, density float64, q float64, n int) {
	t.Helper()
	se := math.Sqrt(q*(1-q)/float64(n)) / density
	if math.Abs(got-want) > 4*se {
		t.Errorf("%s = %.3f, want %.3f ± %.3f (4 standard errors)", name, got, want, 4*se)
	}
}

func lognormalOp(id string, p50, p90 float64) planner.Operation {
	o := fixed(id, p50)
	o.Duration.P90 = p90
	return o
}

func TestOneLognormal(t *testing.T) {
	const p50, p90, n = 100.0, 200.0, 20000
	r, err := Simulate(mkPlan(planner.Mode{}, lognormalOp("a", p50, p90)), Options{Trials: n, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	mu, sigma := math.Log(p50), math.Log(p90/p50)/normQuantile(0.9)
	for _, q := range []float64{0.1, 0.5, 0.9} {
		z := normQuantile(q)
		x := math.Exp(mu + sigma*z)
		got := map[float64]float64{0.1: r.WallClock.P10, 0.5: r.WallClock.P50, 0.9: r.WallClock.P90}[q]
		checkQuantile(t, "quantile", got, x, normPDF(z)/(x*sigma), q, n)
	}
	// The mean of a lognormal is exp(mu + sigma²/2); its standard error is
	// the standard deviation over sqrt(n).
	mean := math.Exp(mu + sigma*sigma/2)
	sd := mean * math.Sqrt(math.Exp(sigma*sigma)-1)
	if d := math.Abs(r.WallClock.Mean - mean); d > 4*sd/math.Sqrt(n) {
		t.Errorf("mean = %.3f, want %.3f", r.WallClock.Mean, mean)
	}
}

func TestMaxOf24Lognormals(t *testing.T) {
	const p50, p90, n, k = 60.0, 90.0, 20000, 24
	var ops []planner.Operation
	for i := 0; i < k; i++ {
		ops = append(ops, lognormalOp(string(rune('a'+i)), p50, p90))
	}
	r, err := Simulate(mkPlan(planner.Mode{}, ops...), Options{Trials: n, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// P(max <= x) = Phi((ln x - mu)/sigma)^24, so the q-quantile of the
	// maximum is exp(mu + sigma·Phi^-1(q^(1/24))), with density
	// 24·Phi(z)^23·phi(z)/(x·sigma).
	mu, sigma := math.Log(p50), math.Log(p90/p50)/normQuantile(0.9)
	got := map[float64]float64{0.1: r.WallClock.P10, 0.5: r.WallClock.P50, 0.9: r.WallClock.P90}
	for _, q := range []float64{0.1, 0.5, 0.9} {
		z := normQuantile(math.Pow(q, 1.0/k))
		x := math.Exp(mu + sigma*z)
		dens := k * math.Pow(normCDF(z), k-1) * normPDF(z) / (x * sigma)
		checkQuantile(t, "max quantile", got[q], x, dens, q, n)
	}
}

func withAPI(p *planner.Plan, rate float64, burst int, backoff, maxBackoff float64) *planner.Plan {
	p.APIs = []planner.API{{Name: "arm", Rate: rate, Burst: burst, Scope: "deployment",
		Retry: planner.Retry{MaxAttempts: 10, Backoff: backoff, MaxBackoff: maxBackoff}}}
	return p
}

func calling(o planner.Operation, n int) planner.Operation {
	o.Calls = map[string]int{"arm": n}
	return o
}

func TestTokenBucketUnderRate(t *testing.T) {
	// 500 requests over 100s is 5/s against a 10/s refill: even a bucket of
	// one token never runs dry.
	p := withAPI(mkPlan(planner.Mode{}, calling(fixed("a", 100), 500)), 10, 1, 1, 8)
	r, err := Simulate(p, Options{Trials: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.ThrottledMean != 0 || r.WallClock.P90 != 100 {
		t.Errorf("throttled %v, makespan %v; want 0 and 100s", r.ThrottledMean, r.WallClock.P90)
	}
	// Ten concurrent callers at 0.9/s each: 9/s in all, still under. They
	// start together and spread their calls alike, so requests arrive ten
	// at a time: the bucket must hold ten.
	var ops []planner.Operation
	for i := 0; i < 10; i++ {
		ops = append(ops, calling(fixed(string(rune('a'+i)), 100), 90))
	}
	r, err = Simulate(withAPI(mkPlan(planner.Mode{}, ops...), 10, 10, 1, 8), Options{Trials: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.ThrottledMean != 0 || r.WallClock.P90 != 100 {
		t.Errorf("10 callers: throttled %v, makespan %v; want 0 and 100s", r.ThrottledMean, r.WallClock.P90)
	}
	if got := r.APIs[0].PeakDemandRPS; math.Abs(got-9) > 1e-9 {
		t.Errorf("peak demand = %v rps, want 9", got)
	}
}

func TestTokenBucketOverRate(t *testing.T) {
	// 1000 requests, 100 of them covered by the burst, the rest at 20/s:
	// no run can end before (1000-100)/20 = 45s, though the operation
	// alone would take 10s.
	const bound = (1000.0 - 100) / 20
	one := []planner.Operation{calling(fixed("a", 10), 1000)}
	var ten []planner.Operation
	for i := 0; i < 10; i++ {
		ten = append(ten, calling(fixed(string(rune('a'+i)), 10), 100))
	}
	for _, tc := range []struct {
		name    string
		ops     []planner.Operation
		backoff float64
		slack   float64 // how far above the bound the prediction may sit
	}{
		{"one caller, exponential backoff", one, 0.5, 0.15},
		{"ten callers, exponential backoff", ten, 0.5, 0.15},
		{"one caller, Retry-After", one, 0, 0.01},
		{"ten callers, Retry-After", ten, 0, 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := withAPI(mkPlan(planner.Mode{}, tc.ops...), 20, 100, tc.backoff, 4)
			r, err := Simulate(p, Options{Trials: 200, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			if r.WallClock.P10 < bound-1e-6 {
				t.Errorf("P10 %.3fs is below the bound %.3fs", r.WallClock.P10, bound)
			}
			if r.WallClock.P90 > bound*(1+tc.slack) {
				t.Errorf("P90 %.3fs is more than %.0f%% above the bound %.3fs", r.WallClock.P90, 100*tc.slack, bound)
			}
			if r.ThrottledMean == 0 {
				t.Error("no throttling predicted")
			}
			if r.LowerBound != bound || r.LowerBoundBy != "api arm" {
				t.Errorf("lower bound %v by %q, want %v by api arm", r.LowerBound, r.LowerBoundBy, bound)
			}
			t.Logf("P10 %.2f P50 %.2f P90 %.2f, %.0f throttled", r.WallClock.P10, r.WallClock.P50, r.WallClock.P90, r.ThrottledMean)
		})
	}
}

// TestWindowsMatchOneEventPerRequest checks the closed-form request windows
// against the plain one-event-per-request simulation, trial by trial.
func TestWindowsMatchOneEventPerRequest(t *testing.T) {
	var ops []planner.Operation
	for i, r := range []string{"eu", "us", "ap"} {
		o := tf(regional(fixed("net/"+r, 0), "net", r, 0), "infra", 12, 20)
		o.ResourceDuration.P90 = 35
		o.Calls = map[string]int{"arm": 300, "reads": 900}
		ops = append(ops, o)
		k := regional(lognormalOp("k8s/"+r, 60, 100), "k8s", r, 0)
		k.DependsOn = []string{"net/" + r}
		k.Calls = map[string]int{"arm": 40 + 10*i, "reads": 200}
		ops = append(ops, k)
	}
	p := withAPI(mkPlan(planner.Mode{TerraformParallelism: 8}, ops...), 2, 150, 1, 16)
	p.APIs = append(p.APIs, planner.API{Name: "reads", Rate: 10, Burst: 500, Scope: "region",
		Retry: planner.Retry{MaxAttempts: 4, Backoff: 0.5, MaxBackoff: 4}})
	t.Run("throttled", func(t *testing.T) { sameOneByOne(t, p, true, false) })

	// A bucket drained by a first operation, then shared by twelve
	// concurrent ones that cannot empty it: served order-free.
	first := calling(fixed("first", 10), 900)
	ops = []planner.Operation{first}
	for i := 0; i < 12; i++ {
		o := calling(lognormalOp(fmt.Sprintf("next%02d", i), 60, 120), 40+i)
		o.DependsOn = []string{"first"}
		ops = append(ops, o)
	}
	q := withAPI(mkPlan(planner.Mode{}, ops...), 1, 1000, 1, 16)
	t.Run("order-free", func(t *testing.T) { sameOneByOne(t, q, false, true) })
}

func sameOneByOne(t *testing.T, p *planner.Plan, wantThrottle, wantSafe bool) {
	m, err := newModel(p)
	if err != nil {
		t.Fatal(err)
	}
	fast, slow := newEngine(m), newEngine(m)
	slow.oneByOne = true
	throttled := int64(0)
	for i := 0; i < 200; i++ {
		if err := fast.run(9, i); err != nil {
			t.Fatal(err)
		}
		if err := slow.run(9, i); err != nil {
			t.Fatal(err)
		}
		for r := range m.ops {
			if fast.end[r] != slow.end[r] {
				t.Fatalf("trial %d: %s ends at %d with windows, %d one by one", i, m.ops[r].id, fast.end[r], slow.end[r])
			}
		}
		for a := range m.apis {
			if fast.throttled[a] != slow.throttled[a] {
				t.Fatalf("trial %d: api %s throttled %d with windows, %d one by one", i, m.apis[a].name, fast.throttled[a], slow.throttled[a])
			}
			throttled += fast.throttled[a]
		}
		if fast.events >= slow.events && slow.events > 50 {
			t.Errorf("trial %d: windows took %d events, one by one %d", i, fast.events, slow.events)
		}
	}
	if wantThrottle && throttled == 0 {
		t.Error("the case should throttle")
	}
	if wantSafe && fast.safeWindows == 0 {
		t.Error("no window was served order-free")
	}
	if slow.safeWindows != 0 {
		t.Error("the reference served windows order-free")
	}
}
