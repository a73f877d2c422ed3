package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
)

func TestProgressStyles(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "infra"}},
		Operations: []planner.Operation{{ID: "net/eu", Phase: "infra"}, {ID: "net/us", Phase: "infra"}}}
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	evs := []exec.Event{
		{Time: at, Kind: exec.EvOpStart, Op: "net/eu", Attempt: 1},
		{Time: at, Kind: exec.EvThrottle, Ops: []string{"net/eu"}, RetryAfter: 2, Message: "429 Too Many Requests"},
		{Time: at, Kind: exec.EvAIMD, Parallel: 2, Parallelism: 5, Message: "throttled: parallelism down to 2 operations, terraform -parallelism=5"},
		{Time: at, Kind: exec.EvOpEnd, Op: "net/eu", Attempt: 1, Outcome: exec.OutcomeFailed, Duration: 1.5, Error: "boom", Log: "l/net_eu.1.log"},
	}

	var lines bytes.Buffer
	v := NewApply(false, &lines, nil, p)
	for _, e := range evs {
		v.Event(e)
	}
	v.Close()
	want := `10:00:00.000 net/eu: started (attempt 1)
10:00:00.000 throttled: net/eu, retry after 2s: 429 Too Many Requests
10:00:00.000 throttled: parallelism down to 2 operations, terraform -parallelism=5
10:00:00.000 net/eu: failed after 1.5s: boom (log l/net_eu.1.log)
`
	if lines.String() != want {
		t.Errorf("lines:\n%s\nwant:\n%s", lines.String(), want)
	}

	var js bytes.Buffer
	v = NewApply(true, &js, nil, p)
	for _, e := range evs {
		v.Event(e)
	}
	v.Close()
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var e exec.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		n++
	}
	if n != len(evs) {
		t.Errorf("%d JSON lines, want %d", n, len(evs))
	}

	// The live view's frame: phase counts, the throttle state, running ops.
	var tty bytes.Buffer
	live := newApplyLive(&tty, p)
	live.startDrawing()
	live.Event(exec.Event{Time: time.Now(), Kind: exec.EvOpStart, Op: "net/us", Attempt: 1})
	live.Event(evs[2])
	live.Close()
	frame := tty.String()
	for _, s := range []string{"parallel 2", "infra", "0/2", "running 1", "net/us", "throttled: parallelism down to 2"} {
		if !strings.Contains(frame, s) {
			t.Errorf("live view lacks %q:\n%s", s, frame)
		}
	}
}

// frame draws one live-view frame of v on a terminal of the given size.
func frame(v *applyLive, cols, rows int) string {
	var b bytes.Buffer
	v.mu.Lock()
	defer v.mu.Unlock()
	w := v.w
	v.w = &b
	v.size = func() (int, int) { return cols, rows }
	v.draw()
	v.w, v.drawn = w, 0
	return b.String()
}

