package planner

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/echelonhq/echelon/lang"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Sensitive is what a plan holds in place of a sensitive value.
const Sensitive = "(sensitive)"

// assemble turns the scheduled subgraph into the plan's data.
func (g *graph) assemble(spec *lang.Spec, mode *lang.Mode, s *subgraph, batches []Batch, prio []float64) (*Plan, error) {
	p := &Plan{
		FormatVersion: FormatVersion,
		Action:        ActionDeploy,
		Mode: Mode{
			Name:                 mode.Name,
			PhaseBarrier:         mode.PhaseBarrier,
			BatchBarrier:         mode.BatchBarrier,
			MaxParallel:          mode.MaxParallel,
			RegionParallel:       mode.RegionParallel,
			TerraformParallelism: mode.TerraformParallelism,
			ComponentParallel:    map[string]int{},
		},
		Phases:     []Phase{},
		APIs:       []API{},
		Budgets:    []Budget{},
		Operations: make([]Operation, len(s.ops)),
		Batches:    batches,
	}
	if ft := mode.FailureTolerance; ft != nil {
		n := ft.Regions
		if ft.Percent > 0 {
			regions := map[string]bool{}
			for _, op := range s.ops {
				if r := g.inst[op].Region; r != "" {
					regions[r] = true
				}
			}
			n = int(math.Floor(ft.Percent / 100 * float64(len(regions))))
		}
		p.Mode.FailureTolerance = &n
	}
	for k, v := range mode.ComponentParallel {
		p.Mode.ComponentParallel[k] = v
	}
	if spec.Deployment != nil {
		p.Deployment = spec.Deployment.Name
	}
	var red redactor
	ref, err := specRef(spec, &red)
	if err != nil {
		return nil, err
	}
	p.Spec = ref
	for _, ph := range spec.Phases {
		after := make([]string, len(ph.After))
		for i, r := range ph.After {
			after[i] = r.Name
		}
		p.Phases = append(p.Phases, Phase{Name: ph.Name, After: after})
	}
	for _, a := range spec.APIs {
		p.APIs = append(p.APIs, API{Name: a.Name, Rate: a.Rate, Burst: a.Burst, Scope: a.Scope,
			Retry: Retry{MaxAttempts: a.Retry.MaxAttempts, Backoff: a.Retry.Backoff.Seconds(), MaxBackoff: a.Retry.MaxBackoff.Seconds()}})
	}
	for _, b := range spec.Budgets {
		p.Budgets = append(p.Budgets, Budget{Name: b.Name, Mode: b.Mode, P50: b.P50.Seconds(), P90: b.P90.Seconds(), MaxThrottled: b.MaxThrottled, Description: b.Description})
	}
	for k, op := range s.ops {
		o, err := g.operation(spec, int(op), &red)
		if err != nil {
			return nil, err
		}
		deps := s.depsOf(k)
		o.DependsOn = make([]string, len(deps))
		for j, d := range deps {
			o.DependsOn[j] = g.ids[s.ops[d]]
		}
		o.Priority = prio[k]
		p.Operations[k] = o
	}
	return p, nil
}

