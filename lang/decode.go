package lang

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Defaults for attributes a spec may leave out.
const (
	DefaultDuration       = time.Minute // component duration when absent
	DefaultMaxAttempts    = 5
	DefaultBackoff        = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	defaultReplicas       = 1
	defaultOnError        = OnErrorStop
	defaultContainerAlone = true
)

var (
	deploymentSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "default_mode"},
	}}
	apiSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "description"}, {Name: "rate", Required: true}, {Name: "burst"}, {Name: "scope"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "retry"}},
	}
	retrySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "max_attempts"}, {Name: "backoff"}, {Name: "max_backoff"},
	}}
	phaseSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "after"},
	}}
	modeSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "phase_barrier"}, {Name: "batch_barrier"}, {Name: "max_parallel"},
		{Name: "region_parallel"}, {Name: "terraform_parallelism"}, {Name: "component_parallel"},
		{Name: "failure_tolerance"},
	}}
	budgetSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "mode", Required: true}, {Name: "p50"}, {Name: "p90"}, {Name: "max_throttled"},
	}}
)

// refOrName reads an attribute that names one block of kind, written as a
// reference (phase.infra) or as a string ("infra").
func (l *loader) refOrName(a *hcl.Attribute, kind string, ctx *hcl.EvalContext, sc scope) (Ref, bool) {
	return l.refElem(a.Expr, kind, ctx, sc, a.Name)
}

func (l *loader) refElem(expr hcl.Expression, kind string, ctx *hcl.EvalContext, sc scope, what string) (Ref, bool) {
	if tr, diags := hcl.AbsTraversalForExpr(expr); !diags.HasErrors() && tr.RootName() == kind && len(tr) == 2 {
		if step, ok := tr[1].(hcl.TraverseAttr); ok {
			ref := Ref{Name: step.Name, Range: tr.SourceRange()}
			if _, ok := l.declared[kind][ref.Name]; !ok {
				l.errorf(ref.Range.Ptr(), "Reference to undeclared "+kind, "No %s named %q is declared.%s", kind, ref.Name, didYouMean(ref.Name, l.order[kind]))
				return ref, false
			}
			return ref, true
		}
	}
	val, ok := l.value(expr, ctx, sc)
	if !ok {
		return Ref{}, false
	}
	name, ok := l.toString(val, expr.Range(), what)
	if !ok {
		return Ref{}, false
	}
	ref := Ref{Name: name, Range: expr.Range()}
	if _, ok := l.declared[kind][name]; !ok {
		l.errorf(ref.Range.Ptr(), "Unknown "+kind, "No %s named %q is declared.%s", kind, name, didYouMean(name, l.order[kind]))
		return ref, false
	}
	return ref, true
}

// refList reads a list of references to blocks of kind ([component.x, ...]).
// Elements may also be strings; a whole expression that is not a list
// literal (a local, a variable) is evaluated to a list of names.
func (l *loader) refList(a *hcl.Attribute, kind string, ctx *hcl.EvalContext, sc scope) []Ref {
	refs := []Ref{}
	elems, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		val, ok := l.value(a.Expr, ctx, sc)
		if !ok {
			return refs
		}
		names, ok := l.toStringList(val, a.Expr.Range(), a.Name)
		if !ok {
			return refs
		}
		for _, n := range names {
			if _, ok := l.declared[kind][n]; !ok {
				l.errorf(a.Expr.Range().Ptr(), "Unknown "+kind, "No %s named %q is declared.%s", kind, n, didYouMean(n, l.order[kind]))
				continue
			}
			refs = append(refs, Ref{Name: n, Range: a.Expr.Range()})
		}
		return refs
	}
	for _, e := range elems {
		if tr, diags := hcl.AbsTraversalForExpr(e); !diags.HasErrors() {
			if root := tr.RootName(); root != kind && refKinds[root] != "" {
				l.errorf(e.Range().Ptr(), "Invalid reference", "%s takes references to %ss, such as %s.example; %s.* names a %s.", a.Name, kind, kind, root, root)
				continue
			}
		}
		if ref, ok := l.refElem(e, kind, ctx, sc, a.Name+" element"); ok {
			refs = append(refs, ref)
		}
	}
	return refs
}

