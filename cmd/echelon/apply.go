package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/views"
)

// applyStdout is where apply writes its view; tests swap it.
var applyStdout io.Writer = os.Stdout

// runApply runs a compiled plan (deploy or destroy).
//
//	echelon apply PLAN [--spec SPEC] [--state DIR] [--store URL [--workers]] [--resume] [--json] [--var k=v]... [--var-file F]...
//
// Before anything runs the plan's digests are checked: plan_digest against
// its content and spec_digest against the spec as it is now, loaded with
// the plan's recorded variable values (sensitive ones from --var or
// ECHELON_VAR_x). The spec is --spec, else found from the plan's spec.path
// (planner.SpecPaths). The first Ctrl-C stops starting work and lets running
// operations finish; a second one cancels them. Either way the journal in
// the state directory lets `--resume` continue.
func runApply(ctx context.Context, args []string) error {
	// A closed stdout (apply ... | head) must not kill the run halfway,
	// its operations orphaned and its journal unended: with SIGPIPE
	// handled, writes fail with EPIPE and the run goes on. Handled, not
	// ignored: an ignored signal would stay ignored in the tools it starts.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)
	fs := newFlagSet("apply", "apply PLAN [--spec SPEC] [--state DIR] [--store URL [--workers [--worker-label KEY=VALUE]...]] [--resume] [--json] [--var NAME=VALUE]... [--var-file FILE]...")
	sf := specFlags{ctx: ctx}
	specFlag := fs.String("spec", "", "the plan's `SPEC` (default: found from the plan's spec.path)")
	state := fs.String("state", "", "state `DIR`: journal, logs, locks (default .echelon next to the plan)")
	var stf storeFlags
	stf.register(fs)
	workers := fs.Bool("workers", false, "coordinate: workers (echelon worker) run the steps; needs --store postgres://")
	workerLabels := fs.StringArray("worker-label", nil, "with --workers: only workers with this label run the steps: `KEY=VALUE` (repeatable)")
	resume := fs.Bool("resume", false, "continue the plan's last run: skip what succeeded, run failed and interrupted operations again")
	asJSON := fs.Bool("json", false, "print events and the summary as JSON lines")
	noCal := fs.Bool("no-calibration", false, "predict without the spec's echelon.calibration.json")
	noPreview := fs.Bool("no-preview", false, "ignore the plan's preview (echelon plan): terraform plans and applies afresh")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	_ = fs.MarkHidden("cpuprofile")
	sf.register(fs) // needed again for sensitive variables
	quiet := fs.Duration("aimd-quiet", 30*time.Second, "quiet period before raising parallelism again after throttling")
	backoff := fs.Duration("backoff", time.Second, "first retry delay (doubles per attempt)")
	_ = fs.MarkHidden("aimd-quiet")
	_ = fs.MarkHidden("backoff")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("apply takes one plan file, got %d arguments", fs.NArg())
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if len(*workerLabels) > 0 && !*workers {
		return usagef("--worker-label needs --workers")
	}
	labels, err := parseLabels(*workerLabels)
	if err != nil {
		return err
	}
	planPath := fs.Arg(0)
	out := applyStdout
	diagView := views.NewDiagnostics(*asJSON, out, os.Stderr)

	lp, err := loadRunnable(planPath, *specFlag, sf, diagView, "apply")
	if err != nil {
		return err
	}
	plan, spec, runPlan, secrets := lp.plan, lp.spec, lp.runPlan, lp.secrets

	stateDir := stf.stateDir(*state, filepath.Join(filepath.Dir(planPath), ".echelon"))
	st, err := stf.open(ctx, stateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	var dispatch store.Dispatcher
	if *workers {
		d, ok := st.(store.Dispatcher)
		if !ok {
			return usagef("--workers needs a database store: --store postgres://... (or ECHELON_STORE)")
		}
		dispatch = d
	}
	// The plan file as written ("(sensitive)" placeholders, never the
	// values) under its digest, for whoever resumes or reports the run.
	if raw, err := os.ReadFile(planPath); err == nil {
		if err := st.PutPlan(ctx, plan.PlanDigest, raw); err != nil {
			return err
		}
	}
	bundleNote := storeBundle(ctx, st, plan, spec, sf.varFiles, *workers)

	if dispatch == nil {
		// Every operation would fail alike: say it once, before the run.
		if err := exec.CheckTools(runPlan, os.Environ()); err != nil {
			return applyRefuse(diagView, "Tool not found", err)
		}
	}

	var pv *exec.Preview
	if !*noPreview {
		if pv, err = readPreview(stateDir, plan, spec.Dir, planPath, diagView); err != nil {
			return err
		}
	} else if err := exec.RemovePreview(stateDir, plan); err != nil {
		// Applied without it, a preview no longer shows what would change
		// (and, incomplete, would refuse the --resume the summary offers).
		return err
	}
	pvUse, err := choosePreview(ctx, st, plan, spec.Dir, pv, *noPreview)
	if err != nil {
		return err
	}

	var term *os.File // the terminal itself, for the live view's size
	if isTerminal(out) {
		term = out.(*os.File)
	}
	redOut := exec.RedactWriter(out, secrets)
	defer redOut.Flush()
	out = redOut
	view := views.NewApply(*asJSON, out, term, plan)
	if bundleNote != "" {
		view.Event(exec.Event{Time: time.Now(), Kind: exec.EvWarning, Message: bundleNote})
	}
	if *resume && !exec.HasEarlierRunIn(ctx, st, runPlan) {
		// Not refused: a first --resume in a script is legitimate.
		view.Event(exec.Event{Time: time.Now(), Kind: exec.EvWarning,
			Message: fmt.Sprintf("no earlier run of this plan in %s; starting from the beginning", st.Where())})
	}
	if !*resume {
		if note := staleRunNote(ctx, st, plan.PlanDigest); note != "" {
			view.Event(exec.Event{Time: time.Now(), Kind: exec.EvWarning, Message: note})
		}
	}

	// main cancels ctx on the first signal (stop starting work); a second
	// one cancels running operations. Our channel sees both.
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			if n++; n >= 2 {
				view.Event(exec.Event{Time: time.Now(), Kind: exec.EvStopping, Message: "cancelling running operations"})
				cancelHard()
				return
			}
		}
	}()

	if pv != nil {
		view.Event(exec.Event{Time: time.Now(), Kind: exec.EvWarning,
			Message: fmt.Sprintf("applying the saved plans of the preview of %s (%d to add, %d to change, %d to destroy); --no-preview ignores it",
				pv.Created.Format(time.RFC3339), pv.Total.Add, pv.Total.Change, pv.Total.Destroy)})
	}
	if pvUse.say != "" {
		view.Event(exec.Event{Time: time.Now(), Kind: exec.EvWarning, Message: pvUse.say})
	}
	opts := exec.Options{
		Preview:     pv,
		StateDir:    stateDir,
		Store:       st,
		SpecDir:     spec.Dir,
		Resume:      *resume,
		Secrets:     secrets,
		Spec:        spec,
		OnEvent:     view.Event,
		OnResumed:   view.Resumed,
		Hard:        hard,
		QuietPeriod: *quiet,
		Backoff:     *backoff,
		Dispatch:    dispatch,
		Labels:      labels,
	}
	if pc, ok := st.(exec.Pacer); ok {
		opts.Pacer = pc // a database store: steps pace each other through its api buckets
	}
	// The prediction this run is held to, from the same policy, before it
	// starts (bounded: at most 500k operation-trials, 50 trials at 10k
	// operations, so a large plan does not wait long to begin).
	// With the spec's calibration file, from a calibrated copy of the plan
	// (the plan that runs is the plan as compiled).
	cal, calPath, err := loadCalibration(spec.Dir, *noCal)
	if err == nil {
		err = calibrationFits(cal, calPath, plan)
	}
	if err != nil {
		return applyRefuse(diagView, "Cannot read the calibration", err)
	}
	predPlan, predOpts := plan, sim.Options{Trials: min(200, max(10, 500_000/max(len(plan.Operations), 1))), Seed: 1,
		Overhead: sim.DefaultOverhead(), Cores: runtime.NumCPU()}
	if cal != nil {
		predPlan, predOpts = cal.Apply(plan, predOpts)
	}
	if pvUse.counts != nil {
		// An operation the preview found nothing to change for costs
		// only its overhead.
		predPlan = sim.Previewed(predPlan, pvUse.counts.Counts())
	}
	predicted, predErr := sim.Simulate(predPlan, predOpts)
	if predErr == nil {
		opts.Predicted = &exec.Predicted{Trials: predicted.Trials, P10: predicted.WallClock.P10,
			P50: predicted.WallClock.P50, P90: predicted.WallClock.P90}
	}
	res, err := exec.Run(ctx, runPlan, opts)
	view.Close()
	if err != nil {
		return err
	}
	var cmp *sim.Comparison
	if predErr == nil && len(res.Resumed) == 0 {
		// A resumed run did part of the work earlier: its time is not
		// the plan's to compare.
		actual := make([]sim.Actual, len(res.Timings))
		for i, t := range res.Timings {
			actual[i] = sim.Actual{Op: t.Op, Phase: t.Phase, Start: t.Start, End: t.End, Paced: t.Paced, OK: t.OK}
		}
		cmp = sim.Compare(predPlan, predicted, actual, res.Duration)
		if cal != nil {
			cmp.Calibrated = cal.Summary()
		}
		cmp.Previewed = pvUse.note
	}
	again := rerunOf(planPath, stateDir, &stf, *specFlag, sf)
	again.workers, again.labels = *workers, *workerLabels
	next := views.Next{Resume: again.command("apply") + " --resume", Preview: again.command("plan"), Note: again.note()}
	if err := view.Summary(plan, res, cmp, next); err != nil {
		return err
	}
	if pv != nil && res.OK() {
		// Applied, its saved plans are used up (terraform calls them stale).
		if err := exec.RemovePreview(stateDir, plan); err != nil {
			return err
		}
	}
	if res.OK() {
		if err := pvUse.done(ctx, plan); err != nil {
			return err
		}
	}
	if !res.OK() {
		return errReported
	}
	return nil
}

