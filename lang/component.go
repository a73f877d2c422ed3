package lang

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var (
	componentSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "description"},
			{Name: "phase", Required: true},
			{Name: "driver"},
			{Name: "regions"},
			{Name: "replicas"},
			{Name: "depends_on"},
			{Name: "parallel"},
			{Name: "restart"},
			{Name: "duration"},
			{Name: "resources"},
			{Name: "resource_duration"},
			{Name: "destroy_duration"},
			{Name: "destroy_resource_duration"},
			{Name: "calls"},
			{Name: "on_error"},
			{Name: "retries"},
			{Name: "mock_outputs"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "container", LabelNames: []string{"name"}},
			{Type: DriverTerraform},
			{Type: DriverKubectl},
			{Type: DriverHelm},
			{Type: DriverCommand},
		},
	}
	containerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "parallel"}}}
	driverSchemas   = map[string]*hcl.BodySchema{
		DriverTerraform: {Attributes: []hcl.AttributeSchema{
			{Name: "dir", Required: true}, {Name: "target"}, {Name: "vars"}, {Name: "workspace"}, {Name: "binary"},
		}},
		DriverKubectl: {Attributes: []hcl.AttributeSchema{
			{Name: "context"}, {Name: "manifests", Required: true}, {Name: "namespace"},
		}},
		DriverHelm: {Attributes: []hcl.AttributeSchema{
			{Name: "context"}, {Name: "release", Required: true}, {Name: "chart", Required: true}, {Name: "namespace"}, {Name: "values"},
		}},
		DriverCommand: {Attributes: []hcl.AttributeSchema{
			{Name: "argv", Required: true}, {Name: "env"}, {Name: "dir"},
		}},
	}
	drivers   = []string{DriverTerraform, DriverKubectl, DriverHelm, DriverCommand}
	binaries  = []string{DriverTerraform, BinaryTofu}
	onErrors  = []string{OnErrorStop, OnErrorSkipDependents, OnErrorContinue}
	durationK = []string{"p50", "p90"}
)

// MaxInstances caps the instances of one component.
const MaxInstances = 10000

// decodeComponents decodes every component's structure first (regions,
// replicas, driver, mock_outputs), then their instances: an instance may
// read another component's outputs, whose shape is its regions and
// replicas.
func (l *loader) decodeComponents() {
	var finish []func()
	for _, b := range l.blocks["component"] {
		if l.interrupted() {
			return
		}
		c, f := l.decodeComponent(b)
		if c != nil {
			l.spec.Components = append(l.spec.Components, c)
		}
		if f != nil {
			finish = append(finish, f)
		}
	}
	l.checkMockOutputs()
	l.buildOutputs()
	for _, f := range finish {
		if l.interrupted() {
			return
		}
		f()
	}
}

