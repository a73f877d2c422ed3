package review

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strings"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// Page is what the HTML report shows: the mode table, then per mode the
// Gantt chart of its median simulated run (critical path outlined,
// tooltips per operation) and its throttling over time.
type Page struct {
	Title    string
	Subtitle string
	Modes    []PageMode
	Checks   []sim.BudgetCheck // simulate's budgets; a review's are in Review
	Review   *Report           // set for review --html
}

// PageMode is one mode of a page.
type PageMode struct {
	Plan   *planner.Plan
	Result *sim.Result
	Run    *sim.Run // the median trial, traced
	// Sample are the first SampleRuns trials, traced, for throttling over
	// time (a median run often has none when a third of runs throttle).
	Sample []*sim.Run
	// Review only: the mode's status and prediction at the base.
	Status string
	Before *Prediction
}

// SampleRuns is how many trials a page traces for its throttling chart.
const SampleRuns = 50

// sample traces the first SampleRuns trials of p (fewer when r has fewer).
func sample(p *planner.Plan, r *sim.Result, seed uint64) ([]*sim.Run, error) {
	var out []*sim.Run
	for i := 0; i < min(SampleRuns, r.Trials); i++ {
		run, err := sim.Trace(p, seed, i)
		if err != nil {
			return nil, fmt.Errorf("trace mode %s trial %d: %w", p.Mode.Name, i, err)
		}
		out = append(out, run)
	}
	return out, nil
}

// SimulatePage is the page of `simulate --html`: plans and their results,
// each median trial re-run with seed for its chart.
func SimulatePage(deployment string, plans []*planner.Plan, results []*sim.Result, checks []sim.BudgetCheck, seed uint64) (*Page, error) {
	pg := &Page{Title: deployment + ": predicted runs", Checks: checks}
	if len(results) > 0 {
		pg.Subtitle = fmt.Sprintf("%d simulated runs per mode, seed %d", results[0].Trials, seed)
	}
	for i, p := range plans {
		run, err := sim.Trace(p, seed, results[i].MedianTrial)
		if err != nil {
			return nil, fmt.Errorf("trace mode %s: %w", p.Mode.Name, err)
		}
		runs, err := sample(p, results[i], seed)
		if err != nil {
			return nil, err
		}
		pg.Modes = append(pg.Modes, PageMode{Plan: p, Result: results[i], Run: run, Sample: runs})
	}
	return pg, nil
}

// Page is the page of `review --html`: the working tree's modes, with the
// base's predictions beside them.
func (r *Report) Page() (*Page, error) {
	pg := &Page{Title: fmt.Sprintf("%s: review against %s", r.Deployment, r.Base), Review: r,
		Subtitle: fmt.Sprintf("%s at %s (%s) and in this change; %d simulated runs per mode, seed %d", r.Spec, r.Base, shortCommit(r.BaseCommit), r.Trials, r.Seed)}
	for _, m := range r.Modes {
		pm := PageMode{Plan: m.newPlan, Result: m.result, Status: m.Status, Before: m.Before}
		if m.newPlan != nil && m.result != nil {
			run, err := sim.Trace(m.newPlan, r.Seed, m.result.MedianTrial)
			if err != nil {
				return nil, fmt.Errorf("trace mode %s: %w", m.Mode, err)
			}
			pm.Run = run
			if pm.Sample, err = sample(m.newPlan, m.result, r.Seed); err != nil {
				return nil, err
			}
		}
		if m.newPlan == nil {
			// removed, or no longer compiles: a row in the table, no chart
			pm.Plan = &planner.Plan{Mode: planner.Mode{Name: m.Mode}}
		}
		pg.Modes = append(pg.Modes, pm)
	}
	return pg, nil
}

const pageCSS = `
body{font:14px/1.4 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f2937;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cbd5e1}
main{padding:16px 24px}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px}
th,td{border:1px solid #d4d4d4;padding:4px 10px;text-align:left;white-space:nowrap}
th{background:#f1f5f9;white-space:normal}
td.budgets{white-space:normal;min-width:150px;max-width:230px;font-size:13px}
tr.mode{cursor:pointer}
tr.mode.sel{background:#e0f2fe}
.bad{color:#b00020;font-weight:bold}
.ok{color:#146c2e}
.problems li{color:#b00020}
.tabs button{font:inherit;padding:5px 14px;margin-right:4px;border:1px solid #94a3b8;background:#fff;border-radius:4px 4px 0 0;cursor:pointer}
.tabs button.sel{background:#1f2937;color:#fff}
section.mode{display:none;background:#fff;border:1px solid #d4d4d4;padding:10px}
section.mode.sel{display:block}
section.mode svg{width:100%;height:auto;display:block}
.note{color:#555}
#tip{position:absolute;display:none;background:#111;color:#fff;padding:4px 8px;border-radius:4px;font-size:12px;pointer-events:none;max-width:480px}
body.crit-only rect.op:not(.crit){opacity:.25}
footer{padding:8px 24px;color:#777;font-size:12px}
`

