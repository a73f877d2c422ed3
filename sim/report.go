package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// FormatVersion is the version of the --json output.
const FormatVersion = "1"

// Violation is one broken limit of a budget.
type Violation struct {
	What      string  `json:"what"` // "p50", "p90" or "max_throttled"
	Predicted float64 `json:"predicted"`
	Limit     float64 `json:"limit"`
}

// BudgetCheck is a budget held against the prediction of its mode.
type BudgetCheck struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	// Checked is false when the budget's mode was not simulated; OK is
	// then true (nothing broken) and the JSON view says "ok": null.
	Checked    bool        `json:"checked"`
	OK         bool        `json:"ok"`
	Violations []Violation `json:"violations"`
	// Description is the budget's, for people.
	Description string `json:"description,omitempty"`
}

// CheckBudgets holds each budget against the result of its mode (a budget
// without a mode applies to every simulated mode, once per mode).
func CheckBudgets(budgets []planner.Budget, results []*Result) []BudgetCheck {
	out := []BudgetCheck{}
	for _, b := range budgets {
		matched := false
		for _, r := range results {
			if b.Mode != "" && b.Mode != r.Mode {
				continue
			}
			matched = true
			c := BudgetCheck{Name: b.Name, Mode: r.Mode, Checked: true, OK: true, Violations: []Violation{}, Description: b.Description}
			if b.P50 > 0 && r.WallClock.P50 > b.P50 {
				c.Violations = append(c.Violations, Violation{"p50", r.WallClock.P50, b.P50})
			}
			if b.P90 > 0 && r.WallClock.P90 > b.P90 {
				c.Violations = append(c.Violations, Violation{"p90", r.WallClock.P90, b.P90})
			}
			// The plan format reads max_throttled <= 0 as unset.
			if b.MaxThrottled >= 0 && r.ThrottledMean > b.MaxThrottled {
				c.Violations = append(c.Violations, Violation{"max_throttled", r.ThrottledMean, b.MaxThrottled})
			}
			c.OK = len(c.Violations) == 0
			out = append(out, c)
		}
		if !matched {
			out = append(out, BudgetCheck{Name: b.Name, Mode: b.Mode, OK: true, Violations: []Violation{}, Description: b.Description})
		}
	}
	return out
}

// Duration formats seconds for people: 3.5s, 45s, 4m5s, 38m, 1h12m.
func Duration(sec float64) string {
	if math.IsNaN(sec) || math.IsInf(sec, 0) {
		return "?"
	}
	// Precision: tenths of a second below 10s, seconds below 10m,
	// minutes above; written as lang.FormatDuration writes every duration.
	var d time.Duration
	switch {
	case sec < 10:
		d = time.Duration(math.Round(max(sec, 0)*10)) * time.Second / 10
	case sec < 600:
		d = time.Duration(math.Round(sec)) * time.Second
	default:
		d = time.Duration(math.Round(min(sec, 1e9)/60)) * time.Minute
	}
	return lang.FormatDuration(d)
}

func cell(q Quantiles) string {
	return fmt.Sprintf("%s (%s-%s)", Duration(q.P50), Duration(q.P10), Duration(q.P90))
}

