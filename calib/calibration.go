package calib

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// FileName is the calibration file's name, beside the spec.
const FileName = "echelon.calibration.json"

// FormatVersion is the calibration file format this package writes and reads.
const FormatVersion = "1"

// PathFor is the calibration file of the spec in specDir.
func PathFor(specDir string) string { return filepath.Join(specDir, FileName) }

// Calibration is what past runs say about a deployment (docs/calibration.md).
// Maps are written with sorted keys; figures are rounded (round4).
type Calibration struct {
	FormatVersion string `json:"format_version"`
	Deployment    string `json:"deployment"`
	Runs          int    `json:"runs"`
	// LastRun is the last run's date (UTC, YYYY-MM-DD).
	LastRun string         `json:"last_run"`
	Sources []SourceRecord `json:"sources"`
	// Components are the fits by component, then action (deploy, destroy).
	Components map[string]map[string]*ComponentFit `json:"components"`
	Drivers    map[string]*DriverFit               `json:"drivers"`
	APIs       map[string]*APIFit                  `json:"apis"`
}

// SourceRecord is one plan the runs came from.
type SourceRecord struct {
	PlanDigest string `json:"plan_digest"` // the first 16 hex digits, as the state directory names it
	Mode       string `json:"mode"`
	Action     string `json:"action"`
	Runs       int    `json:"runs"`
}

// ComponentFit is one component's fit for one action.
type ComponentFit struct {
	// Duration is an operation's time: its resources' span for terraform,
	// its attempt's wall time less the driver's start otherwise.
	Duration *Fit `json:"duration,omitempty"`
	// Resource is one terraform resource's time.
	Resource *Fit `json:"resource,omitempty"`
	Attempts int  `json:"attempts"`
	// Failed are attempts failed by their own error: not a lost worker
	// nor a refused saved plan (those are not counted as attempts either).
	Failed int `json:"failed"`
	// FailureRate is Failed / Attempts: what apply and simulate take as
	// each attempt's failure probability.
	FailureRate float64   `json:"failure_rate"`
	Throttled   int       `json:"throttled"` // attempts throttled (not failures)
	Retried     int       `json:"retried"`   // attempts after an operation's first
	Outliers    []Outlier `json:"outliers,omitempty"`
}

// Outlier is a sample beyond 3 scaled MADs of its fit's median (in log
// space), kept in the fit and named here.
type Outlier struct {
	Op       string  `json:"op"`
	Run      int     `json:"run"` // 1: the oldest run used
	Attempt  int     `json:"attempt"`
	Resource string  `json:"resource,omitempty"` // a resource sample's address
	Seconds  float64 `json:"seconds"`
	Median   float64 `json:"median"`
}

// DriverFit is a driver's overhead per process, fitted where its journals
// can tell it (terraform: a step's wall time less its resources' span).
type DriverFit struct {
	Steps   int  `json:"steps"`
	Process *Fit `json:"process,omitempty"` // a step's overhead less its per-resource cost
	Init    *Fit `json:"init,omitempty"`    // a directory's first step's overhead beyond Process
	// Overhead is what the simulator takes: the fits' medians where there
	// are samples, sim.DefaultOverhead's figures for the rest (Fitted
	// names which are fitted).
	Overhead sim.DriverOverhead `json:"overhead"`
	Fitted   []string           `json:"fitted"`
}

// APIFit is the throttling an api answered: throttled steps whose
// operations call it.
type APIFit struct {
	Throttles int     `json:"throttles"`
	PerRun    float64 `json:"per_run"`
}

// Options tune Build.
type Options struct {
	// Runs keeps only the last Runs runs (0: all).
	Runs int
}

// samples collects one fit's samples with what each was.
type samples struct {
	xs     []float64
	labels []Outlier
	ratio  float64 // the spec's p90/p50, for a single sample
}

func (s *samples) add(x float64, l Outlier) {
	s.xs = append(s.xs, x)
	s.labels = append(s.labels, l)
}

// acc gathers one component's samples for one action.
type acc struct {
	dur, res samples
	fit      ComponentFit
}

// builder gathers samples over runs.
type builder struct {
	comps   map[string]map[string]*acc
	tfProc  []float64
	tfInit  []float64 // first-in-directory overheads, before Process is taken off
	tfSteps int
	apis    map[string]*APIFit
}