// description checks a block's description is a string. It is kept
// nowhere, so it may be sensitive.
func (l *loader) description(content *hcl.BodyContent) {
	if a := content.Attributes["description"]; a != nil {
		if val, ok := l.value(a.Expr, l.baseCtx, scope{where: "a description", sensitiveOK: true}); ok {
			l.toString(val, a.Expr.Range(), "description")
		}
	}
}

func (l *loader) decodeDeployment() {
	for i, b := range l.blocks["deployment"] {
		if i > 0 {
			first := l.blocks["deployment"][0]
			l.errorCtx(b.DefRange.Ptr(), b.DefRange.Ptr(), "Duplicate deployment block",
				"A spec has exactly one deployment block, and one was already declared at %s.", rangeString(first.DefRange))
			continue
		}
		d := &Deployment{Name: b.Labels[0], DeclRange: b.DefRange}
		// The name is in the plan, file names and state paths.
		if msg := nameProblem("deployment", d.Name); msg != "" {
			l.errorCtx(b.LabelRanges[0].Ptr(), b.DefRange.Ptr(), "Invalid name", "%s", msg)
		}
		content, diags := l.content(b.Body, deploymentSchema)
		l.diags = append(l.diags, diags...)
		sc := scope{where: "the deployment block"}
		if a := content.Attributes["description"]; a != nil {
			// Only people read it: it may be sensitive, and is then
			// kept as a placeholder so nothing can print the value.
			if val, ok := l.value(a.Expr, l.baseCtx, scope{where: sc.where, sensitiveOK: true}); ok {
				d.Description, _ = l.toString(val, a.Expr.Range(), "description")
				if IsSensitive(val) {
					d.Description = "(sensitive value)"
				}
			}
		}
		if a := content.Attributes["default_mode"]; a != nil {
			if ref, ok := l.refOrName(a, "mode", l.baseCtx, sc); ok {
				d.DefaultMode = ref.Name
			}
		} else if modes := l.order["mode"]; len(modes) > 0 {
			// Documented default: the first mode declared.
			d.DefaultMode = modes[0]
		}
		l.spec.Deployment = d
	}
}

func (l *loader) decodeAPIs() {
	for _, b := range l.blocks["api"] {
		api := &API{Name: b.Labels[0], Scope: ScopeDeployment, DeclRange: b.DefRange,
			Retry: Retry{MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}}
		content, diags := l.content(b.Body, apiSchema)
		l.diags = append(l.diags, diags...)
		sc := scope{where: fmt.Sprintf("api %q", api.Name)}
		l.description(content)
		if a := content.Attributes["rate"]; a != nil {
			if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
				api.Rate, _ = l.toFloat(val, a.Expr.Range(), "rate", 0, true)
			}
		}
		api.Burst = int(math.Max(1, math.Ceil(api.Rate)))
		if a := content.Attributes["burst"]; a != nil {
			if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
				if n, ok := l.toInt(val, a.Expr.Range(), "burst", 1); ok {
					api.Burst = n
				}
			}
		}
		if a := content.Attributes["scope"]; a != nil {
			if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
				if s, ok := l.toString(val, a.Expr.Range(), "scope"); ok {
					if s != ScopeDeployment && s != ScopeRegion {
						l.errorf(a.Expr.Range().Ptr(), "Invalid scope", "scope must be %q (one bucket for the deployment) or %q (one bucket per region), not %q.%s",
							ScopeDeployment, ScopeRegion, s, didYouMean(s, []string{ScopeDeployment, ScopeRegion}))
					} else {
						api.Scope = s
					}
				}
			}
		}
		for i, rb := range content.Blocks {
			if i > 0 {
				l.errorCtx(rb.DefRange.Ptr(), b.DefRange.Ptr(), "Duplicate retry block", "An api has at most one retry block.")
				continue
			}
			rc, diags := l.content(rb.Body, retrySchema)
			l.diags = append(l.diags, diags...)
			if a := rc.Attributes["max_attempts"]; a != nil {
				if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
					if n, ok := l.toInt(val, a.Expr.Range(), "max_attempts", 1); ok {
						api.Retry.MaxAttempts = n
					}
				}
			}
			if a := rc.Attributes["backoff"]; a != nil {
				if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
					if d, ok := l.toDuration(val, a.Expr.Range(), "backoff"); ok {
						api.Retry.Backoff = d
					}
				}
			}
			if a := rc.Attributes["max_backoff"]; a != nil {
				if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
					if d, ok := l.toDuration(val, a.Expr.Range(), "max_backoff"); ok {
						api.Retry.MaxBackoff = d
						if d < api.Retry.Backoff {
							l.errorCtx(a.Expr.Range().Ptr(), rb.DefRange.Ptr(), "Invalid max_backoff",
								"max_backoff (%s) is shorter than backoff (%s); it caps the growing backoff, so it must be at least as long.", FormatDuration(d), FormatDuration(api.Retry.Backoff))
						}
					}
				}
			}
		}
		l.spec.APIs = append(l.spec.APIs, api)
	}
}

