package lang

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Outputs between components: a driver setting may read a terraform
// component's outputs, output.NAME[...] shaped like the producer's
// instances (output.NAME, output.NAME[I], output.NAME[REGION],
// output.NAME[REGION][I]), each an object of the producer's outputs.
//
// At load the values are the producer's mock_outputs, each marked with the
// outputMark of the (instance, output) it stands for: cty carries marks
// through expressions and functions, so after evaluation the marks say
// exactly which outputs a value derives from. They are stripped at once
// (value), recorded on the instance (Instance.Outputs), and the rest of
// the package sees only sensitive marks as before. At run time exec calls
// Spec.ResolveOutputs, which evaluates the same attributes again with the
// values Terraform gave.

// OutputRef is one output of one instance of a producer component.
type OutputRef struct {
	Component string
	Region    string
	Replica   int
	Name      string
}

// outputMark marks a value read from a producer's output.
type outputMark struct{ ref OutputRef }

// OutputValues gives the real outputs of a producer instance, each value
// marked MarkSensitive when Terraform says it is sensitive; ok false when
// they are not known (the mocks stand in).
type OutputValues func(component, region string, replica int) (map[string]cty.Value, bool)

// outputRoot is the root name of output references.
const outputRoot = "output"

// mockOutputs decodes a component's mock_outputs: an object of output
// name -> any value, evaluated once (no each.*).
func (l *loader) mockOutputs(c *Component, a *hcl.Attribute, sc scope) {
	c.MockOutputsRange = a.Range
	val, ok := l.value(a.Expr, l.baseCtx, scope{where: sc.where, structural: true, sensitiveOK: true})
	if !ok {
		c.MockOutputs = map[string]cty.Value{}
		return
	}
	m, ok := l.toValueMap(val, a.Expr.Range(), "mock_outputs")
	if !ok {
		m = map[string]cty.Value{}
	}
	for k := range m {
		if !hclsyntax.ValidIdentifier(k) {
			l.errorf(a.Expr.Range().Ptr(), "Invalid output name", "mock_outputs has %q, which is not a valid Terraform output name (letters, digits, _ and -, starting with a letter).", k)
		}
	}
	c.MockOutputs = m
}

// checkMockOutputs reports mock_outputs on a component that is not
// terraform's: only terraform components have outputs to read.
func (l *loader) checkMockOutputs() {
	for _, c := range l.spec.Components {
		if c.MockOutputs != nil && c.Driver != "" && c.Driver != DriverTerraform {
			l.errorf(c.MockOutputsRange.Ptr(), "Outputs of a non-terraform component",
				"Component %q has driver %q: only terraform components have outputs (terraform output), so mock_outputs does not apply here.", c.Name, c.Driver)
		}
	}
}

// buildOutputs puts output in the base context: every terraform
// component's instances, with the mocks marked by what they stand for.
// Called once every component's regions and replicas are known.
func (l *loader) buildOutputs() {
	l.outputComps = map[string]*Component{}
	for _, c := range l.spec.Components {
		l.outputComps[c.Name] = c
	}
	l.baseCtx.Variables[outputRoot] = outputObject(l.spec.Components, nil, nil)
}

// outputObject is the output variable: mocks, or the real values get
// gives where it knows them, for the components in only (all when nil;
// the others are left out).
func outputObject(comps []*Component, get OutputValues, only map[string]bool) cty.Value {
	all := map[string]cty.Value{}
	for _, c := range comps {
		if c.Driver != DriverTerraform || (only != nil && !only[c.Name]) {
			continue
		}
		inst := func(region string, replica int) cty.Value {
			vals := c.MockOutputs
			if get != nil {
				if real, ok := get(c.Name, region, replica); ok {
					vals = real
				}
			}
			obj := make(map[string]cty.Value, len(vals))
			for name, v := range vals {
				obj[name] = v.Mark(outputMark{OutputRef{c.Name, region, replica, name}})
			}
			return cty.ObjectVal(obj)
		}
		replicas := func(region string) cty.Value {
			if c.Replicas <= 1 {
				return inst(region, 0)
			}
			list := make([]cty.Value, c.Replicas)
			for i := range list {
				list[i] = inst(region, i)
			}
			return cty.TupleVal(list)
		}
		if len(c.Regions) == 0 {
			all[c.Name] = replicas("")
			continue
		}
		byRegion := make(map[string]cty.Value, len(c.Regions))
		for _, r := range c.Regions {
			byRegion[r] = replicas(r)
		}
		all[c.Name] = cty.ObjectVal(byRegion)
	}
	return cty.ObjectVal(all)
}

