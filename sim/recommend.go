package sim

import (
	"math"
	"sort"

	"github.com/echelonhq/echelon/planner"
)

// RecommendRule is the recommendation rule, for help texts.
const RecommendRule = `terraform_parallelism is searched first (powers of two up
to 256 and the mode's own, max_parallel at the mode's value), then
max_parallel (powers of two up to the number of operations, the mode's own,
and no cap). Each candidate is simulated with fewer trials and the same
seed. Among the candidates that throttle less than 0.5 requests a run on
average (or 0.1% of all requests), the smallest cap whose P50 is within 5%
of the best of them wins; if every candidate throttles, the least
throttling one`

// DefaultRecommendTrials is the trials per candidate cap.
const DefaultRecommendTrials = 200

type candidate struct {
	cap       int // 0 = no cap, which sorts last
	p50       float64
	throttled float64
}

func capKey(c int) int {
	if c <= 0 {
		return math.MaxInt
	}
	return c
}

// pick applies RecommendRule to evaluated candidates.
func pick(cs []candidate, tolerated float64) candidate {
	sort.Slice(cs, func(i, j int) bool { return capKey(cs[i].cap) < capKey(cs[j].cap) })
	var free []candidate
	for _, c := range cs {
		if c.throttled < tolerated {
			free = append(free, c)
		}
	}
	if len(free) == 0 {
		// Everything throttles: the least throttling, smallest on ties.
		out := cs[0]
		for _, c := range cs[1:] {
			if c.throttled < out.throttled {
				out = c
			}
		}
		return out
	}
	best := math.Inf(1)
	for _, c := range free {
		best = math.Min(best, c.p50)
	}
	for _, c := range free {
		if c.p50 <= 1.05*best {
			return c
		}
	}
	return free[0]
}

func withCaps(p *planner.Plan, maxPar, tfPar int) *planner.Plan {
	q := *p
	q.Mode.MaxParallel = maxPar
	q.Mode.TerraformParallelism = tfPar
	return &q
}

func evalCaps(p *planner.Plan, maxPar, tfPar int, opts Options, trials int) (candidate, error) {
	m, err := newModel(withCaps(p, maxPar, tfPar))
	if err != nil {
		return candidate{}, err
	}
	outs, err := runTrials(m, trials, opts.Seed, opts.Workers)
	if err != nil {
		return candidate{}, err
	}
	ms := make([]float64, len(outs))
	thr := 0.0
	for i, o := range outs {
		ms[i] = float64(o.makespan) / usPerSecond
		for _, t := range o.throttled {
			thr += float64(t)
		}
	}
	return candidate{p50: quantiles(ms).P50, throttled: thr / float64(len(outs))}, nil
}

func powersUpTo(n int, own int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(c int) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for c := 1; c < n; c *= 2 {
		add(c)
	}
	add(pow2AtLeast(n))
	add(own)
	return out
}

func pow2AtLeast(n int) int {
	c := 1
	for c < n {
		c *= 2
	}
	return c
}

// recommend searches the caps per RecommendRule.
func recommend(p *planner.Plan, r *Result, opts Options) (*Recommendation, error) {
	trials := opts.RecommendTrials
	if trials <= 0 {
		trials = DefaultRecommendTrials
	}
	m := r.model
	tf := m.tfPar
	// "Does not throttle": under half a request a run, or 0.1% of them.
	tolerated := math.Max(0.5, 0.001*float64(r.Requests))
	hasResources := false
	for i := range m.ops {
		if m.ops[i].resources > 0 {
			hasResources = true
		}
	}
	if hasResources {
		var cs []candidate
		for _, c := range powersUpTo(256, m.tfPar) {
			ev, err := evalCaps(p, p.Mode.MaxParallel, c, opts, trials)
			if err != nil {
				return nil, err
			}
			ev.cap = c
			cs = append(cs, ev)
		}
		tf = pick(cs, tolerated).cap
	}
	var cs []candidate
	cands := powersUpTo(len(m.ops), p.Mode.MaxParallel)
	cands = append(cands, 0)
	seen := map[int]bool{}
	for _, c := range cands {
		if seen[c] {
			continue
		}
		seen[c] = true
		ev, err := evalCaps(p, c, tf, opts, trials)
		if err != nil {
			return nil, err
		}
		ev.cap = c
		cs = append(cs, ev)
	}
	best := pick(cs, tolerated)
	if !hasResources {
		tf = 0 // nothing for terraform -parallelism to cap
	}
	return &Recommendation{
		MaxParallel:          best.cap,
		TerraformParallelism: tf,
		P50:                  best.p50,
		ThrottledMean:        best.throttled,
		Trials:               trials,
	}, nil
}
