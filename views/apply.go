package views

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// Apply is apply's view of a run: its events as they happen (exec's
// Options.OnEvent and OnResumed), then the summary.
type Apply interface {
	// Event shows one event.
	Event(e exec.Event)
	// Resumed takes the operations that succeeded in an earlier run.
	Resumed(ids []string)
	// Close ends the live part of the view (the last frame stays).
	Close()
	// Summary shows the run's result, beside its prediction when cmp is
	// set; next says how to continue it.
	Summary(plan *planner.Plan, res *exec.Result, cmp *sim.Comparison, next Next) error
}

// Next is how a summary says to continue a run that did not succeed: the
// commands, built by the caller with every flag that reaches the same run
// (the store, the state directory, the workers).
type Next struct {
	Resume  string // the apply command that continues the run (with --resume)
	Preview string // the plan command that previews it again
	Note    string // said after them, e.g. " (with the same --var values)"
}

// NewApply returns apply's view of plan's run writing to w: JSON lines
// with asJSON; otherwise a live view redrawn on term when it is a terminal
// (w may wrap it, as a redacting writer does), or one line per event.
// The live view draws until Close.
func NewApply(asJSON bool, w io.Writer, term *os.File, plan *planner.Plan) Apply {
	switch {
	case asJSON:
		return &applyJSON{enc: json.NewEncoder(w), w: w}
	case term != nil:
		v := newApplyLive(w, plan)
		fd := term.Fd()
		v.size = func() (int, int) { return termSize(fd) }
		v.startDrawing()
		return v
	}
	return &applyLines{applySummaryHuman{out: w}}
}

// applyLines is apply's human view off a terminal: one line per event.
type applyLines struct{ applySummaryHuman }

func (v *applyLines) Event(e exec.Event) {
	if line := eventLine(e); line != "" {
		fmt.Fprintf(v.out, "%s %s\n", e.Time.Format("15:04:05.000"), line)
	}
}

func (v *applyLines) Resumed([]string) {}
func (v *applyLines) Close()           {}

// applyJSON is apply --json: one JSON line per event, then the summary.
type applyJSON struct {
	enc *json.Encoder
	w   io.Writer
}

func (v *applyJSON) Event(e exec.Event) {
	// Every line carries the format's version, so a reader of a stream
	// it joins late can still tell it.
	_ = v.enc.Encode(struct {
		exec.Event
		FormatVersion string `json:"format_version"`
	}{e, exec.EventFormatVersion})
}

func (v *applyJSON) Resumed([]string) {}
func (v *applyJSON) Close()           {}

func (v *applyJSON) Summary(_ *planner.Plan, res *exec.Result, cmp *sim.Comparison, _ Next) error {
	b, err := json.Marshal(struct {
		Kind string `json:"kind"`
		*exec.Result
		Prediction *sim.Comparison `json:"prediction,omitempty"`
	}{"summary", res, cmp})
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	_, err = fmt.Fprintln(v.w, string(b))
	return err
}

// applySummaryHuman is the summary people read, on a terminal or not.
type applySummaryHuman struct{ out io.Writer }

