package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/echelonhq/echelon/calib"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/review"
	"github.com/echelonhq/echelon/sim"
	"github.com/echelonhq/echelon/views"
)

// simulateStdout is where simulate writes its view; tests swap it.
var simulateStdout io.Writer = os.Stdout

const simulateUsage = `simulate SPEC|PLAN [--mode M|all] [--trials N] [--seed S] [--json] [--check] [--no-calibration] [--gantt F.svg] [--html F.html] [--trace F.jsonl] [--cores N] [--var k=v]...

Predicts the wall-clock time of a plan under its mode's caps with a
discrete-event simulation (lognormal durations through p50/p90, terraform
-parallelism over coalesced instances, phase and batch barriers, run-alone
operations, token-bucket APIs with backoff). A SPEC is compiled for the mode
given (default: its default_mode), or for every mode with --mode all; a PLAN
is simulated for its own mode. The same seed gives the same output on any
number of cores.

Each step also pays its tool's overhead (terraform's version check once
per run, init once per directory, each process's start and per-resource
refresh; kubectl, helm and commands their start), measured on real tools
(docs/simulator.md). --cores is the capacity of the machine that will run
the plan: when more start-ups run at once than it has cores, each is
slower. It defaults to this machine's cores.

Risk (low, medium, high): ` + sim.RiskRule + `.

Recommended caps: ` + sim.RecommendRule + `.

With an ` + calib.FileName + ` beside the spec (echelon calibrate
writes it from past runs), durations, terraform's overhead and failure
rates come from it, and the output says "calibrated from N runs, last on
DATE"; --no-calibration ignores it. It never changes a plan.

--check holds the predictions to the spec's budget blocks and exits 1 naming
each broken one. --gantt draws the median trial of each mode as SVG (with
several modes, F-MODE.svg). --html writes one self-contained page (no
network): the mode table, each mode's median run as a Gantt chart with the
critical path outlined and a tooltip per operation, and its throttling
over time. --trace writes the median run as JSON lines in the journal's
record shape (op_start, op_end with attempt, step, outcome, duration; "at"
is seconds from the start), to lay beside a real run's journal: with
--trials 1 it is the only trial.`