// decodeComponent decodes a component's structure; the function it
// returns decodes its instances.
func (l *loader) decodeComponent(b *hcl.Block) (*Component, func()) {
	c := &Component{
		Name:      b.Labels[0],
		Replicas:  defaultReplicas,
		DependsOn: []Ref{},
		Parallel:  true,
		DeclRange: b.DefRange,
	}
	content, diags := l.content(b.Body, componentSchema)
	l.diags = append(l.diags, diags...)
	attrs := content.Attributes
	sc := scope{where: fmt.Sprintf("component %q", c.Name), structural: true}
	ctx := l.baseCtx
	l.description(content)

	if a := attrs["phase"]; a != nil {
		if ref, ok := l.refOrName(a, "phase", ctx, sc); ok {
			c.Phase = ref.Name
		}
	}

	// Driver blocks, grouped by type; containers aside.
	driverBlocks := map[string]*hcl.Block{}
	containers := map[string]hcl.Range{}
	for _, blk := range content.Blocks {
		if blk.Type == "container" {
			l.decodeContainer(c, blk, containers, sc)
			continue
		}
		if prev, dup := driverBlocks[blk.Type]; dup {
			l.errorCtx(blk.DefRange.Ptr(), b.DefRange.Ptr(), "Duplicate "+blk.Type+" block",
				"A component has at most one %s block; one was already declared at %s.", blk.Type, rangeString(prev.DefRange))
			continue
		}
		driverBlocks[blk.Type] = blk
	}

	driverOK := true
	if a := attrs["driver"]; a != nil {
		driverOK = false
		if val, ok := l.value(a.Expr, ctx, sc); ok {
			if s, ok := l.toString(val, a.Expr.Range(), "driver"); ok {
				if !contains(drivers, s) {
					l.errorCtx(a.Expr.Range().Ptr(), b.DefRange.Ptr(), "Unknown driver",
						"The driver %q is not one of \"terraform\", \"kubectl\", \"helm\" and \"command\".%s", s, didYouMean(s, drivers))
				} else {
					c.Driver, driverOK = s, true
				}
			}
		}
		if c.Driver != "" && driverBlocks[c.Driver] == nil {
			l.errorCtx(a.Range.Ptr(), b.DefRange.Ptr(), "Missing "+c.Driver+" block",
				"A component with driver = %q needs a %s block with the driver's settings.", c.Driver, c.Driver)
		}
	} else if len(driverBlocks) == 1 {
		// No driver attribute: the one driver block says which it is.
		for t := range driverBlocks {
			c.Driver = t
		}
	} else {
		driverOK = false
		l.errorCtx(b.LabelRanges[0].Ptr(), b.DefRange.Ptr(), "Missing driver",
			"Component %q needs driver = \"terraform\", \"kubectl\", \"helm\" or \"command\", with the block of the same name.", c.Name)
	}
	if driverOK {
		for _, t := range drivers {
			if blk := driverBlocks[t]; blk != nil && t != c.Driver {
				l.errorCtx(blk.TypeRange.Ptr(), b.DefRange.Ptr(), "Unexpected "+t+" block",
					"This component's driver is %q, so a %s block does not apply: remove it, or set driver = %q.", c.Driver, t, t)
			}
		}
	}

	if attrs["duration"] == nil && c.Driver != "" && c.Driver != DriverTerraform {
		// Terraform components are timed by their resources; others have
		// only this guess, which the simulator's estimates rest on.
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Missing duration",
			Detail:   fmt.Sprintf("Component %q sets no duration, so the simulator assumes %s for each of its instances. Set duration = \"90s\" or { p50 = \"90s\", p90 = \"3m\" } for estimates that mean something.", c.Name, FormatDuration(DefaultDuration)),
			Subject:  b.LabelRanges[0].Ptr(),
			Context:  b.DefRange.Ptr(),
		})
	}

	if a := attrs["regions"]; a != nil {
		c.Regions = l.regions(a, ctx, sc)
	}
	if a := attrs["replicas"]; a != nil {
		if val, ok := l.value(a.Expr, ctx, sc); ok {
			if n, ok := l.toInt(val, a.Expr.Range(), "replicas", 1); ok {
				c.Replicas = n
			}
		}
	}
	if a := attrs["depends_on"]; a != nil {
		c.DependsOn = l.refList(a, "component", ctx, sc)
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"parallel", &c.Parallel}, {"restart", &c.Restart}} {
		if a := attrs[f.name]; a != nil {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				if v, ok := l.toBool(val, a.Expr.Range(), f.name); ok {
					*f.dst = v
				}
			}
		}
	}

	var driverContent *hcl.BodyContent
	if blk := driverBlocks[c.Driver]; blk != nil && c.Driver != "" {
		var diags hcl.Diagnostics
		driverContent, diags = l.content(blk.Body, driverSchemas[c.Driver])
		l.diags = append(l.diags, diags...)
	}

	regions := c.Regions
	if len(regions) == 0 {
		regions = []string{""}
	}
	if n := len(regions) * c.Replicas; n > MaxInstances {
		// A typo such as replicas = 20000 must not stall validation.
		rng := b.DefRange
		if a := attrs["replicas"]; a != nil {
			rng = a.Expr.Range()
		}
		l.errorCtx(&rng, b.DefRange.Ptr(), "Too many instances",
			"Component %q would have %d instances (%s x %s); at most %d are supported.", c.Name, n, Plural(len(regions), "region"), Plural(c.Replicas, "replica"), MaxInstances)
		c.Replicas, c.Regions = 1, nil // output.NAME stays small
		return c, nil
	}
	if a := attrs["mock_outputs"]; a != nil {
		l.mockOutputs(c, a, sc)
	}
	return c, func() {
		// A regions attribute that failed to decode was reported: each.region
		// is not also reported as unavailable.
		isc := scope{where: fmt.Sprintf("component %q", c.Name), each: true, regions: len(c.Regions) > 0 || attrs["regions"] != nil}
		list := l.instanceAttrs(c, attrs, driverContent, isc)
		l.decodeInstances(c, regions, list, driverContent != nil, ctx)
		var outAttrs []instAttr
		ranges := map[string]hcl.Range{}
		for _, a := range list {
			if usesOutput(a.expr) {
				outAttrs = append(outAttrs, a)
				ranges[a.name] = a.expr.Range()
			}
		}
		if len(outAttrs) > 0 {
			c.resolver = &outputResolver{l: l, attrs: outAttrs, ctx: ctx, ranges: ranges}
			c.OutputAttrs = ranges
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (l *loader) decodeContainer(c *Component, blk *hcl.Block, seen map[string]hcl.Range, sc scope) {
	name := blk.Labels[0]
	if prev, dup := seen[name]; dup {
		l.errorf(blk.LabelRanges[0].Ptr(), "Duplicate container",
			"A container named %q was already declared at %s.", name, rangeString(prev))
		return
	}
	seen[name] = blk.DefRange
	ct := Container{Name: name, Parallel: defaultContainerAlone, DeclRange: blk.DefRange}
	content, diags := l.content(blk.Body, containerSchema)
	l.diags = append(l.diags, diags...)
	if a := content.Attributes["parallel"]; a != nil {
		if val, ok := l.value(a.Expr, l.baseCtx, sc); ok {
			if v, ok := l.toBool(val, a.Expr.Range(), "parallel"); ok {
				ct.Parallel = v
			}
		}
	}
	c.Containers = append(c.Containers, ct)
}

// regions reads the region list, checking names and duplicates at each
// element when the list is written out.
func (l *loader) regions(a *hcl.Attribute, ctx *hcl.EvalContext, sc scope) []string {
	val, ok := l.value(a.Expr, ctx, sc)
	if !ok {
		return nil
	}
	names, ok := l.toStringList(val, a.Expr.Range(), "regions")
	if !ok {
		return nil
	}
	ranges := make([]hcl.Range, len(names))
	elems, diags := hcl.ExprList(a.Expr)
	for i := range names {
		ranges[i] = a.Expr.Range()
		if !diags.HasErrors() && len(elems) == len(names) {
			ranges[i] = elems[i].Range()
		}
	}
	if len(names) == 0 {
		l.errorf(a.Expr.Range().Ptr(), "Empty regions",
			"regions lists no region, so the component would have no instance. Remove the attribute for a single instance without a region.")
		return nil
	}
	seen := map[string]int{}
	var out []string
	for i, n := range names {
		if msg := l.regionProblem(n); msg != "" {
			l.errorf(ranges[i].Ptr(), "Invalid name", "%s", msg)
			continue
		}
		if j, dup := seen[n]; dup {
			l.errorf(ranges[i].Ptr(), "Duplicate region", "The region %q is listed twice in regions (also at position %d); each region is one instance.", n, j+1)
			continue
		}
		seen[n] = i
		out = append(out, n)
	}
	return out
}

// regionProblem is nameProblem("region", name), remembered: components
// mostly list the same regions.
func (l *loader) regionProblem(name string) string {
	msg, ok := l.regionNames[name]
	if !ok {
		msg = nameProblem("region", name)
		l.regionNames[name] = msg
	}
	return msg
}

// instAttr is one per-instance attribute of a component (a component
// attribute or a driver block's) and how it is decoded into an instance.
type instAttr struct {
	name   string
	expr   hcl.Expression
	decode func(inst *Instance, ctx *hcl.EvalContext)
}

// decodeInstances builds one instance per (region, replica), region-major.
//
// An attribute whose expression does not use each.* has the same value,
// and the same diagnostics, in every instance (the functions are pure), so
// it is decoded once, into a prototype the instances copy; only the
// attributes that use each.* are evaluated per instance. Instances thus
// share the maps and slices of the attributes decoded once: Instance
// documents them as read-only. The prototype is decoded in the first
// instance's context, so even a diagnostic's EvalContext holds the values
// per-instance evaluation gave.
func (l *loader) decodeInstances(c *Component, regions []string, attrs []instAttr, hasDriver bool, ctx *hcl.EvalContext) {
	var fixed, varying []instAttr
	for _, a := range attrs {
		if usesEach(a.expr) {
			varying = append(varying, a)
		} else {
			fixed = append(fixed, a)
		}
	}
	first := l.eachCtx(ctx, regions[0], 0)
	proto := newInstance(c.Driver, hasDriver)
	for _, a := range fixed {
		a.decode(proto, first)
	}
	// References are checked once per expression: the check depends only
	// on the expression and the component's scope.
	l.refMemo = map[hcl.Expression]hcl.Diagnostics{}
	l.elemMemo = map[hcl.Expression]*memoVal{}
	defer func() { l.refMemo, l.elemMemo = nil, nil }()
	c.Instances = make([]*Instance, 0, len(regions)*c.Replicas)
	for i, region := range regions {
		for replica := 0; replica < c.Replicas; replica++ {
			inst := proto.copy()
			inst.Region, inst.Replica = region, replica
			if len(varying) > 0 {
				ictx := first
				if i > 0 || replica > 0 {
					ictx = l.eachCtx(ctx, region, replica)
				}
				for _, a := range varying {
					a.decode(inst, ictx)
				}
			}
			c.Instances = append(c.Instances, inst)
		}
	}
}

// eachKey names one instance's each.* values.
type eachKey struct {
	region  string
	replica int
}

// eachCtx is parent with each.region and each.replica set. The contexts
// are kept for the whole Load: components mostly share their regions, so
// a few dozen serve every instance (they are only read).
func (l *loader) eachCtx(parent *hcl.EvalContext, region string, replica int) *hcl.EvalContext {
	if parent != l.baseCtx {
		return newEachCtx(parent, region, replica)
	}
	k := eachKey{region, replica}
	ctx, ok := l.eachCtxs[k]
	if !ok {
		ctx = newEachCtx(parent, region, replica)
		l.eachCtxs[k] = ctx
	}
	return ctx
}

func newEachCtx(parent *hcl.EvalContext, region string, replica int) *hcl.EvalContext {
	ctx := parent.NewChild()
	ctx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{
		"region":  cty.StringVal(region),
		"replica": cty.NumberIntVal(int64(replica)),
	})}
	return ctx
}