// runnable is a plan checked against its spec, ready to run: the plan as
// written, its spec, the plan with sensitive values filled in and those
// values.
type runnable struct {
	plan, runPlan *planner.Plan
	spec          *lang.Spec
	specPath      string
	secrets       []string
}

// loadRunnable reads a plan and checks it as apply does before anything
// runs (docs: runApply); cmd names the command in its advice.
func loadRunnable(planPath, specFlag string, sf specFlags, diagView views.Diagnostics, cmd string) (*runnable, error) {
	if fi, err := os.Stat(planPath); err == nil && fi.IsDir() {
		return nil, applyRefuse(diagView, "Cannot read plan",
			fmt.Errorf("%s is a directory; "+cmd+" takes a plan file from `echelon compile -o`", planPath))
	}
	plan, err := planner.ReadFile(planPath)
	if err != nil {
		return nil, applyRefuse(diagView, "Cannot read plan", err)
	}
	specPath := specFlag
	if specPath == "" {
		specPath = planner.SpecPath(plan, planPath)
	}
	spec, err := applyLoadSpec(plan, planPath, specPath, specFlag != "", sf.vars, sf.varFiles, diagView)
	if err != nil {
		return nil, err
	}
	if err := planner.CheckFresh(plan, spec); err != nil {
		var se *planner.StaleError
		if errors.As(err, &se) {
			return nil, applyRefuse(diagView, "Stale plan", fmt.Errorf("%s: %w\n  recompile: %s", planPath, err, recompileCommandFor(specPath, plan, planPath)))
		}
		return nil, applyRefuse(diagView, "Cannot check spec_digest", fmt.Errorf("%s: checking spec_digest: %w", planPath, err))
	}
	// plan_digest only shows the file agrees with itself: anyone can
	// recompute it. What runs must be what the spec compiles to.
	if err := planner.Verify(plan, spec); err != nil {
		return nil, applyRefuse(diagView, "Plan does not match its spec", fmt.Errorf("%s: %w\n  recompile: %s", planPath, err, recompileCommandFor(specPath, plan, planPath)))
	}
	// The plan holds "(sensitive)" where the spec has secrets: run with
	// the real values, and mask them in everything apply writes.
	runPlan, secrets, err := exec.RuntimePlan(plan, spec)
	if err != nil {
		return nil, err
	}

	return &runnable{plan: plan, runPlan: runPlan, spec: spec, specPath: specPath, secrets: secrets}, nil
}

