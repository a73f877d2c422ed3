package views

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// applyLive is apply's view on a terminal: a frame (phases, throttle
// state, the longest-running operations) redrawn about four times a second,
// with failures and parallelism changes kept on screen above it.
type applyLive struct {
	applySummaryHuman
	w     io.Writer
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
}

// newApplyLive returns the live view of p's run on w, not yet drawing:
// start begins the redraws.
func newApplyLive(w io.Writer, p *planner.Plan) *applyLive {
	v := &applyLive{applySummaryHuman: applySummaryHuman{out: w}, w: w, start: time.Now(), phaseOf: map[string]string{},
		total: map[string]int{}, done: map[string]int{}, failed: map[string]int{}, ended: map[string]string{},
		running: map[string]time.Time{}, parallel: p.Mode.MaxParallel, tfPar: p.Mode.TerraformParallelism,
		stop: make(chan struct{})}
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
	return v
}

func (v *applyLive) startDrawing() {
	v.wg.Add(1)
	go v.loop()
}

// Event takes one event (exec.Options.OnEvent).
func (v *applyLive) Event(e exec.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case exec.EvRunStart:
		if e.Parallelism > 0 {
			v.tfPar = e.Parallelism
		}
	case exec.EvOpStart:
		v.running[e.Op] = e.Time
		delete(v.ended, e.Op)
	case exec.EvOpEnd:
		delete(v.running, e.Op)
		if e.Outcome == exec.OutcomeSucceeded {
			v.done[v.phaseOf[e.Op]]++
		} else {
			v.ended[e.Op] = e.Outcome
		}
	case exec.EvRetry:
		delete(v.ended, e.Op) // not failed for good: it runs again
	case exec.EvOpSkip:
		v.failed[v.phaseOf[e.Op]]++
	case exec.EvThrottle:
		v.throttles++
	case exec.EvAIMD:
		v.parallel, v.tfPar = e.Parallel, e.Parallelism
		v.lastAIMD = e.Message
	case exec.EvStopping:
		v.stopping = e.Message
	}
	// Failures and parallelism changes stay on screen above the frame.
	if e.Kind == exec.EvAIMD || e.Kind == exec.EvStopping || e.Kind == exec.EvWarning || e.Kind == exec.EvWorkerWait || (e.Kind == exec.EvOpEnd && e.Outcome != exec.OutcomeSucceeded) {
		v.clear()
		fmt.Fprintf(v.w, "%s %s\n", e.Time.Format("15:04:05"), eventLine(e))
		v.draw()
	}
}

// Resumed marks operations that succeeded in an earlier run as done
// (Options.OnResumed).
func (v *applyLive) Resumed(ids []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		v.done[v.phaseOf[id]]++
	}
}

func (v *applyLive) loop() {
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
func (v *applyLive) clear() {
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
func (v *applyLive) draw() {
	var head strings.Builder
	fmt.Fprintf(&head, "elapsed %s", lang.FormatDuration(time.Since(v.start).Round(time.Second)))
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
		if outcome == exec.OutcomeCancelled {
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
		lines = append(lines, fmt.Sprintf("  %-40s %s", id, lang.FormatDuration(time.Since(v.running[id]).Round(time.Second))))
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
func (v *applyLive) Close() {
	close(v.stop)
	v.wg.Wait()
	v.mu.Lock()
	v.clear()
	v.draw()
	v.mu.Unlock()
}