// runSimulate predicts the run of a spec's modes or of one plan.
func runSimulate(ctx context.Context, args []string) error {
	fs := newFlagSet("simulate", simulateUsage)
	sf := specFlags{ctx: ctx}
	mode := fs.String("mode", "", "`MODE` to simulate, or all (default: the spec's default_mode, or the plan's own)")
	trials := fs.Int("trials", sim.DefaultTrials, fmt.Sprintf("`N` independent trials per mode, 1 to %d", sim.MaxTrials))
	seed := fs.Uint64("seed", 1, "random `SEED`: the same seed gives the same prediction")
	asJSON := fs.Bool("json", false, "print the prediction as JSON")
	check := fs.Bool("check", false, "exit 1 when a prediction breaks a budget, naming each")
	gantt := fs.String("gantt", "", "write the median run as an SVG Gantt chart to `FILE`")
	trace := fs.String("trace", "", "write the median run's predicted starts and ends as JSON lines to `FILE`")
	htmlOut := fs.String("html", "", "write a self-contained HTML report to `FILE`")
	noCal := fs.Bool("no-calibration", false, "ignore the spec's "+calib.FileName+" (durations as the spec gives them)")
	cores := fs.Int("cores", runtime.NumCPU(), "`N` cores of the machine that will run the plan: tool start-ups beyond them run slower (0: no limit)")
	workers := fs.Int("workers", 0, "goroutines trials are spread over (default: the number of CPUs)")
	recTrials := fs.Int("recommend-trials", sim.DefaultRecommendTrials, "trials per candidate cap when searching the recommendation")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	_ = fs.MarkHidden("cpuprofile")
	_ = fs.MarkHidden("workers")
	_ = fs.MarkHidden("recommend-trials")
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if fs.NArg() != 1 {
		return usagef("simulate takes one spec or plan, got %s", planner.Plural(fs.NArg(), "argument"))
	}
	// The bound keeps a typo (--trials 2000000000) from exhausting memory.
	if *trials < 1 || *trials > sim.MaxTrials {
		return usagef("--trials must be at least 1 and at most %d, got %d", sim.MaxTrials, *trials)
	}
	path := fs.Arg(0)

	plans, deployment, specDir, err := simulatePlans(path, *mode, &sf, *asJSON)
	if err != nil {
		return err
	}
	cal, calFile, err := loadCalibration(specDir, *noCal)
	if err != nil {
		return err
	}
	if *cores < 0 {
		return usagef("--cores must be 0 (no limit) or more, got %d", *cores)
	}
	opts := sim.Options{Trials: *trials, Seed: *seed, Workers: *workers, Recommend: true, RecommendTrials: *recTrials,
		Overhead: sim.DefaultOverhead(), Cores: *cores}
	var results []*sim.Result
	calOpts := make([]sim.Options, len(plans)) // per plan: the options its prediction used
	for i := range calOpts {
		calOpts[i] = opts
	}
	for i, p := range plans {
		if err := ctx.Err(); err != nil {
			return err
		}
		o := opts
		if cal != nil {
			if err := calibrationFits(cal, calFile, p); err != nil {
				return err
			}
			// A copy of the plan: its bytes and digests stay the plan's.
			p, o = cal.Apply(p, o)
			plans[i] = p
			calOpts[i] = o
		}
		var stopProgress func()
		if !*asJSON && isTerminal(os.Stderr) {
			o.Progress, stopProgress = simulateProgress(os.Stderr, p.Mode.Name, *trials)
		}
		r, err := sim.Simulate(p, o)
		if stopProgress != nil {
			stopProgress()
		}
		if err != nil {
			return fmt.Errorf("simulate mode %s: %w", p.Mode.Name, err)
		}
		if cal != nil {
			r.Calibrated = &sim.Calibrated{File: calFile, Runs: cal.Runs, LastRun: cal.LastRun, Summary: cal.Summary()}
		}
		results = append(results, r)
	}

	var checks []sim.BudgetCheck
	broken := false
	if *check || *htmlOut != "" {
		checks = sim.CheckBudgets(plans[0].Budgets, results)
		for _, c := range checks {
			broken = broken || (*check && !c.OK)
		}
	}
	if *htmlOut != "" {
		pg, err := review.SimulatePage(deployment, plans, results, checks, *seed)
		if err != nil {
			return err
		}
		if err := writeHTMLFile(*htmlOut, pg); err != nil {
			return err
		}
	}
	if !*check {
		checks = nil
	}
	view := views.NewSimulate(*asJSON, simulateStdout)
	if err := view.Results(deployment, results, checks); err != nil {
		return err
	}
	// The median run of each mode, drawn (--gantt) and listed (--trace).
	for _, w := range []struct {
		flag, what string
		notice     func(file, mode string, trial int)
		write      func(io.Writer, *planner.Plan, *sim.Result, *sim.Run) error
	}{
		{*gantt, "gantt", view.Gantt, func(f io.Writer, p *planner.Plan, r *sim.Result, run *sim.Run) error {
			return sim.WriteGantt(f, fmt.Sprintf("%s: the median of %d predicted runs", deployment, r.Trials), run)
		}},
		{*trace, "trace", view.Trace, func(f io.Writer, p *planner.Plan, _ *sim.Result, run *sim.Run) error {
			return sim.WriteTrace(f, p, run)
		}},
	} {
		if w.flag == "" {
			continue
		}
		for i, r := range results {
			file := w.flag
			if len(results) > 1 {
				file = withSuffix(file, "-"+r.Mode)
			}
			if err := writeMedianRun(file, w.what, plans[i], r, calOpts[i], w.write); err != nil {
				return err
			}
			w.notice(file, r.Mode, r.MedianTrial)
		}
	}
	if *htmlOut != "" {
		view.HTML(*htmlOut)
	}
	if broken {
		return errReported
	}
	return nil
}

// writeMedianRun traces the median trial of r and writes it to file.
func writeMedianRun(file, what string, p *planner.Plan, r *sim.Result, opts sim.Options,
	write func(io.Writer, *planner.Plan, *sim.Result, *sim.Run) error) error {
	run, err := sim.TraceTrial(p, opts, r.MedianTrial)
	if err != nil {
		return fmt.Errorf("trace mode %s: %w", p.Mode.Name, err)
	}
	return writeOut(file, what, func(w io.Writer) error { return write(w, p, r, run) })
}

