package views

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// Both views show the same prediction; only the human one notes the files
// written, so the JSON view stays one document.
func TestSimulateViews(t *testing.T) {
	p := &planner.Plan{FormatVersion: "1", Deployment: "d", Mode: planner.Mode{Name: "m"},
		Phases:     []planner.Phase{{Name: "main", After: []string{}}},
		Operations: []planner.Operation{{ID: "a", Phase: "main", Driver: "command", DependsOn: []string{}, Parallel: true, Calls: map[string]int{}, Duration: planner.Duration{P50: 10, P90: 20}}}}
	r, err := sim.Simulate(p, sim.Options{Trials: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var h, j bytes.Buffer
	hv, jv := NewSimulate(false, &h), NewSimulate(true, &j)
	for _, v := range []Simulate{hv, jv} {
		if err := v.Results("d", []*sim.Result{r}, nil); err != nil {
			t.Fatal(err)
		}
		v.Gantt("g.svg", "m", 1)
		v.Trace("t.jsonl", "m", 1)
	}
	if !strings.HasSuffix(h.String(), "\ngantt: g.svg (mode m, trial 1)\n\ntrace: t.jsonl (mode m, trial 1)\n") {
		t.Errorf("human view:\n%s", h.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(j.Bytes(), &doc); err != nil || doc["format_version"] == nil {
		t.Errorf("JSON view is not one document (%v):\n%s", err, j.String())
	}
}
