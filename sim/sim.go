package sim

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
)

// Options control a simulation run.
type Options struct {
	// Trials is the number of independent runs (default 1000).
	Trials int
	// Seed makes the run reproducible: trial i draws from (Seed, i) alone,
	// so the result does not depend on Workers.
	Seed uint64
	// Workers is the number of goroutines trials are spread over (default
	// runtime.NumCPU()).
	Workers int
	// Recommend searches max_parallel and terraform_parallelism for the
	// recommendation (min(RecommendTrials, Trials) trials per candidate).
	Recommend       bool
	RecommendTrials int

	// Policy tunes the scheduling policy as exec.Options does (retry
	// backoff, AIMD's quiet period); zero values are exec's defaults.
	Policy sched.Config
	// Outcome, when set, decides each attempt's outcome (failures,
	// throttling, by operation ID and 1-based attempt); nil: every attempt
	// succeeds. It must be a pure function: trials run concurrently.
	Outcome func(op string, attempt int) sched.Outcome
	// TrialOutcome is Outcome given the trial's own key (TrialKey: from
	// Seed and the trial's index), for outcomes drawn at random (a
	// calibrated failure probability): each trial draws its own, and the
	// same seed draws the same ones on any number of workers. It must be
	// pure in (key, op, attempt); Uniform is a draw that is. Outcome wins
	// when both are set.
	TrialOutcome func(key uint64, op string, attempt int) sched.Outcome
	// Overhead is each driver's cost of the processes it starts, added to
	// every step (DefaultOverhead has the measured figures); nil: none.
	Overhead map[string]DriverOverhead
	// Cores is the machine's capacity for the overhead's CPU-bound work:
	// when more steps are starting up than there are cores, each start-up
	// runs slower. 0: no limit.
	Cores int
	// Progress, when set, is told the trials done so far (the prediction's
	// and then the recommendation search's), from any goroutine, after
	// every 64 trials a worker runs.
	Progress     func(done int)
	progressDone *atomic.Int64
}

// DefaultTrials is the number of trials when Options.Trials is 0.
const DefaultTrials = 1000