func (l *loader) decodePhases() {
	var phases []*Phase
	afterRange := map[string]hcl.Range{}
	for _, b := range l.blocks["phase"] {
		p := &Phase{Name: b.Labels[0], After: []Ref{}, DeclRange: b.DefRange}
		content, diags := l.content(b.Body, phaseSchema)
		l.diags = append(l.diags, diags...)
		l.description(content)
		if a := content.Attributes["after"]; a != nil {
			p.After = l.refList(a, "phase", l.baseCtx, scope{where: fmt.Sprintf("phase %q", p.Name)})
			afterRange[p.Name] = a.Range
		}
		phases = append(phases, p)
	}
	l.spec.Phases = l.orderPhases(phases, afterRange)
}

// orderPhases sorts phases topologically over `after`, ties in declaration
// order (so with no `after` at all, declaration order). A cycle is reported
// once, naming it, and the phases are then left in declaration order.
func (l *loader) orderPhases(phases []*Phase, afterRange map[string]hcl.Range) []*Phase {
	index := map[string]int{}
	for i, p := range phases {
		index[p.Name] = i
	}
	indeg := make([]int, len(phases))
	next := make([][]int, len(phases))
	for i, p := range phases {
		seen := map[string]bool{}
		for _, r := range p.After {
			j, ok := index[r.Name]
			if !ok || seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			indeg[i]++
			next[j] = append(next[j], i)
		}
	}
	var out []*Phase
	done := make([]bool, len(phases))
	for len(out) < len(phases) {
		pick := -1
		for i := range phases {
			if !done[i] && indeg[i] == 0 {
				pick = i
				break
			}
		}
		if pick < 0 {
			l.reportPhaseCycle(phases, index, done, afterRange)
			return phases
		}
		done[pick] = true
		out = append(out, phases[pick])
		for _, n := range next[pick] {
			indeg[n]--
		}
	}
	return out
}

func (l *loader) reportPhaseCycle(phases []*Phase, index map[string]int, done []bool, afterRange map[string]hcl.Range) {
	// Walk `after` edges among the phases left until one repeats: that
	// stretch is a cycle. Start from the first phase left.
	start := -1
	for i := range phases {
		if !done[i] {
			start = i
			break
		}
	}
	pos := map[int]int{}
	var path []int
	cur := start
	for {
		if at, seen := pos[cur]; seen {
			path = path[at:]
			break
		}
		pos[cur] = len(path)
		path = append(path, cur)
		nextIdx := -1
		for _, r := range phases[cur].After {
			if j, ok := index[r.Name]; ok && !done[j] {
				nextIdx = j
				break
			}
		}
		if nextIdx < 0 {
			return // cannot happen: every phase left waits on another left
		}
		cur = nextIdx
	}
	names := make([]string, len(path))
	for i, p := range path {
		names[i] = phases[p].Name
	}
	// The path follows "X after Y" edges; print it in run order (Y before X).
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	names = canonicalCycle(names)
	parts := make([]string, 0, len(names)+1)
	for _, n := range append(names, names[0]) {
		parts = append(parts, "phase."+n)
	}
	// Point at the reference that closes the cycle: the first phase's
	// after entry naming the last.
	rng := afterRange[names[0]]
	for _, r := range phases[index[names[0]]].After {
		if r.Name == names[len(names)-1] {
			rng = r.Range
			break
		}
	}
	l.errorCtx(&rng, phases[index[names[0]]].DeclRange.Ptr(), "Phase cycle",
		"The phases wait for each other in a cycle: %s (each runs after the one before it). Remove one of these after references.", strings.Join(parts, " -> "))
}

