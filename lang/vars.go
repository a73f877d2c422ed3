package lang

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	},
}

// envVarPrefix prefixes the environment variables that set spec variables.
const envVarPrefix = "ECHELON_VAR_"

// varDecl is a variable block being decoded.
type varDecl struct {
	v        *Variable
	defaults *typeexpr.Defaults
	block    *hcl.Block
	typed    bool // the block has a type attribute (any included)
	set      bool // a value other than the default was given
	failed   bool // a value was given but was invalid (reported)
}

// decodeVariables decodes the variable blocks and resolves their values,
// in Terraform's order of precedence: default < ECHELON_VAR_x < --var-file
// files (in order) < --var (in order).
func (l *loader) decodeVariables() {
	decls := map[string]*varDecl{}
	var names []string
	for _, b := range l.blocks["variable"] {
		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, Default: cty.NilVal, DeclRange: b.DefRange}
		d := &varDecl{v: v, block: b}
		if a := content.Attributes["type"]; a != nil {
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				v.Type, d.defaults, d.typed = ty, defaults, true
			}
		}
		if a := content.Attributes["description"]; a != nil {
			if s, ok := l.constString(a.Expr, "description"); ok {
				v.Description = s
			}
		}
		if a := content.Attributes["sensitive"]; a != nil {
			val, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				if b, ok := l.toBool(val, a.Expr.Range(), "sensitive"); ok {
					v.Sensitive = b
				}
			}
		}
		if a := content.Attributes["default"]; a != nil {
			val, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				for _, d := range diags {
					if d.Summary == "Variables not allowed" || d.Summary == "Function calls not allowed" {
						d.Detail = "A variable default must be a literal value: it cannot refer to other variables or call functions. Use a local value for derived values."
					}
				}
				l.diags = append(l.diags, diags...)
				v.Default = cty.UnknownVal(v.Type) // reported; no follow-on "required" error
			} else if conv, ok := l.convertVar(v, d.defaults, val, a.Expr.Range(), "Invalid default value for variable"); ok {
				v.Default = conv
			} else {
				v.Default = cty.UnknownVal(v.Type)
			}
		}
		decls[v.Name] = d
		names = append(names, v.Name)
		l.spec.Variables = append(l.spec.Variables, v)
	}

	// Environment: ECHELON_VAR_name=value, for declared names only (as
	// Terraform's TF_VAR_ does, others are ignored).
	env := append([]string(nil), l.opts.Environ...)
	sort.Strings(env)
	for _, kv := range env {
		k, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envVarPrefix) {
			continue
		}
		d := decls[strings.TrimPrefix(k, envVarPrefix)]
		if d == nil {
			continue
		}
		l.setRaw(d, raw, "the environment variable "+k)
	}

	// A variables file that cannot be read or parsed may have set any
	// variable: "No value for required variable" would only add noise.
	varFileFailed := false
	for _, path := range l.opts.VarFiles {
		if !l.readVarFile(path, decls, names) {
			varFileFailed = true
		}
	}

	for _, name := range slices.Sorted(maps.Keys(l.opts.Recorded)) {
		d := decls[name]
		if d == nil {
			continue
		}
		l.setRecorded(d, l.opts.Recorded[name])
	}

	for _, kv := range l.opts.Vars {
		k, raw, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// Quote it only when it reads as a name missing its value:
			// anything else may be a secret given without its name.
			given := "An option --var"
			if hclsyntax.ValidIdentifier(kv) {
				given = fmt.Sprintf("The option --var %q", kv)
			}
			l.errorf(nil, "Invalid --var option", "%s is not of the form NAME=VALUE.", given)
			continue
		}
		d := decls[k]
		if d == nil {
			l.errorf(nil, "Value for undeclared variable", "A variable named %q was given with --var but is not declared in the spec.%s", k, didYouMean(k, names))
			continue
		}
		l.setRaw(d, raw, "the option --var "+k)
	}

	for _, name := range names {
		d := decls[name]
		v := d.v
		if !d.set {
			if d.failed || (varFileFailed && v.Default == cty.NilVal) {
				// Reported already; unknown, so nothing else fails on it.
				v.Value = cty.UnknownVal(v.Type)
			} else if v.Default == cty.NilVal {
				l.errorCtx(d.block.LabelRanges[0].Ptr(), d.block.DefRange.Ptr(), "No value for required variable",
					"The variable %q has no default, so it must be set with --var %s=VALUE, --var-file or the environment variable %s%s.", name, name, envVarPrefix, name)
				v.Value = cty.UnknownVal(v.Type)
			} else {
				v.Value = v.Default
			}
		}
		if v.Sensitive {
			v.Value = v.Value.Mark(MarkSensitive)
		}
		l.varVals[name] = v.Value
	}
}

