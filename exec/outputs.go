package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// Outputs between components (docs/plan-format.md, "outputs"). A
// producer's outputs are read with `terraform output -json` in its
// directory and workspace right after it succeeds in a deploy, journaled
// (an "outputs" record, durable before its op_end, sensitive values as
// "(sensitive)"), and kept in memory. A consumer's settings are evaluated
// again from the spec with them (lang.Spec.ResolveOutputs) when its step
// starts. Values not known then are read from terraform at that moment:
// in a destroy plan (the producer has not run yet: it goes after its
// consumers), after --resume for a sensitive value the journal masked, or
// when the journal has no record. Sensitive values are masked in every log,
// record and event from the moment they are read.

// OutputValue is one Terraform output as the journal records it: its
// value and type as `terraform output -json` gives them, the value
// "(sensitive)" when it is sensitive.
type OutputValue struct {
	Sensitive bool            `json:"sensitive,omitempty"`
	Type      json.RawMessage `json:"type"`
	Value     json.RawMessage `json:"value"`
}

// outputStore holds the producers' outputs of a run.
type outputStore struct {
	mu   sync.Mutex
	vals map[string]map[string]OutputValue // by producer ID, real values
	// from says where each producer's values came from, for the
	// consumer's log ("the journal", "terraform output").
	from map[string]string
	// masked are the outputs restored from the journal without their
	// value (sensitive): read from terraform again when one is needed.
	masked map[string]map[string]bool
}

func newOutputStore() *outputStore {
	return &outputStore{vals: map[string]map[string]OutputValue{}, from: map[string]string{}, masked: map[string]map[string]bool{}}
}

// producers are the operations whose outputs some operation reads.
func producers(p *planner.Plan) map[string]bool {
	var m map[string]bool
	for i := range p.Operations {
		for _, ref := range p.Operations[i].Outputs {
			if m == nil {
				m = map[string]bool{}
			}
			m[ref.Operation] = true
		}
	}
	return m
}

// restore takes a resumed run's recorded outputs: a producer whose record
// masks a sensitive value is read from terraform again when needed.
func (o *outputStore) restore(recorded map[string]map[string]OutputValue) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, vals := range recorded {
		o.vals[id], o.from[id] = vals, "the journal"
		for name, v := range vals {
			if v.Sensitive {
				if o.masked[id] == nil {
					o.masked[id] = map[string]bool{}
				}
				o.masked[id][name] = true
			}
		}
	}
}

// get is a producer's outputs, unless some of names are not known (never
// read, or masked in the journal).
func (o *outputStore) get(id string, names []string) (map[string]OutputValue, string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.vals[id]
	for _, n := range names {
		ok = ok && !o.masked[id][n]
	}
	return v, o.from[id], ok
}

func (o *outputStore) put(id, from string, vals map[string]OutputValue) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.vals[id], o.from[id] = vals, from
	delete(o.masked, id)
}

// readOutputs runs `terraform output -json` for producer id, masks its
// sensitive values from now on, journals them (masked) and keeps them.
func (r *runner) readOutputs(ctx context.Context, id string, log io.Writer, started func(int)) (map[string]OutputValue, error) {
	t, err := r.producerSettings(id)
	if err != nil {
		return nil, err
	}
	s := Step{SpecDir: r.opts.SpecDir, Log: log, Env: r.opts.Env, RunDir: r.runDir, Scope: r.scope, Started: started}
	vals, err := terraformOutputs(ctx, s, t)
	if err != nil {
		return nil, fmt.Errorf("terraform output of %s: %w", id, err)
	}
	var secrets []string
	rec := make(map[string]OutputValue, len(vals))
	for name, v := range vals {
		if v.Sensitive {
			cv, err := outputCty(v)
			if err != nil {
				return nil, fmt.Errorf("terraform output %s of %s: %w", name, id, err)
			}
			sec := secretSet{}
			sec.addValue(cv, true)
			secrets = append(secrets, sec.list()...)
			v.Value = json.RawMessage(strconv.Quote(Masked))
		}
		rec[name] = v
	}
	r.red.add(secrets...)
	if err := r.recordOutputs(id, rec); err != nil {
		return nil, err
	}
	r.outs.put(id, "terraform output", vals)
	return vals, nil
}

