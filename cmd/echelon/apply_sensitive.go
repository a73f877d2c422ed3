package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// runtimePlan is the plan as apply runs it: every driver setting the plan
// holds as "(sensitive)" (a command's argv or env, helm values, kubectl and
// terraform settings, terraform vars) gets its real value from the spec
// just loaded with the sensitive variables. CheckFresh has proven that
// spec is the one the plan was compiled from, so its instance for the
// operation (same component, region and replica) has the values the
// placeholders stand for. The plan itself is left as read; the copy shares
// everything but the filled-in settings.
//
// secrets are what the executor masks in its output: every leaf of a
// sensitive variable's value, and the real value of every placeholder
// (what the spec derived from a sensitive variable: lower(var.token) is
// not found by looking for var.token).
func runtimePlan(plan *planner.Plan, spec *lang.Spec) (*planner.Plan, []string, error) {
	sec := secretSet{}
	for _, v := range spec.Variables {
		if v.Sensitive {
			sec.addValue(v.Value, true)
		}
	}
	rp := *plan
	rp.Operations = slices.Clone(plan.Operations)
	for i := range rp.Operations {
		op := &rp.Operations[i]
		if !opHasPlaceholder(op) {
			continue
		}
		inst, err := specInstance(spec, op)
		if err != nil {
			return nil, nil, err
		}
		if err := fillOperation(op, inst, sec); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op.ID, err)
		}
	}
	return &rp, sec.list(), nil
}

func specInstance(spec *lang.Spec, op *planner.Operation) (*lang.Instance, error) {
	c := spec.Component(op.Component)
	if c == nil {
		return nil, fmt.Errorf("%s: component %s is not in the spec", op.ID, op.Component)
	}
	for _, in := range c.Instances {
		if in.Region == op.Region && in.Replica == op.Replica {
			return in, nil
		}
	}
	return nil, fmt.Errorf("%s: instance is not in the spec", op.ID)
}

func isPlaceholder(v any) bool {
	s, ok := v.(string)
	return ok && s == planner.Sensitive
}

func opHasPlaceholder(op *planner.Operation) bool {
	anyPh := func(vals ...any) bool { return slices.ContainsFunc(vals, isPlaceholder) }
	switch {
	case op.Terraform != nil:
		t := op.Terraform
		return anyPh(t.Dir, t.Target, t.Workspace) || anyPh(slices.Collect(maps.Values(t.Vars))...)
	case op.Kubectl != nil:
		k := op.Kubectl
		return anyPh(k.Context, k.Namespace) || slices.Contains(k.Manifests, planner.Sensitive)
	case op.Helm != nil:
		h := op.Helm
		return anyPh(h.Context, h.Release, h.Chart, h.Namespace) || anyPh(slices.Collect(maps.Values(h.Values))...)
	case op.Command != nil:
		c := op.Command
		return c.Dir == planner.Sensitive || slices.Contains(c.Argv, planner.Sensitive) ||
			slices.Contains(slices.Collect(maps.Values(c.Env)), planner.Sensitive)
	}
	return false
}