// An 8-row terminal with 6 running operations: the frame keeps to 6 lines
// (the cursor's line below it, one line above it), so redrawing never
// scrolls; the first frame has a blank line above it.
func TestProgressFitsTerminal(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "a"}, {Name: "b"}}}
	for i := range 6 {
		p.Operations = append(p.Operations, planner.Operation{ID: fmt.Sprintf("x/r%d", i+1), Phase: "a"})
	}
	p.Operations = append(p.Operations, planner.Operation{ID: "y", Phase: "b"})
	v := newApplyLive(io.Discard, p)
	at := time.Now()
	for i := range 6 {
		v.Event(exec.Event{Time: at.Add(time.Duration(i) * time.Millisecond), Kind: exec.EvOpStart, Op: fmt.Sprintf("x/r%d", i+1)})
	}
	v.Event(exec.Event{Time: at, Kind: exec.EvStopping, Message: strings.Repeat("long reason ", 20)})

	f := frame(v, 100, 8)
	if !strings.HasPrefix(f, "\nelapsed") {
		t.Errorf("first frame does not start with a blank line:\n%q", f)
	}
	f = frame(v, 100, 8)
	lines := strings.Split(strings.TrimSuffix(f, "\n"), "\n")
	if len(lines) != 6 {
		t.Errorf("frame has %d lines on an 8-row terminal, want 6:\n%s", len(lines), f)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 99 {
			t.Errorf("line of %d columns on a 100-column terminal wraps: %q", n, l)
		}
	}
	// header, 2 phases, "running 6", "... and 6 more running", stopping
	if strings.Contains(f, "x/r1") || !strings.Contains(f, "... and 6 more running") {
		t.Errorf("frame should show the longest-running op and count the rest:\n%s", f)
	}
	if f := frame(v, 100, 9); !strings.Contains(f, "x/r1") || strings.Contains(f, "x/r2") || !strings.Contains(f, "... and 5 more running") {
		t.Errorf("9-row terminal: frame should show the longest-running op and count the rest:\n%s", f)
	}
	if !strings.HasPrefix(lines[0], "elapsed") || !strings.HasPrefix(lines[5], "stopping:") {
		t.Errorf("frame lost its header or the stopping line:\n%s", f)
	}

	// A tall terminal shows every running op; an unknown size keeps the
	// old cap of 12.
	if f := frame(v, 100, 40); strings.Contains(f, "more running") || !strings.Contains(f, "x/r6") {
		t.Errorf("40-row terminal:\n%s", f)
	}
	if f := frame(v, 0, 0); strings.Count(f, "\n") != 1+2+1+6+1 {
		t.Errorf("unknown size:\n%s", f)
	}
	// Fewer rows than the fixed lines: still no taller than the terminal.
	if f := frame(v, 100, 3); strings.Count(f, "\n") != 1 {
		t.Errorf("3-row terminal:\n%s", f)
	}
}

// Phase rows count failed and cancelled operations besides skipped ones;
// an attempt that will be retried is not counted as failed.
func TestProgressPhaseCounts(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "infra"}}}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		p.Operations = append(p.Operations, planner.Operation{ID: id, Phase: "infra"})
	}
	v := newApplyLive(io.Discard, p)
	at := time.Now()
	v.Resumed([]string{"a"})
	v.Event(exec.Event{Time: at, Kind: exec.EvOpEnd, Op: "b", Outcome: exec.OutcomeFailed, Error: "boom"})
	v.Event(exec.Event{Time: at, Kind: exec.EvOpEnd, Op: "c", Outcome: exec.OutcomeFailed, Error: "boom"})
	v.Event(exec.Event{Time: at, Kind: exec.EvRetry, Op: "c", Attempt: 2, Message: "boom"})
	v.Event(exec.Event{Time: at, Kind: exec.EvOpEnd, Op: "d", Outcome: exec.OutcomeCancelled, Error: "cancelled"})
	v.Event(exec.Event{Time: at, Kind: exec.EvOpSkip, Op: "e", Outcome: exec.OutcomeSkipped})
	f := frame(v, 0, 0)
	if !strings.Contains(f, "1/5  (1 failed, 1 cancelled, 1 skipped)") {
		t.Errorf("phase row:\n%s", f)
	}
}

// Operations that succeeded in an earlier run count as done in the live
// view's phase rows.
func TestApplyLiveResumed(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "main"}}}
	for _, id := range []string{"a", "b", "c", "d"} {
		p.Operations = append(p.Operations, planner.Operation{ID: id, Phase: "main"})
	}
	v := newApplyLive(io.Discard, p)
	v.Resumed([]string{"a", "b", "d"})
	v.Event(exec.Event{Time: time.Now(), Kind: exec.EvOpEnd, Op: "c", Outcome: exec.OutcomeSucceeded})
	if f := frame(v, 0, 0); !strings.Contains(f, "4/4") {
		t.Errorf("after a resumed run the phase row is not 4/4:\n%s", f)
	}
}
