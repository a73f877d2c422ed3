package exec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/echelonhq/echelon/planner"

	"github.com/echelonhq/echelon/store"
)

// TestLongOperationIDLogs runs two operations whose IDs are 250 bytes and
// differ only in their last byte (validate accepts such component names):
// each gets a log file of its own whose name fits the 255-byte limit.
func TestLongOperationIDLogs(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	long := strings.Repeat("c", 248)
	b.op(long+"/a", long, "a", "main", 10)
	b.op(long+"/b", long, "b", "main", 10)
	res, _ := runPlan(t, b.build(), Options{})
	if !res.OK() || len(res.Succeeded) != 2 {
		t.Fatalf("result: %+v", res)
	}
	logs, err := os.ReadDir(filepath.Join(res.RunDir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 {
		t.Fatalf("%d log files, want 2 (one per operation)", len(logs))
	}
	for _, l := range logs {
		if len(l.Name()) > 255 {
			t.Errorf("log name of %d bytes", len(l.Name()))
		}
		body, _ := os.ReadFile(filepath.Join(res.RunDir, "logs", l.Name()))
		if !strings.Contains(string(body), "helper: done") {
			t.Errorf("log %s lacks the operation's output: %q", l.Name(), body)
		}
	}
}

// TestLogNameBounded: a short ID keeps its readable name; long IDs are cut
// at a rune boundary and stay distinct.
func TestLogNameBounded(t *testing.T) {
	if got := store.LogName("region/r1", 2); got != "region_r1.2.log" {
		t.Errorf("store.LogName(region/r1) = %q", got)
	}
	seen := map[string]bool{}
	for _, id := range []string{strings.Repeat("é", 200) + "x", strings.Repeat("é", 200) + "y", strings.Repeat("a", 1000)} {
		n := store.LogName(id, 12345)
		if len(n) > 255 || !strings.HasSuffix(n, ".12345.log") || !utf8.ValidString(n) {
			t.Errorf("store.LogName(%d bytes) = %q (%d bytes): want a valid name under 255 bytes", len(id), n, len(n))
		}
		if seen[n] {
			t.Errorf("two IDs share the log name %q", n)
		}
		seen[n] = true
	}
}

// TestLogCreateFails: when an operation's log file cannot be created (here
// a directory stands where the file goes; EMFILE and a full disk fail the
// same call) that attempt fails with a clear error, the next attempt runs,
// and an operation in flight meanwhile is not disturbed.
func TestLogCreateFails(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	b.op("a", "a", "", "main", 10).Retries = 1
	b.op("b", "b", "", "main", 300)
	b.op("c", "c", "", "main", 10).OnError = "continue" // no retries: fails for good
	p := b.build()
	state := t.TempDir()
	logs := filepath.Join(RunDir(state, p), "logs")
	for _, blocked := range []string{"a.1.log", "c.1.log"} {
		if err := os.MkdirAll(filepath.Join(logs, blocked), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res, evs := runPlan(t, p, Options{StateDir: state})
	if len(res.Succeeded) != 2 || len(res.Failed) != 1 || res.Failed[0].Op != "c" {
		t.Fatalf("result: %+v; want a (second attempt) and b succeeded, c failed", res)
	}
	if msg := res.Failed[0].Error; !strings.Contains(msg, "cannot create the log file") || !strings.Contains(msg, "c.1.log") {
		t.Errorf("c's error %q does not say which log file could not be created", msg)
	}
	var aFailed bool
	for _, e := range evs {
		if e.Kind == EvOpEnd && e.Op == "a" && e.Attempt == 1 {
			aFailed = e.Outcome == OutcomeFailed && strings.Contains(e.Error, "cannot create the log file")
		}
	}
	if !aFailed {
		t.Errorf("a's first attempt was not recorded as failed by the log file")
	}
	st, err := ReadJournal(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range st.Ops {
		if r.InFlight {
			t.Errorf("the journal leaves %s in flight: its failed attempt has no end record", id)
		}
	}
}
