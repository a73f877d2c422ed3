package sim

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/echelonhq/echelon/planner"
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
	// recommendation (RecommendTrials trials per candidate).
	Recommend       bool
	RecommendTrials int
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

// Recommendation is the smallest caps that stay near the best time without
// throttling (see Recommend).
type Recommendation struct {
	MaxParallel          int     // 0 = no cap
	TerraformParallelism int     //
	P50                  float64 // seconds, with both caps applied
	ThrottledMean        float64
	Trials               int
}

// Result is the prediction for one plan (one mode).
type Result struct {
	Mode         string
	Trials       int
	Seed         uint64
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
	// Events is the number of heap events over all trials.
	Events int64

	model     *model
	makespans []int64
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

// trialOut is what one trial leaves for the aggregate.
type trialOut struct {
	makespan  int64
	phaseSpan []int64 // by phase; -1: phase empty
	throttled []int64 // by api
	exhausted []int64
	peak      []float64
	events    int64
}

// Simulate predicts the plan's run under its mode.
func Simulate(p *planner.Plan, opts Options) (*Result, error) {
	m, err := newModel(p)
	if err != nil {
		return nil, err
	}
	if opts.Trials <= 0 {
		opts.Trials = DefaultTrials
	}
	outs, err := runTrials(m, opts.Trials, opts.Seed, opts.Workers)
	if err != nil {
		return nil, err
	}
	r := aggregate(m, outs, opts)
	if opts.Recommend {
		rec, err := recommend(p, r, opts)
		if err != nil {
			return nil, err
		}
		r.Recommended = rec
	}
	return r, nil
}

// runTrials runs trials over workers goroutines; trial i's output lands at
// index i whatever goroutine ran it.
func runTrials(m *model, trials int, seed uint64, workers int) ([]trialOut, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if workers > trials {
		workers = trials
	}
	outs := make([]trialOut, trials)
	nPh, nAPI := len(m.phases), len(m.apis)
	// One backing array per field: 10k trials make no garbage.
	phaseBuf := make([]int64, trials*nPh)
	thrBuf := make([]int64, trials*nAPI)
	exhBuf := make([]int64, trials*nAPI)
	peakBuf := make([]float64, trials*nAPI)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := newEngine(m)
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
					o := &outs[i]
					o.phaseSpan = phaseBuf[i*nPh : (i+1)*nPh]
					o.throttled = thrBuf[i*nAPI : (i+1)*nAPI]
					o.exhausted = exhBuf[i*nAPI : (i+1)*nAPI]
					o.peak = peakBuf[i*nAPI : (i+1)*nAPI]
					e.collect(o)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return outs, nil
}

// collect copies a finished trial's figures.
func (e *engine) collect(o *trialOut) {
	m := e.m
	o.events = e.events
	o.makespan = 0
	// Phase spans in one pass: first start to last end per phase.
	lo, hi := e.spanLo[:0], e.spanHi[:0]
	for range m.phases {
		lo = append(lo, math.MaxInt64)
		hi = append(hi, -1)
	}
	for r := range m.ops {
		ph := m.ops[r].phase
		lo[ph] = min(lo[ph], e.start[r])
		hi[ph] = max(hi[ph], e.end[r])
		o.makespan = max(o.makespan, e.end[r])
	}
	for ph := range o.phaseSpan {
		o.phaseSpan[ph] = -1
		if hi[ph] >= 0 {
			o.phaseSpan[ph] = hi[ph] - lo[ph]
		}
	}
	e.spanLo, e.spanHi = lo, hi
	copy(o.throttled, e.throttled)
	copy(o.exhausted, e.exhausted)
	copy(o.peak, e.peak)
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

func aggregate(m *model, outs []trialOut, opts Options) *Result {
	n := len(outs)
	r := &Result{
		Mode:   m.plan.Mode.Name,
		Trials: n,
		Seed:   opts.Seed,
		model:  m,
	}
	v := make([]float64, n)
	r.makespans = make([]int64, n)
	for i, o := range outs {
		v[i] = float64(o.makespan) / usPerSecond
		r.makespans[i] = o.makespan
		r.Events += o.events
	}
	r.WallClock = quantiles(v)
	r.MedianTrial = medianTrial(r.makespans)

	for ph, name := range m.phases {
		if m.phaseOps[ph] == 0 {
			continue
		}
		for i, o := range outs {
			v[i] = float64(o.phaseSpan[ph]) / usPerSecond
		}
		r.Phases = append(r.Phases, PhaseStat{Phase: name, Span: quantiles(v)})
	}

	anyThr, anyExh := 0, 0
	totThr := 0.0
	for i := range outs {
		t, x := int64(0), int64(0)
		for a := range m.apis {
			t += outs[i].throttled[a]
			x += outs[i].exhausted[a]
		}
		if t > 0 {
			anyThr++
		}
		if x > 0 {
			anyExh++
		}
		totThr += float64(t)
	}
	r.ThrottledMean = totThr / float64(n)
	r.PThrottled = float64(anyThr) / float64(n)
	r.PExhausted = float64(anyExh) / float64(n)

	bounds := apiBounds(m)
	for a := range m.apis {
		ad := &m.apis[a]
		st := APIStat{API: ad.name, Requests: ad.requests, LowerBound: bounds[a]}
		cnt, exh := 0, 0
		for i, o := range outs {
			st.ThrottledMean += float64(o.throttled[a])
			st.ExhaustedMean += float64(o.exhausted[a])
			if o.throttled[a] > 0 {
				cnt++
			}
			if o.exhausted[a] > 0 {
				exh++
			}
			v[i] = o.peak[a]
		}
		st.ThrottledMean /= float64(n)
		st.ExhaustedMean /= float64(n)
		st.PThrottled = float64(cnt) / float64(n)
		st.PExhausted = float64(exh) / float64(n)
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
// median; ties broken by index).
func medianTrial(ms []int64) int {
	idx := make([]int, len(ms))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ms[idx[a]] < ms[idx[b]] })
	return idx[(len(idx)-1)/2]
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
