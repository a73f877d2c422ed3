package review

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/sim"
)

// TestThrottleChart: one bar per time bin with 429s, titled with the mean
// count a run, and a note instead of a chart for runs without any.
func TestThrottleChart(t *testing.T) {
	run := &sim.Run{Mode: "m", Makespan: 100, Spans: []sim.Span{
		{ID: "a", Start: 0, End: 100, Waits: []sim.Wait{{At: 10, For: 2, API: "x"}, {At: 10.5, For: 2, API: "x"}, {At: 50, For: 1, API: "x"}}},
		{ID: "b", Start: 0, End: 60},
	}}
	quiet := &sim.Run{Mode: "m", Makespan: 80, Spans: []sim.Span{{ID: "a", End: 80}}}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeThrottle(w, []*sim.Run{run, quiet})
	w.Flush()
	out := buf.String()
	if n := strings.Count(out, `class="thr"`); n != 2 {
		t.Errorf("%d bars, want 2 (bins at 10s and 50s):\n%s", n, out)
	}
	for _, want := range []string{"10s to 11s: 1.00 throttled requests a run", "50s to 51s: 0.50 throttled requests a run", "peak 1.00; 1.5 a run", "1 of 2 runs throttled"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	writeThrottle(w, []*sim.Run{quiet})
	w.Flush()
	if !strings.Contains(buf.String(), "no throttled request in 1 traced run") || strings.Contains(buf.String(), "<svg") {
		t.Errorf("a run without 429s: %s", buf.String())
	}
}