func (l *loader) decodeModes() {
	for _, b := range l.blocks["mode"] {
		m := &Mode{Name: b.Labels[0], ComponentParallel: map[string]int{}, DeclRange: b.DefRange}
		content, diags := l.content(b.Body, modeSchema)
		l.diags = append(l.diags, diags...)
		sc := scope{where: fmt.Sprintf("mode %q", m.Name)}
		l.description(content)
		for _, f := range []struct {
			name string
			dst  *bool
		}{{"phase_barrier", &m.PhaseBarrier}, {"batch_barrier", &m.BatchBarrier}} {
			if a := content.Attributes[f.name]; a != nil {
				if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
					*f.dst, _ = l.toBool(val, a.Expr.Range(), f.name)
				}
			}
		}
		for _, f := range []struct {
			name string
			dst  *int
		}{{"max_parallel", &m.MaxParallel}, {"region_parallel", &m.RegionParallel}, {"terraform_parallelism", &m.TerraformParallelism}} {
			if a := content.Attributes[f.name]; a != nil {
				if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
					*f.dst, _ = l.toInt(val, a.Expr.Range(), f.name, 0)
				}
			}
		}
		if a := content.Attributes["component_parallel"]; a != nil {
			l.intMap(a, l.baseCtx, sc, "component", "component_parallel", 0, m.ComponentParallel)
		}
		if a := content.Attributes["failure_tolerance"]; a != nil {
			l.failureTolerance(a, sc, m)
		}
		l.spec.Modes = append(l.spec.Modes, m)
	}
}

// intMap reads a map of name -> whole number whose keys name blocks of
// kind, into dst. Keys are checked at their own range when the map is
// written as a literal.
func (l *loader) intMap(a *hcl.Attribute, ctx *hcl.EvalContext, sc scope, kind, what string, min int, dst map[string]int) {
	type kv struct {
		key      string
		val      cty.Value
		keyRange hcl.Range
		valRange hcl.Range
	}
	var items []kv
	if pairs, diags := hcl.ExprMap(a.Expr); !diags.HasErrors() {
		for _, p := range pairs {
			kval, ok := l.value(p.Key, ctx, sc)
			if !ok {
				continue
			}
			k, ok := l.toString(kval, p.Key.Range(), what+" key")
			if !ok {
				continue
			}
			v, ok := l.value(p.Value, ctx, sc)
			if !ok {
				continue
			}
			items = append(items, kv{k, v, p.Key.Range(), p.Value.Range()})
		}
	} else {
		val, ok := l.value(a.Expr, ctx, sc)
		if !ok {
			return
		}
		m, ok := l.toValueMap(val, a.Expr.Range(), what)
		if !ok {
			return
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			items = append(items, kv{k, m[k], a.Expr.Range(), a.Expr.Range()})
		}
	}
	for _, it := range items {
		if _, ok := l.declared[kind][it.key]; !ok {
			l.errorCtx(it.keyRange.Ptr(), a.Range.Ptr(), "Unknown "+kind, "%s names %s %q, which is not declared.%s", what, kind, it.key, didYouMean(it.key, l.order[kind]))
			continue
		}
		if n, ok := l.toInt(it.val, it.valRange, what, min); ok {
			dst[it.key] = n
		}
	}
}

