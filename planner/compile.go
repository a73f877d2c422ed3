package planner

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/hashicorp/hcl/v2"
)

// Options select what Compile builds from a spec.
type Options struct {
	// Mode is the mode's name; "" means deployment.default_mode, else the
	// first mode declared.
	Mode string
	// Destroy compiles an undeploy plan: reverse order.
	Destroy bool
	// Only restricts a destroy plan to these components (and, with
	// undeploy_depending, whatever depends on them).
	Only []string
	// Strategy is the undeploy strategy; "" means if_depending_stop.
	Strategy string
}

// DefaultTerraformParallelism is terraform's own -parallelism default: what
// a mode that sets none runs with, and what the estimates and the scheduler
// count with.
const DefaultTerraformParallelism = 10

// TerraformParallelism is the -parallelism a mode runs terraform with.
func TerraformParallelism(m Mode) int {
	if m.TerraformParallelism > 0 {
		return m.TerraformParallelism
	}
	return DefaultTerraformParallelism
}

// Compile expands spec into operations, checks the dependency graph, and
// builds the batches, locks and priorities of a deploy or destroy plan for
// one mode. The plan's spec_digest is filled; plan_digest is filled by
// Marshal.
//
// The work happens in named steps on flat slices indexed by operation
// number (operations numbered in ID order), with one Kahn pass over the
// full graph for cycles and one over the scheduled subgraph: linear in
// operations plus dependency edges.
func Compile(spec *lang.Spec, opts Options) (*Plan, hcl.Diagnostics) {
	if spec == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No spec", Detail: "Compile was given no spec."}}
	}
	mode, diags := pickMode(spec, opts.Mode)
	if diags.HasErrors() {
		return nil, diags
	}
	strategy := opts.Strategy
	if strategy == "" {
		strategy = IfDependingStop
	}
	switch {
	case !opts.Destroy && (len(opts.Only) > 0 || opts.Strategy != ""):
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Destroy options without destroy",
			Detail: "--only and --undeploy-strategy apply to destroy plans only; add --destroy."})
	case strategy != IfDependingStop && strategy != SkipDepending && strategy != UndeployDepending:
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown undeploy strategy",
			Detail: fmt.Sprintf("Undeploy strategy %q is not one of %s, %s, %s.", strategy, IfDependingStop, SkipDepending, UndeployDepending)})
	}

	g, ds := expand(spec, mode)
	diags = append(diags, ds...)
	diags = append(diags, checkDriverPaths(spec)...)
	if diags.HasErrors() {
		return nil, diags
	}
	if ds := g.checkAcyclic(spec); ds.HasErrors() {
		return nil, append(diags, ds...)
	}

	var sub *subgraph
	if opts.Destroy {
		sub, ds = g.destroySubgraph(spec, opts.Only, strategy)
	} else {
		sub = g.deploySubgraph()
	}
	diags = append(diags, ds...)
	if diags.HasErrors() {
		return nil, diags
	}
	if mode.PhaseBarrier {
		if ds := g.checkPhaseOrder(spec, sub, mode.Name); ds.HasErrors() {
			return nil, append(diags, ds...)
		}
	}

	if opts.Destroy {
		g.useDestroyDurations()
	}
	batches := g.schedule(sub, mode.PhaseBarrier)
	g.lock(sub, batches, opts.Destroy, strategy)
	prio := g.priorities(sub, mode)

	p, err := g.assemble(spec, mode, sub, batches, prio)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot build plan", Detail: err.Error()})
	}
	if opts.Destroy {
		p.Action = ActionDestroy
		p.UndeployStrategy = strategy
		p.Only = append([]string{}, opts.Only...)
		sort.Strings(p.Only)
		p.Only = slices.Compact(p.Only)
		// Destroy runs phases last to first.
		slices.Reverse(p.Phases)
	}
	digest, files, err := specDigest(spec)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot compute spec digest", Detail: err.Error()})
	}
	p.SpecDigest = digest
	p.Spec.FileDigests = files
	return p, diags
}