// usesEach reports whether expr refers to each.*.
func usesEach(expr hcl.Expression) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == "each" {
			return true
		}
	}
	return false
}

// newInstance is an instance with every per-instance attribute at its
// default; hasDriver adds the driver's settings, empty.
func newInstance(driver string, hasDriver bool) *Instance {
	inst := &Instance{
		Duration: Duration{P50: DefaultDuration, P90: DefaultDuration},
		Calls:    map[string]int{},
		OnError:  defaultOnError,
	}
	if !hasDriver {
		return inst
	}
	switch driver {
	case DriverTerraform:
		inst.Terraform = &Terraform{Vars: map[string]cty.Value{}}
	case DriverKubectl:
		inst.Kubectl = &Kubectl{Manifests: []string{}}
	case DriverHelm:
		inst.Helm = &Helm{Values: map[string]cty.Value{}}
	case DriverCommand:
		inst.Command = &Command{Argv: []string{}, Env: map[string]string{}}
	}
	return inst
}

// copy is a shallow copy with a driver struct of its own, so per-instance
// attributes can be set on it without touching other instances.
func (in *Instance) copy() *Instance {
	out := *in
	switch {
	case in.Terraform != nil:
		t := *in.Terraform
		out.Terraform = &t
	case in.Kubectl != nil:
		k := *in.Kubectl
		out.Kubectl = &k
	case in.Helm != nil:
		h := *in.Helm
		out.Helm = &h
	case in.Command != nil:
		cmd := *in.Command
		out.Command = &cmd
	}
	return &out
}

