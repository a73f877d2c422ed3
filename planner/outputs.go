package planner

import (
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
)

// Outputs between components (docs/plan-format.md, "outputs"): a driver
// setting that reads a producer's outputs holds a placeholder naming them,
// "(output infra/eu.cluster_id)", never the mock value; apply evaluates
// the spec's expression again with Terraform's values.

// outputPrefix starts an output placeholder.
const outputPrefix = "(output "

// OutputPlaceholder is what a plan holds for a setting that reads these
// outputs ("OP.NAME" each).
func OutputPlaceholder(refs []string) string {
	return outputPrefix + strings.Join(refs, ", ") + ")"
}

// IsOutputPlaceholder reports whether v is an output placeholder.
func IsOutputPlaceholder(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, outputPrefix) && strings.HasSuffix(s, ")")
}

// outputDeps are the operations each operation reads outputs of, sorted
// (nil for most): dependencies besides depends_on.
func (g *graph) outputDeps(spec *lang.Spec) [][]int32 {
	var out [][]int32
	for i, in := range g.inst {
		refs := in.ReadsOutputs()
		if len(refs) == 0 {
			continue
		}
		if out == nil {
			out = make([][]int32, len(g.inst))
		}
		for _, ref := range refs {
			j, ok := slices.BinarySearch(g.ids, refID(spec, ref))
			if ok && !slices.Contains(out[i], int32(j)) {
				out[i] = append(out[i], int32(j))
			}
		}
		slices.Sort(out[i])
	}
	return out
}

// OutputOpID is the ID of the operation whose output ref is (its Name
// aside).
func OutputOpID(spec *lang.Spec, ref lang.OutputRef) string { return refID(spec, ref) }

// refID is the ID of the operation whose output ref is.
func refID(spec *lang.Spec, ref lang.OutputRef) string {
	replicas := 1
	if c := spec.Component(ref.Component); c != nil {
		replicas = c.Replicas
	}
	return instanceID(ref.Component, ref.Region, ref.Replica, replicas)
}

// applyOutputs lists the outputs an operation reads and puts placeholders
// in the settings that read them (a sensitive placeholder stays: it says
// more about what may be shown).
func applyOutputs(spec *lang.Spec, o *Operation, in *lang.Instance) {
	if len(in.Outputs) == 0 {
		return
	}
	for _, ref := range in.ReadsOutputs() {
		o.Outputs = append(o.Outputs, OutputRef{Operation: refID(spec, ref), Output: ref.Name})
	}
	slices.SortFunc(o.Outputs, func(a, b OutputRef) int {
		if c := strings.Compare(a.Operation, b.Operation); c != 0 {
			return c
		}
		return strings.Compare(a.Output, b.Output)
	})
	o.Outputs = slices.Compact(o.Outputs)
	ph := func(attr, key string) (string, bool) {
		refs := in.OutputsFor(attr, key)
		if len(refs) == 0 {
			return "", false
		}
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = refID(spec, r) + "." + r.Name
		}
		return OutputPlaceholder(names), true
	}
	str := func(attr, key string, s *string) {
		if p, ok := ph(attr, key); ok && *s != Sensitive {
			*s = p
		}
	}
	vals := func(attr string, m map[string]any) {
		for k, v := range m {
			if p, ok := ph(attr, k); ok && v != Sensitive {
				m[k] = p
			}
		}
	}
	switch {
	case o.Terraform != nil:
		vals("vars", o.Terraform.Vars)
	case o.Kubectl != nil:
		str("context", "", &o.Kubectl.Context)
		str("namespace", "", &o.Kubectl.Namespace)
	case o.Helm != nil:
		str("context", "", &o.Helm.Context)
		str("namespace", "", &o.Helm.Namespace)
		vals("values", o.Helm.Values)
	case o.Command != nil:
		for i := range o.Command.Argv {
			str("argv", strconv.Itoa(i), &o.Command.Argv[i])
		}
		for k, v := range o.Command.Env {
			str("env", k, &v)
			o.Command.Env[k] = v
		}
	}
}

// readsOutputsOf reports whether op reads outputs of dep.
func (g *graph) readsOutputsOf(op, dep int) bool {
	return g.outDeps != nil && slices.Contains(g.outDeps[op], int32(dep))
}

// firstRange is the earliest of the ranges, nil when there are none.
func firstRange(m map[string]hcl.Range) *hcl.Range {
	var best *hcl.Range
	for _, r := range m {
		if best == nil || r.Filename < best.Filename || (r.Filename == best.Filename && r.Start.Byte < best.Start.Byte) {
			r := r
			best = &r
		}
	}
	return best
}
