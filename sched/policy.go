package sched

import (
	"fmt"
	"sort"

	"github.com/echelonhq/echelon/planner"
)

// On-error rules, as the plan names them.
const (
	OnErrorStop int8 = iota
	OnErrorContinue
	OnErrorSkipDependents
)

// Config holds the policy's tunables that are not in the plan: the retry
// backoff and AIMD's quiet period. Times are microseconds.
type Config struct {
	// Backoff is the first retry's delay, doubled per attempt up to
	// MaxBackoff, with jitter in its upper half (defaults 1s and 60s).
	Backoff, MaxBackoff int64
	// ThrottleRetries caps the extra attempts a throttled operation gets
	// without using up its retries (default 10).
	ThrottleRetries int
	// Quiet is how long without throttling before AIMD raises the
	// parallelism again (default 30s).
	Quiet int64
}

// Second is one second on the policy's clock.
const Second int64 = 1e6

func (c Config) withDefaults() Config {
	if c.Backoff <= 0 {
		c.Backoff = Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 60 * Second
	}
	if c.ThrottleRetries <= 0 {
		c.ThrottleRetries = 10
	}
	if c.Quiet <= 0 {
		c.Quiet = 30 * Second
	}
	return c
}

// Op is an operation in the policy's flat form. Policy.Ops is indexed by
// rank: priority descending, then ID, the order ready operations start in.
type Op struct {
	ID        string
	Index     int   // index in the plan's Operations
	Comp      int32 // component index
	Region    int32 // -1: not regional (takes no region slot)
	Phase     int32
	Batch     int32 // -1: in no batch
	State     int32 // terraform state group, -1: none
	Alone     bool
	Retries   int32
	OnError   int8
	Deps      []int32 // ranks
	Dependent []int32 // ranks
}

// Policy is a plan compiled for scheduling; it is read-only and shared by
// every State (trial or run) of the plan.
type Policy struct {
	Plan    *planner.Plan
	Ops     []Op
	Rank    map[string]int32 // operation ID to rank
	Phases  []string
	Regions []string
	Comps   []string
	States  []string // terraform state keys (dir#workspace)

	PhaseBarrier, BatchBarrier bool
	MaxParallel                int // 0: no cap
	RegionParallel             int // 0: no cap
	FailureTolerance           int // regions that may fail before the run stops; -1: none (on_error alone)
	TFParallelism              int // the mode's terraform -parallelism
	NoTF                       bool
	CompCap                    []int32 // by component; 0: no cap
	NBatches                   int
	PhaseOps                   []int32 // operations per phase
	BatchOps                   []int32 // operations per batch
	Roots                      []int32 // ranks without dependencies, ascending
	Cfg                        Config

	indeg0 []int32
	// hot is what the scheduling passes read of each operation, packed
	// (24 bytes) so a pass touches one cache line per few operations;
	// depOff/depList are the dependents in one slice (CSR).
	hot     []hot
	depOff  []int32
	depList []int32
	// Scopes are the api buckets AIMD can act on alone: one per api, and
	// for scope = "region" one per region (and one for non-regional
	// operations). scopeOff/scopeList are each operation's (CSR), the
	// apis it calls.
	Scopes    []string
	scopeOff  []int32
	scopeList []int32
}

// hot is an Op's fields the scheduling passes read.
type hot struct {
	comp, region, phase, batch, state int32
	alone                             bool
}