// instanceAttrs lists the per-instance attributes present, in the order
// they are decoded (component attributes, then the driver block's).
func (l *loader) instanceAttrs(c *Component, attrs hcl.Attributes, driver *hcl.BodyContent, sc scope) []instAttr {
	var out []instAttr
	add := func(a *hcl.Attribute, decode func(inst *Instance, ctx *hcl.EvalContext)) {
		if a != nil {
			out = append(out, instAttr{name: a.Name, expr: a.Expr, decode: decode})
		}
	}
	if a := attrs["duration"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if d, ok := l.duration(a, ctx, sc); ok {
				inst.Duration = d
			}
		})
	}
	if a := attrs["resources"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				inst.Resources, _ = l.toInt(val, a.Expr.Range(), "resources", 0)
			}
		})
	}
	if a := attrs["resource_duration"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if d, ok := l.duration(a, ctx, sc); ok {
				inst.ResourceDuration = d
			}
		})
	}
	if a := attrs["destroy_duration"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if d, ok := l.duration(a, ctx, sc); ok {
				inst.DestroyDuration = d
			}
		})
	}
	if a := attrs["destroy_resource_duration"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if d, ok := l.duration(a, ctx, sc); ok {
				inst.DestroyResourceDuration = d
			}
		})
	}
	if a := attrs["calls"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			calls := map[string]int{}
			l.intMap(a, ctx, sc, "api", "calls", 0, calls)
			inst.Calls = calls
		})
	}
	if a := attrs["on_error"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				if s, ok := l.toString(val, a.Expr.Range(), "on_error"); ok {
					if contains(onErrors, s) {
						inst.OnError = s
					} else {
						l.errorf(a.Expr.Range().Ptr(), "Invalid on_error",
							"on_error must be \"stop\", \"skip_dependents\" or \"continue\", not %q.%s", s, didYouMean(s, onErrors))
					}
				}
			}
		})
	}
	if a := attrs["retries"]; a != nil {
		add(a, func(inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				inst.Retries, _ = l.toInt(val, a.Expr.Range(), "retries", 0)
			}
		})
	}
	if driver != nil {
		out = append(out, l.driverAttrs(c.Driver, driver.Attributes, sc)...)
	}
	return out
}

