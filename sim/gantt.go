package sim

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"sort"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sched"
)

// Span is one operation of a traced run, seconds from the start.
type Span struct {
	ID     string
	Region string
	Phase  string
	Start  float64
	End    float64
	// Waits are the intervals it spent backing off after a 429.
	Waits []Wait
}

// Wait is one throttled request's backoff.
type Wait struct {
	At, For float64
	API     string
}

// Run is one simulated trial in full, for the Gantt chart.
type Run struct {
	Mode     string
	Trial    int
	Makespan float64
	Phases   []string
	Spans    []Span // by start, then ID
	// Attempts are every attempt in start order (by step; a step's
	// coalesced instances in the order the policy ranks them).
	Attempts []AttemptSpan
}

// AttemptSpan is one attempt of one operation: Start and End in
// microseconds from the run's start.
type AttemptSpan struct {
	Op          string
	Attempt     int
	Step        int
	Start, End  int64
	Outcome     sched.Kind
	Parallelism int
}

// Trace re-runs one trial of the plan and records every operation.
func Trace(p *planner.Plan, seed uint64, trial int) (*Run, error) {
	return TraceTrial(p, Options{Seed: seed}, trial)
}

// TraceTrial re-runs trial `trial` of a simulation with opts (its Seed,
// Policy, Outcome and TrialOutcome) and records every operation and every attempt.
func TraceTrial(p *planner.Plan, opts Options, trial int) (*Run, error) {
	m, err := modelFor(p, &opts)
	if err != nil {
		return nil, err
	}
	e := newEngine(m)
	e.trace = true
	e.recording = true
	if err := e.run(opts.Seed, trial); err != nil {
		return nil, err
	}
	run := &Run{Mode: p.Mode.Name, Trial: trial, Phases: m.phases}
	for _, a := range e.attempts {
		run.Attempts = append(run.Attempts, AttemptSpan{Op: m.ops[a.Rank].id, Attempt: a.Attempt, Step: a.Step,
			Start: a.Start, End: a.End, Outcome: a.Outcome, Parallelism: a.Parallelism})
	}
	sort.SliceStable(run.Attempts, func(i, j int) bool {
		ai, aj := &run.Attempts[i], &run.Attempts[j]
		if ai.Step != aj.Step {
			return ai.Step < aj.Step
		}
		return m.pol.Rank[ai.Op] < m.pol.Rank[aj.Op]
	})
	for r := range m.ops {
		op := &m.ops[r]
		sp := Span{ID: op.id, Phase: m.phases[op.phase], Start: float64(e.start[r]) / usPerSecond, End: float64(e.end[r]) / usPerSecond}
		if op.region >= 0 {
			sp.Region = m.regions[op.region]
		}
		run.Spans = append(run.Spans, sp)
		run.Makespan = math.Max(run.Makespan, sp.End)
	}
	for _, mk := range e.marks {
		sp := &run.Spans[mk.Op]
		sp.Waits = append(sp.Waits, Wait{At: float64(mk.At) / usPerSecond, For: float64(mk.Wait) / usPerSecond, API: m.apis[mk.API].name})
	}
	// Operations that never started (the run stopped) have no span.
	run.Spans = slices.DeleteFunc(run.Spans, func(sp Span) bool { return sp.Start < 0 })
	sort.SliceStable(run.Spans, func(i, j int) bool {
		if run.Spans[i].Start != run.Spans[j].Start {
			return run.Spans[i].Start < run.Spans[j].Start
		}
		return run.Spans[i].ID < run.Spans[j].ID
	})
	return run, nil
}

// phaseColors are distinguishable fills (Okabe-Ito, colour-blind safe);
// red stays free for throttling.
var phaseColors = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#8C6D31", "#999999"}

const (
	ganttWidth  = 1500
	labelWidth  = 190
	rightPad    = 30
	rowHeight   = 14
	rowGap      = 3
	headerH     = 96
	footerH     = 40
	globalLane  = "(not regional)"
	throttleRed = "#D00000"
)

// niceStep picks a tick interval giving about ten ticks.
func niceStep(total float64) float64 {
	steps := []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}
	for _, s := range steps {
		if total/s <= 12 {
			return s
		}
	}
	return steps[len(steps)-1]
}

type lane struct {
	name string
	rows [][]int // span indices per sub-lane
}