// Quantiles of a quantity over the trials, in seconds.
type Quantiles struct {
	P10  float64 `json:"p10"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	Mean float64 `json:"mean"`
}

// PhaseStat is a phase's span per trial: its first start to its last end.
type PhaseStat struct {
	Phase string
	Span  Quantiles
}

// APIStat is an api's demand and throttling over the trials.
type APIStat struct {
	API           string
	Requests      int64   // per run, every operation's calls
	ThrottledMean float64 // 429s per run
	PThrottled    float64 // share of runs with at least one 429
	ExhaustedMean float64 // requests throttled retry.max_attempts times, per run
	PExhausted    float64
	PeakDemandRPS float64 // median over runs of the peak unthrottled demand
	// LowerBound is the api's own floor: max over its buckets of
	// (requests - burst) / rate, seconds.
	LowerBound float64
}

// Recommendation is the smallest caps that stay near the best time with
// throttling under the tolerance (see RecommendRule).
type Recommendation struct {
	MaxParallel          int     // 0 = no cap
	TerraformParallelism int     //
	P50                  float64 // seconds, with both caps applied
	ThrottledMean        float64 // 429s a run with both caps applied
	// Tolerated is the mean 429s a run a candidate could have and still
	// count as not throttling; ThrottledMean above it means every
	// candidate throttled more and this one throttled least.
	Tolerated float64
	Trials    int // per candidate: min(RecommendTrials, Trials)
}

// Result is the prediction for one plan (one mode).
type Result struct {
	Mode   string
	Trials int
	Seed   uint64
	// Cores is the machine capacity the tool overhead was simulated on
	// (Options.Cores; 0: no limit or no overhead).
	Cores        int
	WallClock    Quantiles
	CriticalPath float64 // seconds, p50 durations along dependencies
	// CriticalPathOps is one longest path, first operation first.
	CriticalPathOps []string
	LowerBound      float64 // seconds
	LowerBoundBy    string  // what sets it: "critical path", "api NAME", "terraform state KEY"
	Efficiency      float64 // LowerBound / WallClock.P50
	Phases          []PhaseStat
	APIs            []APIStat
	Requests        int64
	ThrottledMean   float64
	PThrottled      float64
	PExhausted      float64
	Risk            string
	RiskReason      string
	Recommended     *Recommendation
	// MedianTrial is the trial whose makespan is the median (the one
	// Gantt draws).
	MedianTrial int
	// Calibrated, when set by the caller, says the plan's durations came
	// from a calibration file (package calib); the reports show it.
	Calibrated *Calibrated
	// Events is the number of heap events over all trials.
	Events int64

	model     *model
	makespans []int64
}

// Calibrated says where a prediction's calibration came from.
type Calibrated struct {
	File    string `json:"file"`
	Runs    int    `json:"runs"`
	LastRun string `json:"last_run"`
	Summary string `json:"summary"` // "calibrated from N runs, last on DATE"
}

// Risk levels.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// RiskRule is the rule, for help texts.
const RiskRule = `high when the mean number of throttled
requests exceeds 1% of all requests, or when a request exhausts its
retry.max_attempts in 10% of runs or more; low when fewer than 10% of runs
see any throttling and P90/P50 < 1.5; medium otherwise`

// MaxTrials bounds Options.Trials. The aggregate keeps a few words per trial
// (makespan, phase spans and peak demand, for their quantiles), so a million
// trials of a large plan take tens of MiB and minutes of CPU; more adds
// nothing a user can see at the printed precision.
const MaxTrials = 1_000_000

// trialSet is what the trials leave for the aggregate: per trial only what a
// quantile needs (8 bytes per figure), everything else as totals.
type trialSet struct {
	n         int
	makespan  []int64   // by trial
	phaseSpan []int64   // [trial*phases+phase]; -1: phase empty
	peak      []float64 // [trial*apis+api]
	totals
}

// totals are summed over trials; integers, so the sum does not depend on
// which goroutine ran which trial.
type totals struct {
	events        int64
	throttled     []int64 // by api: 429s over all trials
	exhausted     []int64
	runsThrottled []int64 // by api: trials with at least one
	runsExhausted []int64
	anyThrottled  int64 // trials with a 429 on any api
	anyExhausted  int64
}

func newTotals(nAPI int) totals {
	return totals{
		throttled: make([]int64, nAPI), exhausted: make([]int64, nAPI),
		runsThrottled: make([]int64, nAPI), runsExhausted: make([]int64, nAPI),
	}
}

func (t *totals) add(u *totals) {
	t.events += u.events
	t.anyThrottled += u.anyThrottled
	t.anyExhausted += u.anyExhausted
	for a := range t.throttled {
		t.throttled[a] += u.throttled[a]
		t.exhausted[a] += u.exhausted[a]
		t.runsThrottled[a] += u.runsThrottled[a]
		t.runsExhausted[a] += u.runsExhausted[a]
	}
}

// Simulate predicts the plan's run under its mode.
func Simulate(p *planner.Plan, opts Options) (*Result, error) {
	if opts.Trials <= 0 {
		opts.Trials = DefaultTrials
	}
	if opts.Trials > MaxTrials {
		return nil, fmt.Errorf("%d trials asked for; at most %d", opts.Trials, MaxTrials)
	}
	m, err := modelFor(p, &opts)
	if err != nil {
		return nil, err
	}
	ts, err := runTrialsProgress(m, opts.Trials, opts.Seed, opts.Workers, progressOf(&opts))
	if err != nil {
		return nil, err
	}
	r := aggregate(m, ts, opts)
	if opts.Recommend {
		rec, err := recommend(p, r, opts)
		if err != nil {
			return nil, err
		}
		r.Recommended = rec
	}
	return r, nil
}

// modelFor flattens p for opts: its policy, outcome and tool overhead.
func modelFor(p *planner.Plan, opts *Options) (*model, error) {
	m, err := newModelWith(p, opts.Policy)
	if err != nil {
		return nil, err
	}
	m.setOutcome(*opts)
	if err := m.setOverhead(opts.Overhead, opts.Cores); err != nil {
		return nil, err
	}
	return m, nil
}

// runTrials runs trials over workers goroutines; trial i's figures land at
// index i whatever goroutine ran it.
func runTrials(m *model, trials int, seed uint64, workers int) (*trialSet, error) {
	return runTrialsProgress(m, trials, seed, workers, nil)
}

// progressOf counts trials across runTrials calls for opts.Progress.
func progressOf(opts *Options) func(int) {
	if opts.Progress == nil {
		return nil
	}
	if opts.progressDone == nil {
		opts.progressDone = new(atomic.Int64)
	}
	done, report := opts.progressDone, opts.Progress
	return func(n int) { report(int(done.Add(int64(n)))) }
}

func runTrialsProgress(m *model, trials int, seed uint64, workers int, progress func(int)) (*trialSet, error) {
	if trials > MaxTrials {
		return nil, fmt.Errorf("%d trials asked for; at most %d", trials, MaxTrials)
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if workers > trials {
		workers = trials
	}
	nPh, nAPI := len(m.phases), len(m.apis)
	ts := &trialSet{
		n:         trials,
		makespan:  make([]int64, trials),
		phaseSpan: make([]int64, trials*nPh),
		peak:      make([]float64, trials*nAPI),
		totals:    newTotals(nAPI),
	}
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := newEngine(m)
			tot := newTotals(nAPI)
			defer func() {
				mu.Lock()
				ts.totals.add(&tot)
				mu.Unlock()
			}()
			for {
				// Chunks of 64 trials keep the counter off the hot path.
				lo := int(next.Add(64)) - 64
				if lo >= trials {
					return
				}
				for i := lo; i < min(lo+64, trials); i++ {
					if err := e.run(seed, i); err != nil {
						errOnce.Do(func() { firstErr = err })
						return
					}
					e.collect(ts, i, &tot)
				}
				if progress != nil {
					progress(min(lo+64, trials) - lo)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return ts, nil
}

// collect copies trial i's figures into ts and adds its counts to tot.
func (e *engine) collect(ts *trialSet, i int, tot *totals) {
	m := e.m
	nPh, nAPI := len(m.phases), len(m.apis)
	tot.events += e.events
	makespan := int64(0)
	// Phase spans in one pass: first start to last end per phase.
	lo, hi := e.spanLo[:0], e.spanHi[:0]
	for range m.phases {
		lo = append(lo, math.MaxInt64)
		hi = append(hi, -1)
	}
	for r := range m.ops {
		if e.start[r] < 0 {
			continue // never started (the run stopped)
		}
		ph := m.ops[r].phase
		lo[ph] = min(lo[ph], e.start[r])
		hi[ph] = max(hi[ph], e.end[r])
		makespan = max(makespan, e.end[r])
	}
	ts.makespan[i] = makespan
	spans := ts.phaseSpan[i*nPh : (i+1)*nPh]
	for ph := range spans {
		spans[ph] = -1
		if hi[ph] >= 0 {
			spans[ph] = hi[ph] - lo[ph]
		}
	}
	e.spanLo, e.spanHi = lo, hi
	copy(ts.peak[i*nAPI:(i+1)*nAPI], e.peak)
	anyT, anyX := false, false
	for a := range nAPI {
		t, x := e.throttled[a], e.exhausted[a]
		tot.throttled[a] += t
		tot.exhausted[a] += x
		if t > 0 {
			tot.runsThrottled[a]++
			anyT = true
		}
		if x > 0 {
			tot.runsExhausted[a]++
			anyX = true
		}
	}
	if anyT {
		tot.anyThrottled++
	}
	if anyX {
		tot.anyExhausted++
	}
}

// quantile is the type-7 (linear) sample quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	h := q * float64(len(sorted)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

func quantiles(v []float64) Quantiles {
	sort.Float64s(v)
	var sum float64
	for _, x := range v {
		sum += x
	}
	return Quantiles{
		P10:  quantile(v, 0.10),
		P50:  quantile(v, 0.50),
		P90:  quantile(v, 0.90),
		Mean: sum / float64(max(len(v), 1)),
	}
}

func aggregate(m *model, ts *trialSet, opts Options) *Result {
	n := ts.n
	nPh, nAPI := len(m.phases), len(m.apis)
	r := &Result{
		Mode:      m.plan.Mode.Name,
		Trials:    n,
		Seed:      opts.Seed,
		Cores:     opts.Cores,
		model:     m,
		makespans: ts.makespan,
		Events:    ts.events,
	}
	sorted := slices.Clone(ts.makespan)
	slices.Sort(sorted)
	r.MedianTrial = medianTrial(ts.makespan, sorted)
	// One scratch slice serves every quantile below.
	v := make([]float64, n)
	for i, x := range sorted {
		v[i] = float64(x) / usPerSecond
	}
	r.WallClock = quantiles(v)

	for ph, name := range m.phases {
		if m.pol.PhaseOps[ph] == 0 {
			continue
		}
		for i := range n {
			v[i] = float64(ts.phaseSpan[i*nPh+ph]) / usPerSecond
		}
		r.Phases = append(r.Phases, PhaseStat{Phase: name, Span: quantiles(v)})
	}

	totThr := int64(0)
	for a := range nAPI {
		totThr += ts.throttled[a]
	}
	r.ThrottledMean = float64(totThr) / float64(n)
	r.PThrottled = float64(ts.anyThrottled) / float64(n)
	r.PExhausted = float64(ts.anyExhausted) / float64(n)

	bounds := apiBounds(m)
	for a := range m.apis {
		ad := &m.apis[a]
		st := APIStat{API: ad.name, Requests: ad.requests, LowerBound: bounds[a]}
		st.ThrottledMean = float64(ts.throttled[a]) / float64(n)
		st.ExhaustedMean = float64(ts.exhausted[a]) / float64(n)
		st.PThrottled = float64(ts.runsThrottled[a]) / float64(n)
		st.PExhausted = float64(ts.runsExhausted[a]) / float64(n)
		for i := range n {
			v[i] = ts.peak[i*nAPI+a]
		}
		st.PeakDemandRPS = quantiles(v).P50
		r.Requests += ad.requests
		r.APIs = append(r.APIs, st)
	}

	r.CriticalPath, r.CriticalPathOps = criticalPath(m)
	r.LowerBound, r.LowerBoundBy = r.CriticalPath, "critical path"
	// The planner's bound adds the barriers, run-alone operations one
	// after another and the work over max_parallel / component_parallel.
	if b := planner.LowerBound(m.plan); b > r.LowerBound+1e-6 {
		r.LowerBound, r.LowerBoundBy = b, "caps and barriers"
	}
	for a, b := range bounds {
		if b > r.LowerBound {
			r.LowerBound, r.LowerBoundBy = b, "api "+m.apis[a].name
		}
	}
	for s, b := range stateBounds(m) {
		if b > r.LowerBound {
			r.LowerBound, r.LowerBoundBy = b, "terraform state "+m.states[s]
		}
	}
	if r.WallClock.P50 > 0 {
		r.Efficiency = r.LowerBound / r.WallClock.P50
	}
	r.Risk, r.RiskReason = risk(r)
	return r
}

// medianTrial is the index of the trial with the median makespan (the lower
// median; ties broken by index), given the makespans by trial and sorted.
// It counts instead of sorting indices: no per-trial allocation.
func medianTrial(ms, sorted []int64) int {
	if len(ms) == 0 {
		return 0
	}
	k := (len(sorted) - 1) / 2
	x := sorted[k]
	// The median trial is the (k - first)-th trial, by index, of those
	// whose makespan is x, first being the number of smaller makespans.
	first, _ := slices.BinarySearch(sorted, x)
	rank := k - first
	for i, y := range ms {
		if y == x {
			if rank == 0 {
				return i
			}
			rank--
		}
	}
	return 0 // unreachable: x is one of ms
}

// risk applies RiskRule.
func risk(r *Result) (string, string) {
	if r.Requests > 0 && r.ThrottledMean > 0.01*float64(r.Requests) {
		return RiskHigh, fmt.Sprintf("%.0f throttled requests a run, over 1%% of %d", r.ThrottledMean, r.Requests)
	}
	if r.PExhausted >= 0.10 {
		return RiskHigh, fmt.Sprintf("requests exhaust their retries in %.0f%% of runs", 100*r.PExhausted)
	}
	ratio := 1.0
	if r.WallClock.P50 > 0 {
		ratio = r.WallClock.P90 / r.WallClock.P50
	}
	if r.PThrottled < 0.10 && ratio < 1.5 {
		return RiskLow, fmt.Sprintf("throttled in %.1f%% of runs, P90/P50 = %.2f", 100*r.PThrottled, ratio)
	}
	return RiskMedium, fmt.Sprintf("throttled in %.1f%% of runs, P90/P50 = %.2f", 100*r.PThrottled, ratio)
}

// p50Work is an operation's run time at median durations, alone in its
// terraform process.
func (m *model) p50Work(r int) float64 {
	op := &m.ops[r]
	if op.resources > 0 {
		rounds := (int64(op.resources) + int64(m.tfPar) - 1) / int64(m.tfPar)
		return math.Max(float64(rounds)*op.resDur.median, 0) / usPerSecond
	}
	return op.dur.median / usPerSecond
}

// criticalPath is the longest path through the dependencies with median
// durations, each operation as if alone in its terraform process. Caps,
// run-alone serialization and coalescing are left out on purpose: it is
// what no schedule can beat, not a prediction.
func criticalPath(m *model) (float64, []string) {
	// Ranks are not topological; order by Kahn's algorithm.
	n := len(m.ops)
	indeg := make([]int, n)
	for i := range m.ops {
		indeg[i] = len(m.ops[i].deps)
	}
	order := make([]int32, 0, n)
	for i := range m.ops {
		if indeg[i] == 0 {
			order = append(order, int32(i))
		}
	}
	for h := 0; h < len(order); h++ {
		for _, d := range m.ops[order[h]].dependent {
			indeg[d]--
			if indeg[d] == 0 {
				order = append(order, d)
			}
		}
	}
	finish := make([]float64, n)
	prev := make([]int32, n)
	best, bestOp := 0.0, int32(-1)
	for _, o := range order {
		st := 0.0
		prev[o] = -1
		for _, d := range m.ops[o].deps {
			if finish[d] > st || finish[d] == st && prev[o] >= 0 && d < prev[o] {
				st, prev[o] = finish[d], d
			}
		}
		finish[o] = st + m.p50Work(int(o))
		if finish[o] > best || bestOp < 0 {
			best, bestOp = finish[o], o
		}
	}
	var path []string
	for o := bestOp; o >= 0; o = prev[o] {
		path = append(path, m.ops[o].id)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	if path == nil {
		path = []string{}
	}
	return best, path
}

// apiBounds is, per api, the most any of its buckets needs beyond its
// burst: (requests - burst) / rate seconds. No schedule finishes sooner.
func apiBounds(m *model) []float64 {
	per := make([]float64, m.nBuckets)
	for r := range m.ops {
		op := &m.ops[r]
		for _, c := range op.calls {
			per[m.bucketOf(c.api, op.region)] += float64(c.n)
		}
	}
	out := make([]float64, len(m.apis))
	for a := range m.apis {
		ad := &m.apis[a]
		if ad.rate <= 0 {
			continue
		}
		nb := 1
		if ad.regional {
			nb = len(m.regions) + 1
		}
		for b := 0; b < nb; b++ {
			if x := (per[int(ad.bucket0)+b] - ad.burst) / ad.rate; x > out[a] {
				out[a] = x
			}
		}
	}
	return out
}

// stateBounds is, per terraform state, the time to apply all its resources
// at -parallelism with median resource times: processes of one state never
// overlap, so no schedule finishes sooner (at median durations).
func stateBounds(m *model) []float64 {
	res := make([]float64, len(m.states))
	wsum := make([]float64, len(m.states))
	for r := range m.ops {
		op := &m.ops[r]
		if op.state >= 0 && op.resources > 0 {
			res[op.state] += float64(op.resources)
			wsum[op.state] += float64(op.resources) * op.resDur.median
		}
	}
	out := make([]float64, len(m.states))
	for s := range out {
		if res[s] > 0 {
			rounds := math.Ceil(res[s] / float64(m.tfPar))
			out[s] = rounds * wsum[s] / res[s] / usPerSecond
		}
	}
	return out
}
