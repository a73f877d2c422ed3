package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/echelonhq/echelon/planner"
)

// z90 is the standard normal's 90th percentile: a lognormal through p50 and
// p90 has sigma = ln(p90/p50) / z90.
const z90 = 1.2815515655446004

// defaultTerraformParallelism is terraform's own -parallelism default.
const defaultTerraformParallelism = 10

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
	plan         *planner.Plan
	ops          []mop
	phases       []string
	regions      []string
	comps        []string
	states       []string
	apis         []apiDef
	nBuckets     int
	phaseBarrier bool
	batchBarrier bool
	maxParallel  int
	regionPar    int
	compCap      []int32 // by component; 0: no cap
	tfPar        int
	nBatches     int
	phaseOps     []int32 // operations per phase
	batchOps     []int32 // operations per batch

	// Templates a trial starts from, by rank.
	indeg0  []int32 // dependencies
	roots   []int32 // ranks without dependencies, ascending
	minus1  []int32 // all -1
	minus1L []int64 // all -1
}

// newModel flattens a plan. It checks what the simulation relies on (known
// dependencies, phases, apis; no cycle) and reports the first problem.
func newModel(p *planner.Plan) (*model, error) {
	m := &model{
		plan:         p,
		phaseBarrier: p.Mode.PhaseBarrier,
		batchBarrier: p.Mode.BatchBarrier,
		maxParallel:  p.Mode.MaxParallel,
		regionPar:    p.Mode.RegionParallel,
		tfPar:        p.Mode.TerraformParallelism,
	}
	if m.tfPar <= 0 {
		m.tfPar = defaultTerraformParallelism
	}
	phaseIdx := map[string]int32{}
	for _, ph := range p.Phases {
		phaseIdx[ph.Name] = int32(len(m.phases))
		m.phases = append(m.phases, ph.Name)
	}
	// Operations may name phases the plan's phase list lacks (hand-made
	// plans): append them in first-seen order.
	for _, o := range p.Operations {
		if _, ok := phaseIdx[o.Phase]; !ok {
			phaseIdx[o.Phase] = int32(len(m.phases))
			m.phases = append(m.phases, o.Phase)
		}
	}

	order := make([]int, len(p.Operations))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		oa, ob := &p.Operations[order[a]], &p.Operations[order[b]]
		if oa.Priority != ob.Priority {
			return oa.Priority > ob.Priority
		}
		return oa.ID < ob.ID
	})
	rank := make(map[string]int32, len(order))
	for r, i := range order {
		id := p.Operations[i].ID
		if _, dup := rank[id]; dup {
			return nil, fmt.Errorf("operation %q appears twice", id)
		}
		rank[id] = int32(r)
	}

	batchOf := map[string]int32{}
	for bi, b := range p.Batches {
		for _, id := range b.Operations {
			batchOf[id] = int32(bi)
		}
	}
	m.nBatches = len(p.Batches)

	regionIdx := map[string]int32{}
	compIdx := map[string]int32{}
	stateIdx := map[string]int32{}
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

	m.ops = make([]mop, len(order))
	for r, i := range order {
		o := &p.Operations[i]
		op := &m.ops[r]
		op.id = o.ID
		op.phase = phaseIdx[o.Phase]
		op.region = -1
		if o.Region != "" {
			ri, ok := regionIdx[o.Region]
			if !ok {
				ri = int32(len(m.regions))
				regionIdx[o.Region] = ri
				m.regions = append(m.regions, o.Region)
			}
			op.region = ri
		}
		ci, ok := compIdx[o.Component]
		if !ok {
			ci = int32(len(m.comps))
			compIdx[o.Component] = ci
			m.comps = append(m.comps, o.Component)
		}
		op.comp = ci
		op.batch = -1
		if b, ok := batchOf[o.ID]; ok {
			op.batch = b
		} else if m.batchBarrier && len(p.Batches) > 0 {
			return nil, fmt.Errorf("operation %q is in no batch", o.ID)
		}
		// The planner sets Alone for parallel = false, a non-parallel
		// container and restart = true alike.
		op.alone = o.Alone != ""
		op.state = -1
		if k := o.StateKey(); k != "" {
			si, ok := stateIdx[k]
			if !ok {
				si = int32(len(m.states))
				stateIdx[k] = si
				m.states = append(m.states, k)
			}
			op.state = si
		}
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
		for _, d := range o.DependsOn {
			dr, ok := rank[d]
			if !ok {
				return nil, fmt.Errorf("operation %q depends on unknown operation %q", o.ID, d)
			}
			op.deps = append(op.deps, dr)
		}
	}
	for r := range m.ops {
		for _, d := range m.ops[r].deps {
			m.ops[d].dependent = append(m.ops[d].dependent, int32(r))
		}
	}
	if err := m.checkAcyclic(); err != nil {
		return nil, err
	}
	m.indeg0 = make([]int32, len(m.ops))
	m.minus1 = make([]int32, len(m.ops))
	m.minus1L = make([]int64, len(m.ops))
	for r := range m.ops {
		m.indeg0[r] = int32(len(m.ops[r].deps))
		if m.indeg0[r] == 0 {
			m.roots = append(m.roots, int32(r))
		}
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

	m.compCap = make([]int32, len(m.comps))
	for c, n := range p.Mode.ComponentParallel {
		if ci, ok := compIdx[c]; ok && n > 0 {
			m.compCap[ci] = int32(n)
		}
	}
	m.phaseOps = make([]int32, len(m.phases))
	m.batchOps = make([]int32, m.nBatches)
	for i := range m.ops {
		m.phaseOps[m.ops[i].phase]++
		if b := m.ops[i].batch; b >= 0 {
			m.batchOps[b]++
		}
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

func (m *model) checkAcyclic() error {
	indeg := make([]int, len(m.ops))
	for i := range m.ops {
		indeg[i] = len(m.ops[i].deps)
	}
	queue := make([]int32, 0, len(m.ops))
	for i := range m.ops {
		if indeg[i] == 0 {
			queue = append(queue, int32(i))
		}
	}
	seen := 0
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		seen++
		for _, d := range m.ops[o].dependent {
			indeg[d]--
			if indeg[d] == 0 {
				queue = append(queue, d)
			}
		}
	}
	if seen != len(m.ops) {
		return fmt.Errorf("the plan's dependencies form a cycle")
	}
	return nil
}