// Build fits the runs of the sources. notes say what was left out.
func Build(srcs []Source, opts Options) (*Calibration, []string, error) {
	runs, notes, err := readRuns(srcs)
	if err != nil {
		return nil, nil, err
	}
	if opts.Runs > 0 && len(runs) > opts.Runs {
		notes = append(notes, fmt.Sprintf("%d older runs left out (--runs %d)", len(runs)-opts.Runs, opts.Runs))
		runs = runs[len(runs)-opts.Runs:]
	}
	if len(runs) == 0 {
		return nil, notes, fmt.Errorf("no runs to calibrate from")
	}
	b := &builder{comps: map[string]map[string]*acc{}, apis: map[string]*APIFit{}}
	src := map[string]*SourceRecord{}
	for i, r := range runs {
		b.addRun(i+1, r)
		key := r.plan.PlanDigest + "\x00" + r.action
		if src[key] == nil {
			src[key] = &SourceRecord{PlanDigest: short(r.plan.PlanDigest), Mode: r.plan.Mode.Name, Action: r.action}
		}
		src[key].Runs++
	}
	c := &Calibration{
		FormatVersion: FormatVersion,
		Deployment:    runs[0].plan.Deployment,
		Runs:          len(runs),
		LastRun:       runs[len(runs)-1].start.UTC().Format("2006-01-02"),
		Components:    map[string]map[string]*ComponentFit{},
		Drivers:       map[string]*DriverFit{},
		APIs:          b.apis,
		Sources:       []SourceRecord{},
	}
	for _, s := range src {
		c.Sources = append(c.Sources, *s)
	}
	sort.Slice(c.Sources, func(i, j int) bool {
		a, b := c.Sources[i], c.Sources[j]
		return a.PlanDigest+a.Action < b.PlanDigest+b.Action
	})
	for comp, byAction := range b.comps {
		c.Components[comp] = map[string]*ComponentFit{}
		for action, a := range byAction {
			c.Components[comp][action] = a.finish()
		}
	}
	if d := b.terraformFit(); d != nil {
		c.Drivers["terraform"] = d
	}
	for _, a := range c.APIs {
		a.PerRun = round4(float64(a.Throttles) / float64(len(runs)))
	}
	return c, notes, nil
}

func (b *builder) accFor(op *planner.Operation, action string) *acc {
	m := b.comps[op.Component]
	if m == nil {
		m = map[string]*acc{}
		b.comps[op.Component] = m
	}
	a := m[action]
	if a == nil {
		a = &acc{}
		a.dur.ratio = ratio(op.Duration)
		a.res.ratio = ratio(op.ResourceDuration)
		m[action] = a
	}
	return a
}

func ratio(d planner.Duration) float64 {
	if d.P50 > 0 && d.P90 > d.P50 {
		return d.P90 / d.P50
	}
	return 0
}

// addRun takes one run's attempts and steps.
func (b *builder) addRun(n int, r *run) {
	atts := r.attempts()
	defaults := sim.DefaultOverhead()
	steps := map[int][]*attempt{}
	var order []int
	for _, at := range atts {
		if !at.ended || at.outcome == exec.OutcomeCancelled || notObserved(at) {
			continue
		}
		a := b.accFor(at.op, r.action)
		b.count(a, at, r)
		label := Outlier{Op: at.op.ID, Run: n, Attempt: at.n}
		for _, rr := range at.res {
			l := label
			l.Resource = rr.addr
			a.res.add(rr.dur, l)
		}
		if at.outcome == exec.OutcomeSucceeded {
			switch {
			case at.op.Driver == "terraform" && len(at.res) > 0:
				a.dur.add(spanOf(at.res), label)
			case at.op.Driver != "terraform":
				a.dur.add(math.Max(at.wall-defaults[at.op.Driver].Process, 0), label)
			}
		}
		if at.op.Driver == "terraform" && r.resources {
			if _, ok := steps[at.step]; !ok {
				order = append(order, at.step)
			}
			steps[at.step] = append(steps[at.step], at)
		}
	}
	b.addSteps(steps, order, defaults["terraform"].Resource, r.cores)
}

// count adds an attempt to its component's attempts, failures and the
// throttling of the apis it calls.
func (b *builder) count(a *acc, at *attempt, r *run) {
	a.fit.Attempts++
	if at.n > 1 {
		a.fit.Retried++
	}
	switch {
	case at.throttled:
		a.fit.Throttled++
		for api, calls := range at.op.Calls {
			if calls > 0 {
				if b.apis[api] == nil {
					b.apis[api] = &APIFit{}
				}
				b.apis[api].Throttles++
			}
		}
	case at.outcome == exec.OutcomeFailed && !blameless(at.err):
		a.fit.Failed++
	}
}

// notObserved is an attempt that tells nothing of how often its operation
// fails: its worker was lost, or its saved plan was refused before
// anything was applied (exec.NotItsFailure). It is neither an attempt nor
// a failure of the failure rate.
func notObserved(at *attempt) bool {
	return at.outcome == exec.OutcomeFailed && exec.NotItsFailure(at.err)
}

// tfStep is one terraform step's observed overhead.
type tfStep struct {
	dir        string
	start, end float64 // seconds from the run's first step
	oh         float64 // wall time less its resources' span and per-resource cost
	ok         bool    // every member succeeded
}