// WriteGantt draws the run as SVG: one lane per region (and one for
// non-regional work), split into sub-lanes where operations overlap, bars
// coloured by phase, a time axis, and throttling as red hatching over the
// time an operation spent backing off (a red tick where each wait began).
func WriteGantt(w io.Writer, title string, run *Run) error {
	return WriteGanttWith(w, title, run, GanttOptions{})
}

// GanttOptions change what WriteGanttWith draws.
type GanttOptions struct {
	// Highlight draws these operations (the critical path) with a thick
	// dark outline; with Highlight set every bar also carries class "op"
	// ("op crit" when highlighted) and data-op, for a page's script.
	Highlight map[string]bool
	// Predicted draws, over each operation's bar, a dashed outline from
	// its predicted start to its predicted end (seconds): a real run laid
	// over its prediction (echelon report --gantt).
	Predicted map[string][2]float64
}

// WriteGanttWith is WriteGantt with options.
func WriteGanttWith(w io.Writer, title string, run *Run, opts GanttOptions) error {
	// Lanes: non-regional first, then regions by name.
	byLane := map[string][]int{}
	var names []string
	for i, sp := range run.Spans {
		ln := sp.Region
		if ln == "" {
			ln = globalLane
		}
		if _, ok := byLane[ln]; !ok {
			names = append(names, ln)
		}
		byLane[ln] = append(byLane[ln], i)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == globalLane) != (names[j] == globalLane) {
			return names[i] == globalLane
		}
		return names[i] < names[j]
	})
	var lanes []lane
	nrows := 0
	for _, n := range names {
		l := lane{name: n}
		var ends []float64
		for _, si := range byLane[n] { // spans are sorted by start
			sp := run.Spans[si]
			placed := false
			for r := range l.rows {
				if ends[r] <= sp.Start+1e-9 {
					l.rows[r] = append(l.rows[r], si)
					ends[r] = sp.End
					placed = true
					break
				}
			}
			if !placed {
				l.rows = append(l.rows, []int{si})
				ends = append(ends, sp.End)
			}
		}
		nrows += len(l.rows)
		lanes = append(lanes, l)
	}

	total := run.Makespan
	for _, p := range opts.Predicted {
		total = max(total, p[1])
	}
	if total <= 0 {
		total = 1
	}
	plotW := float64(ganttWidth - labelWidth - rightPad)
	x := func(t float64) float64 { return labelWidth + t/total*plotW }
	height := headerH + nrows*(rowHeight+rowGap) + len(lanes)*4 + footerH

	phaseIdx := map[string]int{}
	for i, ph := range run.Phases {
		phaseIdx[ph] = i
	}
	color := func(ph string) string { return phaseColors[phaseIdx[ph]%len(phaseColors)] }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="11">`+"\n",
		ganttWidth, height, ganttWidth, height)
	fmt.Fprintf(&b, `<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="%s"/></pattern></defs>`+"\n", throttleRed)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	if run.Trial >= 0 {
		fmt.Fprintf(&b, `<text x="10" y="38" fill="#444">mode %s, trial %d: %s</text>`+"\n",
			html.EscapeString(run.Mode), run.Trial, Duration(run.Makespan))
	} else { // a real run (echelon report)
		fmt.Fprintf(&b, `<text x="10" y="38" fill="#444">mode %s, a real run: %s</text>`+"\n",
			html.EscapeString(run.Mode), Duration(run.Makespan))
	}

	// Legend: phases, then throttling.
	lx := 10.0
	for i, ph := range run.Phases {
		fmt.Fprintf(&b, `<rect x="%.1f" y="48" width="12" height="12" fill="%s"/><text x="%.1f" y="58">%s</text>`+"\n",
			lx, phaseColors[i%len(phaseColors)], lx+16, html.EscapeString(ph))
		lx += 16 + float64(7*len(ph)) + 18
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="48" width="12" height="12" fill="url(#hatch)" stroke="%s"/><text x="%.1f" y="58">waiting after a 429</text>`+"\n",
		lx, throttleRed, lx+16)
	if opts.Predicted != nil {
		lx += 16 + 7*19 + 18
		fmt.Fprintf(&b, `<rect x="%.1f" y="48" width="12" height="12" fill="none" stroke="#111" stroke-dasharray="3 2"/><text x="%.1f" y="58">predicted (median run)</text>`+"\n",
			lx, lx+16)
	}

	// Axis grid and labels.
	step := niceStep(total)
	top := float64(headerH - 14)
	bottom := float64(height - footerH + 4)
	for t := 0.0; t <= total+1e-9; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(t), top, x(t), bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`+"\n", x(t), top-3, axisLabel(t, step, total))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`+"\n", x(t), bottom+14, axisLabel(t, step, total))
	}

	y := float64(headerH)
	for li, l := range lanes {
		laneH := float64(len(l.rows)*(rowHeight+rowGap)) + 4
		if li%2 == 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%.1f" width="%d" height="%.1f" fill="#f4f4f4"/>`+"\n", y-2, ganttWidth, laneH)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", labelWidth-8, y+rowHeight-3, html.EscapeString(l.name))
		for ri, row := range l.rows {
			ry := y + float64(ri*(rowHeight+rowGap))
			for _, si := range row {
				sp := run.Spans[si]
				wdt := math.Max(x(sp.End)-x(sp.Start), 1)
				attrs := `stroke="white" stroke-width="0.5"`
				note := ""
				if opts.Highlight != nil {
					class := "op"
					if opts.Highlight[sp.ID] {
						class, attrs, note = "op crit", `stroke="#111" stroke-width="2"`, "; on the critical path"
					}
					attrs += fmt.Sprintf(` class="%s" data-op="%s"`, class, html.EscapeString(sp.ID))
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" %s><title>%s: %s to %s (%s)%s%s</title></rect>`+"\n",
					x(sp.Start), ry, wdt, rowHeight, color(sp.Phase), attrs, html.EscapeString(sp.ID),
					Duration(sp.Start), Duration(sp.End), Duration(sp.End-sp.Start), waitNote(sp.Waits), note)
				if p, ok := opts.Predicted[sp.ID]; ok {
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#111" stroke-width="1" stroke-dasharray="3 2" class="predicted"><title>%s predicted: %s to %s (%s)</title></rect>`+"\n",
						x(p[0]), ry+2, math.Max(x(p[1])-x(p[0]), 1), rowHeight-4, html.EscapeString(sp.ID),
						Duration(p[0]), Duration(p[1]), Duration(p[1]-p[0]))
				}
				for _, iv := range mergeWaits(sp.Waits) {
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="url(#hatch)" opacity="0.8"/>`+"\n",
						x(iv[0]), ry, math.Max(x(iv[1])-x(iv[0]), 1.5), rowHeight)
				}
				for _, wt := range firstTicks(sp.Waits, total/plotW*3) {
					fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`+"\n",
						x(wt), ry-2, x(wt), ry+rowHeight+2, throttleRed)
				}
			}
		}
		y += laneH
	}
	fmt.Fprintln(&b, "</svg>")
	_, err := w.Write(b.Bytes())
	return err
}