// Compile flattens a plan for scheduling. It checks what the policy relies
// on (known dependencies, unique IDs, batches under batch_barrier, no
// cycle) and reports the first problem.
func Compile(p *planner.Plan, cfg Config) (*Policy, error) {
	pol := &Policy{
		Plan:             p,
		PhaseBarrier:     p.Mode.PhaseBarrier,
		BatchBarrier:     p.Mode.BatchBarrier,
		MaxParallel:      max(p.Mode.MaxParallel, 0),
		RegionParallel:   max(p.Mode.RegionParallel, 0),
		FailureTolerance: -1,
		TFParallelism:    planner.TerraformParallelism(p.Mode),
		NoTF:             true,
		Cfg:              cfg.withDefaults(),
	}
	if ft := p.Mode.FailureTolerance; ft != nil {
		pol.FailureTolerance = max(*ft, 0)
	}
	phaseIdx := map[string]int32{}
	for _, ph := range p.Phases {
		phaseIdx[ph.Name] = int32(len(pol.Phases))
		pol.Phases = append(pol.Phases, ph.Name)
	}
	// Operations may name phases the plan's phase list lacks (hand-made
	// plans): they come last, in first-seen order.
	for _, o := range p.Operations {
		if _, ok := phaseIdx[o.Phase]; !ok {
			phaseIdx[o.Phase] = int32(len(pol.Phases))
			pol.Phases = append(pol.Phases, o.Phase)
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
	pol.Rank = make(map[string]int32, len(order))
	for r, i := range order {
		id := p.Operations[i].ID
		if _, dup := pol.Rank[id]; dup {
			return nil, fmt.Errorf("operation %q appears twice", id)
		}
		pol.Rank[id] = int32(r)
	}
	batchOf := map[string]int32{}
	for bi, b := range p.Batches {
		for _, id := range b.Operations {
			batchOf[id] = int32(bi)
		}
	}
	pol.NBatches = len(p.Batches)

	regionIdx, compIdx, stateIdx := map[string]int32{}, map[string]int32{}, map[string]int32{}
	pol.Ops = make([]Op, len(order))
	for r, i := range order {
		o := &p.Operations[i]
		op := &pol.Ops[r]
		op.ID, op.Index = o.ID, i
		op.Phase = phaseIdx[o.Phase]
		op.Region = -1
		if o.Region != "" {
			ri, ok := regionIdx[o.Region]
			if !ok {
				ri = int32(len(pol.Regions))
				regionIdx[o.Region] = ri
				pol.Regions = append(pol.Regions, o.Region)
			}
			op.Region = ri
		}
		ci, ok := compIdx[o.Component]
		if !ok {
			ci = int32(len(pol.Comps))
			compIdx[o.Component] = ci
			pol.Comps = append(pol.Comps, o.Component)
		}
		op.Comp = ci
		op.Batch = -1
		if b, ok := batchOf[o.ID]; ok {
			op.Batch = b
		} else if pol.BatchBarrier && len(p.Batches) > 0 {
			return nil, fmt.Errorf("operation %q is in no batch", o.ID)
		}
		// The planner sets Alone for parallel = false, a non-parallel
		// container and restart = true alike.
		op.Alone = o.Alone != ""
		op.State = -1
		if k := o.StateKey(); k != "" {
			si, ok := stateIdx[k]
			if !ok {
				si = int32(len(pol.States))
				stateIdx[k] = si
				pol.States = append(pol.States, k)
			}
			op.State = si
		}
		if o.Driver == "terraform" {
			pol.NoTF = false
		}
		op.Retries = int32(max(o.Retries, 0))
		switch o.OnError {
		case "continue":
			op.OnError = OnErrorContinue
		case "skip_dependents":
			op.OnError = OnErrorSkipDependents
		default:
			op.OnError = OnErrorStop
		}
		for _, d := range o.DependsOn {
			dr, ok := pol.Rank[d]
			if !ok {
				return nil, fmt.Errorf("operation %q depends on unknown operation %q", o.ID, d)
			}
			op.Deps = append(op.Deps, dr)
		}
	}
	for r := range pol.Ops {
		for _, d := range pol.Ops[r].Deps {
			pol.Ops[d].Dependent = append(pol.Ops[d].Dependent, int32(r))
		}
	}
	if err := pol.checkAcyclic(); err != nil {
		return nil, err
	}
	pol.indeg0 = make([]int32, len(pol.Ops))
	for r := range pol.Ops {
		pol.indeg0[r] = int32(len(pol.Ops[r].Deps))
		if pol.indeg0[r] == 0 {
			pol.Roots = append(pol.Roots, int32(r))
		}
	}
	pol.CompCap = make([]int32, len(pol.Comps))
	for c, n := range p.Mode.ComponentParallel {
		if ci, ok := compIdx[c]; ok && n > 0 {
			pol.CompCap[ci] = int32(n)
		}
	}
	pol.hot = make([]hot, len(pol.Ops))
	pol.depOff = make([]int32, len(pol.Ops)+1)
	for r := range pol.Ops {
		op := &pol.Ops[r]
		pol.hot[r] = hot{comp: op.Comp, region: op.Region, phase: op.Phase, batch: op.Batch, state: op.State, alone: op.Alone}
		pol.depList = append(pol.depList, op.Dependent...)
		pol.depOff[r+1] = int32(len(pol.depList))
	}
	pol.compileScopes(p)
	pol.PhaseOps = make([]int32, len(pol.Phases))
	pol.BatchOps = make([]int32, pol.NBatches)
	for i := range pol.Ops {
		pol.PhaseOps[pol.Ops[i].Phase]++
		if b := pol.Ops[i].Batch; b >= 0 {
			pol.BatchOps[b]++
		}
	}
	return pol, nil
}

func (pol *Policy) checkAcyclic() error {
	indeg := make([]int, len(pol.Ops))
	for i := range pol.Ops {
		indeg[i] = len(pol.Ops[i].Deps)
	}
	queue := make([]int32, 0, len(pol.Ops))
	for i := range pol.Ops {
		if indeg[i] == 0 {
			queue = append(queue, int32(i))
		}
	}
	seen := 0
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		seen++
		for _, d := range pol.Ops[o].Dependent {
			indeg[d]--
			if indeg[d] == 0 {
				queue = append(queue, d)
			}
		}
	}
	if seen != len(pol.Ops) {
		return fmt.Errorf("the plan's dependencies form a cycle")
	}
	return nil
}

// compileScopes lists the api scopes and which of them each operation
// calls (api names unknown to the plan are left to the simulator to refuse).
func (pol *Policy) compileScopes(p *planner.Plan) {
	type key struct {
		api    string
		region int32
	}
	idx := map[key]int32{}
	regional := map[string]bool{}
	for _, a := range p.APIs {
		regional[a.Name] = a.Scope == "region"
		if a.Scope != "region" {
			idx[key{a.Name, -1}] = int32(len(pol.Scopes))
			pol.Scopes = append(pol.Scopes, a.Name)
		}
	}
	pol.scopeOff = make([]int32, len(pol.Ops)+1)
	for r := range pol.Ops {
		op := &pol.Ops[r]
		calls := p.Operations[op.Index].Calls
		names := make([]string, 0, len(calls))
		for a, n := range calls {
			if n > 0 {
				names = append(names, a)
			}
		}
		sort.Strings(names)
		for _, a := range names {
			reg, known := regional[a]
			if !known {
				continue
			}
			k := key{a, -1}
			if reg {
				k.region = op.Region
			}
			b, ok := idx[k]
			if !ok {
				b = int32(len(pol.Scopes))
				idx[k] = b
				name := a + "/(not regional)"
				if op.Region >= 0 {
					name = a + "/" + pol.Regions[op.Region]
				}
				pol.Scopes = append(pol.Scopes, name)
			}
			pol.scopeList = append(pol.scopeList, b)
		}
		pol.scopeOff[r+1] = int32(len(pol.scopeList))
	}
}

// scopesOf are the api scopes operation r calls.
func (pol *Policy) scopesOf(r int32) []int32 {
	return pol.scopeList[pol.scopeOff[r]:pol.scopeOff[r+1]]
}