// addSteps takes terraform's per-step overhead: wall time less the span of
// the step's resources, for steps whose every member succeeded. As the
// simulator models it (docs/simulator.md, "Tool overhead"), a directory's
// first step initialises it while its steps that start meanwhile wait: the
// first gives Init, the steps that start after it ended give Process, and
// those in between (their overhead is partly the wait) give neither. Each
// sample is divided by the slowdown the simulator would apply to it on the
// run's cores ((n+1)/cores with n other start-ups under way), so it is not
// counted twice.
func (b *builder) addSteps(steps map[int][]*attempt, order []int, perRes float64, cores int) {
	sort.SliceStable(order, func(i, j int) bool { return steps[order[i]][0].start.Before(steps[order[j]][0].start) })
	if len(order) == 0 {
		return
	}
	t0 := steps[order[0]][0].start
	var all []tfStep
	for _, s := range order {
		members := steps[s]
		st := tfStep{ok: true}
		if first := members[0].op.Terraform; first != nil {
			st.dir = filepath.Clean(first.Dir)
		}
		var recs []resRec
		nres := 0
		for _, m := range members {
			recs = append(recs, m.res...)
			nres += m.op.Resources
			st.ok = st.ok && m.outcome == exec.OutcomeSucceeded
		}
		st.start = members[0].start.Sub(t0).Seconds()
		st.end = st.start + members[0].wall
		st.oh = math.Max(members[0].wall-spanOf(recs)-float64(nres)*perRes, 0)
		all = append(all, st)
	}
	firstEnd := map[string]float64{}
	for i, st := range all {
		f, seen := firstEnd[st.dir]
		if !seen {
			firstEnd[st.dir] = st.end
		}
		if !st.ok {
			continue
		}
		oh := st.oh / slowdown(all, i, cores)
		switch {
		case !seen:
			b.tfSteps++
			b.tfInit = append(b.tfInit, oh)
		case st.start >= f:
			b.tfSteps++
			b.tfProc = append(b.tfProc, oh)
		}
	}
}

// slowdown is the simulator's stretch of step i's start-up: (n+1)/cores
// when more than 1, n the earlier steps whose start-up was under way when
// it began (as the simulator counts them, in start order).
func slowdown(all []tfStep, i int, cores int) float64 {
	if cores <= 0 {
		return 1
	}
	n := 0
	for _, o := range all[:i] { // started before it (all is in start order)
		if all[i].start < o.start+o.oh {
			n++
		}
	}
	return math.Max(1, float64(n+1)/float64(cores))
}

// terraformFit is terraform's overhead: Process from the steps that did
// not init, Init from the excess of those that did.
func (b *builder) terraformFit() *DriverFit {
	if b.tfSteps == 0 {
		return nil
	}
	def := sim.DefaultOverhead()["terraform"]
	d := &DriverFit{Steps: b.tfSteps, Overhead: def, Fitted: []string{}}
	if f := fitLognormal(b.tfProc, 0); f != nil {
		d.Process = f.rounded()
		d.Overhead.Process = round4(f.P50)
		d.Fitted = append(d.Fitted, "process")
	}
	if len(b.tfInit) > 0 {
		extra := make([]float64, len(b.tfInit))
		for i, x := range b.tfInit {
			extra[i] = math.Max(x-d.Overhead.Process-def.Run, 0)
		}
		f := fitLognormal(extra, 0)
		d.Init = f.rounded()
		d.Overhead.Init = round4(f.P50)
		d.Fitted = append(d.Fitted, "init")
	}
	return d
}

// finish fits the samples and names the outliers.
func (a *acc) finish() *ComponentFit {
	f := a.fit
	if f.Attempts > 0 {
		f.FailureRate = round4(float64(f.Failed) / float64(f.Attempts))
	}
	f.Duration = fitLognormal(a.dur.xs, a.dur.ratio).rounded()
	f.Resource = fitLognormal(a.res.xs, a.res.ratio).rounded()
	for _, s := range []*samples{&a.dur, &a.res} {
		med := round4(median(s.xs))
		for _, i := range outlierIdx(s.xs) {
			o := s.labels[i]
			o.Seconds, o.Median = round4(s.xs[i]), med
			f.Outliers = append(f.Outliers, o)
		}
	}
	sort.SliceStable(f.Outliers, func(i, j int) bool {
		x, y := f.Outliers[i], f.Outliers[j]
		if x.Op != y.Op {
			return x.Op < y.Op
		}
		if x.Run != y.Run {
			return x.Run < y.Run
		}
		if x.Attempt != y.Attempt {
			return x.Attempt < y.Attempt
		}
		return strings.Compare(x.Resource, y.Resource) < 0
	})
	return &f
}
