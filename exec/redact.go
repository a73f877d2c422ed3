package exec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// Masked is what the executor writes in place of a sensitive value.
const Masked = "(sensitive)"

// redactor masks sensitive values (Options.Secrets) in everything the
// executor writes: log files, journal records, events and the summary.
// Every non-empty secret is masked, however short: a one-character secret
// makes logs hard to read, but showing it would be worse. Where two secrets
// overlap, the earliest match wins (the longer one at the same position);
// pieces of the other may stay visible.
type redactor struct {
	mu      sync.RWMutex // add may run while others mask
	secrets []string     // longest first
	maxLen  int
}

// newRedactor returns nil when there is nothing to mask, so callers can
// keep their fast paths. Each secret is also masked in its JSON-escaped
// form (a secret with a quote or backslash, as a JSON log line holds it).
func newRedactor(secrets []string) *redactor {
	seen := map[string]bool{}
	var list []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	for _, s := range secrets {
		add(s)
		if b, err := json.Marshal(s); err == nil {
			add(strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`))
		}
	}
	if len(list) == 0 {
		return nil
	}
	r := &redactor{}
	r.set(list)
	return r
}

// set makes list, deduplicated, the secrets.
func (r *redactor) set(list []string) {
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	r.secrets = slices.Compact(list)
	r.maxLen = 0
	if len(r.secrets) > 0 {
		r.maxLen = len(r.secrets[0])
	}
}

// add masks more secrets from now on (a sensitive output read during the
// run), in their JSON-escaped form too. r must not be nil: a run that may
// add secrets starts with a redactor, empty or not.
func (r *redactor) add(secrets ...string) {
	if len(secrets) == 0 {
		return
	}
	more := newRedactor(secrets)
	if more == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(append(slices.Clone(r.secrets), more.secrets...))
}

// String masks every secret in s.
func (r *redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	var out bytes.Buffer
	rest := r.mask(&out, []byte(s), true)
	out.Write(rest)
	return out.String()
}

// mask writes p to out with the secrets masked and returns the tail it held
// back (unless final): the longest end of p that may be the start of a
// secret the next write completes.
func (r *redactor) mask(out *bytes.Buffer, p []byte, final bool) []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for {
		hold := len(p)
		if !final {
			hold = r.partialStart(p)
		}
		pos, n := -1, 0
		for _, s := range r.secrets {
			i := bytes.Index(p, []byte(s))
			if i >= 0 && (pos < 0 || i < pos) {
				pos, n = i, len(s) // longest first: a tie keeps the longer
			}
		}
		if pos < 0 || pos >= hold {
			out.Write(p[:hold])
			return p[hold:]
		}
		out.Write(p[:pos])
		out.WriteString(Masked)
		p = p[pos+n:]
	}
}

// partialStart is the first index i such that p[i:] is a proper prefix of
// a secret, or len(p).
func (r *redactor) partialStart(p []byte) int {
	from := max(0, len(p)-r.maxLen+1)
	for i := from; i < len(p); i++ {
		tail := p[i:]
		for _, s := range r.secrets {
			if len(s) > len(tail) && strings.HasPrefix(s, string(tail)) {
				return i
			}
		}
	}
	return len(p)
}

// event masks the free-text fields of an event.
func (r *redactor) event(e Event) Event {
	if r == nil {
		return e
	}
	e.Error = r.String(e.Error)
	e.Message = r.String(e.Message)
	e.Resource = r.String(e.Resource)
	e.Log = r.String(e.Log)
	return e
}

// redactWriter masks secrets in a byte stream. A secret split across two
// writes is still masked: the end of a write that may start a secret is
// held back until the next write or Close.
type redactWriter struct {
	mu   sync.Mutex
	r    *redactor
	w    io.Writer
	held []byte
	out  bytes.Buffer
}

// newRedactWriter wraps w; with no secrets it returns w itself.
func newRedactWriter(w io.Writer, r *redactor) io.Writer {
	if r == nil {
		return w
	}
	return &redactWriter{r: r, w: w}
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	buf := append(rw.held, p...)
	rw.out.Reset()
	rest := rw.r.mask(&rw.out, buf, false)
	rw.held = append([]byte(nil), rest...)
	if rw.out.Len() > 0 {
		if _, err := rw.w.Write(rw.out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what was held back (the stream ended: it is no secret).
func (rw *redactWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.held) == 0 {
		return nil
	}
	rw.out.Reset()
	rest := rw.r.mask(&rw.out, rw.held, true)
	rw.out.Write(rest)
	rw.held = nil
	_, err := rw.w.Write(rw.out.Bytes())
	return err
}

// RedactWriter wraps w so that every secret written through it shows as
// "(sensitive)"; Flush must be called when the stream ends. apply uses it
// for its own output (summary, progress) with the secrets it gives Run.
func RedactWriter(w io.Writer, secrets []string) interface {
	io.Writer
	Flush() error
} {
	r := newRedactor(secrets)
	if r == nil {
		return nopFlusher{w}
	}
	return &redactWriter{r: r, w: w}
}

type nopFlusher struct{ io.Writer }

func (nopFlusher) Flush() error { return nil }

// RuntimePlan is the inverse of the planner's redaction: the plan as apply runs it: every driver setting the plan
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
func RuntimePlan(plan *planner.Plan, spec *lang.Spec) (*planner.Plan, []string, error) {
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
		if len(op.Outputs) > 0 || !opHasPlaceholder(op) {
			// An operation that reads outputs is filled in when it starts,
			// from the spec evaluated with them (resolveOutputs).
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
		if planned == planner.Sensitive {
			sec.add(real)
			return real
		}
		if planner.IsOutputPlaceholder(planned) {
			return real // masked by addSensitiveSettings when it is sensitive
		}
		return planned
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
			if !isPlaceholder(v) && !planner.IsOutputPlaceholder(v) {
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
			if isPlaceholder(v) {
				sec.addValue(rv, false)
			}
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
			if (v == planner.Sensitive || planner.IsOutputPlaceholder(v)) && !ok {
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
