package calib

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
	"github.com/echelonhq/echelon/sim"
)

// Marshal is the file's bytes: indented JSON with sorted keys and a final
// newline; the same runs give the same bytes.
func (c *Calibration) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	return append(b, '\n'), nil
}

// Write writes the calibration to path.
func (c *Calibration) Write(path string) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write calibration: %w", err)
	}
	return nil
}

// maxFileSize bounds a calibration file read back.
const maxFileSize = 64 << 20

// Read reads a calibration file and checks its figures.
func Read(path string) (*Calibration, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than a calibration file holds (%d)", path, fi.Size(), maxFileSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Calibration
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(path, b, err)
	}
	if c.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: format_version %q, this echelon reads %q", path, c.FormatVersion, FormatVersion)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// decodeError says where in the file JSON decoding failed, as FILE:LINE:COL,
// in words rather than Go's types.
func decodeError(path string, b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	off := int64(len(b))
	msg := err.Error()
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		msg = fmt.Sprintf("%s is a JSON %s, want a %s", typ.Field, typ.Value, jsonKind(typ.Type.Kind()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		msg = "the file ends before the calibration does"
	}
	line, col := 1, 1
	for _, c := range b[:min(max(off, 0), int64(len(b)))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%s:%d:%d: %s", path, line, col, msg)
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Float64, reflect.Float32, reflect.Int, reflect.Int64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "object"
	case reflect.Slice:
		return "list"
	case reflect.Bool:
		return "boolean"
	}
	return k.String()
}

// check refuses figures the simulator cannot take.
func (c *Calibration) check() error {
	okDur := func(what string, f *Fit) error {
		if f == nil {
			return nil
		}
		if !finite(f.P50) || !finite(f.P90) || f.P50 < 0 || f.P90 < f.P50 || f.P90 > 100*365.25*86400 {
			return fmt.Errorf("%s: p50 %v, p90 %v: want 0 <= p50 <= p90, at most 100 years", what, f.P50, f.P90)
		}
		return nil
	}
	for _, comp := range slices.Sorted(maps.Keys(c.Components)) {
		for _, action := range slices.Sorted(maps.Keys(c.Components[comp])) {
			f := c.Components[comp][action]
			if f == nil {
				return fmt.Errorf("component %s, %s: null", comp, action)
			}
			where := "component " + comp + ", " + action
			if err := okDur(where+": duration", f.Duration); err != nil {
				return err
			}
			if err := okDur(where+": resource", f.Resource); err != nil {
				return err
			}
			if !finite(f.FailureRate) || f.FailureRate < 0 || f.FailureRate > 1 {
				return fmt.Errorf("%s: failure_rate %v: want 0 to 1", where, f.FailureRate)
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(c.Drivers)) {
		o := c.Drivers[d]
		if o == nil {
			return fmt.Errorf("driver %s: null", d)
		}
		for _, v := range []float64{o.Overhead.Run, o.Overhead.Init, o.Overhead.Process, o.Overhead.Resource} {
			if !finite(v) || v < 0 || v > 3600 {
				return fmt.Errorf("driver %s: overhead %v s: want 0 to 3600", d, v)
			}
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Summary is what simulate and apply say about it.
func (c *Calibration) Summary() string {
	return fmt.Sprintf("calibrated from %s, last on %s", planner.Plural(c.Runs, "run"), c.LastRun)
}

// Apply is p with calibrated durations, and opts with calibrated overhead
// and failure probabilities. p is not changed: its digests and bytes stay
// the plan's. Priorities stay the plan's, as exec runs by them.
//
// An operation takes its component's fit for the plan's action: a
// terraform instance timed by its resources takes the resource fit, any
// other the duration fit (a point fit of 0 s is kept: it is what ran).
// Overhead replaces only drivers in opts.Overhead (nil stays nil: the
// caller asked for none). A failure rate above 0 becomes TrialOutcome
// unless opts has an Outcome.
func (c *Calibration) Apply(p *planner.Plan, opts sim.Options) (*planner.Plan, sim.Options) {
	q := *p
	q.Operations = make([]planner.Operation, len(p.Operations))
	copy(q.Operations, p.Operations)
	fail := map[string]float64{}
	for i := range q.Operations {
		o := &q.Operations[i]
		f := c.Components[o.Component][p.Action]
		if f == nil {
			continue
		}
		byResources := o.Resources > 0 && o.Duration.P50 == 0 && o.ResourceDuration.P50 > 0
		switch {
		case byResources && f.Resource != nil:
			o.ResourceDuration = planner.Duration{P50: f.Resource.P50, P90: f.Resource.P90}
		case !byResources && f.Duration != nil:
			o.Duration = planner.Duration{P50: f.Duration.P50, P90: f.Duration.P90}
		}
		if f.FailureRate > 0 {
			fail[o.ID] = f.FailureRate
		}
	}
	if opts.Overhead != nil {
		oh := make(map[string]sim.DriverOverhead, len(opts.Overhead))
		for k, v := range opts.Overhead {
			oh[k] = v
		}
		for d, f := range c.Drivers {
			if _, ok := oh[d]; ok && f != nil {
				oh[d] = f.Overhead
			}
		}
		opts.Overhead = oh
	}
	if len(fail) > 0 && opts.Outcome == nil {
		opts.TrialOutcome = func(key uint64, op string, attempt int) sched.Outcome {
			if p, ok := fail[op]; ok && sim.Uniform(key, op, attempt) < p {
				return sched.Outcome{Kind: sched.Fail}
			}
			return sched.Outcome{}
		}
	}
	return &q, opts
}

// Fits says whether the calibration is of the plan's deployment: a file
// copied from another spec would otherwise predict with its figures.
func (c *Calibration) Fits(p *planner.Plan) error {
	if c.Deployment != "" && c.Deployment != p.Deployment {
		return fmt.Errorf("the calibration is of deployment %q, the plan's is %q", c.Deployment, p.Deployment)
	}
	return nil
}
