package lang

import (
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The helpers below evaluate an attribute and convert it to a Go value,
// reporting a diagnostic at the expression when it does not fit. They
// return ok=false on any problem, including an unknown value left by an
// earlier error (which was already reported).

func (l *loader) value(expr hcl.Expression, ctx *hcl.EvalContext, sc scope) (cty.Value, bool) {
	val, diags := l.eval(expr, ctx, sc)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return cty.DynamicVal, false
	}
	if sc.outputs {
		var refs []pathRef
		val, refs = stripOutputs(val)
		l.outRefs = append(l.outRefs, refs...)
	}
	if !sc.sensitiveOK && IsSensitive(val) {
		l.sensitiveHere(expr.Range())
		return cty.DynamicVal, false
	}
	return val, true
}

// sensitiveHere reports a sensitive value where the value would end up in
// the clear: as Terraform refuses one in for_each, whose keys become
// resource addresses.
func (l *loader) sensitiveHere(rng hcl.Range) {
	l.errorf(&rng, "Sensitive value not allowed here",
		"This value derives from a sensitive variable, and the value of this attribute ends up in operation IDs, file names, Terraform targets or the structure of the plan, which are printed and stored in the clear. "+
			"Use a value that is not sensitive here; sensitive values may be used in a driver block's settings (terraform vars, helm values, kubectl and helm context and namespace, command argv and env), which are redacted.")
}

func (l *loader) typeError(rng hcl.Range, what, want string, err error) {
	detail := fmt.Sprintf("The value of %s must be %s.", what, want)
	if err != nil {
		detail = fmt.Sprintf("The value of %s must be %s: %s.", what, want, err)
	}
	l.errorf(&rng, "Incorrect attribute value type", "%s", detail)
}

func (l *loader) toString(val cty.Value, rng hcl.Range, what string) (string, bool) {
	val = unmarkDeep(val)
	if val.IsNull() {
		l.typeError(rng, what, "a string", fmt.Errorf("it is null"))
		return "", false
	}
	s, err := convert.Convert(val, cty.String)
	if err != nil {
		l.typeError(rng, what, "a string", err)
		return "", false
	}
	return s.AsString(), true
}

func (l *loader) toBool(val cty.Value, rng hcl.Range, what string) (bool, bool) {
	val, _ = val.UnmarkDeep()
	if val.IsNull() {
		l.typeError(rng, what, "true or false", fmt.Errorf("it is null"))
		return false, false
	}
	b, err := convert.Convert(val, cty.Bool)
	if err != nil {
		l.typeError(rng, what, "true or false", err)
		return false, false
	}
	return b.True(), true
}

func (l *loader) toNumber(val cty.Value, rng hcl.Range, what string) (*big.Float, bool) {
	val, _ = val.UnmarkDeep()
	if val.IsNull() {
		l.typeError(rng, what, "a number", fmt.Errorf("it is null"))
		return nil, false
	}
	n, err := convert.Convert(val, cty.Number)
	if err != nil {
		l.typeError(rng, what, "a number", err)
		return nil, false
	}
	return n.AsBigFloat(), true
}

// toInt reads a whole number of at least min.
func (l *loader) toInt(val cty.Value, rng hcl.Range, what string, min int) (int, bool) {
	f, ok := l.toNumber(val, rng, what)
	if !ok {
		return 0, false
	}
	want := fmt.Sprintf("a whole number of at least %d", min)
	if !f.IsInt() {
		l.errorf(&rng, "Invalid "+what, "%s must be %s; %s is not whole.", what, want, f.Text('g', -1))
		return 0, false
	}
	i, acc := f.Int64()
	if acc == big.Exact && i < int64(min) {
		l.errorf(&rng, "Invalid "+what, "%s must be %s; got %s.", what, want, f.Text('g', -1))
		return 0, false
	}
	if acc != big.Exact || i > math.MaxInt32 {
		l.errorf(&rng, "Invalid "+what, "%s must be at most %d; got %s.", what, math.MaxInt32, f.Text('g', -1))
		return 0, false
	}
	return int(i), true
}

// toFloat reads a number that is at least min (or above it when strict).
func (l *loader) toFloat(val cty.Value, rng hcl.Range, what string, min float64, strict bool) (float64, bool) {
	f, ok := l.toNumber(val, rng, what)
	if !ok {
		return 0, false
	}
	x, _ := f.Float64()
	if x < min || (strict && x == min) || x > 1e15 {
		cmp := "at least"
		if strict {
			cmp = "greater than"
		}
		l.errorf(&rng, "Invalid "+what, "%s must be a number %s %g (and at most 1e15); got %s.", what, cmp, min, f.Text('g', -1))
		return 0, false
	}
	return x, true
}

func (l *loader) toDuration(val cty.Value, rng hcl.Range, what string) (time.Duration, bool) {
	s, ok := l.toString(val, rng, what)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		l.errorf(&rng, "Invalid duration", "The value of %s is invalid: %s.", what, err)
		return 0, false
	}
	return d, true
}

func (l *loader) toStringList(val cty.Value, rng hcl.Range, what string) ([]string, bool) {
	out, _, ok := l.toStringListSens(val, rng, what)
	return out, ok
}