// driverAttrs lists the attributes of the component's driver block, in the
// order they are decoded.
func (l *loader) driverAttrs(driver string, attrs hcl.Attributes, sc scope) []instAttr {
	// A driver's settings may be sensitive: the executor takes them again
	// from the variables and redacts them. Not the paths and names that
	// identify what is deployed (terraform dir, target and workspace;
	// manifests; helm release and chart; a command's dir): those are
	// digested, grouped on and printed, like regions.
	named := sc
	sc.sensitiveOK = true
	sc.outputs = true // settings passed to the tool may read outputs
	var out []instAttr
	add := func(name string, decode func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext)) {
		a := attrs[name]
		if a == nil {
			return
		}
		if !usesOutput(a.Expr) {
			out = append(out, instAttr{name: name, expr: a.Expr, decode: func(inst *Instance, ctx *hcl.EvalContext) { decode(a, inst, ctx) }})
			return
		}
		out = append(out, instAttr{name: name, expr: a.Expr, decode: func(inst *Instance, ctx *hcl.EvalContext) {
			l.outRefs = nil
			decode(a, inst, ctx)
			recordOutputs(inst, name, l.outRefs)
			l.outRefs = nil
		}})
	}
	// str decodes a string attribute into the field dst picks; name
	// attributes take no sensitive value.
	// sens (nil for terraform, whose strings take no sensitive value)
	// picks the map that records a sensitive value under the attribute's
	// name.
	strIn := func(sc scope, name string, dst func(inst *Instance) *string, sens func(inst *Instance) *map[string]bool) {
		add(name, func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				*dst(inst), _ = l.toString(val, a.Expr.Range(), name)
				if sens != nil && IsSensitive(val) {
					m := sens(inst)
					*m = withSensitive(*m, name)
				}
			}
		})
	}
	kubeSens := func(in *Instance) *map[string]bool { return &in.Kubectl.Sensitive }
	helmSens := func(in *Instance) *map[string]bool { return &in.Helm.Sensitive }
	cmdSens := func(in *Instance) *map[string]bool { return &in.Command.Sensitive }
	str := func(name string, dst func(inst *Instance) *string, sens func(inst *Instance) *map[string]bool) {
		strIn(sc, name, dst, sens)
	}
	nameStr := func(name string, dst func(inst *Instance) *string, sens func(inst *Instance) *map[string]bool) {
		strIn(named, name, dst, sens)
	}
	switch driver {
	case DriverTerraform:
		nameStr("dir", func(in *Instance) *string { return &in.Terraform.Dir }, nil)
		nameStr("target", func(in *Instance) *string { return &in.Terraform.Target }, nil)
		add("workspace", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			val, ok := l.value(a.Expr, ctx, named)
			if !ok {
				return
			}
			ws, ok := l.toString(val, a.Expr.Range(), "workspace")
			if !ok {
				return
			}
			if msg := workspaceProblem(ws); msg != "" {
				l.errorf(a.Expr.Range().Ptr(), "Invalid workspace name", "%s", msg)
				return
			}
			inst.Terraform.Workspace = ws
		})
		add("binary", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, named); ok {
				l.terraformBinary(val, a.Expr.Range(), inst.Terraform)
			}
		})
		add("vars", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				if m, ok := l.toValueMap(val, a.Expr.Range(), "vars"); ok {
					inst.Terraform.Vars = m
				}
			}
		})
	case DriverKubectl:
		str("context", func(in *Instance) *string { return &in.Kubectl.Context }, kubeSens)
		str("namespace", func(in *Instance) *string { return &in.Kubectl.Namespace }, kubeSens)
		add("manifests", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			// named: no element is sensitive.
			if list, _, ok := l.stringList(a.Expr, ctx, named, "manifests"); ok {
				if len(list) == 0 {
					l.errorf(a.Expr.Range().Ptr(), "Empty manifests", "manifests lists no file; kubectl needs at least one manifest to apply.")
				}
				inst.Kubectl.Manifests = list
			}
		})
	case DriverHelm:
		str("context", func(in *Instance) *string { return &in.Helm.Context }, helmSens)
		nameStr("release", func(in *Instance) *string { return &in.Helm.Release }, helmSens)
		nameStr("chart", func(in *Instance) *string { return &in.Helm.Chart }, helmSens)
		str("namespace", func(in *Instance) *string { return &in.Helm.Namespace }, helmSens)
		add("values", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				if m, ok := l.toValueMap(val, a.Expr.Range(), "values"); ok {
					inst.Helm.Values = m
				}
			}
		})
	case DriverCommand:
		nameStr("dir", func(in *Instance) *string { return &in.Command.Dir }, cmdSens)
		add("argv", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			list, sens, ok := l.stringList(a.Expr, ctx, sc, "argv")
			if len(sens) > 0 {
				keys := make([]string, len(sens))
				for i, n := range sens {
					keys[i] = "argv." + strconv.Itoa(n)
				}
				inst.Command.Sensitive = withSensitive(inst.Command.Sensitive, keys...)
			}
			if ok {
				switch {
				case len(list) == 0:
					l.errorf(a.Expr.Range().Ptr(), "Empty argv", "argv lists no program: give the program and its arguments, e.g. [\"./deploy.sh\", \"--region\", each.region].")
				case list[0] == "":
					l.errorf(a.Expr.Range().Ptr(), "Empty argv", "argv's first element, the program to run, is an empty string.")
				}
				inst.Command.Argv = list
			}
		})
		add("env", func(a *hcl.Attribute, inst *Instance, ctx *hcl.EvalContext) {
			if val, ok := l.value(a.Expr, ctx, sc); ok {
				m, sens, ok := l.toStringMap(val, a.Expr.Range(), "env")
				if len(sens) > 0 {
					keys := make([]string, len(sens))
					for i, k := range sens {
						keys[i] = "env." + k
					}
					inst.Command.Sensitive = withSensitive(inst.Command.Sensitive, keys...)
				}
				if ok {
					inst.Command.Env = m
				}
			}
		})
	}
	return out
}

