package exec

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// Progress views a run's events: a live view redrawn about four times a
// second on a terminal, one line per event otherwise, or JSON lines.
type Progress struct {
	w     io.Writer
	style string // "tty", "lines", "json"
	start time.Time

	mu        sync.Mutex
	phaseOf   map[string]string
	phases    []string
	total     map[string]int
	done      map[string]int
	failed    map[string]int    // skipped operations per phase
	ended     map[string]string // failed or cancelled operations, by ID: the outcome
	running   map[string]time.Time
	parallel  int
	tfPar     int
	throttles int
	lastAIMD  string
	stopping  string
	hasTF     bool
	drawn     int                     // lines of the last frame, to redraw over it
	size      func() (cols, rows int) // the terminal's size (0: unknown)
	framed    bool                    // a frame was drawn on a terminal of known size
	stop      chan struct{}
	wg        sync.WaitGroup
	enc       *json.Encoder
}

// Progress styles.
const (
	StyleTTY   = "tty"
	StyleLines = "lines"
	StyleJSON  = "json"
)

// NewProgress returns a view of p's run writing to w in the given style.
// Call Close when the run ends.
func NewProgress(w io.Writer, style string, p *planner.Plan) *Progress {
	v := &Progress{w: w, style: style, start: time.Now(), phaseOf: map[string]string{},
		total: map[string]int{}, done: map[string]int{}, failed: map[string]int{}, ended: map[string]string{},
		running: map[string]time.Time{}, parallel: p.Mode.MaxParallel, tfPar: p.Mode.TerraformParallelism,
		stop: make(chan struct{}), enc: json.NewEncoder(w)}
	for _, ph := range p.Phases {
		v.phases = append(v.phases, ph.Name)
	}
	for _, op := range p.Operations {
		if op.Driver == "terraform" {
			v.hasTF = true
		}
		v.phaseOf[op.ID] = op.Phase
		v.total[op.Phase]++
	}
	if style == StyleTTY {
		v.wg.Add(1)
		go v.loop()
	}
	return v
}

// Event takes one event (Options.OnEvent).
func (v *Progress) Event(e Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case EvRunStart:
		if e.Parallelism > 0 {
			v.tfPar = e.Parallelism
		}
	case EvOpStart:
		v.running[e.Op] = e.Time
		delete(v.ended, e.Op)
	case EvOpEnd:
		delete(v.running, e.Op)
		if e.Outcome == OutcomeSucceeded {
			v.done[v.phaseOf[e.Op]]++
		} else {
			v.ended[e.Op] = e.Outcome
		}
	case EvRetry:
		delete(v.ended, e.Op) // not failed for good: it runs again
	case EvOpSkip:
		v.failed[v.phaseOf[e.Op]]++
	case EvThrottle:
		v.throttles++
	case EvAIMD:
		v.parallel, v.tfPar = e.Parallel, e.Parallelism
		v.lastAIMD = e.Message
	case EvStopping:
		v.stopping = e.Message
	}
	switch v.style {
	case StyleJSON:
		// Every line carries the format's version, so a reader of a
		// stream it joins late can still tell it.
		_ = v.enc.Encode(struct {
			Event
			FormatVersion string `json:"format_version"`
		}{e, EventFormatVersion})
	case StyleLines:
		if line := eventLine(e); line != "" {
			fmt.Fprintf(v.w, "%s %s\n", e.Time.Format("15:04:05.000"), line)
		}
	case StyleTTY:
		// Failures and parallelism changes stay on screen above the frame.
		if e.Kind == EvAIMD || e.Kind == EvStopping || e.Kind == EvWarning || (e.Kind == EvOpEnd && e.Outcome != OutcomeSucceeded) {
			v.clear()
			fmt.Fprintf(v.w, "%s %s\n", e.Time.Format("15:04:05"), eventLine(e))
			v.draw()
		}
	}
}

// SetTerminal tells the live view the terminal it draws on (w may be a
// wrapper around it), so frames fit its height and width.
func (v *Progress) SetTerminal(fd uintptr) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.size = func() (int, int) { return termSize(fd) }
}

// Resumed marks operations that succeeded in an earlier run as done
// (Options.OnResumed).
func (v *Progress) Resumed(ids []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		v.done[v.phaseOf[id]]++
	}
}

func eventLine(e Event) string {
	switch e.Kind {
	case EvRunStart:
		return "run started (plan " + shortDigest(e.PlanDigest) + ")"
	case EvRunEnd:
		return fmt.Sprintf("run %s after %s", e.Outcome, secs(e.Duration))
	case EvOpStart:
		return fmt.Sprintf("%s: started (attempt %d)", e.Op, e.Attempt)
	case EvOpEnd:
		if e.Outcome == OutcomeSucceeded {
			return fmt.Sprintf("%s: succeeded in %s", e.Op, secs(e.Duration))
		}
		if e.Error == e.Outcome {
			return fmt.Sprintf("%s: %s after %s (log %s)", e.Op, e.Outcome, secs(e.Duration), e.Log)
		}
		return fmt.Sprintf("%s: %s after %s: %s (log %s)", e.Op, e.Outcome, secs(e.Duration), e.Error, e.Log)
	case EvOpSkip:
		return fmt.Sprintf("%s: skipped, %s", e.Op, e.Message)
	case EvRetry:
		if e.Message != "" {
			return fmt.Sprintf("%s: attempt %d in %s after: %s", e.Op, e.Attempt, secs(e.Duration), e.Message)
		}
		return fmt.Sprintf("%s: attempt %d in %s", e.Op, e.Attempt, secs(e.Duration))
	case EvThrottle:
		ra := ""
		if e.RetryAfter > 0 {
			ra = fmt.Sprintf(", retry after %s", secs(e.RetryAfter))
		}
		return fmt.Sprintf("throttled: %s%s: %s", strings.Join(e.Ops, ", "), ra, e.Message)
	case EvWarning:
		return "warning: " + e.Message
	case EvAIMD, EvStopping:
		return e.Message
	case EvLockWait:
		return "waiting for locks: " + e.Message
	case EvResource:
		if e.Op == "" {
			return ""
		}
		return fmt.Sprintf("%s: %s %s", e.Op, e.Resource, e.Message)
	}
	return ""
}