// axisLabel formats tick t of an axis with ticks every step up to total
// seconds. Every label of an axis has one form, chosen by the step (the
// finest unit a tick needs) and the total (the largest unit): 5s, 10s;
// 0m30s, 1m00s; 2m, 10m; 0h15m, 1h30m; 3h, 6h. Duration would mix
// 2m00s and 10m on one axis.
func axisLabel(t, step, total float64) string {
	s := int64(math.Round(t))
	switch {
	case step < 60 && total < 60:
		return fmt.Sprintf("%ds", s)
	case step < 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case step < 3600 && total < 3600:
		return fmt.Sprintf("%dm", s/60)
	case step < 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dh", s/3600)
	}
}

func waitNote(ws []Wait) string {
	if len(ws) == 0 {
		return ""
	}
	total := 0.0
	for _, w := range ws {
		total += w.For
	}
	return fmt.Sprintf("; %d throttled requests, %s backing off", len(ws), Duration(total))
}

// mergeWaits unions the backoff intervals so dense throttling draws as one
// hatched stretch instead of thousands of shapes.
func mergeWaits(ws []Wait) [][2]float64 {
	var out [][2]float64
	for _, w := range ws { // in time order: waits of one unit never overlap
		if n := len(out); n > 0 && w.At <= out[n-1][1]+1e-9 {
			out[n-1][1] = math.Max(out[n-1][1], w.At+w.For)
			continue
		}
		out = append(out, [2]float64{w.At, w.At + w.For})
	}
	return out
}

// firstTicks are the starts of waits at least minGap apart (one tick per
// visible stretch).
func firstTicks(ws []Wait, minGap float64) []float64 {
	var out []float64
	last := math.Inf(-1)
	for _, w := range ws {
		if w.At-last >= minGap {
			out = append(out, w.At)
			last = w.At
		}
	}
	return out
}
