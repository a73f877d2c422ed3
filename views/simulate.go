package views

import (
	"fmt"
	"io"

	"github.com/echelonhq/echelon/sim"
)

// Simulate is simulate's view: the prediction of each mode, the budget
// checks, and where the Gantt charts and traces were written.
type Simulate interface {
	// Results shows the prediction (checks: nil without --check).
	Results(deployment string, results []*sim.Result, checks []sim.BudgetCheck) error
	// Gantt notes a Gantt chart written to file: the given trial of mode.
	Gantt(file, mode string, trial int)
	// Trace notes a trace written to file: the given trial of mode.
	Trace(file, mode string, trial int)
	// HTML notes the HTML report written to file.
	HTML(file string)
}

// NewSimulate returns simulate's view on w: one JSON document with
// asJSON (the files written are the caller's to know), text tables
// otherwise.
func NewSimulate(asJSON bool, w io.Writer) Simulate {
	if asJSON {
		return simulateJSON{w}
	}
	return simulateHuman{w}
}

type simulateHuman struct{ w io.Writer }

func (v simulateHuman) Results(deployment string, results []*sim.Result, checks []sim.BudgetCheck) error {
	return sim.WriteText(v.w, deployment, results, checks)
}

func (v simulateHuman) Gantt(file, mode string, trial int) {
	fmt.Fprintf(v.w, "\ngantt: %s (mode %s, trial %d)\n", file, mode, trial)
}

func (v simulateHuman) Trace(file, mode string, trial int) {
	fmt.Fprintf(v.w, "\ntrace: %s (mode %s, trial %d)\n", file, mode, trial)
}

func (v simulateHuman) HTML(file string) { fmt.Fprintf(v.w, "\nhtml: %s\n", file) }

type simulateJSON struct{ w io.Writer }

func (v simulateJSON) Results(deployment string, results []*sim.Result, checks []sim.BudgetCheck) error {
	return sim.WriteJSON(v.w, deployment, results, checks)
}

func (simulateJSON) Gantt(string, string, int) {}
func (simulateJSON) Trace(string, string, int) {}
func (simulateJSON) HTML(string)               {}