func (g *graph) operation(spec *lang.Spec, op int, red *redactor) (Operation, error) {
	c := spec.Components[g.comp[op]]
	in := g.inst[op]
	parallel := c.Parallel
	for _, ct := range c.Containers {
		parallel = parallel && ct.Parallel
	}
	o := Operation{
		ID:               g.ids[op],
		Component:        c.Name,
		Region:           in.Region,
		Replica:          in.Replica,
		Phase:            c.Phase,
		Driver:           c.Driver,
		Parallel:         parallel,
		Restart:          c.Restart,
		Alone:            g.alone[op],
		Duration:         Duration{P50: in.Duration.P50.Seconds(), P90: in.Duration.P90.Seconds()},
		Resources:        in.Resources,
		ResourceDuration: Duration{P50: in.ResourceDuration.P50.Seconds(), P90: in.ResourceDuration.P90.Seconds()},
		Calls:            map[string]int{},
		OnError:          in.OnError,
		Retries:          in.Retries,
	}
	if usesResources(o.Driver, o.Resources, o.ResourceDuration.P50) {
		o.Duration = Duration{}
	}
	if o.OnError == "" {
		o.OnError = lang.OnErrorStop
	}
	for k, v := range in.Calls {
		o.Calls[k] = v
	}
	var err error
	switch {
	case in.Terraform != nil:
		t := in.Terraform
		o.Terraform = &Terraform{Dir: red.str(t.Dir), Target: red.str(t.Target), Workspace: red.str(t.Workspace), Binary: t.Binary}
		if o.Terraform.Vars, err = jsonValues(t.Vars); err != nil {
			return o, fmt.Errorf("%s: terraform vars: %w", o.ID, err)
		}
	case in.Kubectl != nil:
		k, sens := in.Kubectl, in.Kubectl.Sensitive
		o.Kubectl = &Kubectl{Context: red.field(sens, "context", k.Context), Manifests: red.strs(k.Manifests), Namespace: red.field(sens, "namespace", k.Namespace)}
	case in.Helm != nil:
		h, sens := in.Helm, in.Helm.Sensitive
		o.Helm = &Helm{Context: red.field(sens, "context", h.Context), Release: red.field(sens, "release", h.Release),
			Chart: red.field(sens, "chart", h.Chart), Namespace: red.field(sens, "namespace", h.Namespace)}
		if o.Helm.Values, err = jsonValues(h.Values); err != nil {
			return o, fmt.Errorf("%s: helm values: %w", o.ID, err)
		}
	case in.Command != nil:
		cm, sens := in.Command, in.Command.Sensitive
		o.Command = &Command{Argv: red.strs(cm.Argv), Env: map[string]string{}, Dir: red.field(sens, "dir", cm.Dir)}
		if len(sens) > 0 {
			for i, v := range cm.Argv {
				o.Command.Argv[i] = red.field(sens, "argv."+strconv.Itoa(i), v)
			}
		}
		for k, v := range cm.Env {
			o.Command.Env[k] = red.field(sens, "env."+k, v)
		}
	}
	applyOutputs(spec, &o, in)
	return o, nil
}

// specRef records the spec's location, files and variable values; it also
// primes red with the sensitive values.
func specRef(spec *lang.Spec, red *redactor) (SpecRef, error) {
	ref := SpecRef{Path: RepoSpecPath(spec.Path), Files: []string{}, Variables: map[string]any{}, Sensitive: []string{}, FileDigests: map[string]string{}}
	for _, f := range spec.Files {
		ref.Files = append(ref.Files, filepath.Base(f))
	}
	sort.Strings(ref.Files)
	for _, v := range spec.Variables {
		if v.Sensitive {
			ref.Variables[v.Name] = Sensitive
			ref.Sensitive = append(ref.Sensitive, v.Name)
			red.add(v.Value)
			continue
		}
		j, err := jsonValue(v.Value)
		if err != nil {
			return ref, fmt.Errorf("variable %q: %w", v.Name, err)
		}
		ref.Variables[v.Name] = j
	}
	sort.Strings(ref.Sensitive)
	return ref, nil
}

// jsonValue converts a cty value for the plan: a marked value (lang marks
// values derived from sensitive variables) becomes "(sensitive)", whole.
func jsonValue(v cty.Value) (any, error) {
	if v.ContainsMarked() {
		return Sensitive, nil
	}
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsWhollyKnown() {
		return nil, fmt.Errorf("value is not known when compiling")
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

func jsonValues(m map[string]cty.Value) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		j, err := jsonValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = j
	}
	return out, nil
}

// redactor replaces the strings lang flattened from a sensitive value
// (field), and, as a second line of defence, strings that contain a
// sensitive variable's value (str). Values shorter than 4 characters are
// not searched for (they would hit everything and hide little).
type redactor struct{ secrets []string }

// field is a driver setting's string: "(sensitive)" when lang recorded it
// derives from a sensitive value (lower(var.token) does not contain the
// token, so str alone would let it through), else str(s).
func (r *redactor) field(sens map[string]bool, key, s string) string {
	if sens[key] {
		return Sensitive
	}
	return r.str(s)
}

func (r *redactor) add(v cty.Value) {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsWhollyKnown() {
		return
	}
	_ = cty.Walk(v, func(_ cty.Path, x cty.Value) (bool, error) {
		if x.IsNull() || !x.IsKnown() {
			return true, nil
		}
		var s string
		switch x.Type() {
		case cty.String:
			s = x.AsString()
		case cty.Number:
			s = x.AsBigFloat().Text('f', -1)
		default:
			return true, nil
		}
		if len(s) >= 4 {
			r.secrets = append(r.secrets, s)
		}
		return true, nil
	})
}

func (r *redactor) str(s string) string {
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			return Sensitive
		}
	}
	return s
}

func (r *redactor) strs(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.str(s)
	}
	return out
}