// producerSettings are the terraform settings of a producer: the plan's,
// or the spec's when the plan does not run it (a destroy --only).
func (r *runner) producerSettings(id string) (*planner.Terraform, error) {
	if s := r.byID[id]; s != nil && s.op.Terraform != nil {
		return s.op.Terraform, nil
	}
	if r.opts.Spec != nil {
		for _, c := range r.opts.Spec.Components {
			for _, in := range c.Instances {
				if in.Terraform != nil && planner.OutputOpID(r.opts.Spec, lang.OutputRef{Component: c.Name, Region: in.Region, Replica: in.Replica}) == id {
					return &planner.Terraform{Dir: in.Terraform.Dir, Workspace: in.Terraform.Workspace, Binary: in.Terraform.Binary}, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("%s: not a terraform operation of the plan or its spec", id)
}

// resolveOutputs is op with the settings that read outputs filled in from
// the spec evaluated with the producers' values; what derives from a
// sensitive value is masked from now on.
func (r *runner) resolveOutputs(ctx context.Context, op *planner.Operation, log io.Writer, started func(int)) (*planner.Operation, error) {
	spec := r.opts.Spec
	if spec == nil {
		return nil, errors.New("the plan reads outputs, and apply was given no spec to evaluate them with")
	}
	byID := map[string]map[string]cty.Value{}
	for _, ref := range op.Outputs {
		if _, done := byID[ref.Operation]; done {
			continue
		}
		var names []string
		for _, x := range op.Outputs {
			if x.Operation == ref.Operation {
				names = append(names, x.Output)
			}
		}
		vals, from, ok := r.outs.get(ref.Operation, names)
		if !ok {
			var err error
			from = "terraform output"
			if vals, err = r.readOutputs(ctx, ref.Operation, log, started); err != nil {
				if !r.previewing() {
					return nil, err
				}
				// A preview of a deployment whose producer has not been
				// applied yet: planned with the mocks.
				// Kept, so its other consumers do not start terraform
				// again to learn the same (a preview applies nothing).
				fmt.Fprintf(log, "echelon: %v\n", err)
				vals, from = map[string]OutputValue{}, "terraform output (none yet)"
				r.outs.put(ref.Operation, from, vals)
			}
		}
		fmt.Fprintf(log, "echelon: outputs of %s from %s\n", ref.Operation, from)
		cv := make(map[string]cty.Value, len(vals))
		for name, v := range vals {
			if r.outs.isMasked(ref.Operation, name) {
				continue // not read by op: no value to give
			}
			x, err := outputCty(v)
			if err != nil {
				return nil, fmt.Errorf("output %s of %s: %w", name, ref.Operation, err)
			}
			cv[name] = x
		}
		if r.previewing() && r.mockMissing(ref.Operation, names, cv, log) && r.pv != nil {
			r.pv.noteMocked(op.ID)
		}
		byID[ref.Operation] = cv
	}
	get := func(comp, region string, replica int) (map[string]cty.Value, bool) {
		v, ok := byID[planner.OutputOpID(spec, lang.OutputRef{Component: comp, Region: region, Replica: replica})]
		return v, ok
	}
	in, diags := spec.ResolveOutputs(op.Component, op.Region, op.Replica, get)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = lang.WriteDiagnostics(&b, diags, spec.Sources, false)
		return nil, errors.New(strings.TrimSpace(b.String()))
	}
	out := *op
	sec := secretSet{}
	if err := fillOperation(&out, in, sec); err != nil {
		return nil, fmt.Errorf("%s: %w", op.ID, err)
	}
	addSensitiveSettings(in, sec)
	r.red.add(sec.list()...)
	return &out, nil
}

// addSensitiveSettings adds the instance's settings that derive from a
// sensitive value (a sensitive output's included) to sec.
func addSensitiveSettings(in *lang.Instance, sec secretSet) {
	vals := func(m map[string]cty.Value) {
		for _, v := range m {
			if lang.IsSensitive(v) {
				sec.addValue(v, false)
			}
		}
	}
	switch {
	case in.Terraform != nil:
		vals(in.Terraform.Vars)
	case in.Helm != nil:
		vals(in.Helm.Values)
		if in.Helm.Sensitive["context"] {
			sec.add(in.Helm.Context)
		}
		if in.Helm.Sensitive["namespace"] {
			sec.add(in.Helm.Namespace)
		}
	case in.Kubectl != nil:
		if in.Kubectl.Sensitive["context"] {
			sec.add(in.Kubectl.Context)
		}
		if in.Kubectl.Sensitive["namespace"] {
			sec.add(in.Kubectl.Namespace)
		}
	case in.Command != nil:
		for i, a := range in.Command.Argv {
			if in.Command.Sensitive["argv."+strconv.Itoa(i)] {
				sec.add(a)
			}
		}
		for k, v := range in.Command.Env {
			if in.Command.Sensitive["env."+k] {
				sec.add(v)
			}
		}
	}
}

// outputCty is an output's value for lang, marked sensitive when it is.
func outputCty(v OutputValue) (cty.Value, error) {
	ty, err := ctyjson.UnmarshalType(v.Type)
	if err != nil {
		return cty.NilVal, fmt.Errorf("type: %w", err)
	}
	x, err := ctyjson.Unmarshal(v.Value, ty)
	if err != nil {
		return cty.NilVal, err
	}
	if v.Sensitive {
		x = x.Mark(lang.MarkSensitive)
	}
	return x, nil
}

// terraformOutputs runs `terraform output -json` (tofu's for binary =
// "tofu") in the producer's dir and workspace the way the driver runs
// terraform (prepareTerraform: the version checked and the directory
// initialised once per run; TF_WORKSPACE). Its stderr and what it did go
// to s.Log.
func terraformOutputs(ctx context.Context, s Step, t *planner.Terraform) (map[string]OutputValue, error) {
	tool, bin, err := terraformBinary(s.Env, t.Binary)
	if err != nil {
		return nil, err
	}
	w, err := prepareTerraform(ctx, s, tool, bin, t.Dir)
	if err != nil {
		return nil, err
	}
	var stdout bytes.Buffer
	cmd := w.command(ctx, t.Workspace, "output", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, s.Log
	fmt.Fprintf(s.Log, "echelon: %s output -json in %s (workspace %s)\n", tool, w.dir, orDefault(t.Workspace))
	if err := runChild(s, cmd); err != nil {
		return nil, err
	}
	// tofu prints its CLI configuration warnings on stdout, before the
	// object (splitJSONObject); they hold no output value.
	pre, obj := splitJSONObject(stdout.Bytes())
	s.Log.Write(pre)
	var raw map[string]OutputValue
	if err := json.Unmarshal(obj, &raw); err != nil {
		return nil, fmt.Errorf("reading %s output -json: %w", tool, err)
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(s.Log, "echelon: outputs %s\n", strings.Join(names, ", "))
	return raw, nil
}

func orDefault(ws string) string {
	if ws == "" {
		return "default"
	}
	return ws
}

// resolveStep fills in the settings of the step's operations that read
// outputs (ops is changed in place; the plan's operations are not).
func (r *runner) resolveStep(ops []*planner.Operation, log io.Writer, started func(int)) error {
	for i, op := range ops {
		if len(op.Outputs) == 0 {
			continue
		}
		res, err := r.resolveOutputs(r.opts.Hard, op, log, started)
		if err != nil {
			return err
		}
		ops[i] = res
	}
	return nil
}

// readProduced reads the outputs of the step's producers once they
// succeeded, before their end is journaled.
func (r *runner) readProduced(ops []*planner.Operation, log io.Writer, started func(int)) error {
	for _, op := range ops {
		if !r.producers[op.ID] {
			continue
		}
		if _, err := r.readOutputs(r.opts.Hard, op.ID, log, started); err != nil {
			return fmt.Errorf("reading outputs: %w", err)
		}
	}
	return nil
}

func (o *outputStore) isMasked(id, name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.masked[id][name]
}

// previewing reports whether the run is a preview (echelon plan), which
// plans and applies nothing.
func (r *runner) previewing() bool { return r.pv != nil && !r.pv.applying }

// mockMissing gives a preview the producer's mock for each output of
// names that terraform does not have yet (a producer never applied). An
// apply of that preview refuses the consumer's saved plan when the real
// value differs (its variables changed since the preview), so a mock is
// never applied.
func (r *runner) mockMissing(id string, names []string, cv map[string]cty.Value, log io.Writer) (mocked bool) {
	var comp *lang.Component
	if s := r.byID[id]; s != nil {
		comp = r.opts.Spec.Component(s.op.Component)
	}
	for _, c := range r.opts.Spec.Components {
		if comp != nil {
			break
		}
		for _, in := range c.Instances {
			if planner.OutputOpID(r.opts.Spec, lang.OutputRef{Component: c.Name, Region: in.Region, Replica: in.Replica}) == id {
				comp = c
				break
			}
		}
	}
	if comp == nil {
		return false
	}
	for _, n := range names {
		if _, ok := cv[n]; ok {
			continue
		}
		if m, ok := comp.MockOutputs[n]; ok {
			cv[n] = m
			mocked = true
			fmt.Fprintf(log, "echelon: output %s of %s is not in terraform's state yet: previewed with its mock\n", n, id)
		}
	}
	return mocked
}