// pageCatch is the first script of the page: it keeps every error any
// later script raises, and shows them in the status marker.
const pageCatch = `
window.echelonErrors = [];
window.onerror = function (msg, src, line) {
  window.echelonErrors.push(msg + " (line " + line + ")");
  var s = document.getElementById("status");
  if (s) { s.setAttribute("data-state", "error"); s.textContent = "script error: " + window.echelonErrors.join("; "); }
};
`

const pageJS = `
document.addEventListener("DOMContentLoaded", function () {
  var tabs = document.querySelectorAll(".tabs button");
  var rows = document.querySelectorAll("tr.mode");
  var secs = document.querySelectorAll("section.mode");
  function show(name) {
    [tabs, rows, secs].forEach(function (list) {
      list.forEach(function (el) { el.classList.toggle("sel", el.getAttribute("data-mode") === name); });
    });
  }
  tabs.forEach(function (b) { b.addEventListener("click", function () { show(b.getAttribute("data-mode")); }); });
  // report.html#MODE opens on that mode.
  var want = decodeURIComponent(location.hash.slice(1));
  tabs.forEach(function (b) { if (b.getAttribute("data-mode") === want) { show(want); } });
  rows.forEach(function (r) { r.addEventListener("click", function () { show(r.getAttribute("data-mode")); }); });
  var tip = document.getElementById("tip");
  var bars = document.querySelectorAll("rect.op, rect.thr");
  bars.forEach(function (r) {
    var t = r.querySelector("title");
    var text = t ? t.textContent : "";
    r.addEventListener("mousemove", function (ev) {
      tip.textContent = text;
      tip.style.display = "block";
      tip.style.left = (ev.pageX + 14) + "px";
      tip.style.top = (ev.pageY + 14) + "px";
    });
    r.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  });
  var crit = document.getElementById("crit");
  crit.addEventListener("change", function () { document.body.classList.toggle("crit-only", crit.checked); });
  var s = document.getElementById("status");
  if (window.echelonErrors.length > 0) {
    s.setAttribute("data-state", "error");
    s.textContent = "script error: " + window.echelonErrors.join("; ");
  } else {
    s.setAttribute("data-state", "ok");
    s.textContent = "rendered " + secs.length + " modes, " + document.querySelectorAll("rect.op").length + " operation bars";
  }
});
`