// readPreview is the plan's preview in the state directory, checked
// (nil: none); a stale one is refused.
func readPreview(stateDir string, plan *planner.Plan, specDir, planPath string, diagView views.Diagnostics) (*exec.Preview, error) {
	pv, err := exec.ReadPreview(stateDir, plan)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, applyRefuse(diagView, "Cannot read the preview", err)
	}
	if err := pv.Check(plan, specDir); err != nil {
		return nil, applyRefuse(diagView, "Stale preview", fmt.Errorf("%s: %w\n  preview again: echelon plan %s (or apply --no-preview)", planPath, err, planPath))
	}
	return pv, nil
}

// applyRefuse reports why a plan is not run: the error as it is for people
// (main prints it), a JSON diagnostic on stdout (where every --json
// diagnostic goes) with --json.
func applyRefuse(view views.Diagnostics, summary string, err error) error {
	if view.Refused(summary, err) {
		return errReported
	}
	return err
}

// applyLoadSpec loads the plan's spec with its recorded variable values,
// then the user's --var-file and --var (which win).
func applyLoadSpec(plan *planner.Plan, planPath, path string, given bool, vars, varFiles []string, view views.Diagnostics) (*lang.Spec, error) {
	if _, err := os.Stat(path); err != nil {
		if given {
			return nil, applyRefuse(view, "Spec not found", fmt.Errorf("--spec %s: %w", path, err))
		}
		looked := planner.SpecPaths(plan, planPath)
		return nil, applyRefuse(view, "Spec not found", fmt.Errorf("the plan's spec %s does not exist (looked in %s); if it moved, name it with --spec or compile it again: %s",
			plan.Spec.Path, strings.Join(looked, ", "), recompileCommandFor("SPEC", plan, planPath)))
	}
	names := make([]string, 0, len(plan.Spec.Variables))
	for k := range plan.Spec.Variables {
		names = append(names, k)
	}
	sort.Strings(names)
	sensitive := map[string]bool{}
	for _, s := range plan.Spec.Sensitive {
		sensitive[s] = true
	}
	// As JSON, so each value keeps its type: as --var strings, an
	// untyped variable's 5 came back as "5" and the plan was stale.
	recorded := map[string]string{}
	for _, k := range names {
		if sensitive[k] {
			continue
		}
		b, err := json.Marshal(plan.Spec.Variables[k])
		if err != nil {
			return nil, fmt.Errorf("plan variable %s: %w", k, err)
		}
		recorded[k] = string(b)
	}
	spec, diags := lang.Load(path, lang.LoadOptions{
		Vars:     vars,
		VarFiles: varFiles,
		Environ:  os.Environ(),
		Recorded: recorded,
	})
	if diags.HasErrors() {
		var sources map[string]*hcl.File
		if spec != nil {
			sources = spec.Sources
		}
		_ = view.Diagnostics(diags, sources)
		if planPath == "" { // a worker: the plan is someone else's to compile
			view.Advice(fmt.Sprintf("echelon worker: cannot run plan %s: its spec %s has errors here; a variable the plan needs is set on each worker (ECHELON_VAR_NAME in its environment, --var, --var-file), never taken from the store", store.RunKey(plan.PlanDigest), path))
		} else {
			view.Advice(fmt.Sprintf("echelon apply: the plan's spec %s has errors; fix them and run: %s", path, recompileCommandFor(path, plan, planPath)))
		}
		return nil, errReported
	}
	return spec, nil
}

// recompileCommandFor is the compile command that rewrites this plan from
// the spec at specPath.
func recompileCommandFor(specPath string, plan *planner.Plan, planPath string) string {
	parts := []string{"echelon", "compile", specPath}
	if plan.Action == planner.ActionDestroy {
		parts = append(parts, "--destroy")
		if len(plan.Only) > 0 {
			parts = append(parts, "--only", strings.Join(plan.Only, ","))
		}
		if plan.UndeployStrategy != "" {
			parts = append(parts, "--undeploy-strategy", plan.UndeployStrategy)
		}
	}
	parts = append(parts, "--mode", plan.Mode.Name, "-o", planPath)
	return strings.Join(parts, " ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
