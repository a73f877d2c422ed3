package views

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
)

// TestProgressClearReturnsCarriage: the live view goes back to column 0
// before moving up over its last frame, so a terminal's echoed ^C (which
// moved the cursor right) cannot leave the frame's first letters behind.
// The status after a second interrupt says running work is cancelled.
func TestProgressClearReturnsCarriage(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "main"}}, Operations: []planner.Operation{{ID: "a", Phase: "main"}}}
	var tty bytes.Buffer
	v := newApplyLive(&tty, p)
	v.startDrawing()
	now := time.Now()
	v.Event(exec.Event{Time: now, Kind: exec.EvOpStart, Op: "a", Attempt: 1})
	v.Event(exec.Event{Time: now, Kind: exec.EvStopping, Message: "interrupted: running operations finish, nothing new starts"})
	first := tty.Len()
	v.Event(exec.Event{Time: now, Kind: exec.EvStopping, Message: "cancelling running operations"})
	v.Close()
	out := tty.String()[first:]
	if !strings.HasPrefix(out, "\r\x1b[") {
		t.Errorf("redraw starts %q, want a carriage return before the cursor-up", out[:min(len(out), 12)])
	}
	if !strings.Contains(out, "stopping: cancelling running operations") {
		t.Errorf("status after the second interrupt:\n%s", out)
	}
}

// TestProgressJSONFormatVersion: every --json event line carries
// "format_version":"1" beside the event's own fields.
func TestProgressJSONFormatVersion(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "main"}}, Operations: []planner.Operation{{ID: "a", Phase: "main"}}}
	var js bytes.Buffer
	v := NewApply(true, &js, nil, p)
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	v.Event(exec.Event{Time: at, Kind: exec.EvRunStart, PlanDigest: "sha256:ab"})
	v.Event(exec.Event{Time: at, Kind: exec.EvWarning, Message: "no earlier run"})
	v.Close()
	want := `{"time":"2026-01-01T10:00:00Z","kind":"run_start","plan_digest":"sha256:ab","format_version":"1"}
{"time":"2026-01-01T10:00:00Z","kind":"warning","message":"no earlier run","format_version":"1"}
`
	if js.String() != want {
		t.Errorf("got\n%s\nwant\n%s", js.String(), want)
	}
	var e exec.Event
	if err := json.Unmarshal([]byte(strings.SplitN(js.String(), "\n", 2)[0]), &e); err != nil || e.Kind != exec.EvRunStart {
		t.Errorf("line does not decode as an Event: %+v %v", e, err)
	}
}

// A retry line says when the next attempt comes and why (the failure's
// reason, which exec puts in the event's message).
func TestApplyLinesRetry(t *testing.T) {
	var b bytes.Buffer
	v := NewApply(false, &b, nil, &planner.Plan{})
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	v.Event(exec.Event{Time: at, Kind: exec.EvRetry, Op: "flaky", Attempt: 2, Duration: 1, Message: "exit status 1"})
	v.Event(exec.Event{Time: at, Kind: exec.EvRetry, Op: "flaky", Attempt: 3, Duration: 2})
	want := "10:00:00.000 flaky: attempt 2 in 1s after: exit status 1\n10:00:00.000 flaky: attempt 3 in 2s\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
