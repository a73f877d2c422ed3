package planner

import (
	"testing"
	"time"

	"github.com/echelonhq/echelon/lang"
)

// TestDestroyDurations: a destroy plan predicts with destroy_duration where
// a component gives it, else with the deploy duration scaled by the
// driver's destroy fraction (terraform 0.3, others 1); the spec itself is
// left as it was, so its deploy plan keeps the deploy durations.
func TestDestroyDurations(t *testing.T) {
	tf := comp("infra", "p", dur(100*time.Second))
	tf.Driver = lang.DriverTerraform
	for _, in := range tf.Instances {
		in.Command, in.Terraform = nil, &lang.Terraform{Dir: "."}
	}
	cmd := comp("app", "p", dur(40*time.Second), deps("infra"))
	given := comp("db", "p", dur(60*time.Second))
	given.Instances[0].DestroyDuration = lang.Duration{P50: 5 * time.Second, P90: 8 * time.Second}
	spec := mkspec(nil, []string{"p"}, tf, cmd, given)

	destroy, diags := Compile(spec, Options{Destroy: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]Duration{"infra": {30, 30}, "app": {40, 40}, "db": {5, 8}}
	for _, o := range destroy.Operations {
		if o.Duration != want[o.ID] {
			t.Errorf("destroy %s: duration %+v, want %+v", o.ID, o.Duration, want[o.ID])
		}
	}
	deploy, diags := Compile(spec, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, o := range deploy.Operations {
		if o.ID == "infra" && o.Duration.P50 != 100 {
			t.Errorf("the destroy plan changed the spec: deploy infra takes %v", o.Duration)
		}
	}
}
