package planner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// PlanDiff is what changed between two plans, for review (`echelon diff`).
type PlanDiff struct {
	FormatVersion     string        `json:"format_version"`
	Old               DiffSide      `json:"old"`
	New               DiffSide      `json:"new"`
	Identical         bool          `json:"identical"`
	Changes           []FieldChange `json:"changes"` // plan level: action, mode.*, spec.variables.*, phases, apis.*, budgets.*
	OperationsAdded   []string      `json:"operations_added"`
	OperationsRemoved []string      `json:"operations_removed"`
	OperationsChanged []OpChange    `json:"operations_changed"`
	Batches           []BatchChange `json:"batches"`
}

// DiffSide summarises one plan. Times are seconds; Predicted is set when
// an Estimate was given and could predict.
type DiffSide struct {
	Path         string   `json:"path"`
	Deployment   string   `json:"deployment"`
	Action       string   `json:"action"`
	Mode         string   `json:"mode"`
	SpecDigest   string   `json:"spec_digest"`
	PlanDigest   string   `json:"plan_digest"`
	Operations   int      `json:"operations"`
	Batches      int      `json:"batches"`
	CriticalPath float64  `json:"critical_path"`
	LowerBound   float64  `json:"lower_bound"`
	Predicted    *float64 `json:"predicted_p50,omitempty"`
}