func (s applySummaryHuman) Summary(plan *planner.Plan, res *exec.Result, cmp *sim.Comparison, next Next) error {
	w := s.out
	total := len(plan.Operations)
	fmt.Fprintf(w, "\n%s %s: %d/%d operations succeeded", plan.Action, plan.Deployment, len(res.Succeeded)+len(res.Resumed), total)
	if len(res.Resumed) > 0 {
		fmt.Fprintf(w, " (%d in an earlier run)", len(res.Resumed))
	}
	fmt.Fprintf(w, " in %s", lang.FormatDuration(time.Duration(res.Duration*1000)*time.Millisecond))
	if res.Throttled > 0 {
		fmt.Fprintf(w, ", %d throttled attempt(s)", res.Throttled)
	}
	if res.PacedSteps > 0 {
		fmt.Fprintf(w, ", %s waiting for shared api tokens (%s)", secs(res.Paced), planner.Plural(res.PacedSteps, "step"))
	}
	fmt.Fprintln(w)
	if cmp != nil {
		printComparison(w, cmp)
	}
	if len(res.Failed) > 0 {
		fmt.Fprintf(w, "failed (%d):\n", len(res.Failed))
		printFailures(w, res.Failed, len(res.Failed))
		if regions := failedRegions(plan, res.Failed); len(regions) > 0 {
			fmt.Fprintf(w, "failed regions (%d): %s (--resume below retries them)\n", len(regions), summarize(regions, 24))
		}
	}
	// What ran but was stopped short: each has an error and a log to read.
	if len(res.RetryPending) > 0 {
		fmt.Fprintf(w, "failed, the run stopped before the next attempt (%d):\n", len(res.RetryPending))
		printFailures(w, res.RetryPending, 10)
	}
	if len(res.Cancelled) > 0 {
		fmt.Fprintf(w, "cancelled while running (%d):\n", len(res.Cancelled))
		printFailures(w, res.Cancelled, 10)
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(w, "skipped, a dependency failed (%d): %s\n", len(res.Skipped), summarize(res.Skipped, 10))
	}
	if len(res.NotRun) > 0 {
		fmt.Fprintf(w, "not started, the run stopped (%d): %s\n", len(res.NotRun), summarize(res.NotRun, 10))
	}
	fmt.Fprintf(w, "journal: %s\n", res.Journal)
	if !res.OK() {
		if stalePreview(res.Failed) {
			// Resuming the saved plans again would be refused again.
			fmt.Fprintf(w, "preview again, then continue: %s && %s%s\n", next.Preview, next.Resume, next.Note)
		} else {
			fmt.Fprintf(w, "continue with: %s%s\n", next.Resume, next.Note)
		}
	}
	return nil
}

// eventOps names the operations of a step's event: its Ops, else its Op.
func eventOps(e exec.Event) string {
	if len(e.Ops) > 0 {
		return strings.Join(e.Ops, ", ")
	}
	return e.Op
}

// stalePreview: a failure was a saved plan Terraform called stale.
func stalePreview(failed []exec.Failure) bool {
	for _, f := range failed {
		if strings.HasSuffix(strings.TrimSpace(f.Error), exec.PreviewAgain) {
			return true
		}
	}
	return false
}

// printFailures lists operations with their last error and log, the first
// n of them (the rest are in the journal and --json).
func printFailures(w io.Writer, fs []exec.Failure, n int) {
	for i, f := range fs {
		if i == n {
			fmt.Fprintf(w, "  ... and %d more (see the journal)\n", len(fs)-n)
			return
		}
		attempts := ""
		if f.Attempts > 1 {
			attempts = fmt.Sprintf(" (attempt %d)", f.Attempts)
		}
		fmt.Fprintf(w, "  %s%s: %s\n", f.Op, attempts, f.Error)
		if f.Log != "" {
			fmt.Fprintf(w, "    log: %s\n", f.Log)
		}
	}
}

func summarize(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n], ", ") + fmt.Sprintf(", ... (%d more)", len(ids)-n)
}