// writeOut creates file and writes it with write; errors say what (gantt,
// trace, html) failed and where.
func writeOut(file, what string, write func(io.Writer) error) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s %s: %w", what, file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// withSuffix is file with suffix before its extension (F.svg -> F-x.svg).
func withSuffix(file, suffix string) string {
	ext := filepath.Ext(file)
	return strings.TrimSuffix(file, ext) + suffix + ext
}

// simulatePlans compiles the spec's modes, or reads the plan; it returns
// them, the deployment's name and the spec's directory (where its
// calibration file is).
func simulatePlans(path, mode string, sf *specFlags, asJSON bool) ([]*planner.Plan, string, string, error) {
	if isPlanFile(path) {
		p, err := planner.ReadFile(path)
		if err != nil {
			return nil, "", "", err
		}
		switch {
		case mode == "all":
			return nil, "", "", usagef("a plan holds one mode (%s); pass the spec to simulate --mode all", p.Mode.Name)
		case mode != "" && mode != p.Mode.Name:
			return nil, "", "", usagef("the plan was compiled for mode %s, not %s; pass the spec to simulate another mode", p.Mode.Name, mode)
		}
		return []*planner.Plan{p}, p.Deployment, planSpecDir(p, path), nil
	}
	spec, err := sf.load(path, os.Stderr, asJSON)
	if err != nil {
		return nil, "", "", err
	}
	if err := checkMode(spec, mode, "all"); err != nil {
		return nil, "", "", err
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
				return nil, "", "", err
			}
			return nil, "", "", errReported
		}
		plans = append(plans, p)
	}
	name := ""
	if spec.Deployment != nil {
		name = spec.Deployment.Name
	}
	return plans, name, spec.Dir, nil
}

// writeHTMLFile writes the page to file.
func writeHTMLFile(file string, pg *review.Page) error {
	return writeOut(file, "html", func(w io.Writer) error { return review.WriteHTML(w, pg) })
}

// simulateProgress shows on a terminal how far a long simulation is, at
// most four times a second, and clears the line when stopped.
func simulateProgress(w io.Writer, mode string, trials int) (func(int), func()) {
	var mu sync.Mutex
	var last time.Time
	shown := false
	report := func(done int) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= 250*time.Millisecond {
			last = now
			what := fmt.Sprintf("%d/%d trials", done, trials)
			if done > trials {
				what = fmt.Sprintf("%d trials, then searching the recommended caps (%d trials)", trials, done-trials)
			}
			fmt.Fprintf(w, "\r\x1b[Ksimulating mode %s: %s", mode, what)
			shown = true
		}
	}
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		if shown {
			fmt.Fprint(w, "\r\x1b[K")
		}
	}
	return report, stop
}

// planSpecDir is the directory of a plan's spec (where its calibration
// file is): the spec directory, or the spec file's.
func planSpecDir(p *planner.Plan, planPath string) string {
	sp := planner.SpecPath(p, planPath)
	if fi, err := os.Stat(sp); err == nil && fi.IsDir() {
		return sp
	}
	return filepath.Dir(sp)
}

// loadCalibration reads the calibration file in specDir, if there is one
// and it is not ignored. A damaged one is an error, not silently ignored.
func loadCalibration(specDir string, ignore bool) (*calib.Calibration, string, error) {
	if ignore || specDir == "" {
		return nil, "", nil
	}
	path := calib.PathFor(specDir)
	c, err := calib.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("calibration: %w (echelon calibrate writes it again; --no-calibration ignores it)", err)
	}
	return c, path, nil
}

// calibrationFits refuses a calibration (read from path) that is not of
// the plan's deployment, saying how to mend it.
func calibrationFits(c *calib.Calibration, path string, p *planner.Plan) error {
	if c == nil {
		return nil
	}
	if err := c.Fits(p); err != nil {
		return fmt.Errorf("%s: %w (echelon calibrate writes it again; --no-calibration ignores it)", path, err)
	}
	return nil
}