// toStringListSens is toStringList that also returns the indexes of the
// elements that are sensitive (marked, or inside a marked list): the
// strings lose their marks, so the caller keeps them aside.
func (l *loader) toStringListSens(val cty.Value, rng hcl.Range, what string) ([]string, []int, bool) {
	// Marks on the elements are dropped by toString, one by one: that is
	// what a deep unmark of the whole list would do, with one walk less.
	val, marks := val.Unmark()
	if val.IsNull() || !(val.Type().IsListType() || val.Type().IsTupleType() || val.Type().IsSetType()) {
		l.typeError(rng, what, "a list of strings", nil)
		return nil, nil, false
	}
	_, whole := marks[MarkSensitive]
	out := []string{}
	var sens []int
	ok := true
	elemWhat := what + " element"
	for it := val.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		if whole || IsSensitive(ev) {
			sens = append(sens, len(out))
		}
		s, good := l.toString(ev, rng, elemWhat)
		ok = ok && good
		out = append(out, s)
	}
	return out, sens, ok
}

// toValueMap reads a map or object, keeping the marks of the whole on each
// element so sensitive values stay marked.
func (l *loader) toValueMap(val cty.Value, rng hcl.Range, what string) (map[string]cty.Value, bool) {
	inner, marks := val.Unmark()
	if inner.IsNull() || !(inner.Type().IsMapType() || inner.Type().IsObjectType()) {
		l.typeError(rng, what, "a map", nil)
		return nil, false
	}
	out := map[string]cty.Value{}
	for it := inner.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		out[k.AsString()] = ev.WithMarks(marks)
	}
	return out, true
}

// toStringMap reads a map of strings; sens are the keys whose value is
// sensitive (the strings lose their marks).
func (l *loader) toStringMap(val cty.Value, rng hcl.Range, what string) (out map[string]string, sens []string, ok bool) {
	m, ok := l.toValueMap(val, rng, what)
	if !ok {
		return nil, nil, false
	}
	out = map[string]string{}
	for k, v := range m {
		if IsSensitive(v) {
			sens = append(sens, k)
		}
		s, good := l.toString(v, rng, what+"."+k)
		ok = ok && good
		out[k] = s
	}
	return out, sens, ok
}

// constString evaluates an expression that may use no variables.
func (l *loader) constString(expr hcl.Expression, what string) (string, bool) {
	val, diags := expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return "", false
	}
	return l.toString(val, expr.Range(), what)
}

// unmarkDeep is val.UnmarkDeep(), without its walk (and allocations) for
// a primitive value, which has no nested marks: strings are by far the most
// common values converted.
func unmarkDeep(val cty.Value) cty.Value {
	if val.Type().IsPrimitiveType() {
		val, _ = val.Unmark()
		return val
	}
	val, _ = val.UnmarkDeep()
	return val
}

// stringList is value then toStringList, with a shortcut for a list
// written out ([...]): while a component's instances are decoded, the
// elements that do not use each.* are evaluated once (constElem), and the
// tuple is read from its element values without cty's iterator. Values and
// diagnostics are those of value + toStringList: a tuple is what
// TupleConsExpr.Value builds from its elements, known when they all are.
//
// sens are the indexes of the sensitive elements (see toStringListSens).
func (l *loader) stringList(expr hcl.Expression, ctx *hcl.EvalContext, sc scope, what string) ([]string, []int, bool) {
	tup, ok := expr.(*hclsyntax.TupleConsExpr)
	if !ok || l.elemMemo == nil || usesOutput(expr) {
		val, ok := l.value(expr, ctx, sc)
		if !ok {
			return nil, nil, false
		}
		return l.toStringListSens(val, expr.Range(), what)
	}
	diags := l.checkRefsMemo(expr, sc)
	if diags.HasErrors() {
		l.diags = append(l.diags, diags...)
		return nil, nil, false
	}
	vals := make([]cty.Value, len(tup.Exprs))
	for i, e := range tup.Exprs {
		var d hcl.Diagnostics
		vals[i], d = l.elemValue(e, ctx)
		diags = append(diags, d...)
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return nil, nil, false
	}
	var sens []int
	for i, v := range vals {
		if !v.IsWhollyKnown() {
			return nil, nil, false
		}
		if IsSensitive(v) {
			if !sc.sensitiveOK {
				l.sensitiveHere(tup.Exprs[i].Range())
				return nil, nil, false
			}
			sens = append(sens, i)
		}
	}
	out := make([]string, 0, len(vals))
	ok = true
	rng, elemWhat := expr.Range(), what+" element"
	for _, v := range vals {
		s, good := l.toString(v, rng, elemWhat)
		ok = ok && good
		out = append(out, s)
	}
	return out, sens, ok
}

// memoVal is an expression's value and diagnostics, or varying when the
// expression uses each.* and is evaluated per instance.
type memoVal struct {
	varying bool
	val     cty.Value
	diags   hcl.Diagnostics
}

// elemValue evaluates one element of a list; an element that does not use
// each.* is evaluated once per component (l.elemMemo).
func (l *loader) elemValue(e hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	m, ok := l.elemMemo[e]
	if !ok {
		m = &memoVal{varying: usesEach(e)}
		if !m.varying {
			m.val, m.diags = e.Value(ctx)
		}
		l.elemMemo[e] = m
	}
	if m.varying {
		return e.Value(ctx)
	}
	return m.val, m.diags
}