func eventLine(e exec.Event) string {
	switch e.Kind {
	case exec.EvRunStart:
		return "run started (plan " + shortDigest(e.PlanDigest) + ")"
	case exec.EvRunEnd:
		return fmt.Sprintf("run %s after %s", e.Outcome, secs(e.Duration))
	case exec.EvOpStart:
		return fmt.Sprintf("%s: started (attempt %d)", e.Op, e.Attempt)
	case exec.EvOpEnd:
		if e.Outcome == exec.OutcomeSucceeded {
			var waits []string
			if e.Paced > 0 {
				waits = append(waits, secs(e.Paced)+" waiting for shared api tokens")
			}
			if e.Queued >= 0.5 {
				waits = append(waits, secs(e.Queued)+" waiting for a worker")
			}
			if len(waits) > 0 {
				return fmt.Sprintf("%s: succeeded in %s (after %s)", e.Op, secs(e.Duration), strings.Join(waits, " and "))
			}
			return fmt.Sprintf("%s: succeeded in %s", e.Op, secs(e.Duration))
		}
		log := ""
		if e.Log != "" {
			log = " (log " + e.Log + ")"
		}
		if e.Error == e.Outcome {
			return fmt.Sprintf("%s: %s after %s%s", e.Op, e.Outcome, secs(e.Duration), log)
		}
		return fmt.Sprintf("%s: %s after %s: %s%s", e.Op, e.Outcome, secs(e.Duration), e.Error, log)
	case exec.EvOpSkip:
		return fmt.Sprintf("%s: skipped, %s", e.Op, e.Message)
	case exec.EvRetry:
		if e.Message != "" {
			return fmt.Sprintf("%s: attempt %d in %s after: %s", e.Op, e.Attempt, secs(e.Duration), e.Message)
		}
		return fmt.Sprintf("%s: attempt %d in %s", e.Op, e.Attempt, secs(e.Duration))
	case exec.EvThrottle:
		ra := ""
		if e.RetryAfter > 0 {
			ra = fmt.Sprintf(", retry after %s", secs(e.RetryAfter))
		}
		return fmt.Sprintf("throttled: %s%s: %s", strings.Join(e.Ops, ", "), ra, e.Message)
	case exec.EvPaced:
		ops := eventOps(e)
		// The wait may be this run's own steps' as much as other
		// runners': the bucket is every run's on the store.
		return fmt.Sprintf("%s: waiting %s for shared api tokens: %s (the store's buckets, shared by every run using them)", ops, secs(e.Duration), e.Message)
	case exec.EvClaimed:
		ops := eventOps(e)
		return fmt.Sprintf("%s: claimed by worker %s (attempt %d)", ops, e.Worker, e.Attempt)
	case exec.EvWorkerWait:
		ops := eventOps(e)
		return fmt.Sprintf("%s: waited %s for %s", ops, secs(e.Duration), e.Message)
	case exec.EvWarning:
		return "warning: " + e.Message
	case exec.EvAIMD, exec.EvStopping:
		return e.Message
	case exec.EvLockWait:
		return "waiting for locks: " + e.Message
	case exec.EvResource:
		if e.Op == "" {
			return ""
		}
		return fmt.Sprintf("%s: %s %s", e.Op, e.Resource, e.Message)
	}
	return ""
}

func secs(s float64) string {
	return lang.FormatDuration(time.Duration(s*1000) * time.Millisecond)
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// Comparison writes a run beside its prediction (apply's summary, report).
func Comparison(w io.Writer, c *sim.Comparison) { printComparison(w, c) }

// printComparison lays the run beside its prediction: in total, per phase,
// and the operations that took longer or shorter than their P10-P90.
func printComparison(w io.Writer, c *sim.Comparison) {
	q := func(x sim.Quantiles) string {
		return fmt.Sprintf("%s (P10-P90 %s-%s)", sim.Duration(x.P50), sim.Duration(x.P10), sim.Duration(x.P90))
	}
	off := ""
	if c.Predicted.P50 > 0 {
		off = fmt.Sprintf(" (%+.0f%% of P50)", 100*(c.Actual-c.Predicted.P50)/c.Predicted.P50)
	}
	cal := ""
	if c.Calibrated != "" {
		cal = ", " + c.Calibrated
	}
	if c.Previewed != "" {
		cal += ", with the changes counted by " + c.Previewed
	}
	fmt.Fprintf(w, "predicted %s from %d simulated runs%s; took %s%s\n", q(c.Predicted), c.Trials, cal, sim.Duration(c.Actual), off)
	if len(c.Phases) > 1 {
		for _, ph := range c.Phases {
			fmt.Fprintf(w, "  phase %s: predicted %s, took %s\n", ph.Phase, q(ph.Predicted), sim.Duration(ph.Actual))
		}
	}
	if len(c.Outliers) > 0 {
		fmt.Fprintf(w, "outside their predicted P10-P90 (%d of %d):", len(c.Outliers), c.Checked)
		for i, o := range c.Outliers {
			if i == 10 {
				fmt.Fprintf(w, " and %d more", len(c.Outliers)-10)
				break
			}
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s took %s (%s-%s)", sep, o.Op, sim.Duration(o.Actual), sim.Duration(o.P10), sim.Duration(o.P90))
		}
		fmt.Fprintln(w)
	}
	if c.ByResources > 0 {
		fmt.Fprintf(w, "(%d terraform operations are timed by their resources, as one terraform step: they count in the total and the phases, not one by one)\n", c.ByResources)
	}
}

// failedRegions are the regions of the failed operations, sorted.
func failedRegions(plan *planner.Plan, failed []exec.Failure) []string {
	region := make(map[string]string, len(plan.Operations))
	for i := range plan.Operations {
		region[plan.Operations[i].ID] = plan.Operations[i].Region
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range failed {
		if r := region[f.Op]; r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}