func capString(n int) string {
	if n <= 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

// WriteText writes the mode comparison: one row per phase and a total row,
// one column per mode, then speedup, throttling, risk and recommendations,
// then per mode the critical path, lower bound and efficiency.
func WriteText(w io.Writer, deployment string, results []*Result, checks []BudgetCheck) error {
	var b bytes.Buffer
	if len(results) == 0 {
		return nil
	}
	machine := ""
	if c := results[0].Cores; c > 0 {
		machine = ", " + planner.Plural(c, "core")
	}
	fmt.Fprintf(&b, "%s: %s per mode, seed %d%s; cells are P50 (P10-P90)\n", deployment, planner.Plural(results[0].Trials, "trial"), results[0].Seed, machine)
	if c := results[0].Calibrated; c != nil {
		fmt.Fprintf(&b, "%s (%s)\n", c.Summary, c.File)
	}
	b.WriteString("\n")

	// Phases in plan order; a mode lacking one shows "-".
	var phases []string
	seen := map[string]bool{}
	for _, r := range results {
		for _, ph := range r.Phases {
			if !seen[ph.Phase] {
				seen[ph.Phase] = true
				phases = append(phases, ph.Phase)
			}
		}
	}
	rows := [][]string{append([]string{"PHASE"}, modeNames(results)...)}
	for _, ph := range phases {
		row := []string{ph}
		for _, r := range results {
			c := "-"
			for _, s := range r.Phases {
				if s.Phase == ph {
					c = cell(s.Span)
				}
			}
			row = append(row, c)
		}
		rows = append(rows, row)
	}
	total := []string{"TOTAL"}
	slowest := 0.0
	for _, r := range results {
		total = append(total, cell(r.WallClock))
		slowest = math.Max(slowest, r.WallClock.P50)
	}
	rows = append(rows, total)
	speed := []string{"speedup"}
	thr := []string{"throttled (mean)"}
	rsk := []string{"risk"}
	rec := []string{"recommended caps"}
	for _, r := range results {
		if r.WallClock.P50 > 0 {
			speed = append(speed, fmt.Sprintf("%.1fx", slowest/r.WallClock.P50))
		} else {
			speed = append(speed, "-")
		}
		thr = append(thr, fmt.Sprintf("%.0f of %d", r.ThrottledMean, r.Requests))
		rsk = append(rsk, r.Risk)
		if r.Recommended != nil {
			rec = append(rec, fmt.Sprintf("%s / %s", capString(r.Recommended.MaxParallel), tfString(r.Recommended.TerraformParallelism)))
		} else {
			rec = append(rec, "-")
		}
	}
	rows = append(rows, speed, thr, rsk)
	hasRec := false
	for _, r := range results {
		hasRec = hasRec || r.Recommended != nil
	}
	if hasRec {
		rows = append(rows, rec)
	}
	writeTable(&b, rows, len(phases)+1)
	if hasRec {
		fmt.Fprintf(&b, "\nrecommended caps: max_parallel / terraform_parallelism: the smallest within 5%% of the best P50\namong the candidates with %s\n", ToleranceRule)
	}

	for _, r := range results {
		fmt.Fprintf(&b, "\n%s: P50 %s, mean %s; critical path %s, lower bound %s (%s), efficiency %.0f%%\n",
			r.Mode, Duration(r.WallClock.P50), Duration(r.WallClock.Mean),
			Duration(r.CriticalPath), Duration(r.LowerBound), r.LowerBoundBy, 100*r.Efficiency)
		fmt.Fprintf(&b, "  risk %s: %s\n", r.Risk, r.RiskReason)
		for _, a := range r.APIs {
			fmt.Fprintf(&b, "  api %s: %s, %.1f throttled a run (in %.0f%% of runs), peak demand %.2f rps, floor %s",
				a.API, planner.Plural(int(a.Requests), "request"), a.ThrottledMean, 100*a.PThrottled, a.PeakDemandRPS, Duration(a.LowerBound))
			if a.PExhausted > 0 {
				fmt.Fprintf(&b, ", retries exhausted in %.0f%% of runs", 100*a.PExhausted)
			}
			fmt.Fprintln(&b)
		}
		if rc := r.Recommended; rc != nil {
			fmt.Fprintf(&b, "  recommended: max_parallel %s, terraform_parallelism %s: P50 %s, %.1f throttled a run (%s; %s per candidate)\n",
				capString(rc.MaxParallel), tfString(rc.TerraformParallelism), Duration(rc.P50), rc.ThrottledMean,
				tolerance(rc), planner.Plural(rc.Trials, "trial"))
		}
	}
	if checks != nil {
		writeChecks(&b, checks)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// tolerance says how the recommendation's throttling compares with the
// tolerance.
func tolerance(rc *Recommendation) string {
	if rc.ThrottledMean < rc.Tolerated {
		return fmt.Sprintf("tolerance %.1f", rc.Tolerated)
	}
	return fmt.Sprintf("the least of candidates all over the tolerance %.1f", rc.Tolerated)
}

func writeChecks(b *bytes.Buffer, checks []BudgetCheck) {
	fmt.Fprintln(b)
	if len(checks) == 0 {
		fmt.Fprintln(b, "budgets: none declared")
		return
	}
	fmt.Fprintln(b, "budgets:")
	for _, c := range checks {
		switch {
		case !c.Checked:
			fmt.Fprintf(b, "  %-12s not checked: mode %s was not simulated\n", c.Name, c.Mode)
		case c.OK:
			fmt.Fprintf(b, "  %-12s ok (mode %s)\n", c.Name, c.Mode)
		default:
			var parts []string
			for _, v := range c.Violations {
				if v.What == "max_throttled" {
					parts = append(parts, fmt.Sprintf("throttled %.1f > %.1f", v.Predicted, v.Limit))
				} else {
					parts = append(parts, fmt.Sprintf("%s %s > %s", strings.ToUpper(v.What), Duration(v.Predicted), Duration(v.Limit)))
				}
			}
			fmt.Fprintf(b, "  %-12s BROKEN (mode %s): %s\n", c.Name, c.Mode, strings.Join(parts, ", "))
			if c.Description != "" {
				// Why the budget is what it is: a broken one may be
				// the point (a claim checked against the model).
				fmt.Fprintf(b, "  %-12s %s\n", "", c.Description)
			}
		}
	}
}

func tfString(n int) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func modeNames(rs []*Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Mode
	}
	return out
}

// writeTable left-aligns columns; a rule separates the phase rows from the
// summary rows.
func writeTable(b *bytes.Buffer, rows [][]string, ruleAfter int) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for ri, row := range rows {
		if ri == ruleAfter {
			total := 0
			for _, wd := range width {
				total += wd + 3
			}
			fmt.Fprintln(b, strings.Repeat("-", total-3))
		}
		var line strings.Builder
		for i, c := range row {
			if i > 0 {
				line.WriteString("   ")
			}
			line.WriteString(c)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", width[i]-len(c)))
			}
		}
		fmt.Fprintln(b, line.String())
	}
}