// stripOutputs takes the output marks off val: the value as the rest of
// the package knows it (sensitive marks only), and the outputs it reads
// by the path they were found at.
func stripOutputs(val cty.Value) (cty.Value, []pathRef) {
	if !val.ContainsMarked() {
		return val, nil
	}
	inner, pvms := val.UnmarkDeepWithPaths()
	var refs []pathRef
	var keep []cty.PathValueMarks
	for _, pvm := range pvms {
		other := cty.ValueMarks{}
		for m := range pvm.Marks {
			if om, ok := m.(outputMark); ok {
				refs = append(refs, pathRef{path: pvm.Path, ref: om.ref})
			} else {
				other[m] = struct{}{}
			}
		}
		if len(other) > 0 {
			keep = append(keep, cty.PathValueMarks{Path: pvm.Path, Marks: other})
		}
	}
	return inner.MarkWithPaths(keep), refs
}

// pathRef is an output a value reads, at a path inside the value.
type pathRef struct {
	path cty.Path
	ref  OutputRef
}

// recordOutputs notes on inst which settings of attribute attr read
// which outputs: "attr.KEY" for a map entry or list element (argv.1,
// vars.cluster), "attr" for the whole attribute.
func recordOutputs(inst *Instance, attr string, refs []pathRef) {
	if len(refs) == 0 {
		return
	}
	out := make(map[string][]OutputRef, len(inst.Outputs)+1)
	for k, v := range inst.Outputs {
		if k != attr && !(len(k) > len(attr) && k[:len(attr)+1] == attr+".") {
			out[k] = v // a new map: instances share the prototype's (read-only)
		}
	}
	for _, pr := range refs {
		key := attr
		if len(pr.path) > 0 {
			switch s := pr.path[0].(type) {
			case cty.GetAttrStep:
				key += "." + s.Name
			case cty.IndexStep:
				if s.Key.Type() == cty.String {
					key += "." + s.Key.AsString()
				} else if s.Key.Type() == cty.Number {
					i, _ := s.Key.AsBigFloat().Int64()
					key += "." + strconv.FormatInt(i, 10)
				}
			}
		}
		if !slices.Contains(out[key], pr.ref) {
			out[key] = append(out[key], pr.ref)
		}
	}
	for _, v := range out {
		sortRefs(v)
	}
	inst.Outputs = out
}

func sortRefs(refs []OutputRef) {
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		if a.Replica != b.Replica {
			return a.Replica < b.Replica
		}
		return a.Name < b.Name
	})
}

// OutputsFor are the outputs the setting key of an instance reads: those
// of the whole attribute and of the entry ("vars" and "vars.cluster").
func (in *Instance) OutputsFor(attr, key string) []OutputRef {
	refs := slices.Clone(in.Outputs[attr])
	if key != "" {
		for _, r := range in.Outputs[attr+"."+key] {
			if !slices.Contains(refs, r) {
				refs = append(refs, r)
			}
		}
	}
	sortRefs(refs)
	return refs
}

// ReadsOutputs lists every output the instance reads, sorted.
func (in *Instance) ReadsOutputs() []OutputRef {
	var all []OutputRef
	for _, refs := range in.Outputs {
		for _, r := range refs {
			if !slices.Contains(all, r) {
				all = append(all, r)
			}
		}
	}
	sortRefs(all)
	return all
}

// usesOutput reports whether expr refers to output.*.
func usesOutput(expr hcl.Expression) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == outputRoot {
			return true
		}
	}
	return false
}

