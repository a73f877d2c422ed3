package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
)

// z90 is the standard normal's 90th percentile: a lognormal through p50 and
// p90 has sigma = ln(p90/p50) / z90.
const z90 = 1.2815515655446004

// usPerSecond converts the plan's seconds to the simulator's integer clock.
const usPerSecond = 1e6

// maxDraw caps a duration draw and a unit's work, in microseconds: 100
// years. Absurd p50/p90 ratios (p90 = 1e300 x p50) would otherwise overflow
// math.Exp or int64, and an out-of-range float-to-int conversion is
// undefined (negative on amd64). Anything this long is a typo, and it still
// dominates the prediction; the clock overflows only after thousands of
// such operations one after another.
const maxDraw = 100 * 365.25 * 86400 * usPerSecond

// dist is a lognormal run-time distribution in microseconds; sigma 0 is a
// point at median.
type dist struct {
	median float64
	sigma  float64
}

func newDist(d planner.Duration) dist {
	p50, p90 := d.P50*usPerSecond, d.P90*usPerSecond
	if !(p50 > 0) {
		return dist{}
	}
	p50 = min(p50, maxDraw)
	if !(p90 > p50) {
		return dist{median: p50}
	}
	return dist{median: p50, sigma: math.Log(min(p90, math.MaxFloat64)/p50) / z90}
}

// sample draws one value, at most maxDraw; z is a standard normal draw.
// Deterministic distributions take no draw, so adding one does not shift
// the others.
func (d dist) sample(r *rand.Rand) int64 {
	if d.sigma == 0 {
		return clampDraw(d.median)
	}
	return clampDraw(d.median * math.Exp(d.sigma*r.NormFloat64()))
}

// clampDraw rounds v to the clock, within [0, maxDraw] (NaN: maxDraw).
func clampDraw(v float64) int64 {
	if !(v < maxDraw) {
		return maxDraw
	}
	return int64(math.Round(max(v, 0)))
}

// call is the requests one operation makes to one api.
type call struct {
	api int32
	n   int32
}

// mop is an operation in the simulator's flat form, indexed by rank:
// priority descending, then ID (the order ready operations start in).
type mop struct {
	id        string
	comp      int32
	region    int32 // -1: not regional (takes no region slot)
	phase     int32
	batch     int32
	alone     bool
	state     int32 // terraform state group, -1: none
	resources int32
	dur       dist // duration, when resources == 0
	resDur    dist // one resource, when resources > 0
	calls     []call
	streams   []stream // its calls as a unit's streams, by bucket (k = 0)
	deps      []int32
	dependent []int32
}

// apiDef is an api and the buckets of its scope.
type apiDef struct {
	name        string
	rate        float64 // tokens per second; <= 0: not limited
	burst       float64
	regional    bool
	maxAttempts int
	backoff     int64 // microseconds; 0: wait exactly for the next token
	maxBackoff  int64
	bucket0     int32 // first bucket index; regional apis have one per region (+1 for non-regional operations)
	requests    int64 // per run, every operation's calls
}

// model is a plan compiled for simulation: flat slices indexed by rank.
type model struct {
	plan    *planner.Plan
	pol     *sched.Policy
	outcome func(op string, attempt int) sched.Outcome // nil: all succeed
	// trialOutcome is Options.TrialOutcome (used when outcome is nil).
	trialOutcome func(key uint64, op string, attempt int) sched.Outcome
	ops          []mop
	phases       []string
	regions      []string
	comps        []string
	states       []string
	apis         []apiDef
	nBuckets     int
	tfPar        int // the mode's terraform -parallelism (the policy's)

	// Tool overhead (overhead.go): nil oh is none. By rank: the driver's
	// index in oh, the terraform directory's index (-1: none), resources.
	oh       []ohDef
	cores    int // 0: no limit
	nDirs    int
	opDriver []int8
	opDir    []int32
	opRes    []int32

	// Caps, barriers, ranks and dependencies are the policy's (pol).
	// Templates a trial starts from, by rank.
	minus1  []int32 // all -1
	minus1L []int64 // all -1
}

// newModel flattens a plan. It checks what the simulation relies on (known
// dependencies, phases, apis; no cycle) and reports the first problem.
func newModel(p *planner.Plan) (*model, error) {
	return newModelWith(p, sched.Config{})
}