// withSensitive is m with keys set, in a new map: instances share the
// map of the attributes decoded once (see decodeInstances), so one is
// never changed in place.
func withSensitive(m map[string]bool, keys ...string) map[string]bool {
	out := make(map[string]bool, len(m)+len(keys))
	for k := range m {
		out[k] = true
	}
	for _, k := range keys {
		out[k] = true
	}
	return out
}

// duration reads "6m" or { p50 = "6m", p90 = "10m" } (p90 defaults to p50),
// for duration, resource_duration and their destroy_ forms.
func (l *loader) duration(a *hcl.Attribute, ctx *hcl.EvalContext, sc scope) (Duration, bool) {
	val, ok := l.value(a.Expr, ctx, sc)
	if !ok {
		return Duration{}, false
	}
	rng := a.Expr.Range()
	inner, _ := val.UnmarkDeep()
	if inner.Type().IsPrimitiveType() && !inner.IsNull() {
		// Strings, and numbers or bools that are not durations ("60" has
		// no unit): both read as a duration string.
		d, ok := l.toDuration(val, rng, a.Name)
		return Duration{P50: d, P90: d}, ok && l.positiveP50(a.Name, d, rng)
	}
	if inner.IsNull() || !(inner.Type().IsObjectType() || inner.Type().IsMapType()) {
		l.typeError(rng, a.Name, `a duration string such as "6m", or an object { p50 = "6m", p90 = "10m" }`, nil)
		return Duration{}, false
	}
	// Key ranges, when the object is written out.
	keyRange := map[string]hcl.Range{}
	valRange := map[string]hcl.Range{}
	if pairs, diags := hcl.ExprMap(a.Expr); !diags.HasErrors() {
		for _, p := range pairs {
			if k, diags := p.Key.Value(nil); !diags.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() {
				keyRange[k.AsString()] = p.Key.Range()
				valRange[k.AsString()] = p.Value.Range()
			}
		}
	}
	at := func(m map[string]hcl.Range, k string) hcl.Range {
		if r, ok := m[k]; ok {
			return r
		}
		return rng
	}
	m, _ := l.toValueMap(val, rng, a.Name)
	ok = true
	var unknown []string
	for k := range m {
		if !contains(durationK, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		l.errorf(at(keyRange, k).Ptr(), "Unsupported attribute",
			"A duration object has only the attributes p50 and p90, not %q.%s", k, didYouMean(k, durationK))
		ok = false
	}
	p50v, has50 := m["p50"]
	if !has50 {
		l.errorf(rng.Ptr(), "Missing p50", "A duration object needs p50 (and p90), e.g. { p50 = \"6m\", p90 = \"10m\" }.")
		return Duration{}, false
	}
	var d Duration
	var good bool
	d.P50, good = l.toDuration(p50v, at(valRange, "p50"), a.Name+".p50")
	ok = ok && good
	d.P90 = d.P50
	if p90v, has90 := m["p90"]; has90 {
		d.P90, good = l.toDuration(p90v, at(valRange, "p90"), a.Name+".p90")
		ok = ok && good
	}
	ok = ok && l.positiveP50(a.Name, d.P50, at(valRange, "p50"))
	if ok && d.P90 < d.P50 {
		l.errorf(at(valRange, "p90").Ptr(), "p90 is less than p50",
			"The p90 of %s (%s) is shorter than its p50 (%s); the 90th percentile of a run time cannot be below its median.", a.Name, FormatDuration(d.P90), FormatDuration(d.P50))
		return d, false
	}
	return d, ok
}

// positiveP50 reports a zero median run time for duration: the simulator
// would take a lognormal through 0, and an operation that takes no time
// is better left out. (A zero resource_duration is fine: resources that
// apply instantly.)
func (l *loader) positiveP50(what string, p50 time.Duration, rng hcl.Range) bool {
	if what != "duration" || p50 > 0 {
		return true
	}
	l.errorf(&rng, "Invalid duration", "The p50 of duration must be longer than zero, such as \"30s\"; leave duration out for the default of %s.", FormatDuration(DefaultDuration))
	return false
}
