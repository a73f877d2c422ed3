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
and no cap). Each candidate is simulated with min(200, --trials) trials and
the same seed. The recommendation is the smallest caps whose P50 is within
5% of the best P50 among the candidates whose mean throttling is under the
tolerance: 0.1% of the plan's requests a run, or half a request if that is
more. Some throttling is tolerated because a 429 costs one backoff and is
retried; a cap low enough to avoid every 429 usually costs far more time.
If every candidate throttles more, the least throttling one wins`

// ToleranceRule is RecommendRule's tolerance in one line, for legends.
const ToleranceRule = "fewer than max(0.5, 0.1% of the requests) throttled requests a run on average"

// DefaultRecommendTrials is the trials per candidate cap.
const DefaultRecommendTrials = 200

// RecommendOpTrials bounds the recommendation's trials per candidate to
// RecommendOpTrials / operations (at least 10): 200 trials up to 10,000
// operations, 20 at 100,000.
const RecommendOpTrials = 2_000_000

var recommendOpTrials = RecommendOpTrials // tests lower it

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

// withCaps is m under other caps: the same flattened plan (compiling a
// 100k-operation plan again for each candidate took longer than its
// trials), with the policy's max_parallel and -parallelism changed.
func (m *model) withCaps(maxPar, tfPar int) *model {
	q := *m
	pol := *m.pol
	q.plan = withCaps(m.plan, maxPar, tfPar)
	pol.Plan = q.plan
	pol.MaxParallel = max(maxPar, 0)
	pol.TFParallelism = planner.TerraformParallelism(q.plan.Mode)
	q.pol = &pol
	q.tfPar = pol.TFParallelism
	return &q
}

func evalCaps(base *model, maxPar, tfPar int, opts Options, trials int) (candidate, error) {
	m := base.withCaps(maxPar, tfPar)
	ts, err := runTrialsProgress(m, trials, opts.Seed, opts.Workers, progressOf(&opts))
	if err != nil {
		return candidate{}, err
	}
	ms := make([]float64, ts.n)
	for i, x := range ts.makespan {
		ms[i] = float64(x) / usPerSecond
	}
	thr := int64(0)
	for _, t := range ts.throttled {
		thr += t
	}
	return candidate{p50: quantiles(ms).P50, throttled: float64(thr) / float64(ts.n)}, nil
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

// throttleTolerance is the mean 429s a run a candidate may have and still
// count as not throttling (RecommendRule, ToleranceRule).
func throttleTolerance(requests int64) float64 {
	return math.Max(0.5, 0.001*float64(requests))
}

// recommend searches the caps per RecommendRule.
func recommend(p *planner.Plan, r *Result, opts Options) (*Recommendation, error) {
	trials := opts.RecommendTrials
	if trials <= 0 {
		trials = DefaultRecommendTrials
	}
	// The search is never more thorough than the prediction it refines,
	// and spends at most RecommendOpTrials operation-trials a candidate:
	// a 100k-operation plan's makespan varies little from trial to trial,
	// and 18 candidates of 100 trials each took four times the prediction.
	trials = min(trials, r.Trials)
	m := r.model
	if n := len(m.ops); n > 0 {
		trials = max(min(trials, recommendOpTrials/n), min(trials, 10))
	}
	tf := m.tfPar
	tolerated := throttleTolerance(r.Requests)
	hasResources := false
	for i := range m.ops {
		if m.ops[i].resources > 0 {
			hasResources = true
		}
	}
	if hasResources {
		var cs []candidate
		for _, c := range powersUpTo(256, m.tfPar) {
			ev, err := evalCaps(m, p.Mode.MaxParallel, c, opts, trials)
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
		ev, err := evalCaps(m, c, tf, opts, trials)
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
		Tolerated:            tolerated,
		Trials:               trials,
	}, nil
}