func pickMode(spec *lang.Spec, name string) (*lang.Mode, hcl.Diagnostics) {
	if len(spec.Modes) == 0 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No mode", Detail: "The spec declares no mode block; a plan is compiled for one mode."}}
	}
	if name == "" && spec.Deployment != nil {
		name = spec.Deployment.DefaultMode
	}
	if name == "" {
		return spec.Modes[0], nil
	}
	if m := spec.Mode(name); m != nil {
		return m, nil
	}
	names := make([]string, len(spec.Modes))
	for i, m := range spec.Modes {
		names[i] = m.Name
	}
	return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown mode",
		Detail: fmt.Sprintf("There is no mode %q; the spec declares: %s.", name, strings.Join(names, ", "))}}
}

// graph is the expanded operation graph: operations numbered in ID order,
// dependencies and dependents as CSR adjacency (start offsets + flat lists).
type graph struct {
	ids     []string
	comp    []int32 // component index per op
	inst    []*lang.Instance
	phase   []int32 // phase index (execution order) per op
	alone   []string
	depOff  []int32 // deps of op i: deps[depOff[i]:depOff[i+1]], sorted
	deps    []int32
	outOff  []int32 // dependents of op i
	outs    []int32
	byComp  [][]int32 // component index -> its ops, in ID order
	compIdx map[string]int

	phaseNames []string // phase index -> name
	driver     []string // component index -> driver
	// outDeps are the operations each one reads outputs of (nil when no
	// operation does): dependencies besides depends_on.
	outDeps [][]int32
}

// instanceID names an instance per contract §2; a component without
// regions but with replicas > 1 uses name/I.
func instanceID(name, region string, replica, replicas int) string {
	switch {
	case region == "" && replicas <= 1:
		return name
	case region == "":
		return name + "/" + strconv.Itoa(replica)
	case replicas <= 1:
		return name + "/" + region
	default:
		return name + "/" + region + "/" + strconv.Itoa(replica)
	}
}