// setRaw sets a variable from a string given outside the spec. As in
// Terraform, a variable of a primitive type, or with no type at all,
// takes the string as it is; others (type = any included) parse it as an
// HCL expression, e.g. '["a","b"]'. An untyped variable given what reads
// as a list or map gets a warning that it is a string.
func (l *loader) setRaw(d *varDecl, raw, source string) {
	if !utf8.ValidString(raw) {
		// A plan records values as JSON, which would turn the bad bytes
		// into U+FFFD: apply would then see another value.
		l.errorf(nil, "Invalid value for variable", "The value of %s is not valid UTF-8.", source)
		d.failed = true
		return
	}
	var val cty.Value
	if d.v.Type.IsPrimitiveType() || !d.typed {
		val = cty.StringVal(raw)
		if t := strings.TrimSpace(raw); !d.typed && t != "" && (t[0] == '[' || t[0] == '{') {
			// The value itself is not quoted: it may be a secret.
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value taken as a string",
				Detail: fmt.Sprintf("The variable %q has no type, so the value of %s is the string as given, not a list or map (as in Terraform). Declare the variable with a type, such as type = list(string), map(string) or any, to pass a list or map.",
					d.v.Name, source),
				Subject: d.block.LabelRanges[0].Ptr(),
			})
		}
	} else {
		if checkNesting([]byte(raw), source, syntaxHCL) != nil {
			l.errorf(nil, "Invalid value for variable", "The value of %s nests more than %d levels deep, the limit echelon reads.", source, MaxNesting)
			d.failed = true
			return
		}
		expr, diags := hclsyntax.ParseExpression([]byte(raw), source, hcl.InitialPos)
		if !diags.HasErrors() {
			val, diags = expr.Value(nil)
		}
		if diags.HasErrors() {
			// The parser may quote the token it stopped at: part of a
			// value that may be a secret.
			l.errorf(nil, "Invalid value for variable", "The value of %s is not a valid %s: %s.", source, typeexpr.TypeString(d.v.Type), scrubQuoted(diags[0].Detail, []byte(raw), nil))
			d.failed = true
			return
		}
	}
	conv, err := convertVal(d.v.Type, d.defaults, val)
	if err != nil {
		l.errorf(nil, "Invalid value for variable", "The value of %s is not valid for variable %q: %s.", source, d.v.Name, err)
		d.failed = true
		return
	}
	d.v.Value, d.set = conv, true
}

// setRecorded sets a variable from the JSON a plan recorded for it, read
// as a JSON variables file reads a value (strings literal, arrays as
// tuples, objects as objects), then converted to the variable's type.
func (l *loader) setRecorded(d *varDecl, j string) {
	source := "the plan's recorded value of " + d.v.Name
	if checkNesting([]byte(j), source, syntaxJSON) != nil {
		l.errorf(nil, "Invalid value for variable", "The %s nests more than %d levels deep, the limit echelon reads.", source, MaxNesting)
		d.failed = true
		return
	}
	expr, diags := hcljson.ParseExpression([]byte(j), source)
	var val cty.Value
	if !diags.HasErrors() {
		val, diags = expr.Value(nil)
	}
	if diags.HasErrors() {
		l.errorf(nil, "Invalid value for variable", "The %s is not valid JSON.", source)
		d.failed = true
		return
	}
	conv, err := convertVal(d.v.Type, d.defaults, val)
	if err != nil {
		l.errorf(nil, "Invalid value for variable", "The %s is not valid for variable %q: %s.", source, d.v.Name, err)
		d.failed = true
		return
	}
	d.v.Value, d.set = conv, true
}

func convertVal(ty cty.Type, defaults *typeexpr.Defaults, val cty.Value) (cty.Value, error) {
	if defaults != nil {
		val = defaults.Apply(val)
	}
	return convert.Convert(val, ty)
}

