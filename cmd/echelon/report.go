package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/views"
)

// reportStdout is where report writes; tests swap it.
var reportStdout io.Writer = currentStdout{}

const reportUsage = `report PLAN [--state DIR] [--store URL] [--json] [--gantt F.svg]

Lays the plan's last run (its journal in the state directory, or in the
shared store of --store / ECHELON_STORE) beside its
prediction: the total and each phase, predicted P50 (P10-P90) against real,
and the operations whose real time fell outside their own P10-P90. The
total is held to the prediction apply recorded when the run started
(run_start's "predicted"); the phases and operations are predicted again
from the plan with the same trials and seed, with the spec's calibration
as it is now (--no-calibration: without). --gantt draws the real run as an SVG Gantt chart
(F.svg) with the predicted median's start and end of each operation outlined
over its bar, and the predicted median alone (F-predicted.svg). Each
failed operation is listed with its error and the last lines of its log:
its file when the attempt ran on this machine, else the store's copy
(echelon logs PLAN OP prints a whole log).`

// runReport reads a plan's last run and compares it with its prediction.
func runReport(ctx context.Context, args []string) error {
	fs := newFlagSet("report", reportUsage)
	state := fs.String("state", "", "state `DIR` of the run (default .echelon next to the plan)")
	var stf storeFlags
	stf.register(fs)
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	gantt := fs.String("gantt", "", "draw the real run to `FILE` (and the predicted median to FILE-predicted)")
	noCal := fs.Bool("no-calibration", false, "re-predict the phases and operations without the spec's echelon.calibration.json")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("report takes one plan file, got %s", planner.Plural(fs.NArg(), "argument"))
	}
	planPath := fs.Arg(0)
	if fi, err := os.Stat(planPath); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory; report takes a plan file: the one apply ran (echelon compile %s -o PLAN)", planPath, planPath)
	}
	plan, err := planner.ReadFile(planPath)
	if err != nil {
		return err
	}
	stateDir := stf.stateDir(*state, filepath.Join(filepath.Dir(planPath), ".echelon"))
	run, journal, err := reportRun(ctx, &stf, stateDir, plan)
	if err != nil {
		return err
	}
	trials := 200
	if run.Predicted != nil && run.Predicted.Trials > 0 {
		trials = run.Predicted.Trials
	}
	// As apply predicted: from a calibrated copy of the plan when the
	// spec has a calibration (as it is now: it may have changed since).
	predPlan, predOpts := plan, sim.Options{Trials: trials, Seed: 1, Overhead: sim.DefaultOverhead(), Cores: runtime.NumCPU()}
	cal, calPath, err := loadCalibration(planSpecDir(plan, planPath), *noCal)
	if err != nil {
		return err
	}
	if err := calibrationFits(cal, calPath, plan); err != nil {
		return err
	}
	if cal != nil {
		predPlan, predOpts = cal.Apply(plan, predOpts)
	}
	pred, err := sim.Simulate(predPlan, predOpts)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if p := run.Predicted; p != nil {
		// The total is held to what apply predicted when the run started.
		pred.WallClock.P10, pred.WallClock.P50, pred.WallClock.P90 = p.P10, p.P50, p.P90
	}
	phase := make(map[string]string, len(plan.Operations))
	region := make(map[string]string, len(plan.Operations))
	for i := range plan.Operations {
		phase[plan.Operations[i].ID], region[plan.Operations[i].ID] = plan.Operations[i].Phase, plan.Operations[i].Region
	}
	actual := make([]sim.Actual, 0, len(run.Timings))
	end := 0.0
	for _, t := range run.Timings {
		actual = append(actual, sim.Actual{Op: t.Op, Phase: phase[t.Op], Start: t.Start, End: t.End, Paced: t.Paced, OK: t.OK})
		end = max(end, t.End)
	}
	total := run.Duration
	if total == 0 {
		total = end // the run died before its run_end
	}
	var failed []string
	for _, t := range run.Timings {
		if !t.OK {
			failed = append(failed, t.Op)
		}
	}
	// A resumed run did part of its work earlier: its time is not the
	// plan's to compare (as apply's summary leaves it out).
	var cmp *sim.Comparison
	if !run.Resumed {
		cmp = sim.Compare(predPlan, pred, actual, total)
		if cal != nil {
			cmp.Calibrated = cal.Summary()
		}
	}
	fails := failureLogs(ctx, &stf, stateDir, plan, run.Failures)
	if *asJSON {
		b, err := json.MarshalIndent(struct {
			Journal  string          `json:"journal"`
			Ended    bool            `json:"ended"`
			Outcome  string          `json:"outcome,omitempty"`
			Resumed  bool            `json:"resumed"`
			Failed   []string        `json:"failed"`
			Failures []reportFailure `json:"failures"`
			Paced    float64         `json:"paced,omitempty"`
			*sim.Comparison
		}{journal, run.Duration > 0, run.Outcome, run.Resumed, append([]string{}, failed...), fails, run.Paced, cmp}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(reportStdout, string(b))
		return err
	}
	fmt.Fprintf(reportStdout, "%s %s, mode %s: the run in %s\n", plan.Action, plan.Deployment, plan.Mode.Name, journal)
	if run.Duration == 0 {
		fmt.Fprintln(reportStdout, "(the journal has no run_end: the run was killed; times are up to its last record)")
	}
	if run.Outcome != "" {
		fmt.Fprintf(reportStdout, "outcome: %s, %s ran in this run", run.Outcome, planner.Plural(len(run.Timings), "operation"))
		if len(failed) > 0 {
			fmt.Fprintf(reportStdout, "; failed (%d): %s", len(failed), strings.Join(failed, ", "))
		}
		fmt.Fprintln(reportStdout)
	}
	if run.PacedSteps > 0 {
		fmt.Fprintf(reportStdout, "paced: %s waited %s in all for shared api tokens\n", planner.Plural(run.PacedSteps, "step"), sim.Duration(run.Paced))
	}
	printReportFailures(reportStdout, fails, rerunOf(planPath, *state, &stf, "", specFlags{}))
	if run.Resumed {
		fmt.Fprintln(reportStdout, "the run was resumed (--resume): part of its work ran earlier, so its time is not compared with the plan's prediction")
	} else {
		views.Comparison(reportStdout, cmp)
	}
	if *gantt != "" {
		real := &sim.Run{Mode: plan.Mode.Name, Trial: -1, Makespan: total}
		for _, ph := range plan.Phases {
			real.Phases = append(real.Phases, ph.Name)
		}
		for _, t := range run.Timings {
			real.Spans = append(real.Spans, sim.Span{ID: t.Op, Phase: phase[t.Op], Region: region[t.Op], Start: t.Start, End: t.End})
		}
		median, err := sim.TraceTrial(predPlan, predOpts, pred.MedianTrial)
		if err != nil {
			return err
		}
		over := map[string][2]float64{}
		for _, sp := range median.Spans {
			over[sp.ID] = [2]float64{sp.Start, sp.End}
		}
		title := fmt.Sprintf("%s: the real run (%s) over its prediction (%s)", plan.Deployment, sim.Duration(total), sim.Duration(pred.WallClock.P50))
		if err := writeOut(*gantt, "gantt", func(w io.Writer) error {
			return sim.WriteGanttWith(w, title, real, sim.GanttOptions{Predicted: over})
		}); err != nil {
			return err
		}
		predFile := withSuffix(*gantt, "-predicted")
		ptitle := fmt.Sprintf("%s: the predicted median of %d runs (%s)", plan.Deployment, pred.Trials, sim.Duration(pred.WallClock.P50))
		if err := writeOut(predFile, "gantt", func(w io.Writer) error { return sim.WriteGantt(w, ptitle, median) }); err != nil {
			return err
		}
		fmt.Fprintf(reportStdout, "\ngantt: %s (real), %s (predicted)\n", *gantt, predFile)
	}
	return nil
}