func expand(spec *lang.Spec, mode *lang.Mode) (*graph, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	phaseIdx := make(map[string]int32, len(spec.Phases))
	for i, ph := range spec.Phases {
		phaseIdx[ph.Name] = int32(i)
	}
	g := &graph{compIdx: make(map[string]int, len(spec.Components))}
	for _, ph := range spec.Phases {
		g.phaseNames = append(g.phaseNames, ph.Name)
	}
	for _, c := range spec.Components {
		g.driver = append(g.driver, c.Driver)
	}
	n := 0
	for ci, c := range spec.Components {
		if _, dup := g.compIdx[c.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate component",
				Detail: fmt.Sprintf("Component %q is declared twice.", c.Name), Subject: rangePtr(c.DeclRange)})
			continue
		}
		g.compIdx[c.Name] = ci
		if _, ok := phaseIdx[c.Phase]; !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown phase",
				Detail: fmt.Sprintf("Component %q is in phase %q, which is not declared.", c.Name, c.Phase), Subject: rangePtr(c.DeclRange)})
		}
		n += len(c.Instances)
	}
	if diags.HasErrors() {
		return nil, diags
	}

	// Create operations in declaration order, then number them in ID order.
	type raw struct {
		id   string
		comp int32
		inst *lang.Instance
	}
	raws := make([]raw, 0, n)
	for ci, c := range spec.Components {
		for _, in := range c.Instances {
			raws = append(raws, raw{instanceID(c.Name, in.Region, in.Replica, c.Replicas), int32(ci), in})
		}
	}
	slices.SortFunc(raws, func(a, b raw) int { return strings.Compare(a.id, b.id) })
	g.ids = make([]string, n)
	g.comp = make([]int32, n)
	g.inst = make([]*lang.Instance, n)
	g.phase = make([]int32, n)
	g.alone = make([]string, n)
	g.byComp = make([][]int32, len(spec.Components))
	aloneReason := make([]string, len(spec.Components))
	for ci, c := range spec.Components {
		_, aloneReason[ci] = c.RunsAlone()
	}
	for i, r := range raws {
		if i > 0 && raws[i-1].id == r.id {
			c := spec.Components[r.comp]
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate operation",
				Detail:  fmt.Sprintf("Operation %q is produced twice (is a region listed twice, or does a region name look like a replica number?).", r.id),
				Subject: rangePtr(c.DeclRange)})
			continue
		}
		g.ids[i] = r.id
		g.comp[i] = r.comp
		g.inst[i] = r.inst
		g.phase[i] = phaseIdx[spec.Components[r.comp].Phase]
		g.alone[i] = aloneReason[r.comp]
		g.byComp[r.comp] = append(g.byComp[r.comp], int32(i))
	}
	if diags.HasErrors() {
		return nil, diags
	}

	// Dependencies per contract §2: regional -> regional links the same
	// region; anything else links every instance named.
	byRegion := make([]map[string][]int32, len(spec.Components))
	regional := func(ci int) bool { return len(spec.Components[ci].Regions) > 0 }
	for ci := range spec.Components {
		if !regional(ci) {
			continue
		}
		m := make(map[string][]int32)
		for _, op := range g.byComp[ci] {
			r := g.inst[op].Region
			m[r] = append(m[r], op)
		}
		byRegion[ci] = m
	}
	// Resolve each component's refs once, deduplicated.
	compDeps := make([][]int, len(spec.Components))
	for ci, c := range spec.Components {
		seen := map[int]bool{}
		for _, ref := range c.DependsOn {
			di, ok := g.compIdx[ref.Name]
			if !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown component",
					Detail: fmt.Sprintf("Component %q depends on %q, which is not declared.", c.Name, ref.Name), Subject: rangePtr(ref.Range)})
				continue
			}
			if seen[di] {
				continue
			}
			seen[di] = true
			compDeps[ci] = append(compDeps[ci], di)
			// A regional dependency links the same region: an instance
			// whose region the dependency lacks would silently wait for
			// nothing.
			if d := spec.Components[di]; len(c.Regions) > 0 && len(d.Regions) > 0 {
				var lone []string
				for _, r := range c.Regions {
					if !slices.Contains(d.Regions, r) {
						lone = append(lone, r)
					}
				}
				if len(lone) > 0 {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Regional dependency without a counterpart",
						Detail: fmt.Sprintf("Component %q depends on %q, and both are regional, so each region waits for the same region of %q; but %q has no instance in %s. Add the region(s) to %q, remove them from %q, or depend on a global component.",
							c.Name, d.Name, d.Name, d.Name, quoteList(lone), d.Name, c.Name),
						Subject: rangePtr(ref.Range)})
				}
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	specDeps := func(op int, fn func(d int32)) {
		ci := int(g.comp[op])
		for _, di := range compDeps[ci] {
			if regional(ci) && regional(di) {
				for _, d := range byRegion[di][g.inst[op].Region] {
					fn(d)
				}
			} else {
				for _, d := range g.byComp[di] {
					fn(d)
				}
			}
		}
	}
	g.outDeps = g.outputDeps(spec)
	var scratch []int32
	depsOf := func(op int, fn func(d int32)) {
		if g.outDeps == nil || len(g.outDeps[op]) == 0 {
			specDeps(op, fn)
			return
		}
		// Reading outputs implies the dependency; once, with depends_on.
		scratch = scratch[:0]
		specDeps(op, func(d int32) { scratch = append(scratch, d) })
		scratch = append(scratch, g.outDeps[op]...)
		slices.Sort(scratch)
		for _, d := range slices.Compact(scratch) {
			fn(d)
		}
	}
	g.depOff = make([]int32, n+1)
	outCount := make([]int32, n+1)
	total := 0
	for i := 0; i < n; i++ {
		depsOf(i, func(d int32) { total++; outCount[d]++ })
		g.depOff[i+1] = int32(total)
	}
	if total > math.MaxInt32 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Too many dependencies", Detail: fmt.Sprintf("%d instance-level dependencies exceed the planner's limit.", total)}}
	}
	g.deps = make([]int32, 0, total)
	for i := 0; i < n; i++ {
		start := len(g.deps)
		depsOf(i, func(d int32) { g.deps = append(g.deps, d) })
		slices.Sort(g.deps[start:])
	}
	g.outOff = make([]int32, n+1)
	for i := 0; i < n; i++ {
		g.outOff[i+1] = g.outOff[i] + outCount[i]
	}
	g.outs = make([]int32, total)
	fill := slices.Clone(g.outOff[:n])
	for i := 0; i < n; i++ { // ascending i: each dependents list comes out sorted
		for _, d := range g.depsOf(i) {
			g.outs[fill[d]] = int32(i)
			fill[d]++
		}
	}
	return g, diags
}

