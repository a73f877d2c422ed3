package sim

import "github.com/echelonhq/echelon/planner"

// Previewed is a copy of p timed by a preview's counted changes (changes:
// add + change + destroy per terraform operation, from `echelon plan`): an
// operation with no changes costs only its driver's overhead (Options.
// Overhead), one timed by its resources takes the rounds of the resources
// it changes. Operations not in changes keep their durations. p itself is
// not changed (its digests and bytes stay the plan's).
func Previewed(p *planner.Plan, changes map[string]int) *planner.Plan {
	q := *p
	q.Operations = make([]planner.Operation, len(p.Operations))
	copy(q.Operations, p.Operations)
	for i := range q.Operations {
		o := &q.Operations[i]
		n, ok := changes[o.ID]
		if !ok {
			continue
		}
		switch {
		case n == 0:
			o.Duration, o.Resources = planner.Duration{}, 0
		case o.Resources > 0 && o.Duration.P50 == 0:
			o.Resources = n
		}
	}
	return &q
}
