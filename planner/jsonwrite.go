package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// planWriter writes a Plan as indented JSON without reflection: the bytes
// encoding/json plus json.Indent(.., "", "  ") would give (with HTML
// escaping off), at a fraction of the cost for 100k operations.
// TestPlanWriterMatchesEncodingJSON fills every field of every plan type
// by reflection and compares, so a field added to plan.go without a line
// here fails the tests.
type planWriter struct {
	b     []byte
	depth int
	first bool // no field or element written yet at this level
	err   error
	// emit, when set, is handed the output in chunks: at the start of an
	// element once b holds chunkSize bytes (no byte handed over is touched
	// again), and by cut. Marshal hashes each chunk in another goroutine
	// while the next is written.
	emit func([]byte)
	free chan []byte // buffers emit is done with, if it says so
}

// chunkSize is small enough that a chunk is still in cache when it is
// hashed, large enough that handing it over costs nothing.
const chunkSize = 256 << 10

// cut hands b to emit and starts a new buffer: one emit handed back for
// reuse if there is one.
func (w *planWriter) cut() {
	w.emit(w.b)
	select {
	case b := <-w.free:
		w.b = b[:0]
	default:
		w.b = make([]byte, 0, chunkSize+chunkSize/4)
	}
}

// indents is a newline and the indentation of up to 32 levels.
const indents = "\n                                                                "

func (w *planWriter) newline() {
	if n := 1 + 2*w.depth; n <= len(indents) {
		w.b = append(w.b, indents[:n]...)
		return
	}
	w.b = append(w.b, '\n')
	for i := 0; i < w.depth; i++ {
		w.b = append(w.b, ' ', ' ')
	}
}

func (w *planWriter) begin(c byte) {
	w.b = append(w.b, c)
	w.depth++
	w.first = true
}

func (w *planWriter) end(c byte) {
	w.depth--
	w.newline()
	w.b = append(w.b, c)
	w.first = false
}

// elem starts the next element of an array or object.
func (w *planWriter) elem() {
	if w.emit != nil && len(w.b) >= chunkSize {
		w.cut()
	}
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.newline()
}

func (w *planWriter) key(k string) {
	w.elem()
	w.str(k)
	w.b = append(w.b, ':', ' ')
}