// fillOperation replaces op's driver settings by copies in which each
// placeholder holds the instance's value.
func fillOperation(op *planner.Operation, in *lang.Instance, sec secretSet) error {
	str := func(planned, real string) string {
		if planned != planner.Sensitive {
			return planned
		}
		sec.add(real)
		return real
	}
	strs := func(planned, real []string) ([]string, error) {
		if len(planned) != len(real) {
			return nil, fmt.Errorf("the spec has %d elements where the plan has %d", len(real), len(planned))
		}
		out := make([]string, len(planned))
		for i := range planned {
			out[i] = str(planned[i], real[i])
		}
		return out, nil
	}
	vals := func(planned map[string]any, real map[string]cty.Value) (map[string]any, error) {
		out := make(map[string]any, len(planned))
		for k, v := range planned {
			if !isPlaceholder(v) {
				out[k] = v
				continue
			}
			rv, ok := real[k]
			if !ok {
				return nil, fmt.Errorf("%s is not in the spec", k)
			}
			x, err := ctyToAny(rv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			sec.addValue(rv, false)
			out[k] = x
		}
		return out, nil
	}
	var err error
	switch {
	case op.Terraform != nil:
		if in.Terraform == nil {
			return fmt.Errorf("the spec's instance has no terraform settings")
		}
		t, r := *op.Terraform, in.Terraform
		t.Dir, t.Target, t.Workspace = str(t.Dir, r.Dir), str(t.Target, r.Target), str(t.Workspace, r.Workspace)
		if t.Vars, err = vals(t.Vars, r.Vars); err != nil {
			return fmt.Errorf("terraform var %w", err)
		}
		op.Terraform = &t
	case op.Kubectl != nil:
		if in.Kubectl == nil {
			return fmt.Errorf("the spec's instance has no kubectl settings")
		}
		k, r := *op.Kubectl, in.Kubectl
		k.Context, k.Namespace = str(k.Context, r.Context), str(k.Namespace, r.Namespace)
		if k.Manifests, err = strs(k.Manifests, r.Manifests); err != nil {
			return fmt.Errorf("kubectl manifests: %w", err)
		}
		op.Kubectl = &k
	case op.Helm != nil:
		if in.Helm == nil {
			return fmt.Errorf("the spec's instance has no helm settings")
		}
		h, r := *op.Helm, in.Helm
		h.Context, h.Release, h.Chart, h.Namespace = str(h.Context, r.Context), str(h.Release, r.Release), str(h.Chart, r.Chart), str(h.Namespace, r.Namespace)
		if h.Values, err = vals(h.Values, r.Values); err != nil {
			return fmt.Errorf("helm value %w", err)
		}
		op.Helm = &h
	case op.Command != nil:
		if in.Command == nil {
			return fmt.Errorf("the spec's instance has no command settings")
		}
		c, r := *op.Command, in.Command
		c.Dir = str(c.Dir, r.Dir)
		if c.Argv, err = strs(c.Argv, r.Argv); err != nil {
			return fmt.Errorf("command argv: %w", err)
		}
		c.Env = make(map[string]string, len(op.Command.Env))
		for k, v := range op.Command.Env {
			rv, ok := r.Env[k]
			if v == planner.Sensitive && !ok {
				return fmt.Errorf("command env %s is not in the spec", k)
			}
			c.Env[k] = str(v, rv)
		}
		op.Command = &c
	}
	return nil
}

// secretSet collects the values to mask.
type secretSet map[string]bool

func (s secretSet) add(v string) {
	if v != "" {
		s[v] = true
	}
}

// addValue adds v's string and number leaves: all of them (a sensitive
// variable's value), or only the marked ones (a spec value derived from
// one, such as a helm values map with one sensitive entry). Booleans and
// nulls are not masked: hiding every "true" would hide nothing. A value
// with no marked leaf at all (lang flattened it) is added whole as JSON.
func (s secretSet) addValue(v cty.Value, all bool) {
	s.walk(v, all || !v.ContainsMarked())
	uv, _ := v.UnmarkDeep()
	if (all || !v.ContainsMarked()) && !uv.IsNull() && uv.IsWhollyKnown() && !uv.Type().IsPrimitiveType() {
		if b, err := ctyjson.Marshal(uv, uv.Type()); err == nil {
			s.add(string(b))
		}
	}
}

// walk adds x's leaves that are marked or inside a marked value (or all,
// with in set). Marked collections cannot be iterated: each level is
// unmarked before looking inside.
func (s secretSet) walk(x cty.Value, in bool) {
	x, marks := x.Unmark()
	in = in || len(marks) > 0
	if x.IsNull() || !x.IsKnown() {
		return
	}
	switch {
	case x.Type() == cty.String:
		if in {
			s.add(x.AsString())
		}
	case x.Type() == cty.Number:
		if in {
			s.add(x.AsBigFloat().Text('f', -1))
		}
	case x.CanIterateElements():
		for it := x.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s.walk(e, in)
		}
	}
}

func (s secretSet) list() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ctyToAny(v cty.Value) (any, error) {
	v, _ = v.UnmarkDeep()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	var x any
	err = json.Unmarshal(b, &x)
	return x, err
}