// printReportFailures lists failed operations with the end of each log
// (the first reportFailuresShown of them).
func printReportFailures(w io.Writer, fails []reportFailure, again rerun) {
	for i, f := range fails {
		if i == reportFailuresShown {
			fmt.Fprintf(w, "  ... and %d more\n", len(fails)-i)
			break
		}
		attempt := ""
		if f.Attempt > 1 {
			attempt = fmt.Sprintf(" (attempt %d)", f.Attempt)
		}
		fmt.Fprintf(w, "  %s%s: %s\n", f.Op, attempt, firstLine(f.Error))
		from := ""
		if f.LogFrom == "store" {
			from = " (read from the store)"
		}
		if f.Log != "" {
			fmt.Fprintf(w, "    log: %s%s\n", f.Log, from)
		}
		if f.Missing != "" {
			fmt.Fprintf(w, "    (%s)\n", f.Missing)
		}
		for _, l := range f.Tail {
			fmt.Fprintf(w, "    | %s\n", l)
		}
	}
	if len(fails) > 0 {
		op := "OP"
		if len(fails) == 1 {
			op = fails[0].Op
		}
		fmt.Fprintf(w, "the whole log: %s\n", again.command("logs", op))
	}
}

// reportRun reads the plan's last run: from the state directory's journal
// file, or from the database store.
// It returns the run and where its journal is.
func reportRun(ctx context.Context, stf *storeFlags, stateDir string, plan *planner.Plan) (*exec.RunRecord, string, error) {
	if !store.IsURL(stf.value()) {
		journal := filepath.Join(exec.RunDir(stateDir, plan), "journal.jsonl")
		run, err := exec.ReadRun(journal)
		if err != nil {
			return nil, "", fmt.Errorf("no run of this plan in %s (apply it first, or give --state): %w", stateDir, err)
		}
		return run, journal, nil
	}
	st, err := stf.open(ctx, stateDir)
	if err != nil {
		return nil, "", err
	}
	defer st.Close()
	rc, err := st.Journal(ctx, plan.PlanDigest)
	if err != nil {
		return nil, "", fmt.Errorf("no run of this plan in %s (apply it first): %w", st.Where(), err)
	}
	defer rc.Close()
	run, err := exec.ReadRunFrom(rc, st.Where())
	if err != nil {
		return nil, "", fmt.Errorf("no run of this plan in %s (apply it first): %w", st.Where(), err)
	}
	return run, st.Where(), nil
}
