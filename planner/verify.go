package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/echelonhq/echelon/lang"
)

// CompileOptions are the options p records it was compiled with.
func (p *Plan) CompileOptions() Options {
	o := Options{Mode: p.Mode.Name}
	if p.Action == ActionDestroy {
		o.Destroy = true
		o.Only = append([]string(nil), p.Only...)
		o.Strategy = p.UndeployStrategy
	}
	return o
}

// MismatchError says that a plan is not what its spec compiles to with the
// plan's own options: plan_digest only shows the file is consistent with
// itself, and anyone can recompute it.
type MismatchError struct {
	// First names the first difference: an operation, a batch, or a
	// top-level field.
	First string
}

func (e *MismatchError) Error() string {
	return "the plan does not match what its spec compiles to: edited by hand? (first difference: " + e.First + ")"
}

// Verify recompiles spec (already checked fresh with CheckFresh) with p's
// recorded options and returns a *MismatchError unless the result is p
// byte for byte, spec.path aside (it depends on where the plan was
// written). Apply runs only plans that pass, so the executor can trust
// every field a plan holds.
func Verify(p *Plan, spec *lang.Spec) error {
	q, diags := Compile(spec, p.CompileOptions())
	if diags.HasErrors() || q == nil {
		return &MismatchError{First: "the spec does not compile with the plan's options: " + diags.Error()}
	}
	q.Spec.Path = p.Spec.Path
	// Compare the bytes Marshal would write for each, less plan_digest
	// (a function of the rest): p was parsed from bytes whose digest
	// matched, so writing it again reproduces them when nothing is amiss.
	// Both are written at once, on two cores, and neither is hashed. pc
	// is a shallow copy so p keeps its plan_digest; encode's normalize
	// changes nothing in a plan Parse returned.
	pc := *p
	var a *encoded
	var errA error
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, errA = pc.encode(encoder{keep: true})
	}()
	b, err := q.encode(encoder{keep: true})
	<-done
	if errA != nil {
		return &MismatchError{First: errA.Error()}
	}
	if err != nil {
		return err
	}
	if sameBytes(a.chunks, b.chunks) {
		return nil
	}
	return &MismatchError{First: firstDifference(p, q)}
}

// sameBytes says whether two lists of chunks hold the same bytes, however
// they are cut.
func sameBytes(a, b [][]byte) bool {
	var x, y []byte
	for {
		for len(x) == 0 && len(a) > 0 {
			x, a = a[0], a[1:]
		}
		for len(y) == 0 && len(b) > 0 {
			y, b = b[0], b[1:]
		}
		if len(x) == 0 || len(y) == 0 {
			return len(x) == 0 && len(y) == 0
		}
		n := min(len(x), len(y))
		if !bytes.Equal(x[:n], y[:n]) {
			return false
		}
		x, y = x[n:], y[n:]
	}
}

// firstDifference names where got (the plan file) first differs from want
// (the recompiled plan): top-level fields, then operations by ID, then
// batches by index.
func firstDifference(got, want *Plan) string {
	same := func(a, b any) bool {
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		return jsonEqual(x, y)
	}
	top := []struct {
		name string
		a, b any
	}{
		{"format_version", got.FormatVersion, want.FormatVersion},
		{"spec_digest", got.SpecDigest, want.SpecDigest},
		{"action", got.Action, want.Action},
		{"mode", got.Mode, want.Mode},
		{"deployment", got.Deployment, want.Deployment},
		{"undeploy_strategy", got.UndeployStrategy, want.UndeployStrategy},
		{"only", got.Only, want.Only},
		{"spec", got.Spec, want.Spec},
		{"phases", got.Phases, want.Phases},
		{"apis", got.APIs, want.APIs},
		{"budgets", got.Budgets, want.Budgets},
	}
	for _, f := range top {
		if !same(f.a, f.b) {
			return fmt.Sprintf("%s: plan has %s, the spec compiles to %s", f.name, brief(f.a), brief(f.b))
		}
	}
	wantOps := map[string]*Operation{}
	for i := range want.Operations {
		wantOps[want.Operations[i].ID] = &want.Operations[i]
	}
	seen := map[string]bool{}
	for i := range got.Operations {
		o := &got.Operations[i]
		w, ok := wantOps[o.ID]
		switch {
		case seen[o.ID]:
			return "operation " + strconv.Quote(o.ID) + " appears twice"
		case !ok:
			return "operation " + strconv.Quote(o.ID) + " is not in the spec"
		}
		seen[o.ID] = true
		if !same(o, w) {
			return "operation " + strconv.Quote(o.ID) + ": " + fieldDifference(*o, *w)
		}
	}
	for _, w := range want.Operations {
		if !seen[w.ID] {
			return "operation " + strconv.Quote(w.ID) + " is missing"
		}
	}
	for i := range max(len(got.Batches), len(want.Batches)) {
		switch {
		case i >= len(got.Batches):
			return fmt.Sprintf("batch %d is missing", i)
		case i >= len(want.Batches):
			return fmt.Sprintf("batch %d is not in the spec's plan", i)
		case !same(got.Batches[i], want.Batches[i]):
			return fmt.Sprintf("batch %d: %s", i, fieldDifference(got.Batches[i], want.Batches[i]))
		}
	}
	return "the operations' order or the layout"
}

// fieldDifference names the first JSON field of two structs that differs.
func fieldDifference[T any](a, b T) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := range t.NumField() {
		x, _ := json.Marshal(va.Field(i).Interface())
		y, _ := json.Marshal(vb.Field(i).Interface())
		if !jsonEqual(x, y) {
			name, _, _ := bytes.Cut([]byte(t.Field(i).Tag.Get("json")), []byte(","))
			return fmt.Sprintf("%s is %s, the spec compiles to %s", name, brief(va.Field(i).Interface()), brief(vb.Field(i).Interface()))
		}
	}
	return "differs"
}

// brief is a value as short JSON for a message.
func brief(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