func secs(s float64) string {
	return (time.Duration(s*1000) * time.Millisecond).String()
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

func (v *Progress) loop() {
	defer v.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			v.clear()
			v.draw()
			v.mu.Unlock()
		}
	}
}

// clear erases the last frame (cursor up, clear to end of screen). The
// carriage return first: a terminal that echoed ^C left the cursor two
// columns in, and clearing from there would leave the frame's first
// characters on screen.
func (v *Progress) clear() {
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\r\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
}

// draw writes a frame: phases, throttle state, the longest-running ops. On
// a terminal of known size the frame stays below its height and each line
// within its width: a frame that scrolls or wraps cannot be redrawn over.
// It also never starts on the screen's top row: tmux (scroll-on-clear)
// moves the whole screen into its scrollback when an erase to the end of
// the screen starts at the top-left corner, as clear's would, every frame.
func (v *Progress) draw() {
	var head strings.Builder
	fmt.Fprintf(&head, "elapsed %s", time.Since(v.start).Round(time.Second))
	par := "no cap"
	if v.parallel > 0 {
		par = fmt.Sprint(v.parallel)
	}
	fmt.Fprintf(&head, "  parallel %s", par)
	if v.hasTF {
		fmt.Fprintf(&head, "  terraform -parallelism %d", v.tfPar)
	}
	fmt.Fprintf(&head, "  throttled %d", v.throttles)
	lines := []string{head.String()}

	failed, cancelled := map[string]int{}, map[string]int{}
	for id, outcome := range v.ended {
		if outcome == OutcomeCancelled {
			cancelled[v.phaseOf[id]]++
		} else {
			failed[v.phaseOf[id]]++
		}
	}
	for _, ph := range v.phases {
		row := fmt.Sprintf("  %-20s %d/%d", ph, v.done[ph], v.total[ph])
		var notes []string
		if n := failed[ph]; n > 0 {
			notes = append(notes, fmt.Sprintf("%d failed", n))
		}
		if n := cancelled[ph]; n > 0 {
			notes = append(notes, fmt.Sprintf("%d cancelled", n))
		}
		if n := v.failed[ph]; n > 0 {
			notes = append(notes, fmt.Sprintf("%d skipped", n))
		}
		if len(notes) > 0 {
			row += "  (" + strings.Join(notes, ", ") + ")"
		}
		lines = append(lines, row)
	}
	ids := make([]string, 0, len(v.running))
	for id := range v.running {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, c := v.running[ids[i]], v.running[ids[j]]
		if !a.Equal(c) {
			return a.Before(c)
		}
		return ids[i] < ids[j]
	})
	lines = append(lines, fmt.Sprintf("running %d", len(ids)))
	var tail []string
	if v.stopping != "" {
		tail = append(tail, "stopping: "+v.stopping)
	}

	cols, rows := 0, 0
	if v.size != nil {
		cols, rows = v.size()
	}
	// Running rows get what the fixed lines leave of the terminal's height
	// less two (the cursor's line below the frame, a line above it), 12 at
	// most.
	show := 12
	if rows > 0 {
		show = min(show, rows-2-len(lines)-len(tail))
	}
	if show < len(ids) {
		show = max(show-1, 0) // room for the "... and N more" line
	}
	for i, id := range ids {
		if i == show {
			lines = append(lines, fmt.Sprintf("  ... and %d more running", len(ids)-show))
			break
		}
		lines = append(lines, fmt.Sprintf("  %-40s %s", id, time.Since(v.running[id]).Round(time.Second)))
	}
	lines = append(lines, tail...)
	if rows > 0 && len(lines) > rows-2 {
		// Many phases on a tiny terminal: keep the top of the frame.
		lines = lines[:max(rows-2, 1)]
	}
	if cols > 0 {
		for i, l := range lines {
			if r := []rune(l); len(r) > cols-1 {
				lines[i] = string(r[:max(cols-1, 1)])
			}
		}
	}
	s := strings.Join(lines, "\n") + "\n"
	if rows > 0 && !v.framed {
		// A line above the first frame: it may start on the top row (a
		// fresh tmux pane). Later frames start where it did, or lower
		// down if the screen scrolls, at most rows-2 lines tall.
		s = "\n" + s
		v.framed = true
	}
	v.drawn = len(lines)
	io.WriteString(v.w, s)
}

// Close stops the live view, leaving its last frame on screen.
func (v *Progress) Close() {
	if v.style == StyleTTY {
		close(v.stop)
		v.wg.Wait()
		v.mu.Lock()
		v.clear()
		v.draw()
		v.mu.Unlock()
	}
}