func (g *graph) depsOf(i int) []int32 { return g.deps[g.depOff[i]:g.depOff[i+1]] }
func (g *graph) outsOf(i int) []int32 { return g.outs[g.outOff[i]:g.outOff[i+1]] }

// checkAcyclic runs Kahn's algorithm over the full graph; if operations are
// left, it walks dependencies from the smallest remaining ID (always to the
// smallest remaining dependency) until it repeats, which yields a cycle,
// and reports it rotated to start at its smallest ID.
func (g *graph) checkAcyclic(spec *lang.Spec) hcl.Diagnostics {
	n := len(g.ids)
	indeg := make([]int32, n)
	queue := make([]int32, 0, n)
	for i := 0; i < n; i++ {
		indeg[i] = g.depOff[i+1] - g.depOff[i]
		if indeg[i] == 0 {
			queue = append(queue, int32(i))
		}
	}
	for h := 0; h < len(queue); h++ {
		for _, o := range g.outsOf(int(queue[h])) {
			if indeg[o]--; indeg[o] == 0 {
				queue = append(queue, o)
			}
		}
	}
	if len(queue) == n {
		return nil
	}
	// Every remaining op has a remaining dependency.
	start := -1
	for i := 0; i < n; i++ {
		if indeg[i] > 0 {
			start = i
			break
		}
	}
	pos := map[int]int{}
	var path []int
	cur := start
	for {
		if at, ok := pos[cur]; ok {
			path = path[at:]
			break
		}
		pos[cur] = len(path)
		path = append(path, cur)
		for _, d := range g.depsOf(cur) {
			if indeg[d] > 0 {
				cur = int(d)
				break
			}
		}
	}
	// Rotate to the smallest ID (smallest number, as ops are in ID order).
	minAt := 0
	for k, op := range path {
		if op < path[minAt] {
			minAt = k
		}
	}
	path = append(path[minAt:], path[:minAt]...)
	names := make([]string, 0, len(path)+1)
	viaOutputs := false
	for k, op := range path {
		names = append(names, g.ids[op])
		if g.readsOutputsOf(op, path[(k+1)%len(path)]) {
			names[k] += " (reads outputs of)"
			viaOutputs = true
		}
	}
	names = append(names, g.ids[path[0]])
	first := spec.Components[g.comp[path[0]]]
	next := spec.Components[g.comp[path[(1)%len(path)]]].Name
	fix := "Remove one of these depends_on references."
	if viaOutputs {
		fix = "Outputs are read after their producer has run, so a cycle through them can never start: remove one of these depends_on references or output reads."
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
		Detail: fmt.Sprintf("Operations depend on each other in a cycle: %s (each depends on the next). %s", strings.Join(names, " -> "), fix)}
	for _, ref := range first.DependsOn {
		if ref.Name == next {
			d.Subject = rangePtr(ref.Range)
			break
		}
	}
	if d.Subject == nil && g.readsOutputsOf(path[0], path[1%len(path)]) {
		d.Subject = firstRange(first.OutputAttrs)
	}
	if d.Subject == nil {
		d.Subject = rangePtr(first.DeclRange)
	}
	return hcl.Diagnostics{d}
}

// subgraph is the set of operations a plan schedules (all of them for
// deploy, the removed ones for destroy) with the order edges between them:
// for destroy these are reversed, so a dependent is removed before what it
// depends on. Indices are local; ops[k] is the graph's op number, ascending
// (so still in ID order).
type subgraph struct {
	ops    []int32
	local  []int32 // graph op -> local index, -1 when not scheduled
	depOff []int32
	deps   []int32 // local indices
	outOff []int32
	outs   []int32
	phase  []int32 // phase rank in this plan's execution order
}

