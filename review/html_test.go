package review

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/sim"
)

// TestThrottleChart: one bar per time bin with 429s, titled with the
// count, and a note instead of a chart for a run without any.
func TestThrottleChart(t *testing.T) {
	run := &sim.Run{Mode: "m", Makespan: 100, Spans: []sim.Span{
		{ID: "a", Start: 0, End: 100, Waits: []sim.Wait{{At: 10, For: 2, API: "x"}, {At: 10.5, For: 2, API: "x"}, {At: 50, For: 1, API: "x"}}},
		{ID: "b", Start: 0, End: 60},
	}}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeThrottle(w, run)
	w.Flush()
	out := buf.String()
	if n := strings.Count(out, `class="thr"`); n != 2 {
		t.Errorf("%d bars, want 2 (bins at 10s and 50s):\n%s", n, out)
	}
	for _, want := range []string{"10s to 11s: 2 throttled requests", "50s to 51s: 1 throttled requests", "peak 2; 3 in the run"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	writeThrottle(w, &sim.Run{Makespan: 10, Spans: []sim.Span{{ID: "a", End: 10}}})
	w.Flush()
	if !strings.Contains(buf.String(), "no throttled request in the median run") || strings.Contains(buf.String(), "<svg") {
		t.Errorf("a run without 429s: %s", buf.String())
	}
}