func (l *loader) decodeBudgets() {
	for _, b := range l.blocks["budget"] {
		bu := &Budget{Name: b.Labels[0], MaxThrottled: -1, DeclRange: b.DefRange}
		content, diags := l.content(b.Body, budgetSchema)
		l.diags = append(l.diags, diags...)
		sc := scope{where: fmt.Sprintf("budget %q", bu.Name)}
		if a := content.Attributes["description"]; a != nil {
			// Kept (simulate --check prints it), so a sensitive one
			// becomes a placeholder, as the deployment's does.
			if val, ok := l.value(a.Expr, l.baseCtx, scope{where: sc.where, sensitiveOK: true}); ok {
				bu.Description, _ = l.toString(val, a.Expr.Range(), "description")
				if IsSensitive(val) {
					bu.Description = "(sensitive value)"
				}
			}
		}
		if a := content.Attributes["mode"]; a != nil {
			if ref, ok := l.refOrName(a, "mode", l.baseCtx, sc); ok {
				bu.Mode = ref.Name
			}
		}
		for _, f := range []struct {
			name string
			dst  *time.Duration
		}{{"p50", &bu.P50}, {"p90", &bu.P90}} {
			if a := content.Attributes[f.name]; a != nil {
				if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
					if d, ok := l.toDuration(val, a.Expr.Range(), f.name); ok {
						if d == 0 {
							l.errorf(a.Expr.Range().Ptr(), "Invalid duration", "A budget's %s must be longer than zero; leave it out for no limit.", f.name)
						}
						*f.dst = d
					}
				}
			}
		}
		if a := content.Attributes["max_throttled"]; a != nil {
			if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
				if x, ok := l.toFloat(val, a.Expr.Range(), "max_throttled", 0, false); ok {
					bu.MaxThrottled = x
				}
			}
		}
		if content.Attributes["p50"] == nil && content.Attributes["p90"] == nil && content.Attributes["max_throttled"] == nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Empty budget",
				Detail:   "This budget sets none of p50, p90 and max_throttled, so it can never fail.",
				Subject:  b.DefRange.Ptr(),
			})
		}
		l.spec.Budgets = append(l.spec.Budgets, bu)
	}
}

// content is body.Content(schema) less the optional attributes set to
// null: as in Terraform, null means "unset" (regions = null, or a
// variable or conditional that gives null), so the default applies.
// Only an attribute whose value can be known once for the block is
// dropped (it evaluates to null in the base context); one that uses
// each.* is left to its decoder. Required attributes stay, to be
// reported as null.
func (l *loader) content(body hcl.Body, schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	content, diags := body.Content(schema)
	if content == nil || l.baseCtx == nil {
		return content, diags
	}
	for _, as := range schema.Attributes {
		a := content.Attributes[as.Name]
		if a == nil || as.Required || !mayBeNull(a.Expr) {
			continue
		}
		if l.checkRefs(a.Expr, scope{where: "a block"}).HasErrors() {
			continue // the decoder reports it
		}
		v, ds := a.Expr.Value(l.baseCtx)
		if !ds.HasErrors() && v.IsKnown() && v.IsNull() {
			delete(content.Attributes, as.Name)
		}
	}
	return content, diags
}

// mayBeNull says whether an expression can evaluate to null: not a
// non-null literal, a template, a list, an object or a for expression.
func mayBeNull(expr hcl.Expression) bool {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return e.Val.IsNull()
	case *hclsyntax.TemplateExpr, *hclsyntax.TupleConsExpr, *hclsyntax.ObjectConsExpr, *hclsyntax.ForExpr:
		return false
	}
	return true
}

// failureTolerance reads a mode's failure_tolerance: a whole number of
// regions, or a percentage of them as a string ("10%").
func (l *loader) failureTolerance(a *hcl.Attribute, sc scope, m *Mode) {
	val, ok := l.value(a.Expr, l.baseCtx, sc)
	if !ok {
		return
	}
	rng := a.Expr.Range()
	if val.Type() == cty.String && val.IsKnown() && !val.IsNull() {
		s := strings.TrimSpace(val.AsString())
		pct, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if strings.HasSuffix(s, "%") && err == nil && !(pct >= 0 && pct <= 100) {
			l.errorf(&rng, "Invalid failure_tolerance", "failure_tolerance %q is not a percentage between 0%% and 100%%.", s)
			return
		}
		if !strings.HasSuffix(s, "%") || err != nil {
			l.errorf(&rng, "Invalid failure_tolerance",
				"failure_tolerance is a number of regions that may fail, such as 3, or a percentage of the plan's regions, such as \"10%%\"; not %q.", s)
			return
		}
		m.FailureTolerance = &FailureTolerance{Percent: max(pct, 1e-9)}
		return
	}
	n, ok := l.toInt(val, rng, "failure_tolerance", 0)
	if ok {
		m.FailureTolerance = &FailureTolerance{Regions: n}
	}
}