func (l *loader) convertVar(v *Variable, defaults *typeexpr.Defaults, val cty.Value, rng hcl.Range, summary string) (cty.Value, bool) {
	conv, err := convertVal(v.Type, defaults, val)
	if err != nil {
		l.errorf(&rng, summary, "The value is not valid for variable %q: %s.", v.Name, err)
		return cty.NilVal, false
	}
	return conv, true
}

// readVarFile reads a --var-file: name = value lines, literal values only,
// or, for a *.json file, an object of name -> value (as Terraform reads
// .tfvars.json). It returns false when the file could not be read or
// parsed, so which variables it sets is unknown.
func (l *loader) readVarFile(path string, decls map[string]*varDecl, names []string) bool {
	src, err := readBounded(path, MaxSpecFileSize, "variables file")
	if err != nil {
		l.errorf(fileStart(path), "Cannot read variables file", "%s.", err)
		return false
	}
	syntax := syntaxHCL
	if strings.HasSuffix(path, ".json") {
		syntax = syntaxJSON
	}
	if d := checkNesting(src, path, syntax); d != nil {
		l.diags = append(l.diags, d)
		return false
	}
	var f *hcl.File
	var diags hcl.Diagnostics
	if syntax == syntaxJSON {
		f, diags = hcljson.Parse(src, path)
	} else {
		f, diags = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	}
	l.diags = append(l.diags, diags...)
	if f == nil {
		return false
	}
	l.spec.Sources[path] = f
	if diags.HasErrors() {
		return false
	}
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return false
	}
	for _, a := range sortedAttrs(attrs) {
		d := decls[a.Name]
		if d == nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The variables file sets %q, which the spec does not declare; it is ignored.%s", a.Name, didYouMean(a.Name, names)),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		val, diags := a.Expr.Value(nil)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			d.failed = true
			continue
		}
		if conv, ok := l.convertVar(d.v, d.defaults, val, a.Expr.Range(), "Invalid value for variable"); ok {
			d.v.Value, d.set = conv, true
		} else {
			d.failed = true
		}
	}
	return true
}

// sortedAttrs returns attributes in source order.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Range, out[j].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return out
}