func (s *subgraph) depsOf(k int) []int32 { return s.deps[s.depOff[k]:s.depOff[k+1]] }
func (s *subgraph) outsOf(k int) []int32 { return s.outs[s.outOff[k]:s.outOff[k+1]] }

func (g *graph) deploySubgraph() *subgraph {
	n := len(g.ids)
	s := &subgraph{ops: make([]int32, n), local: make([]int32, n), depOff: g.depOff, deps: g.deps,
		outOff: g.outOff, outs: g.outs, phase: g.phase}
	for i := range s.ops {
		s.ops[i] = int32(i)
		s.local[i] = int32(i)
	}
	return s
}

// destroySubgraph selects the ops to remove and reverses the edges among them.
func (g *graph) destroySubgraph(spec *lang.Spec, only []string, strategy string) (*subgraph, hcl.Diagnostics) {
	n := len(g.ids)
	sel := make([]bool, n)
	if len(only) == 0 {
		for i := range sel {
			sel[i] = true
		}
	} else {
		var diags hcl.Diagnostics
		for _, name := range only {
			ci, ok := g.compIdx[name]
			if !ok {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown component",
					Detail: fmt.Sprintf("--only names %q, which is not a component of the spec.%s", name, didYouMean(name, spec))})
				continue
			}
			for _, op := range g.byComp[ci] {
				sel[op] = true
			}
		}
		if diags.HasErrors() {
			return nil, diags
		}
	}
	switch strategy {
	case UndeployDepending:
		// Everything that depends on a removed op goes too, recursively.
		stack := make([]int32, 0)
		for i := 0; i < n; i++ {
			if sel[i] {
				stack = append(stack, int32(i))
			}
		}
		for len(stack) > 0 {
			op := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, o := range g.outsOf(int(op)) {
				if !sel[o] {
					sel[o] = true
					stack = append(stack, o)
				}
			}
		}
	case IfDependingStop:
		if ds := g.refuseDependents(spec, sel); ds.HasErrors() {
			return nil, ds
		}
	}

	s := &subgraph{local: make([]int32, n)}
	for i := 0; i < n; i++ {
		s.local[i] = -1
		if sel[i] {
			s.local[i] = int32(len(s.ops))
			s.ops = append(s.ops, int32(i))
		}
	}
	m := len(s.ops)
	nPhases := int32(len(spec.Phases))
	s.phase = make([]int32, m)
	s.depOff = make([]int32, m+1)
	s.outOff = make([]int32, m+1)
	for k, op := range s.ops {
		s.phase[k] = nPhases - 1 - g.phase[op]
		// Reversed: a removed op waits for its removed dependents.
		for _, o := range g.outsOf(int(op)) {
			if l := s.local[o]; l >= 0 {
				s.deps = append(s.deps, l)
			}
		}
		s.depOff[k+1] = int32(len(s.deps))
		for _, d := range g.depsOf(int(op)) {
			if l := s.local[d]; l >= 0 {
				s.outs = append(s.outs, l)
			}
		}
		s.outOff[k+1] = int32(len(s.outs))
	}
	if s.deps == nil {
		s.deps = []int32{}
	}
	return s, nil
}

