package exec

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

func TestProgressStyles(t *testing.T) {
	p := &planner.Plan{Phases: []planner.Phase{{Name: "infra"}},
		Operations: []planner.Operation{{ID: "net/eu", Phase: "infra"}, {ID: "net/us", Phase: "infra"}}}
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	evs := []Event{
		{Time: at, Kind: EvOpStart, Op: "net/eu", Attempt: 1},
		{Time: at, Kind: EvThrottle, Ops: []string{"net/eu"}, RetryAfter: 2, Message: "429 Too Many Requests"},
		{Time: at, Kind: EvAIMD, Parallel: 2, Parallelism: 5, Message: "throttled: parallelism down to 2 operations, terraform -parallelism=5"},
		{Time: at, Kind: EvOpEnd, Op: "net/eu", Attempt: 1, Outcome: OutcomeFailed, Duration: 1.5, Error: "boom", Log: "l/net_eu.1.log"},
	}

	var lines bytes.Buffer
	v := NewProgress(&lines, StyleLines, p)
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
	v = NewProgress(&js, StyleJSON, p)
	for _, e := range evs {
		v.Event(e)
	}
	v.Close()
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var e Event
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
	v = NewProgress(&tty, StyleTTY, p)
	v.Event(Event{Time: time.Now(), Kind: EvOpStart, Op: "net/us", Attempt: 1})
	v.Event(evs[2])
	v.Close()
	frame := tty.String()
	for _, s := range []string{"parallel 2", "infra", "0/2", "running 1", "net/us", "throttled: parallelism down to 2"} {
		if !strings.Contains(frame, s) {
			t.Errorf("live view lacks %q:\n%s", s, frame)
		}
	}
}