// decodeLocals evaluates every local value in dependency order. A cycle
// among locals is reported once, naming it.
func (l *loader) decodeLocals() {
	attrs := map[string]*hcl.Attribute{}
	var order []string
	for _, b := range l.blocks["locals"] {
		as, diags := b.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, a := range sortedAttrs(as) {
			if prev, dup := attrs[a.Name]; dup {
				l.errorf(a.NameRange.Ptr(), "Duplicate local value",
					"A local value named %q was already defined at %s. Each local value needs a name of its own.", a.Name, rangeString(prev.Range))
				continue
			}
			attrs[a.Name] = a
			order = append(order, a.Name)
		}
	}

	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	failed := map[string]bool{}
	reportedCycles := map[string]bool{}
	var stack []string
	var visit func(name string) bool
	visit = func(name string) bool {
		switch state[name] {
		case done:
			return !failed[name]
		case visiting:
			// The cycle is the stack from name's first appearance.
			i := len(stack) - 1
			for stack[i] != name {
				i--
			}
			cycle := canonicalCycle(stack[i:])
			key := strings.Join(cycle, ",")
			if !reportedCycles[key] {
				reportedCycles[key] = true
				a := attrs[cycle[0]]
				parts := make([]string, 0, len(cycle)+1)
				for _, n := range append(cycle, cycle[0]) {
					parts = append(parts, "local."+n)
				}
				l.errorf(a.NameRange.Ptr(), "Circular reference among locals",
					"The local values refer to each other in a cycle: %s. Break the cycle so each can be computed.", strings.Join(parts, " -> "))
			}
			return false
		}
		state[name] = visiting
		stack = append(stack, name)
		a := attrs[name]
		ok := true
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			if step, isAttr := tr[1].(hcl.TraverseAttr); isAttr {
				if _, exists := attrs[step.Name]; exists && !visit(step.Name) {
					ok = false
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		if ok {
			ctx := &hcl.EvalContext{
				Variables: map[string]cty.Value{"var": objectOf(l.varVals), "local": objectOf(l.localVals)},
				Functions: l.functions(),
			}
			val, diags := l.eval(a.Expr, ctx, scope{where: "a local value", locals: attrs})
			l.diags = append(l.diags, diags...)
			if diags.HasErrors() {
				ok = false
			} else {
				l.localVals[name] = val
				l.spec.Locals[name] = val
			}
		}
		failed[name] = !ok
		if !ok {
			if l.failedLocals == nil {
				l.failedLocals = map[string]bool{}
			}
			l.failedLocals[name] = true
		}
		return ok
	}
	for _, name := range order {
		visit(name)
	}
}

// canonicalCycle rotates a cycle to start at its smallest name, so the same
// cycle always reads the same.
func canonicalCycle(c []string) []string {
	min := 0
	for i := range c {
		if c[i] < c[min] {
			min = i
		}
	}
	return append(append([]string(nil), c[min:]...), c[:min]...)
}

// objectOf turns a name -> value map into a cty object (empty maps too).
func objectOf(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// namesObject maps each declared name of kind to itself, so component.x,
// phase.x, api.x and mode.x evaluate to the name they reference.
func (l *loader) namesObject(kind string) cty.Value {
	m := map[string]cty.Value{}
	for name := range l.declared[kind] {
		m[name] = cty.StringVal(name)
	}
	return objectOf(m)
}

func (l *loader) buildBaseCtx() {
	l.baseCtx = &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":       objectOf(l.varVals),
			"local":     objectOf(l.localVals),
			"component": l.namesObject("component"),
			"phase":     l.namesObject("phase"),
			"api":       l.namesObject("api"),
			"mode":      l.namesObject("mode"),
		},
		Functions: l.functions(),
	}
}

// scope says what an expression may refer to.
type scope struct {
	where   string // "a local value", "a component", ... for messages
	each    bool   // inside a component: each.replica allowed
	regions bool   // the component has regions: each.region allowed
	// structural: a component attribute evaluated once (phase, regions...)
	structural bool
	// sensitiveOK: a sensitive value may be used (a driver block's
	// settings); everywhere else it would reach IDs, names or the plan.
	sensitiveOK bool
	// outputs: output.* may be used (a driver setting passed to the tool).
	outputs bool
	// locals, while locals are being decoded, are the declared ones (some
	// not evaluated yet); afterwards l.localVals is used.
	locals map[string]*hcl.Attribute
}

var refKinds = map[string]string{
	"component": "component",
	"phase":     "phase",
	"api":       "api",
	"mode":      "mode",
}

// checkRefs reports every reference in expr that names nothing, with a
// suggestion, before evaluation would give a vaguer message.
func (l *loader) checkRefs(expr hcl.Expression, sc scope) hcl.Diagnostics {
	var diags hcl.Diagnostics
	add := func(rng hcl.Range, summary, format string, a ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, a...), Subject: rng.Ptr()})
	}
	outputs := false
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		rng := tr.SourceRange()
		var attr string
		var attrRng hcl.Range
		if len(tr) > 1 {
			if step, ok := tr[1].(hcl.TraverseAttr); ok {
				attr, attrRng = step.Name, step.SrcRange
			}
		}
		roots := []string{"var", "local", "component", "phase", "api", "mode", outputRoot}
		if sc.each {
			roots = append(roots, "each")
		}
		switch root {
		case "var", "local", "each", "component", "phase", "api", "mode", outputRoot:
		default:
			add(tr[0].SourceRange(), "Unknown variable", "There is no variable named %q.%s", root, didYouMean(root, roots))
			continue
		}
		if attr == "" {
			add(rng, "Invalid reference", "A reference to %q must be followed by a name, such as %s.example.", root, root)
			continue
		}
		switch root {
		case outputRoot:
			l.checkOutputRef(rng, attr, sc, add)
			outputs = true
		case "var":
			if _, ok := l.varVals[attr]; !ok {
				add(rng, "Reference to undeclared input variable", "No variable named %q is declared.%s", attr, didYouMean(attr, slices.Sorted(maps.Keys(l.varVals))))
			}
		case "local":
			names := slices.Sorted(maps.Keys(l.localVals))
			_, ok := l.localVals[attr]
			if sc.locals != nil {
				_, ok = sc.locals[attr]
				names = names[:0]
				for n := range sc.locals {
					names = append(names, n)
				}
			}
			switch {
			case !ok && l.failedLocals[attr]:
				add(rng, "Local value has errors", "local.%s could not be computed (its own error is reported above), so this expression cannot be evaluated.", attr)
			case !ok:
				add(rng, "Reference to undeclared local value", "No local value named %q is defined.%s", attr, didYouMean(attr, names))
			}
		case "each":
			switch {
			case !sc.each && sc.structural:
				add(rng, "Invalid reference", "each.%s cannot be used here: a component's phase, driver, regions, replicas, depends_on, parallel, restart and containers are evaluated once for the component, not per instance.", attr)
			case !sc.each:
				add(rng, "Invalid reference", "each.%s is only available inside a component, not in %s.", attr, sc.where)
			case attr == "region" && !sc.regions:
				add(rng, "Invalid reference", "each.region is only available in a component with regions; this component has none.")
			case attr != "region" && attr != "replica":
				add(attrRng, "Unsupported attribute", "each has only the attributes region and replica.%s", didYouMean(attr, []string{"region", "replica"}))
			}
		default:
			kind := refKinds[root]
			if _, ok := l.declared[kind][attr]; !ok {
				add(rng, "Reference to undeclared "+kind, "No %s named %q is declared.%s", kind, attr, didYouMean(attr, l.order[kind]))
			}
		}
	}
	if outputs && sc.outputs {
		l.checkOutputNames(expr, add)
	}
	return diags
}