// WriteHTML writes pg as one self-contained page: inline CSS, script and
// SVG, nothing fetched.
func WriteHTML(w io.Writer, pg *Page) error {
	bw := bufio.NewWriter(w)
	e := html.EscapeString
	fmt.Fprintf(bw, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", e(pg.Title))
	fmt.Fprintf(bw, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n")
	fmt.Fprintf(bw, "<style>%s</style>\n<script>%s</script>\n</head>\n<body>\n", pageCSS, pageCatch)
	fmt.Fprintf(bw, "<header><h1>%s</h1><p>%s</p></header>\n<main>\n", e(pg.Title), e(pg.Subtitle))

	if r := pg.Review; r != nil {
		if len(r.Problems) == 0 {
			fmt.Fprintln(bw, `<p class="ok"><b>No problems</b>: the spec is valid and every budget holds.</p>`)
		} else {
			fmt.Fprintf(bw, "<p class=\"bad\">%s:</p>\n<ul class=\"problems\">\n", e(planner.Plural(len(r.Problems), "problem")))
			for _, p := range r.Problems {
				fmt.Fprintf(bw, "<li>%s</li>\n", e(p))
			}
			fmt.Fprintln(bw, "</ul>")
		}
	}

	// The mode table.
	review := pg.Review != nil
	fmt.Fprint(bw, "<h2>Modes</h2>\n<table>\n<tr><th>mode</th>")
	if review {
		fmt.Fprint(bw, "<th>plan</th><th>P50 before</th>")
	}
	fmt.Fprintln(bw, "<th>operations</th><th>P50</th><th>P10-P90</th><th>critical path</th><th>lower bound</th><th>throttled a run</th><th>runs throttled</th><th>risk</th><th>budgets</th></tr>")
	for i, m := range pg.Modes {
		name := m.Plan.Mode.Name
		sel := ""
		if i == 0 {
			sel = " sel"
		}
		fmt.Fprintf(bw, "<tr class=\"mode%s\" data-mode=\"%s\"><td><b>%s</b></td>", sel, e(name), e(name))
		if review {
			before := "—"
			if m.Before != nil {
				before = sim.Duration(m.Before.P50)
			}
			fmt.Fprintf(bw, "<td>%s</td><td>%s</td>", e(m.Status), before)
		}
		if m.Result == nil {
			fmt.Fprintln(bw, "<td colspan=\"9\" class=\"note\">not compiled in this change</td></tr>")
			continue
		}
		r := m.Result
		fmt.Fprintf(bw, "<td>%d</td><td>%s</td><td>%s-%s</td><td>%s</td><td>%s</td><td>%.1f</td><td>%.0f%%</td><td>%s</td><td class=\"budgets\">%s</td></tr>\n",
			len(m.Plan.Operations), sim.Duration(r.WallClock.P50), sim.Duration(r.WallClock.P10), sim.Duration(r.WallClock.P90),
			sim.Duration(r.CriticalPath), sim.Duration(r.LowerBound), r.ThrottledMean, 100*r.PThrottled, e(r.Risk), budgetHTML(pg, name))
	}
	fmt.Fprintln(bw, "</table>")

	fmt.Fprintln(bw, `<p><label><input type="checkbox" id="crit"> show only the critical path</label> <span class="note">(outlined in black; hover a bar for the operation)</span></p>`)
	fmt.Fprint(bw, "<div class=\"tabs\">")
	for i, m := range pg.Modes {
		sel := ""
		if i == 0 {
			sel = ` class="sel"`
		}
		fmt.Fprintf(bw, `<button%s data-mode="%s">%s</button>`, sel, e(m.Plan.Mode.Name), e(m.Plan.Mode.Name))
	}
	fmt.Fprintln(bw, "</div>")
	for i, m := range pg.Modes {
		sel := ""
		if i == 0 {
			sel = " sel"
		}
		name := m.Plan.Mode.Name
		fmt.Fprintf(bw, "<section class=\"mode%s\" data-mode=\"%s\">\n", sel, e(name))
		if m.Run == nil || m.Result == nil {
			fmt.Fprintf(bw, "<p class=\"note\">mode %s: no plan in this change</p>\n</section>\n", e(name))
			continue
		}
		crit := map[string]bool{}
		for _, id := range m.Result.CriticalPathOps {
			crit[id] = true
		}
		fmt.Fprintf(bw, "<h3>Median run (trial %d of %d): %s</h3>\n", m.Result.MedianTrial, m.Result.Trials, sim.Duration(m.Run.Makespan))
		fmt.Fprintf(bw, "<p class=\"note\">critical path (%s): %s</p>\n", sim.Duration(m.Result.CriticalPath), e(strings.Join(m.Result.CriticalPathOps, " → ")))
		var svg bytes.Buffer
		if err := sim.WriteGanttWith(&svg, pg.Title, m.Run, sim.GanttOptions{Highlight: crit}); err != nil {
			return err
		}
		bw.Write(svg.Bytes())
		fmt.Fprintf(bw, "<h3>Throttling over time (%s)</h3>\n", e(planner.Plural(len(m.Sample), "traced run")))
		writeThrottle(bw, m.Sample)
		fmt.Fprintln(bw, "</section>")
	}
	fmt.Fprintln(bw, "</main>\n<div id=\"tip\"></div>")
	fmt.Fprintln(bw, `<footer>echelon — <span id="status" data-state="loading">the page's script did not run</span></footer>`)
	fmt.Fprintf(bw, "<script>%s</script>\n</body>\n</html>\n", pageJS)
	return bw.Flush()
}

// budgetHTML says which budgets of mode hold.
func budgetHTML(pg *Page, mode string) string {
	var parts []string
	if pg.Review != nil {
		for _, b := range pg.Review.Budgets {
			if b.Mode != mode || b.After == nil {
				continue
			}
			if b.After.OK {
				parts = append(parts, `<span class="ok">`+html.EscapeString(b.Name)+` held</span>`)
			} else {
				parts = append(parts, `<span class="bad">`+html.EscapeString(b.Name)+` broken: `+html.EscapeString(violations(b.After.Violations))+`</span>`)
			}
		}
	}
	for _, c := range pg.Checks {
		if c.Mode != mode || !c.Checked {
			continue
		}
		if c.OK {
			parts = append(parts, `<span class="ok">`+html.EscapeString(c.Name)+` held</span>`)
		} else {
			parts = append(parts, `<span class="bad">`+html.EscapeString(c.Name)+` broken: `+html.EscapeString(violations(c.Violations))+`</span>`)
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "<br>")
}

// writeThrottle draws throttling over time across runs: bars are the
// mean 429s a run per time bin (a hundredth of the longest run), the line
// the mean number of operations backing off.
func writeThrottle(w *bufio.Writer, runs []*sim.Run) {
	const width, height, left, bins = 1500, 150, 190, 100
	plotW := float64(width - left - 30)
	total := 1.0
	for _, run := range runs {
		total = math.Max(total, run.Makespan)
	}
	count := make([]float64, bins)
	waiting := make([]float64, bins) // operation-seconds backing off per bin
	n, throttled := 0, 0
	binW := total / bins
	for _, run := range runs {
		had := false
		for _, sp := range run.Spans {
			for _, wt := range sp.Waits {
				n++
				had = true
				b := min(bins-1, max(0, int(wt.At/binW)))
				count[b]++
				for t0 := wt.At; t0 < wt.At+wt.For; {
					k := min(bins-1, max(0, int(t0/binW)))
					end := math.Min(wt.At+wt.For, float64(k+1)*binW)
					if end <= t0 {
						break
					}
					waiting[k] += end - t0
					t0 = end
				}
			}
		}
		if had {
			throttled++
		}
	}
	if n == 0 {
		fmt.Fprintf(w, "<p class=\"note\">no throttled request in %s</p>\n", planner.Plural(len(runs), "traced run"))
		return
	}
	runsF := float64(len(runs))
	peak := 1e-9
	for i := range count {
		count[i] /= runsF
		waiting[i] /= runsF * binW
		peak = math.Max(peak, count[i])
	}
	peakW := 1e-9
	for _, x := range waiting {
		peakW = math.Max(peakW, x)
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="Helvetica, Arial, sans-serif" font-size="11">`+"\n", width, height, width, height)
	top, bottom := 20.0, float64(height-25)
	x := func(t float64) float64 { return left + t/total*plotW }
	fmt.Fprintf(w, `<text x="10" y="%.0f">429s a run per %s</text>`+"\n", top+10, sim.Duration(binW))
	fmt.Fprintf(w, `<text x="10" y="%.0f" fill="#555">peak %.2f; %.1f a run</text>`+"\n", top+26, peak, float64(n)/runsF)
	fmt.Fprintf(w, `<text x="10" y="%.0f" fill="#555">%d of %d runs throttled</text>`+"\n", top+42, throttled, len(runs))
	fmt.Fprintf(w, `<text x="10" y="%.0f" fill="#555">line: ops backing off (peak %.1f)</text>`+"\n", top+58, peakW)
	fmt.Fprintf(w, `<line x1="%d" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999"/>`+"\n", left, bottom, x(total), bottom)
	for i, c := range count {
		if c == 0 {
			continue
		}
		h := c / peak * (bottom - top)
		fmt.Fprintf(w, `<rect class="thr" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#D00000"><title>%s to %s: %.2f throttled requests a run</title></rect>`+"\n",
			x(float64(i)*binW), bottom-h, math.Max(plotW/bins-1, 1), h, sim.Duration(float64(i)*binW), sim.Duration(float64(i+1)*binW), c)
	}
	var pts []string
	for i, wv := range waiting {
		y := bottom - wv/peakW*(bottom-top)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x((float64(i)+0.5)*binW), y))
	}
	fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="#111" stroke-width="1.2"/>`+"\n", strings.Join(pts, " "))
	for _, t := range []float64{0, total / 2, total} {
		fmt.Fprintf(w, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#444">%s</text>`+"\n", x(t), bottom+15, sim.Duration(t))
	}
	fmt.Fprintln(w, "</svg>")
}
