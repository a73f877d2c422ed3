package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
	"github.com/echelonhq/echelon/views"
)

// simulateStdout is where simulate writes its view; tests swap it.
var simulateStdout io.Writer = os.Stdout

const simulateUsage = `simulate SPEC|PLAN [--mode M|all] [--trials N] [--seed S] [--json] [--check] [--gantt F.svg] [--trace F.jsonl] [--var k=v]...

Predicts the wall-clock time of a plan under its mode's caps with a
discrete-event simulation (lognormal durations through p50/p90, terraform
-parallelism over coalesced instances, phase and batch barriers, run-alone
operations, token-bucket APIs with backoff). A SPEC is compiled for the mode
given (default: its default_mode), or for every mode with --mode all; a PLAN
is simulated for its own mode. The same seed gives the same output on any
number of cores.

Risk (low, medium, high): ` + sim.RiskRule + `.

Recommended caps: ` + sim.RecommendRule + `.

--check holds the predictions to the spec's budget blocks and exits 1 naming
each broken one. --gantt draws the median trial of each mode as SVG (with
several modes, F-MODE.svg). --trace writes the same run as JSON lines in the
journal's record shape (op_start, op_end with attempt, step, outcome,
duration; "at" is seconds from the start), to lay beside a real run's
journal: with --trials 1 it is the only trial.`

// runSimulate predicts the run of a spec's modes or of one plan.
func runSimulate(ctx context.Context, args []string) error {
	fs := newFlagSet("simulate", simulateUsage)
	var sf specFlags
	mode := fs.String("mode", "", "`MODE` to simulate, or all (default: the spec's default_mode, or the plan's own)")
	trials := fs.Int("trials", sim.DefaultTrials, fmt.Sprintf("independent trials per mode, 1 to %d", sim.MaxTrials))
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same prediction")
	asJSON := fs.Bool("json", false, "print the prediction as JSON")
	check := fs.Bool("check", false, "exit 1 when a prediction breaks a budget, naming each")
	gantt := fs.String("gantt", "", "write the median run as an SVG Gantt chart to `FILE`")
	trace := fs.String("trace", "", "write the median run's predicted starts and ends as JSON lines to `FILE`")
	workers := fs.Int("workers", 0, "goroutines trials are spread over (default: the number of CPUs)")
	recTrials := fs.Int("recommend-trials", sim.DefaultRecommendTrials, "trials per candidate cap when searching the recommendation")
	_ = fs.MarkHidden("workers")
	_ = fs.MarkHidden("recommend-trials")
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("simulate takes one spec or plan, got %d arguments", fs.NArg())
	}
	// The bound keeps a typo (--trials 2000000000) from exhausting memory.
	if *trials < 1 || *trials > sim.MaxTrials {
		return usagef("--trials must be at least 1 and at most %d, got %d", sim.MaxTrials, *trials)
	}
	path := fs.Arg(0)

	plans, deployment, err := simulatePlans(path, *mode, &sf, *asJSON)
	if err != nil {
		return err
	}
	opts := sim.Options{Trials: *trials, Seed: *seed, Workers: *workers, Recommend: true, RecommendTrials: *recTrials}
	var results []*sim.Result
	for _, p := range plans {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := sim.Simulate(p, opts)
		if err != nil {
			return fmt.Errorf("simulate mode %s: %w", p.Mode.Name, err)
		}
		results = append(results, r)
	}

	var checks []sim.BudgetCheck
	broken := false
	if *check {
		checks = sim.CheckBudgets(plans[0].Budgets, results)
		for _, c := range checks {
			broken = broken || !c.OK
		}
	}
	view := views.NewSimulate(*asJSON, simulateStdout)
	if err := view.Results(deployment, results, checks); err != nil {
		return err
	}
	if *gantt != "" {
		for i, r := range results {
			file := *gantt
			if len(results) > 1 {
				ext := filepath.Ext(file)
				file = strings.TrimSuffix(file, ext) + "-" + r.Mode + ext
			}
			if err := writeGantt(file, deployment, plans[i], r, *seed); err != nil {
				return err
			}
			view.Gantt(file, r.Mode, r.MedianTrial)
		}
	}
	if *trace != "" {
		for i, r := range results {
			file := *trace
			if len(results) > 1 {
				ext := filepath.Ext(file)
				file = strings.TrimSuffix(file, ext) + "-" + r.Mode + ext
			}
			if err := writeTrace(file, plans[i], r, *seed); err != nil {
				return err
			}
			view.Trace(file, r.Mode, r.MedianTrial)
		}
	}
	if broken {
		return errReported
	}
	return nil
}

func writeTrace(file string, p *planner.Plan, r *sim.Result, seed uint64) error {
	run, err := sim.Trace(p, seed, r.MedianTrial)
	if err != nil {
		return fmt.Errorf("trace mode %s: %w", p.Mode.Name, err)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if err := sim.WriteTrace(f, p, run); err != nil {
		f.Close()
		return fmt.Errorf("trace %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	return nil
}

// simulatePlans compiles the spec's modes, or reads the plan.
func simulatePlans(path, mode string, sf *specFlags, asJSON bool) ([]*planner.Plan, string, error) {
	if isPlanFile(path) {
		p, err := planner.ReadFile(path)
		if err != nil {
			return nil, "", err
		}
		switch {
		case mode == "all":
			return nil, "", usagef("a plan holds one mode (%s); pass the spec to simulate --mode all", p.Mode.Name)
		case mode != "" && mode != p.Mode.Name:
			return nil, "", usagef("the plan was compiled for mode %s, not %s; pass the spec to simulate another mode", p.Mode.Name, mode)
		}
		return []*planner.Plan{p}, p.Deployment, nil
	}
	spec, err := sf.load(path, os.Stderr, asJSON)
	if err != nil {
		return nil, "", err
	}
	modes := []string{mode}
	if mode == "all" {
		modes = modes[:0]
		for _, m := range spec.Modes {
			modes = append(modes, m.Name)
		}
	}
	var plans []*planner.Plan
	for _, m := range modes {
		p, diags := planner.Compile(spec, planner.Options{Mode: m})
		if diags.HasErrors() {
			if err := views.NewDiagnostics(asJSON, jsonStdout, os.Stderr).Diagnostics(diags, spec.Sources); err != nil {
				return nil, "", err
			}
			return nil, "", errReported
		}
		plans = append(plans, p)
	}
	name := ""
	if spec.Deployment != nil {
		name = spec.Deployment.Name
	}
	return plans, name, nil
}

func writeGantt(file, deployment string, p *planner.Plan, r *sim.Result, seed uint64) error {
	run, err := sim.Trace(p, seed, r.MedianTrial)
	if err != nil {
		return fmt.Errorf("trace mode %s: %w", p.Mode.Name, err)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("gantt: %w", err)
	}
	title := fmt.Sprintf("%s: the median of %d predicted runs", deployment, r.Trials)
	if err := sim.WriteGantt(f, title, run); err != nil {
		f.Close()
		return fmt.Errorf("gantt %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("gantt: %w", err)
	}
	return nil
}