// eval checks the references of expr, then evaluates it.
func (l *loader) eval(expr hcl.Expression, ctx *hcl.EvalContext, sc scope) (cty.Value, hcl.Diagnostics) {
	if diags := l.checkRefsMemo(expr, sc); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return expr.Value(ctx)
}

// checkRefsMemo is checkRefs, remembered per expression in l.refMemo while
// one component's instances are decoded (same expressions, same scope).
func (l *loader) checkRefsMemo(expr hcl.Expression, sc scope) hcl.Diagnostics {
	if l.refMemo == nil {
		return l.checkRefs(expr, sc)
	}
	if _, ok := expr.(hclsyntax.Expression); !ok {
		return l.checkRefs(expr, sc) // only syntax nodes (pointers) make safe keys
	}
	diags, ok := l.refMemo[expr]
	if !ok {
		diags = l.checkRefs(expr, sc)
		l.refMemo[expr] = diags
	}
	return diags
}

// quoted matches a double-quoted string in a message.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// hideVarFileSources keeps what variables files hold out of diagnostics:
// a variables file (or a --var value) may hold a secret on the very line
// a diagnostic is about (a wrong type, an unterminated string, a JSON
// syntax error), and no one knows which values are secrets before the
// file parses. So a diagnostic in a variables file is printed as
// FILE:LINE:COL and its message only, no source lines, and any quoted
// text of its message that appears in the file (the parser quotes the
// token it stopped at) reads "(hidden)", declared variable names aside.
func (l *loader) hideVarFileSources() {
	files := map[string][]byte{}
	for _, path := range l.opts.VarFiles {
		if f := l.spec.Sources[path]; f != nil {
			files[path] = f.Bytes
		} else {
			files[path] = nil
		}
	}
	if len(files) == 0 {
		return
	}
	names := map[string]bool{}
	for _, v := range l.spec.Variables {
		names[v.Name] = true
	}
	for _, d := range l.diags {
		if d.Subject == nil {
			continue
		}
		src, ok := files[d.Subject.Filename]
		if !ok {
			continue
		}
		hideSource(d)
		d.Detail = scrubQuoted(d.Detail, src, names)
		d.Summary = scrubQuoted(d.Summary, src, names)
	}
}

// scrubQuoted replaces each quoted part of msg whose text occurs in src
// with "(hidden)", unless it is a name in keep.
func scrubQuoted(msg string, src []byte, keep map[string]bool) string {
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		text, err := strconv.Unquote(q)
		if err != nil {
			text = q[1 : len(q)-1]
		}
		if text == "" || keep[text] || !bytes.Contains(src, []byte(text)) {
			return q
		}
		return `"(hidden)"`
	})
}