// JSON view. Field names follow the contract; extras after them.

type jsonOutput struct {
	FormatVersion string       `json:"format_version"`
	Deployment    string       `json:"deployment"`
	Calibration   *Calibrated  `json:"calibration,omitempty"`
	Modes         []jsonMode   `json:"modes"`
	Budgets       []jsonBudget `json:"budgets"`
}

// jsonBudget is a BudgetCheck whose "ok" is null when the budget was not
// checked: a budget of a mode not simulated is neither kept nor broken.
type jsonBudget struct {
	Name        string      `json:"name"`
	Mode        string      `json:"mode"`
	Checked     bool        `json:"checked"`
	OK          *bool       `json:"ok"`
	Violations  []Violation `json:"violations"`
	Description string      `json:"description,omitempty"`
}

type jsonQuantiles struct {
	P10  float64 `json:"p10"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	Mean float64 `json:"mean"`
}

type jsonPhase struct {
	Phase string  `json:"phase"`
	P10   float64 `json:"p10"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	Mean  float64 `json:"mean"`
}

type jsonAPI struct {
	API           string  `json:"api"`
	Requests      int64   `json:"requests"`
	ThrottledMean float64 `json:"throttled_mean"`
	PThrottled    float64 `json:"p_throttled"`
	PeakDemandRPS float64 `json:"peak_demand_rps"`
	ExhaustedMean float64 `json:"exhausted_mean"`
	PExhausted    float64 `json:"p_exhausted"`
	LowerBound    float64 `json:"lower_bound"`
}

type jsonMode struct {
	Mode                    string        `json:"mode"`
	Trials                  int           `json:"trials"`
	Seed                    uint64        `json:"seed"`
	Cores                   int           `json:"cores,omitempty"`
	WallClock               jsonQuantiles `json:"wall_clock"`
	CriticalPath            float64       `json:"critical_path"`
	LowerBound              float64       `json:"lower_bound"`
	Phases                  []jsonPhase   `json:"phases"`
	APIs                    []jsonAPI     `json:"apis"`
	Risk                    string        `json:"risk"`
	RecommendedMaxParallel  *int          `json:"recommended_max_parallel,omitempty"`
	RecommendedTFParallel   *int          `json:"recommended_terraform_parallelism,omitempty"`
	RecommendedP50          *float64      `json:"recommended_p50,omitempty"`
	RiskReason              string        `json:"risk_reason"`
	LowerBoundBy            string        `json:"lower_bound_by"`
	Efficiency              float64       `json:"efficiency"`
	CriticalPathOperations  []string      `json:"critical_path_operations"`
	Requests                int64         `json:"requests"`
	ThrottledMean           float64       `json:"throttled_mean"`
	PThrottled              float64       `json:"p_throttled"`
	MedianTrial             int           `json:"median_trial"`
	RecommendedSearchTrials int           `json:"recommended_search_trials,omitempty"`
	// RecommendedThrottledMean is the mean 429s a run with the recommended
	// caps; RecommendedThrottleTolerance is the most a candidate could have
	// to count as not throttling: max(0.5, 0.1% of requests).
	RecommendedThrottledMean     *float64 `json:"recommended_throttled_mean,omitempty"`
	RecommendedThrottleTolerance *float64 `json:"recommended_throttle_tolerance,omitempty"`
}