// checkOutputRef checks output.COMP: declared, and a terraform component.
func (l *loader) checkOutputRef(rng hcl.Range, comp string, sc scope, add func(hcl.Range, string, string, ...any)) {
	if !sc.outputs {
		add(rng, "Output not allowed here",
			"output.%s can be used only in a driver block's settings that are passed to the tool (terraform vars, helm values, kubectl and helm context and namespace, command argv and env), not in %s: the rest ends up in operation IDs, file names, Terraform targets or the structure of the plan, which must be known before anything runs.", comp, sc.where)
		return
	}
	c := l.outputComps[comp]
	switch {
	case c == nil:
		add(rng, "Reference to undeclared component", "No component named %q is declared, so it has no outputs.%s", comp, didYouMean(comp, l.order["component"]))
	case c.Driver != DriverTerraform:
		add(rng, "Output of a non-terraform component",
			"Component %q has driver %q; only terraform components have outputs (terraform output).", comp, c.Driver)
	}
}

// checkOutputNames reports output.COMP...NAME where COMP's mock_outputs
// do not declare NAME. The name is the first attribute after the steps
// that pick an instance (a region, a replica), however they are written
// (output.c["eu"].id, output.c[each.region].id, output.c.eu.id).
func (l *loader) checkOutputNames(expr hcl.Expression, add func(hcl.Range, string, string, ...any)) {
	syn, ok := expr.(hclsyntax.Expression)
	if !ok {
		return
	}
	seen := map[hcl.Range]bool{}
	_ = hclsyntax.VisitAll(syn, func(n hclsyntax.Node) hcl.Diagnostics {
		e, ok := n.(hclsyntax.Expression)
		if !ok {
			return nil
		}
		steps, ok := outputChain(e)
		if !ok || len(steps) == 0 || steps[0].name == "" {
			return nil
		}
		c := l.outputComps[steps[0].name]
		if c == nil || c.Driver != DriverTerraform {
			return nil // reported by checkOutputRef
		}
		depth := 0
		if len(c.Regions) > 0 {
			depth++
		}
		if c.Replicas > 1 {
			depth++
		}
		if len(c.Regions) > 0 && len(steps) > 1 {
			if r := steps[1]; (r.name != "" || r.key != "") && !seen[r.rng] {
				seen[r.rng] = true
				region := r.name + r.key
				if !slices.Contains(c.Regions, region) {
					add(r.rng, "Unknown region", "Component %q has no instance in region %q.%s", c.Name, region, didYouMean(region, c.Regions))
					return nil
				}
			}
		}
		if len(steps) <= 1+depth {
			return nil // the whole component or instance
		}
		st := steps[1+depth]
		if st.name == "" || seen[st.rng] {
			return nil
		}
		seen[st.rng] = true
		if _, ok := c.MockOutputs[st.name]; !ok {
			names := slices.Sorted(maps.Keys(c.MockOutputs))
			detail := fmt.Sprintf("Component %q declares no output %q in mock_outputs.%s", c.Name, st.name, didYouMean(st.name, names))
			if c.MockOutputs == nil {
				detail = fmt.Sprintf("Component %q has no mock_outputs: declare the outputs other components read, with values to plan with, e.g. mock_outputs = { %s = \"mock\" }.", c.Name, st.name)
			}
			add(st.rng, "Undeclared output", "%s", detail)
		}
		return nil
	})
}

// chainStep is one step of a traversal chain: an attribute (name set) or
// an index.
type chainStep struct {
	name string // an attribute
	key  string // a static string index
	rng  hcl.Range
}