// refuseDependents fails an if_depending_stop destroy when an op that stays
// depends on one being removed, naming the dependents per component.
func (g *graph) refuseDependents(spec *lang.Spec, sel []bool) hcl.Diagnostics {
	type pair struct{ dependent, removed int32 }
	found := map[pair][]string{}
	var order []pair
	for i := range g.ids {
		if !sel[i] {
			continue
		}
		for _, o := range g.outsOf(i) {
			if sel[o] {
				continue
			}
			p := pair{g.comp[o], g.comp[i]}
			if _, ok := found[p]; !ok {
				order = append(order, p)
			}
			if !slices.Contains(found[p], g.ids[o]) {
				found[p] = append(found[p], g.ids[o])
			}
		}
	}
	sort.Slice(order, func(a, b int) bool {
		ca, cb := spec.Components[order[a].removed].Name, spec.Components[order[b].removed].Name
		if ca != cb {
			return ca < cb
		}
		return spec.Components[order[a].dependent].Name < spec.Components[order[b].dependent].Name
	})
	// The --only that would succeed: the selection and everything that
	// depends on it, transitively (adding just the direct dependents
	// would fail again one level up).
	closure := map[string]bool{}
	reached := slices.Clone(sel)
	var queue []int32
	for i := range g.ids {
		if sel[i] {
			queue = append(queue, int32(i))
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		closure[spec.Components[g.comp[i]].Name] = true
		for _, o := range g.outsOf(int(i)) {
			if !reached[o] {
				reached[o] = true
				queue = append(queue, o)
			}
		}
	}
	all := make([]string, 0, len(closure))
	for n := range closure {
		all = append(all, n)
	}
	sort.Strings(all)
	var diags hcl.Diagnostics
	for _, p := range order {
		dep, rem := spec.Components[p.dependent], spec.Components[p.removed]
		ops := found[p]
		sort.Strings(ops)
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Component still depended on",
			Detail: fmt.Sprintf("Cannot destroy %q: %q still depends on it (%s). Destroy its dependents too (--only %s), or choose --undeploy-strategy %s or %s.",
				rem.Name, dep.Name, summarizeIDs(ops, 6), strings.Join(all, ","), UndeployDepending, SkipDepending)}
		for _, ref := range dep.DependsOn {
			if ref.Name == rem.Name {
				d.Subject = rangePtr(ref.Range)
				break
			}
		}
		diags = append(diags, d)
	}
	return diags
}

// quoteList is "a", "b" and "c".
func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

func summarizeIDs(ids []string, max int) string {
	if len(ids) <= max {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:max], ", ") + fmt.Sprintf(" and %d more", len(ids)-max)
}