// newModelWith flattens a plan for a policy configuration (retry backoff,
// AIMD quiet period) other than the defaults.
func newModelWith(p *planner.Plan, cfg sched.Config) (*model, error) {
	pol, err := sched.Compile(p, cfg)
	if err != nil {
		return nil, err
	}
	m := &model{
		plan:    p,
		pol:     pol,
		tfPar:   pol.TFParallelism,
		phases:  pol.Phases,
		regions: pol.Regions,
		comps:   pol.Comps,
		states:  pol.States,
	}
	apiIdx := map[string]int32{}
	for _, a := range p.APIs {
		apiIdx[a.Name] = int32(len(m.apis))
		ad := apiDef{
			name:        a.Name,
			rate:        a.Rate,
			burst:       float64(a.Burst),
			regional:    a.Scope == "region",
			maxAttempts: a.Retry.MaxAttempts,
			backoff:     int64(math.Round(a.Retry.Backoff * usPerSecond)),
			maxBackoff:  int64(math.Round(a.Retry.MaxBackoff * usPerSecond)),
		}
		// A bucket smaller than one token could never serve a request.
		if ad.burst < 1 {
			ad.burst = 1
		}
		m.apis = append(m.apis, ad)
	}

	m.ops = make([]mop, len(pol.Ops))
	for r := range pol.Ops {
		po := &pol.Ops[r]
		o := &p.Operations[po.Index]
		op := &m.ops[r]
		op.id = o.ID
		op.phase, op.region, op.comp, op.batch, op.state = po.Phase, po.Region, po.Comp, po.Batch, po.State
		op.alone = po.Alone
		op.deps, op.dependent = po.Deps, po.Dependent
		op.dur = newDist(o.Duration)
		// As the planner counts it: a given duration wins; a terraform
		// instance without one takes its resources' rounds.
		if o.Resources > 0 && o.Duration.P50 == 0 && o.ResourceDuration.P50 > 0 {
			op.resources = int32(o.Resources)
			op.resDur = newDist(o.ResourceDuration)
		}
		apiNames := make([]string, 0, len(o.Calls))
		for a := range o.Calls {
			apiNames = append(apiNames, a)
		}
		sort.Strings(apiNames)
		for _, a := range apiNames {
			n := o.Calls[a]
			if n <= 0 {
				continue
			}
			ai, ok := apiIdx[a]
			if !ok {
				return nil, fmt.Errorf("operation %q calls unknown api %q", o.ID, a)
			}
			op.calls = append(op.calls, call{api: ai, n: int32(n)})
			m.apis[ai].requests += int64(n)
		}
	}
	m.minus1 = make([]int32, len(m.ops))
	m.minus1L = make([]int64, len(m.ops))
	for r := range m.ops {
		m.minus1[r], m.minus1L[r] = -1, -1
	}

	// Buckets: one per deployment-scoped api; one per region (and one for
	// non-regional operations) for region-scoped ones.
	for i := range m.apis {
		m.apis[i].bucket0 = int32(m.nBuckets)
		if m.apis[i].regional {
			m.nBuckets += len(m.regions) + 1
		} else {
			m.nBuckets++
		}
	}

	for r := range m.ops {
		op := &m.ops[r]
		for _, c := range op.calls {
			// Distinct apis, so distinct buckets.
			op.streams = append(op.streams, stream{bucket: m.bucketOf(c.api, op.region), api: c.api, n: int64(c.n)})
		}
		sortStreams(op.streams)
	}

	return m, nil
}

// bucketOf returns the bucket an operation's calls to api a draw from.
func (m *model) bucketOf(a int32, region int32) int32 {
	ad := &m.apis[a]
	if !ad.regional {
		return ad.bucket0
	}
	if region < 0 {
		return ad.bucket0 + int32(len(m.regions))
	}
	return ad.bucket0 + region
}

// setOutcome takes the outcome functions of opts.
func (m *model) setOutcome(opts Options) {
	m.outcome, m.trialOutcome = opts.Outcome, nil
	if m.outcome == nil {
		m.trialOutcome = opts.TrialOutcome
	}
}

// hasOutcome: attempts may fail (an outcome function is set).
func (m *model) hasOutcome() bool { return m.outcome != nil || m.trialOutcome != nil }

// TrialKey is trial i's key for Options.TrialOutcome: a mix of the seed and
// the index (splitmix64), apart from the trial's duration draws.
func TrialKey(seed uint64, i int) uint64 {
	return mix64(mix64(seed^0x7f4a7c159e3779b9) + uint64(i))
}

// Uniform is a draw in [0, 1) that is a pure function of a trial's key, an
// operation and an attempt: what a TrialOutcome compares a probability
// with. It takes nothing from the trial's random stream, so adding
// failures does not change the durations drawn.
func Uniform(key uint64, op string, attempt int) float64 {
	h := uint64(14695981039346656037) // FNV-1a over the ID
	for i := 0; i < len(op); i++ {
		h ^= uint64(op[i])
		h *= 1099511628211
	}
	x := mix64(key ^ mix64(h^uint64(attempt)*0x9e3779b97f4a7c15))
	return float64(x>>11) / (1 << 53)
}

// mix64 is splitmix64's finalizer.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