// FieldChange is one changed field (a dotted path into the JSON); for a
// set-like list (depends_on, batch members) Added and Removed say how.
type FieldChange struct {
	Field   string   `json:"field"`
	Old     any      `json:"old"`
	New     any      `json:"new"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// OpChange is an operation present in both plans whose fields differ.
type OpChange struct {
	ID      string        `json:"id"`
	Changes []FieldChange `json:"changes"`
}

// BatchChange compares the batches with the same index.
type BatchChange struct {
	Index     int       `json:"index"`
	Kind      string    `json:"kind"` // "added", "removed" or "changed"
	OldPhase  string    `json:"old_phase"`
	NewPhase  string    `json:"new_phase"`
	Ops       SetChange `json:"operations"`
	Exclusive SetChange `json:"exclusive"`
	Shared    SetChange `json:"shared"`
}

// SetChange is what a list gained and lost.
type SetChange struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

func (s SetChange) empty() bool { return len(s.Added) == 0 && len(s.Removed) == 0 }

// Diff compares two plans. est, when not nil, adds a p50 prediction per
// plan next to the critical path and lower bound.
func Diff(oldP, newP *Plan, oldPath, newPath string, est Estimate) *PlanDiff {
	d := &PlanDiff{FormatVersion: FormatVersion, Old: side(oldP, oldPath, est), New: side(newP, newPath, est),
		Changes: []FieldChange{}, OperationsAdded: []string{}, OperationsRemoved: []string{},
		OperationsChanged: []OpChange{}, Batches: []BatchChange{}}
	d.Changes = compareFlat(planFields(oldP), planFields(newP))

	oldOps, newOps := oldP.opIndex(), newP.opIndex()
	for _, o := range oldP.Operations {
		if newOps[o.ID] == nil {
			d.OperationsRemoved = append(d.OperationsRemoved, o.ID)
		}
	}
	for i := range newP.Operations {
		n := &newP.Operations[i]
		o := oldOps[n.ID]
		if o == nil {
			d.OperationsAdded = append(d.OperationsAdded, n.ID)
			continue
		}
		if reflect.DeepEqual(o, n) { // cheap; flatten only what differs
			continue
		}
		if ch := compareFlat(flatten(o), flatten(n)); len(ch) > 0 {
			d.OperationsChanged = append(d.OperationsChanged, OpChange{ID: n.ID, Changes: ch})
		}
	}
	for i := 0; i < max(len(oldP.Batches), len(newP.Batches)); i++ {
		var ob, nb Batch
		kind := "changed"
		switch {
		case i >= len(oldP.Batches):
			kind, nb = "added", newP.Batches[i]
		case i >= len(newP.Batches):
			kind, ob = "removed", oldP.Batches[i]
		default:
			ob, nb = oldP.Batches[i], newP.Batches[i]
		}
		bc := BatchChange{Index: i, Kind: kind, OldPhase: ob.Phase, NewPhase: nb.Phase,
			Ops: setChange(ob.Operations, nb.Operations), Exclusive: setChange(ob.Exclusive, nb.Exclusive), Shared: setChange(ob.Shared, nb.Shared)}
		if kind != "changed" || ob.Phase != nb.Phase || !bc.Ops.empty() || !bc.Exclusive.empty() || !bc.Shared.empty() {
			d.Batches = append(d.Batches, bc)
		}
	}
	d.Identical = len(d.Changes) == 0 && len(d.OperationsAdded) == 0 && len(d.OperationsRemoved) == 0 &&
		len(d.OperationsChanged) == 0 && len(d.Batches) == 0
	return d
}

func side(p *Plan, path string, est Estimate) DiffSide {
	v := p.View()
	s := DiffSide{Path: path, Deployment: p.Deployment, Action: p.Action, Mode: p.Mode.Name, SpecDigest: p.SpecDigest,
		PlanDigest: p.PlanDigest, Operations: len(p.Operations), Batches: len(p.Batches),
		CriticalPath: v.Totals.CriticalPath, LowerBound: v.Totals.LowerBound}
	if est != nil {
		if x, ok := est(p); ok {
			s.Predicted = &x
		}
	}
	return s
}

// planFields flattens what a reviewer compares at plan level; lists of
// named things are keyed by name so one change reads as one field.
func planFields(p *Plan) map[string]string {
	named := func(prefix string, items any) map[string]any {
		var list []map[string]any
		b, _ := json.Marshal(items)
		_ = json.Unmarshal(b, &list)
		m := map[string]any{}
		for _, it := range list {
			m[fmt.Sprint(it["name"])] = it
		}
		return m
	}
	phases := make([]string, len(p.Phases))
	for i, ph := range p.Phases {
		phases[i] = ph.Name
	}
	top := map[string]any{
		"deployment":        p.Deployment,
		"action":            p.Action,
		"undeploy_strategy": p.UndeployStrategy,
		"only":              p.Only,
		"spec_digest":       p.SpecDigest,
		"spec.variables":    p.Spec.Variables,
		"mode":              p.Mode,
		"phases":            phases,
		"apis":              named("apis", p.APIs),
		"budgets":           named("budgets", p.Budgets),
	}
	out := map[string]string{}
	flattenInto("", top, out)
	return out
}

// flatten maps an operation to dotted leaf paths -> JSON text.
func flatten(v any) map[string]string {
	out := map[string]string{}
	flattenInto("", v, out)
	return out
}

func flattenInto(prefix string, v any, out map[string]string) {
	b, _ := json.Marshal(v)
	var x any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&x)
	var walk func(string, any)
	walk = func(path string, x any) {
		if m, ok := x.(map[string]any); ok {
			// An empty map has no leaves: {} -> {a: 1} reads as a added.
			for k, v := range m {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, v)
			}
			return
		}
		j, _ := json.Marshal(x)
		out[path] = string(j)
	}
	walk(prefix, x)
}

// setLike fields are compared as sets of strings.
func setLike(field string) bool { return field == "depends_on" || field == "only" }

func compareFlat(a, b map[string]string) []FieldChange {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []FieldChange
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if a[k] == b[k] {
			continue
		}
		fc := FieldChange{Field: k, Old: decode(a[k]), New: decode(b[k])}
		if setLike(k) {
			var x, y []string
			_ = json.Unmarshal([]byte(a[k]), &x)
			_ = json.Unmarshal([]byte(b[k]), &y)
			sc := setChange(x, y)
			fc.Added, fc.Removed = sc.Added, sc.Removed
		}
		out = append(out, fc)
	}
	return out
}

func decode(s string) any {
	if s == "" {
		return nil
	}
	var x any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	_ = dec.Decode(&x)
	return x
}

func setChange(a, b []string) SetChange {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	ia, ib := in(a), in(b)
	sc := SetChange{Added: []string{}, Removed: []string{}}
	for _, s := range b {
		if !ia[s] {
			sc.Added = append(sc.Added, s)
		}
	}
	for _, s := range a {
		if !ib[s] {
			sc.Removed = append(sc.Removed, s)
		}
	}
	sort.Strings(sc.Added)
	sort.Strings(sc.Removed)
	return sc
}

// WriteText writes the diff for people, or as Markdown for a review
// comment. Operations with the same changes are listed together, their IDs
// compressed as in show.
func (d *PlanDiff) WriteText(w io.Writer, oldP, newP *Plan, markdown bool) error {
	return d.write(w, oldP, newP, markdown, false)
}

// WriteMarkdownBody writes the diff as Markdown without its heading and
// old/new lines, its sections under #### headings: a section of a larger
// comment (echelon review).
func (d *PlanDiff) WriteMarkdownBody(w io.Writer, oldP, newP *Plan) error {
	return d.write(w, oldP, newP, true, true)
}

func (d *PlanDiff) write(w io.Writer, oldP, newP *Plan, markdown, body bool) error {
	bw := bufio.NewWriter(w)
	ops := oldP.opIndex()
	for id, o := range newP.opIndex() {
		ops[id] = o
	}
	// A list of every region a component has reads "{N regions}".
	regionSets := map[string]map[string]bool{}
	for _, o := range ops {
		if o.Region == "" {
			continue
		}
		if regionSets[o.Component] == nil {
			regionSets[o.Component] = map[string]bool{}
		}
		regionSets[o.Component][o.Region] = true
	}
	regions := map[string]int{}
	for c, set := range regionSets {
		regions[c] = len(set)
	}
	ids := func(list []string) string { return compressIDsIn(list, ops, regions) }
	head := func(s string) {
		if body {
			fmt.Fprintf(bw, "\n#### %s\n\n", s)
		} else if markdown {
			fmt.Fprintf(bw, "\n### %s\n\n", s)
		} else {
			fmt.Fprintf(bw, "\n%s\n", s)
		}
	}
	item := func(format string, a ...any) {
		line := fmt.Sprintf(format, a...)
		if markdown {
			fmt.Fprintf(bw, "- %s\n", strings.ReplaceAll(line, brk, ""))
		} else {
			fmt.Fprintf(bw, "  %s\n", wrap(line, 100, 6))
		}
	}
	sideLine := func(s DiffSide) string {
		return fmt.Sprintf("%s: %s %s, mode %s, %s, %s", s.Path, s.Deployment, s.Action, s.Mode,
			Plural(s.Operations, "operation"), Plural(s.Batches, "batch"))
	}
	if body {
		// the caller says what is compared
	} else if markdown {
		fmt.Fprintf(bw, "## Plan diff\n\n- old `%s`\n- new `%s`\n", sideLine(d.Old), sideLine(d.New))
	} else {
		fmt.Fprintf(bw, "--- %s\n+++ %s\n", sideLine(d.Old), sideLine(d.New))
	}
	if d.Identical {
		fmt.Fprintln(bw, "\nno differences")
		return bw.Flush()
	}
	if len(d.Changes) > 0 {
		head("plan")
		for _, c := range d.Changes {
			item("%s", changeText(c, ids))
		}
	}
	if len(d.OperationsAdded)+len(d.OperationsRemoved)+len(d.OperationsChanged) > 0 {
		head(fmt.Sprintf("operations: %d added, %d removed, %d changed", len(d.OperationsAdded), len(d.OperationsRemoved), len(d.OperationsChanged)))
		if len(d.OperationsAdded) > 0 {
			item("+ %s", ids(d.OperationsAdded))
		}
		if len(d.OperationsRemoved) > 0 {
			item("- %s", ids(d.OperationsRemoved))
		}
		// Group operations whose changes are the same once each one's own
		// region reads {same}: 24 regions gaining depends_on
		// besu/<their region>/2 are one line.
		groups := map[string][]string{}
		single := map[string]string{} // the change as is, for a group of one
		var keys []string
		for _, oc := range d.OperationsChanged {
			region := ""
			if o := ops[oc.ID]; o != nil {
				region = o.Region
			}
			parts := make([]string, len(oc.Changes))
			own := make([]string, len(oc.Changes))
			for i, c := range oc.Changes {
				parts[i] = changeText(sameRegion(c, region), ids)
				own[i] = changeText(c, ids)
			}
			k := strings.Join(parts, "; ")
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
				single[k] = strings.Join(own, "; ")
			}
			groups[k] = append(groups[k], oc.ID)
		}
		for _, k := range keys {
			text := k
			if len(groups[k]) == 1 {
				text = single[k]
			}
			item("~ %s: %s", ids(groups[k]), text)
		}
	}
	if len(d.Batches) > 0 {
		head("batches")
		for _, b := range d.Batches {
			mark := map[string]string{"added": "+", "removed": "-", "changed": "~"}[b.Kind]
			var parts []string
			switch {
			case b.Kind == "added":
				parts = append(parts, fmt.Sprintf("phase %q", b.NewPhase))
			case b.Kind == "removed":
				parts = append(parts, fmt.Sprintf("phase %q", b.OldPhase))
			case b.OldPhase != b.NewPhase:
				parts = append(parts, fmt.Sprintf("phase %q -> %q", b.OldPhase, b.NewPhase))
			}
			for _, s := range []struct {
				name string
				sc   SetChange
			}{{"run", b.Ops}, {"EXCLUSIVE", b.Exclusive}, {"SHARED", b.Shared}} {
				if s.name == "EXCLUSIVE" && exclusiveIsOps(oldP, b.Index) && exclusiveIsOps(newP, b.Index) {
					continue // implied by the run change
				}
				if len(s.sc.Added) > 0 {
					parts = append(parts, fmt.Sprintf("%s +%s", s.name, ids(s.sc.Added)))
				}
				if len(s.sc.Removed) > 0 {
					parts = append(parts, fmt.Sprintf("%s -%s", s.name, ids(s.sc.Removed)))
				}
			}
			item("%s batch %d: %s", mark, b.Index, strings.Join(parts, "; "))
		}
	}
	head("time (p50, minutes)")
	mins := func(label string, a, b float64) {
		item("%-13s %.1f -> %.1f (%+.1f)", label, a/60, b/60, (b-a)/60)
	}
	mins("critical path", d.Old.CriticalPath, d.New.CriticalPath)
	mins("lower bound", d.Old.LowerBound, d.New.LowerBound)
	if d.Old.Predicted != nil && d.New.Predicted != nil {
		mins("predicted", *d.Old.Predicted, *d.New.Predicted)
	}
	return bw.Flush()
}

// stringList is v as a list of strings, when it is one.
func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// SameRegion is what a grouped change writes for the operation's own region.
const SameRegion = "{same}"

// sameRegion is c with, in its ID lists, every path segment equal to
// region written SameRegion.
func sameRegion(c FieldChange, region string) FieldChange {
	if region == "" || (len(c.Added) == 0 && len(c.Removed) == 0) {
		return c
	}
	sub := func(list []string) []string {
		out := make([]string, len(list))
		for i, id := range list {
			seg := strings.Split(id, "/")
			for j := range seg {
				if seg[j] == region {
					seg[j] = SameRegion
				}
			}
			out[i] = strings.Join(seg, "/")
		}
		return out
	}
	c.Added, c.Removed = sub(c.Added), sub(c.Removed)
	return c
}

// exclusiveIsOps says whether batch i is absent or locks just its own
// operations EXCLUSIVE.
func exclusiveIsOps(p *Plan, i int) bool {
	return i >= len(p.Batches) || equal(p.Batches[i].Exclusive, p.Batches[i].Operations)
}

func changeText(c FieldChange, ids func([]string) string) string {
	if len(c.Added) > 0 || len(c.Removed) > 0 {
		var parts []string
		if len(c.Added) > 0 {
			parts = append(parts, "+"+ids(c.Added))
		}
		if len(c.Removed) > 0 {
			parts = append(parts, "-"+ids(c.Removed))
		}
		return c.Field + " " + strings.Join(parts, " ")
	}
	j := func(v any) string {
		if v == nil {
			return "(none)"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	// A long list of strings that gained or lost members reads as what
	// changed: regions +canadacentral (24 -> 25), not both lists whole.
	if a, ok := stringList(c.Old); ok {
		if b, ok := stringList(c.New); ok && len(j(c.Old))+len(j(c.New)) > 80 {
			if sc := setChange(a, b); !sc.empty() {
				var parts []string
				for _, x := range sc.Added {
					parts = append(parts, "+"+x)
				}
				for _, x := range sc.Removed {
					parts = append(parts, "-"+x)
				}
				return fmt.Sprintf("%s %s (%d -> %d items)", c.Field, strings.Join(parts, " "), len(a), len(b))
			}
		}
	}
	return fmt.Sprintf("%s %s -> %s", c.Field, j(c.Old), j(c.New))
}