// outputChain flattens output.X[...].Y... written with any mix of static
// and computed indexes into its steps after the root; ok is false when e
// is not such a chain.
func outputChain(e hclsyntax.Expression) ([]chainStep, bool) {
	trav := func(tr hcl.Traversal) []chainStep {
		var out []chainStep
		for _, t := range tr {
			switch s := t.(type) {
			case hcl.TraverseAttr:
				out = append(out, chainStep{name: s.Name, rng: s.SrcRange})
			case hcl.TraverseIndex:
				st := chainStep{rng: s.SrcRange}
				if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
					st.key = s.Key.AsString()
				}
				out = append(out, st)
			default:
				out = append(out, chainStep{rng: t.SourceRange()})
			}
		}
		return out
	}
	switch x := e.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		if x.Traversal.RootName() != outputRoot {
			return nil, false
		}
		return trav(x.Traversal[1:]), true
	case *hclsyntax.RelativeTraversalExpr:
		src, ok := outputChain(x.Source)
		if !ok {
			return nil, false
		}
		return append(src, trav(x.Traversal)...), true
	case *hclsyntax.IndexExpr:
		src, ok := outputChain(x.Collection)
		if !ok {
			return nil, false
		}
		return append(src, chainStep{rng: x.Key.Range()}), true
	}
	return nil, false
}

// outputResolver evaluates again, with real outputs, the driver settings
// of a component that read outputs.
type outputResolver struct {
	l      *loader
	attrs  []instAttr
	ctx    *hcl.EvalContext
	ranges map[string]hcl.Range // attribute name -> its expression
}

// ResolveOutputs is the instance (component, region, replica) with the
// settings that read outputs evaluated again with the values get gives
// (mocks where it knows none). A reference to an output that Terraform
// does not have is an error at the reference. The spec's instance is not
// changed.
func (s *Spec) ResolveOutputs(component, region string, replica int, get OutputValues) (*Instance, hcl.Diagnostics) {
	c := s.Component(component)
	if c == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown component", Detail: fmt.Sprintf("Component %q is not in the spec.", component)}}
	}
	var in *Instance
	for _, x := range c.Instances {
		if x.Region == region && x.Replica == replica {
			in = x
			break
		}
	}
	if in == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown instance", Detail: fmt.Sprintf("Component %q has no instance in region %q, replica %d.", component, region, replica)}}
	}
	r := c.resolver
	if r == nil || len(in.Outputs) == 0 {
		return in, nil
	}
	var diags hcl.Diagnostics
	for attr, refs := range in.Outputs {
		for _, ref := range refs {
			real, ok := get(ref.Component, ref.Region, ref.Replica)
			if !ok {
				continue
			}
			if _, has := real[ref.Name]; !has {
				name, _, _ := cutDot(attr)
				rng := r.ranges[name]
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Output not in Terraform's state",
					Detail:  fmt.Sprintf("Component %q reads output %q of %s, which Terraform does not have (terraform output -json); its mock_outputs declare it. Add output %q to its module, or stop reading it.", component, ref.Name, refString(s, ref), ref.Name),
					Subject: rng.Ptr()})
			}
		}
	}
	if diags.HasErrors() {
		return nil, uniqueDiags(diags)
	}
	l := r.l
	l.resolveMu.Lock()
	defer l.resolveMu.Unlock()
	saved := l.diags
	l.diags = nil
	// The mocks, with the components the instance reads rebuilt from get:
	// one resolve costs the producers read, not the whole spec.
	read := map[string]bool{}
	for _, ref := range in.ReadsOutputs() {
		read[ref.Component] = true
	}
	vars := l.baseCtx.Variables[outputRoot].AsValueMap()
	if vars == nil {
		vars = map[string]cty.Value{}
	}
	for name, v := range outputObject(s.Components, get, read).AsValueMap() {
		vars[name] = v
	}
	ctx := l.eachCtx(r.ctx, region, replica).NewChild()
	ctx.Variables = map[string]cty.Value{outputRoot: cty.ObjectVal(vars)}
	out := in.copy()
	for _, a := range r.attrs {
		a.decode(out, ctx)
	}
	diags, l.diags = l.diags, saved
	return out, diags
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func uniqueDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	seen := map[string]bool{}
	for _, d := range diags {
		k := d.Summary + d.Detail
		if d.Subject != nil {
			k += d.Subject.String()
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// refString names a producer instance as an operation ID does.
func refString(s *Spec, ref OutputRef) string {
	id := ref.Component
	if ref.Region != "" {
		id += "/" + ref.Region
	}
	if c := s.Component(ref.Component); c != nil && c.Replicas > 1 {
		id += "/" + strconv.Itoa(ref.Replica)
	}
	return id
}