func didYouMean(name string, spec *lang.Spec) string {
	best, bestD := "", 3
	for _, c := range spec.Components {
		if d := levenshtein(name, c.Name); d < bestD {
			best, bestD = c.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkPhaseOrder rejects, under phase_barrier, an order edge that points
// into a later phase: the barrier would make it wait forever.
func (g *graph) checkPhaseOrder(spec *lang.Spec, s *subgraph, mode string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[[2]int32]bool{}
	for k := range s.ops {
		for _, d := range s.depsOf(k) {
			if s.phase[d] <= s.phase[k] {
				continue
			}
			a, b := g.comp[s.ops[k]], g.comp[s.ops[d]]
			if seen[[2]int32{a, b}] {
				continue
			}
			seen[[2]int32{a, b}] = true
			ca, cb := spec.Components[a], spec.Components[b]
			dg := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency against phase order",
				Detail: fmt.Sprintf("Operation %s (phase %q) must wait for %s (phase %q), whose phase runs later; mode %q has phase_barrier, so neither could start.",
					g.ids[s.ops[k]], ca.Phase, g.ids[s.ops[d]], cb.Phase, mode)}
			// Point at the depends_on that made the edge (deploy: ca names cb;
			// destroy: cb names ca).
			for _, pr := range [][2]*lang.Component{{ca, cb}, {cb, ca}} {
				for _, ref := range pr[0].DependsOn {
					if ref.Name == pr[1].Name && dg.Subject == nil {
						dg.Subject = rangePtr(ref.Range)
					}
				}
			}
			diags = append(diags, dg)
		}
	}
	return diags
}

// schedule assigns each op its earliest level (within its phase under a
// barrier) in one Kahn pass, buckets ops by (phase, level) in ID order, and
// splits each bucket into one batch of the ops that may share it followed by
// one batch per run-alone op, in ID order.
func (g *graph) schedule(s *subgraph, barrier bool) []Batch {
	m := len(s.ops)
	indeg := make([]int32, m)
	level := make([]int32, m)
	queue := make([]int32, 0, m)
	for k := 0; k < m; k++ {
		indeg[k] = s.depOff[k+1] - s.depOff[k]
		if indeg[k] == 0 {
			queue = append(queue, int32(k))
		}
	}
	for h := 0; h < len(queue); h++ {
		k := queue[h]
		for _, o := range s.outsOf(int(k)) {
			if !barrier || s.phase[o] == s.phase[k] {
				level[o] = max(level[o], level[k]+1)
			}
			if indeg[o]--; indeg[o] == 0 {
				queue = append(queue, o)
			}
		}
	}
	// Bucket offsets: phase-major under a barrier, else one phase.
	nPhases := int32(1)
	if barrier {
		for _, p := range s.phase {
			nPhases = max(nPhases, p+1)
		}
	}
	phaseOf := func(k int) int32 {
		if barrier {
			return s.phase[k]
		}
		return 0
	}
	levels := make([]int32, nPhases)
	for k := 0; k < m; k++ {
		levels[phaseOf(k)] = max(levels[phaseOf(k)], level[k]+1)
	}
	base := make([]int32, nPhases+1)
	for p := int32(0); p < nPhases; p++ {
		base[p+1] = base[p] + levels[p]
	}
	nb := base[nPhases]
	count := make([]int32, nb+1)
	bucket := make([]int32, m)
	for k := 0; k < m; k++ {
		bucket[k] = base[phaseOf(k)] + level[k]
		count[bucket[k]+1]++
	}
	for b := int32(0); b < nb; b++ {
		count[b+1] += count[b]
	}
	sorted := make([]int32, m)
	fill := slices.Clone(count[:nb])
	for k := 0; k < m; k++ { // ascending k keeps ID order within a bucket
		sorted[fill[bucket[k]]] = int32(k)
		fill[bucket[k]]++
	}
	batches := make([]Batch, 0, nb)
	for b := int32(0); b < nb; b++ {
		ks := sorted[count[b]:count[b+1]]
		var shared, alone []string
		sharedPhase := int32(-1)
		mixed := false
		for _, k := range ks {
			op := s.ops[k]
			if g.alone[op] != "" {
				alone = append(alone, g.ids[op])
				continue
			}
			shared = append(shared, g.ids[op])
			if sharedPhase == -1 {
				sharedPhase = g.phase[op]
			} else if sharedPhase != g.phase[op] {
				mixed = true
			}
		}
		if len(shared) > 0 {
			ph := ""
			if !mixed {
				ph = g.phaseName(sharedPhase)
			}
			batches = append(batches, Batch{Operations: shared, Phase: ph})
		}
		for _, id := range alone {
			batches = append(batches, Batch{Operations: []string{id}})
		}
	}
	return batches
}

func (g *graph) phaseName(p int32) string {
	if int(p) < len(g.phaseNames) {
		return g.phaseNames[p]
	}
	return ""
}

// lock fills each batch's index, phase (for run-alone batches) and locks:
// deploy and if_depending_stop: EXCLUSIVE the batch, SHARED its first-level
// order dependencies outside it; skip_depending: EXCLUSIVE only;
// undeploy_depending: EXCLUSIVE the batch plus everything that depends on
// it, recursively.
func (g *graph) lock(s *subgraph, batches []Batch, destroy bool, strategy string) {
	n := len(g.ids)
	idx := make(map[string]int32, len(s.ops))
	for _, op := range s.ops {
		idx[g.ids[op]] = op
	}
	excl := make([]int32, n) // batch number + 1 marks EXCLUSIVE in that batch
	seen := make([]int32, n)
	for bi := range batches {
		b := &batches[bi]
		b.Index = bi
		mark := int32(bi + 1)
		ops := make([]int32, len(b.Operations))
		for j, id := range b.Operations {
			ops[j] = idx[id]
			excl[ops[j]] = mark
		}
		if len(ops) == 1 && b.Phase == "" {
			b.Phase = g.phaseName(g.phase[ops[0]])
		}
		b.Exclusive = slices.Clone(b.Operations)
		b.Shared = []string{}
		switch {
		case destroy && strategy == SkipDepending:
		case destroy && strategy == UndeployDepending:
			var extra []int32
			stack := slices.Clone(ops)
			for len(stack) > 0 {
				op := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				for _, o := range g.outsOf(int(op)) {
					if excl[o] != mark {
						excl[o] = mark
						extra = append(extra, o)
						stack = append(stack, o)
					}
				}
			}
			if len(extra) > 0 {
				all := append(ops, extra...)
				slices.Sort(all)
				b.Exclusive = make([]string, len(all))
				for j, op := range all {
					b.Exclusive[j] = g.ids[op]
				}
			}
		default:
			// Deploy: first-level dependencies; if_depending_stop destroy:
			// first-level dependents (all of them are being removed).
			var sh []int32
			for _, op := range ops {
				adj := g.depsOf(int(op))
				if destroy {
					adj = g.outsOf(int(op))
				}
				for _, d := range adj {
					if excl[d] != mark && seen[d] != mark {
						seen[d] = mark
						sh = append(sh, d)
					}
				}
			}
			slices.Sort(sh)
			for _, d := range sh {
				b.Shared = append(b.Shared, g.ids[d])
			}
		}
	}
}

// opDuration is the p50 estimate priorities use (see estimateSeconds).
func opDuration(in *lang.Instance, driver string, mode *lang.Mode) float64 {
	return estimateSeconds(in.Duration.P50.Seconds(), driver, in.Resources, in.ResourceDuration.P50.Seconds(), mode.TerraformParallelism)
}

// priorities is each op's longest remaining path in p50 seconds, including
// its own duration: one pass over the ops in reverse topological order.
func (g *graph) priorities(s *subgraph, mode *lang.Mode) []float64 {
	m := len(s.ops)
	indeg := make([]int32, m)
	order := make([]int32, 0, m)
	for k := 0; k < m; k++ {
		indeg[k] = s.depOff[k+1] - s.depOff[k]
		if indeg[k] == 0 {
			order = append(order, int32(k))
		}
	}
	for h := 0; h < len(order); h++ {
		for _, o := range s.outsOf(int(order[h])) {
			if indeg[o]--; indeg[o] == 0 {
				order = append(order, o)
			}
		}
	}
	prio := make([]float64, m)
	for h := len(order) - 1; h >= 0; h-- {
		k := order[h]
		rest := 0.0
		for _, o := range s.outsOf(int(k)) {
			rest = max(rest, prio[o])
		}
		op := s.ops[k]
		prio[k] = rest + opDuration(g.inst[op], g.driver[g.comp[op]], mode)
	}
	for k := range prio {
		prio[k] = math.Round(prio[k]*1000) / 1000
	}
	return prio
}

func rangePtr(r hcl.Range) *hcl.Range {
	if r.Filename == "" && r.Start.Line == 0 {
		return nil
	}
	return &r
}

// DestroyFraction is how long a destroy takes against its deploy when a
// component gives no destroy_duration / destroy_resource_duration, by
// driver: measured on specs/besu-local (BENCHMARKS.md, "Destroy
// durations"), where terraform's destroy of the resources took 0.3 of
// their apply and the commands the same time. kubectl and helm are
// unmeasured and keep their deploy durations. `echelon calibrate` (issue 9)
// is to replace these with a spec's own history.
var DestroyFraction = map[string]float64{"terraform": 0.3}

// useDestroyDurations gives each instance of a destroy plan its destroy
// durations: the component's destroy_duration and destroy_resource_duration,
// or its deploy ones scaled by DestroyFraction. Instances are copied: the
// spec's stay as they are for other plans.
func (g *graph) useDestroyDurations() {
	scale := func(d lang.Duration, f float64) lang.Duration {
		return lang.Duration{P50: time.Duration(float64(d.P50) * f), P90: time.Duration(float64(d.P90) * f)}
	}
	for op, in := range g.inst {
		c := *in
		f, ok := DestroyFraction[g.driver[g.comp[op]]]
		if !ok {
			f = 1
		}
		if c.DestroyDuration.P50 > 0 {
			c.Duration = c.DestroyDuration
		} else {
			c.Duration = scale(c.Duration, f)
		}
		if c.DestroyResourceDuration.P50 > 0 {
			c.ResourceDuration = c.DestroyResourceDuration
		} else {
			c.ResourceDuration = scale(c.ResourceDuration, f)
		}
		g.inst[op] = &c
	}
}
