package sim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// specPlans loads a spec of specs/ and compiles every mode, in declaration
// order.
func specPlans(t testing.TB, name string) []*planner.Plan {
	t.Helper()
	dir := filepath.Join("..", "specs", name)
	spec, diags := lang.Load(dir, lang.LoadOptions{Environ: []string{}})
	if diags.HasErrors() {
		_ = lang.WriteDiagnostics(os.Stderr, diags, nil, false)
		t.Fatalf("load %s: %s", dir, diags.Error())
	}
	var plans []*planner.Plan
	for _, m := range spec.Modes {
		p, diags := planner.Compile(spec, planner.Options{Mode: m.Name})
		if diags.HasErrors() {
			t.Fatalf("compile %s --mode %s: %s", dir, m.Name, diags.Error())
		}
		plans = append(plans, p)
	}
	return plans
}

func TestBesuQuick(t *testing.T) {
	for _, p := range specPlans(t, "besu-network") {
		r, err := Simulate(p, Options{Trials: 2000, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v cp %.0f lb %.0f by %s thr %.1f p %.2f risk %s events/trial %d", r.Mode, r.WallClock, r.CriticalPath, r.LowerBound, r.LowerBoundBy, r.ThrottledMean, r.PThrottled, r.Risk, r.Events/int64(r.Trials))
		for _, ph := range r.Phases {
			t.Logf("   %s %+v", ph.Phase, ph.Span)
		}
	}
}

func TestBesuPlanPeek(t *testing.T) {
	p := specPlans(t, "besu-network")[1]
	for _, o := range p.Operations { if o.Component != "infrastructure" || o.Region != "westeurope" { continue }
		t.Logf("%+v", o)
	}
	t.Logf("%+v", p.APIs)
}