// Seconds are rounded to the millisecond and shares to 1e-4, so golden
// files do not hinge on the last bits of a float.
func sec(x float64) float64   { return math.Round(x*1000) / 1000 }
func share(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func jq(q Quantiles) jsonQuantiles {
	return jsonQuantiles{sec(q.P10), sec(q.P50), sec(q.P90), sec(q.Mean)}
}

// WriteJSON writes the --json view: format_version, then one entry per mode.
func WriteJSON(w io.Writer, deployment string, results []*Result, checks []BudgetCheck) error {
	out := jsonOutput{FormatVersion: FormatVersion, Deployment: deployment, Modes: []jsonMode{}, Budgets: []jsonBudget{}}
	if len(results) > 0 {
		out.Calibration = results[0].Calibrated
	}
	for _, c := range checks {
		jb := jsonBudget{Name: c.Name, Mode: c.Mode, Checked: c.Checked, Violations: c.Violations, Description: c.Description}
		if c.Checked {
			ok := c.OK
			jb.OK = &ok
		}
		if jb.Violations == nil {
			jb.Violations = []Violation{}
		}
		out.Budgets = append(out.Budgets, jb)
	}
	for _, r := range results {
		jm := jsonMode{
			Mode: r.Mode, Trials: r.Trials, Seed: r.Seed, Cores: r.Cores,
			WallClock:              jq(r.WallClock),
			CriticalPath:           sec(r.CriticalPath),
			LowerBound:             sec(r.LowerBound),
			Phases:                 []jsonPhase{},
			APIs:                   []jsonAPI{},
			Risk:                   r.Risk,
			RiskReason:             r.RiskReason,
			LowerBoundBy:           r.LowerBoundBy,
			Efficiency:             share(r.Efficiency),
			CriticalPathOperations: r.CriticalPathOps,
			Requests:               r.Requests,
			ThrottledMean:          share(r.ThrottledMean),
			PThrottled:             share(r.PThrottled),
			MedianTrial:            r.MedianTrial,
		}
		if jm.CriticalPathOperations == nil {
			jm.CriticalPathOperations = []string{}
		}
		for _, ph := range r.Phases {
			jm.Phases = append(jm.Phases, jsonPhase{ph.Phase, sec(ph.Span.P10), sec(ph.Span.P50), sec(ph.Span.P90), sec(ph.Span.Mean)})
		}
		for _, a := range r.APIs {
			jm.APIs = append(jm.APIs, jsonAPI{
				API: a.API, Requests: a.Requests,
				ThrottledMean: share(a.ThrottledMean), PThrottled: share(a.PThrottled),
				PeakDemandRPS: share(a.PeakDemandRPS),
				ExhaustedMean: share(a.ExhaustedMean), PExhausted: share(a.PExhausted),
				LowerBound: sec(a.LowerBound),
			})
		}
		if rc := r.Recommended; rc != nil {
			mp, tp, p50 := rc.MaxParallel, rc.TerraformParallelism, sec(rc.P50)
			jm.RecommendedMaxParallel, jm.RecommendedP50 = &mp, &p50
			if tp > 0 {
				jm.RecommendedTFParallel = &tp
			}
			jm.RecommendedSearchTrials = rc.Trials
			thr, tol := share(rc.ThrottledMean), share(rc.Tolerated)
			jm.RecommendedThrottledMean, jm.RecommendedThrottleTolerance = &thr, &tol
		}
		out.Modes = append(out.Modes, jm)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode simulation: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
