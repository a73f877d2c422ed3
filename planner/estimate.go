package planner

import "math"

// Estimate predicts a plan's p50 wall-clock seconds; ok is false when it
// cannot. diff takes one so a real prediction (the simulator's) can replace
// LowerBound without planner importing sim.
type Estimate func(*Plan) (p50Seconds float64, ok bool)

// estimateSeconds is the p50 time of one operation as the planner counts
// it: for a terraform instance with resources, ceil(resources /
// parallelism) x resource_duration (contract §1), else its duration.
// Throttling and shared-state coalescing are left to the simulator.
func estimateSeconds(p50 float64, driver string, resources int, resP50 float64, tp int) float64 {
	if usesResources(driver, resources, resP50) {
		if tp <= 0 {
			tp = DefaultTerraformParallelism
		}
		return math.Ceil(float64(resources)/float64(tp)) * resP50
	}
	return p50
}

// OperationSeconds is estimateSeconds for a plan's operation.
func OperationSeconds(o *Operation, m Mode) float64 {
	return estimateSeconds(o.Duration.P50, o.Driver, o.Resources, o.ResourceDuration.P50, m.TerraformParallelism)
}

// LowerBound is a lower bound on the plan's wall-clock time in seconds
// from p50 durations, the largest of: the longest dependency path (with a
// phase's work starting after every earlier phase under phase_barrier, and
// a batch after every earlier batch under batch_barrier); the run-alone
// operations one after another plus the rest of the work spread over
// max_parallel; each component's work over its component_parallel cap.
// Throttling, retries, region_parallel and terraform state coalescing are
// ignored: it is what no schedule can beat, not a prediction.
func LowerBound(p *Plan) float64 {
	ops := p.opIndex()
	work, alone := 0.0, 0.0
	perComp := map[string]float64{}
	for i := range p.Operations {
		o := &p.Operations[i]
		d := OperationSeconds(o, p.Mode)
		work += d
		perComp[o.Component] += d
		if o.Alone != "" {
			alone += d
		}
	}
	// Run-alone operations overlap nothing, so they add to the longest
	// path of everything else (their own time counted as zero there).
	bound := math.Max(longestPath(p, ops, false), alone+longestPath(p, ops, true))
	if c := p.Mode.MaxParallel; c > 0 {
		bound = math.Max(bound, alone+(work-alone)/float64(c))
	}
	for comp, w := range perComp {
		if c := p.Mode.ComponentParallel[comp]; c > 0 {
			bound = math.Max(bound, w/float64(c))
		}
	}
	return math.Round(bound*1000) / 1000
}

// longestPath is the longest dependency path in seconds, with a phase's
// work after every earlier phase's under phase_barrier and a batch's after
// every earlier batch's under batch_barrier; skipAlone counts run-alone
// operations as taking no time.
func longestPath(p *Plan, ops map[string]*Operation, skipAlone bool) float64 {
	finish := make(map[string]float64, len(p.Operations))
	var path, phaseStart, batchStart float64
	prevPhase := ""
	for bi, b := range p.Batches {
		if p.Mode.PhaseBarrier && bi > 0 && b.Phase != prevPhase {
			phaseStart = path
		}
		if p.Mode.BatchBarrier {
			batchStart = path
		}
		prevPhase = b.Phase
		for _, id := range b.Operations {
			o := ops[id]
			if o == nil {
				continue
			}
			d := OperationSeconds(o, p.Mode)
			if skipAlone && o.Alone != "" {
				d = 0
			}
			start := math.Max(phaseStart, batchStart)
			for _, dep := range o.DependsOn {
				start = math.Max(start, finish[dep])
			}
			finish[id] = start + d
			path = math.Max(path, finish[id])
		}
	}
	return path
}

// usesResources says whether a terraform instance's time comes from its
// resources. The plan then carries duration {0, 0}: lang fills a default
// duration when none is written, and sim and exec read p50 == 0 as "time
// the resources".
func usesResources(driver string, resources int, resP50 float64) bool {
	return driver == "terraform" && resources > 0 && resP50 > 0
}