func (w *planWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			w.strSlow(s)
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

// strSlow lets encoding/json escape what needs it (control characters,
// invalid UTF-8, U+2028/U+2029), exactly as it would.
func (w *planWriter) strSlow(s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil && w.err == nil {
		w.err = err
	}
	w.b = append(w.b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

func (w *planWriter) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if w.err == nil {
			w.err = fmt.Errorf("json: unsupported value: %v", f)
		}
		w.b = append(w.b, '0')
		return
	}
	// encoding/json's float64 format.
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' {
		n := len(w.b)
		if n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

func (w *planWriter) int(i int)   { w.b = strconv.AppendInt(w.b, int64(i), 10) }
func (w *planWriter) bool(b bool) { w.b = strconv.AppendBool(w.b, b) }

func (w *planWriter) strField(k, v string)           { w.key(k); w.str(v) }
func (w *planWriter) intField(k string, v int)       { w.key(k); w.int(v) }
func (w *planWriter) floatField(k string, v float64) { w.key(k); w.float(v) }
func (w *planWriter) boolField(k string, v bool)     { w.key(k); w.bool(v) }

func (w *planWriter) strs(ss []string) {
	switch {
	case ss == nil:
		w.b = append(w.b, "null"...)
	case len(ss) == 0:
		w.b = append(w.b, '[', ']')
	default:
		w.begin('[')
		for _, s := range ss {
			w.elem()
			w.str(s)
		}
		w.end(']')
	}
}

// mapOf writes a map with sorted keys; each writes one value.
func mapOf[V any](w *planWriter, m map[string]V, each func(V)) {
	switch {
	case m == nil:
		w.b = append(w.b, "null"...)
		return
	case len(m) == 0:
		w.b = append(w.b, '{', '}')
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.begin('{')
	for _, k := range keys {
		w.key(k)
		each(m[k])
	}
	w.end('}')
}

// any writes a free-form value (variables, terraform vars, helm values)
// through encoding/json, indented at the current depth.
func (w *planWriter) any(v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	compact := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.b = appendIndented(w.b, compact, w.depth)
}

func (w *planWriter) plan(p *Plan) {
	w.begin('{')
	w.strField("format_version", p.FormatVersion)
	w.strField("spec_digest", p.SpecDigest)
	w.key("plan_digest")
	if w.emit != nil {
		// The digest goes between this chunk and the next.
		w.cut()
	}
	w.str(p.PlanDigest)
	w.strField("action", p.Action)
	w.key("mode")
	w.mode(&p.Mode)
	w.strField("deployment", p.Deployment)
	if p.UndeployStrategy != "" {
		w.strField("undeploy_strategy", p.UndeployStrategy)
	}
	if len(p.Only) > 0 {
		w.key("only")
		w.strs(p.Only)
	}
	w.key("spec")
	w.specRef(&p.Spec)
	w.key("phases")
	list(w, p.Phases, func(ph *Phase) {
		w.begin('{')
		w.strField("name", ph.Name)
		w.key("after")
		w.strs(ph.After)
		w.end('}')
	})
	w.key("apis")
	list(w, p.APIs, func(a *API) {
		w.begin('{')
		w.strField("name", a.Name)
		w.floatField("rate", a.Rate)
		w.intField("burst", a.Burst)
		w.strField("scope", a.Scope)
		w.key("retry")
		w.begin('{')
		w.intField("max_attempts", a.Retry.MaxAttempts)
		w.floatField("backoff", a.Retry.Backoff)
		w.floatField("max_backoff", a.Retry.MaxBackoff)
		w.end('}')
		w.end('}')
	})
	w.key("budgets")
	list(w, p.Budgets, func(b *Budget) {
		w.begin('{')
		w.strField("name", b.Name)
		w.strField("mode", b.Mode)
		w.floatField("p50", b.P50)
		w.floatField("p90", b.P90)
		w.floatField("max_throttled", b.MaxThrottled)
		if b.Description != "" {
			w.strField("description", b.Description)
		}
		w.end('}')
	})
	w.key("operations")
	list(w, p.Operations, w.operation)
	w.key("batches")
	list(w, p.Batches, func(b *Batch) {
		w.begin('{')
		w.intField("index", b.Index)
		w.strField("phase", b.Phase)
		w.key("operations")
		w.strs(b.Operations)
		w.key("exclusive")
		w.strs(b.Exclusive)
		w.key("shared")
		w.strs(b.Shared)
		w.end('}')
	})
	w.end('}')
}

// list writes a slice of structs, each by pointer.
func list[T any](w *planWriter, s []T, each func(*T)) {
	switch {
	case s == nil:
		w.b = append(w.b, "null"...)
	case len(s) == 0:
		w.b = append(w.b, '[', ']')
	default:
		w.begin('[')
		for i := range s {
			w.elem()
			each(&s[i])
		}
		w.end(']')
	}
}

func (w *planWriter) mode(m *Mode) {
	w.begin('{')
	w.strField("name", m.Name)
	w.boolField("phase_barrier", m.PhaseBarrier)
	w.boolField("batch_barrier", m.BatchBarrier)
	w.intField("max_parallel", m.MaxParallel)
	w.intField("region_parallel", m.RegionParallel)
	w.intField("terraform_parallelism", m.TerraformParallelism)
	w.key("component_parallel")
	mapOf(w, m.ComponentParallel, w.int)
	if m.FailureTolerance != nil {
		w.intField("failure_tolerance", *m.FailureTolerance)
	}
	w.end('}')
}

func (w *planWriter) specRef(s *SpecRef) {
	w.begin('{')
	w.strField("path", s.Path)
	w.key("files")
	w.strs(s.Files)
	w.key("variables")
	mapOf(w, s.Variables, w.any)
	w.key("sensitive")
	w.strs(s.Sensitive)
	w.key("file_digests")
	mapOf(w, s.FileDigests, w.str)
	w.end('}')
}

func (w *planWriter) duration(d *Duration) {
	w.begin('{')
	w.floatField("p50", d.P50)
	w.floatField("p90", d.P90)
	w.end('}')
}

func (w *planWriter) operation(o *Operation) {
	w.begin('{')
	w.strField("id", o.ID)
	w.strField("component", o.Component)
	w.strField("region", o.Region)
	w.intField("replica", o.Replica)
	w.strField("phase", o.Phase)
	w.strField("driver", o.Driver)
	w.key("depends_on")
	w.strs(o.DependsOn)
	w.boolField("parallel", o.Parallel)
	w.boolField("restart", o.Restart)
	if o.Alone != "" {
		w.strField("alone", o.Alone)
	}
	w.key("duration")
	w.duration(&o.Duration)
	w.intField("resources", o.Resources)
	w.key("resource_duration")
	w.duration(&o.ResourceDuration)
	w.key("calls")
	mapOf(w, o.Calls, w.int)
	w.strField("on_error", o.OnError)
	w.intField("retries", o.Retries)
	w.floatField("priority", o.Priority)
	if len(o.Outputs) > 0 {
		w.key("outputs")
		list(w, o.Outputs, func(r *OutputRef) {
			w.begin('{')
			w.strField("operation", r.Operation)
			w.strField("output", r.Output)
			w.end('}')
		})
	}
	if t := o.Terraform; t != nil {
		w.key("terraform")
		w.begin('{')
		w.strField("dir", t.Dir)
		w.strField("target", t.Target)
		w.strField("workspace", t.Workspace)
		if t.Binary != "" {
			w.strField("binary", t.Binary)
		}
		w.key("vars")
		mapOf(w, t.Vars, w.any)
		w.end('}')
	}
	if k := o.Kubectl; k != nil {
		w.key("kubectl")
		w.begin('{')
		w.strField("context", k.Context)
		w.key("manifests")
		w.strs(k.Manifests)
		w.strField("namespace", k.Namespace)
		w.end('}')
	}
	if h := o.Helm; h != nil {
		w.key("helm")
		w.begin('{')
		w.strField("context", h.Context)
		w.strField("release", h.Release)
		w.strField("chart", h.Chart)
		w.strField("namespace", h.Namespace)
		w.key("values")
		mapOf(w, h.Values, w.any)
		w.end('}')
	}
	if c := o.Command; c != nil {
		w.key("command")
		w.begin('{')
		w.key("argv")
		w.strs(c.Argv)
		w.key("env")
		mapOf(w, c.Env, w.str)
		w.strField("dir", c.Dir)
		w.end('}')
	}
	w.end('}')
}
