package exec

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

func each(x interval) string { return fmt.Sprint(x.op, x.start) }

func runPlan(t *testing.T, p *planner.Plan, opts Options) (*Result, []Event) {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	if opts.Backoff == 0 {
		opts.Backoff = 20 * time.Millisecond
	}
	var mu sync.Mutex
	var evs []Event
	opts.OnEvent = func(e Event) {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
	}
	res, err := Run(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res, evs
}

func TestCapsMaxParallel(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", MaxParallel: 3})
	for i := range 12 {
		b.op(fmt.Sprintf("a/r%02d", i), "a", fmt.Sprintf("r%02d", i), "main", 300)
	}
	res, _ := runPlan(t, b.build(), Options{})
	if !res.OK() || len(res.Succeeded) != 12 {
		t.Fatalf("result: %+v", res)
	}
	iv := readMarks(t, b.dir)
	if n := peak(iv, each); n > 3 {
		t.Errorf("max_parallel 3 exceeded: %d in flight", n)
	} else if n < 2 {
		t.Errorf("ran serially (peak %d); max_parallel 3 allows 3", n)
	}
}

func TestCapsRegionAndComponent(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", RegionParallel: 2, ComponentParallel: map[string]int{"db": 1}})
	for _, r := range []string{"eu", "us", "ap", "sa"} {
		b.op("app/"+r, "app", r, "main", 120)
		b.op("db/"+r, "db", r, "main", 120)
		b.op("web/"+r, "web", r, "main", 120)
	}
	b.op("global", "global", "", "main", 120) // takes no region slot
	res, _ := runPlan(t, b.build(), Options{})
	if !res.OK() {
		t.Fatalf("result: %+v", res)
	}
	iv := readMarks(t, b.dir)
	region := func(x interval) string {
		_, r, _ := strings.Cut(x.op, "/")
		return r
	}
	if n := peak(iv, region); n > 2 {
		t.Errorf("region_parallel 2 exceeded: %d regions active", n)
	}
	db := func(x interval) string {
		if strings.HasPrefix(x.op, "db/") {
			return each(x)
		}
		return ""
	}
	if n := peak(iv, db); n != 1 {
		t.Errorf("component_parallel db=1: peak %d", n)
	}
	// The non-regional op ran next to regional ones.
	var g interval
	for _, x := range iv {
		if x.op == "global" {
			g = x
		}
	}
	overlapped := false
	for _, x := range iv {
		if x.op != "global" && x.start < g.end && g.start < x.end {
			overlapped = true
		}
	}
	if !overlapped {
		t.Errorf("non-regional op never ran beside regional ones: it must not take a region slot")
	}
}

func TestBarriersDepsAndAlone(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", PhaseBarrier: true}, "infra", "apps")
	b.op("net/a", "net", "a", "infra", 80)
	b.op("net/b", "net", "b", "infra", 250)
	b.op("vm/a", "vm", "a", "infra", 80, "net/a")
	b.op("app/a", "app", "a", "apps", 80)
	b.op("app/b", "app", "b", "apps", 80)
	solo := b.op("migrate", "migrate", "", "apps", 100)
	solo.Alone = "parallel = false"
	solo.Parallel = false
	res, _ := runPlan(t, b.build(), Options{})
	if !res.OK() {
		t.Fatalf("result: %+v", res)
	}
	iv := readMarks(t, b.dir)
	by := map[string]interval{}
	for _, x := range iv {
		by[x.op] = x
	}
	if by["vm/a"].start < by["net/a"].end {
		t.Errorf("vm/a started before its dependency net/a ended")
	}
	infraEnd := max(by["net/a"].end, by["net/b"].end, by["vm/a"].end)
	for _, id := range []string{"app/a", "app/b", "migrate"} {
		if by[id].start < infraEnd {
			t.Errorf("phase barrier: %s started before phase infra ended", id)
		}
	}
	m := by["migrate"]
	for _, x := range iv {
		if x.op != "migrate" && x.start < m.end && m.start < x.end {
			t.Errorf("run-alone: %s overlapped migrate", x.op)
		}
	}
}

func TestBatchBarrier(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", BatchBarrier: true})
	b.op("a", "a", "", "main", 60)
	b.op("b", "b", "", "main", 250)
	b.op("c", "c", "", "main", 60, "a") // batch 1: waits for b too
	res, _ := runPlan(t, b.build(), Options{})
	if !res.OK() {
		t.Fatalf("result: %+v", res)
	}
	by := map[string]interval{}
	for _, x := range readMarks(t, b.dir) {
		by[x.op] = x
	}
	if by["c"].start < by["b"].end {
		t.Errorf("batch barrier: c started before batch 0 (b) ended")
	}
}

func TestRetriesAndOnError(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	flaky := b.op("flaky", "flaky", "", "main", 10)
	flaky.Retries = 2
	flaky.Command.Argv = append(flaky.Command.Argv, "2") // fails twice, then works
	bad := b.op("bad", "bad", "", "main", 10)
	bad.OnError = "skip_dependents"
	bad.Command.Argv = append(bad.Command.Argv, "99")
	b.op("after-bad", "x", "", "main", 10, "bad")
	b.op("after-after-bad", "y", "", "main", 10, "after-bad")
	cont := b.op("soft", "soft", "", "main", 10)
	cont.OnError = "continue"
	cont.Command.Argv = append(cont.Command.Argv, "99")
	b.op("after-soft", "z", "", "main", 10, "soft")
	b.op("after-flaky", "w", "", "main", 10, "flaky")
	res, evs := runPlan(t, b.build(), Options{})
	failed := map[string]Failure{}
	for _, f := range res.Failed {
		failed[f.Op] = f
	}
	if len(failed) != 2 || failed["bad"].Op == "" || failed["soft"].Op == "" {
		t.Errorf("failed = %+v, want bad and soft", res.Failed)
	}
	if !strings.HasSuffix(failed["bad"].Log, filepath.Join("logs", "bad.1.log")) {
		t.Errorf("bad's log = %q", failed["bad"].Log)
	}
	if strings.Join(res.Skipped, ",") != "after-after-bad,after-bad" && strings.Join(res.Skipped, ",") != "after-bad,after-after-bad" {
		t.Errorf("skipped = %v", res.Skipped)
	}
	ok := strings.Join(res.Succeeded, ",")
	if ok != "after-flaky,after-soft,flaky" {
		t.Errorf("succeeded = %s", ok)
	}
	retries := 0
	for _, e := range evs {
		if e.Kind == EvRetry && e.Op == "flaky" {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("flaky retried %d times, want 2", retries)
	}
}

func TestStopAndResume(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", MaxParallel: 1})
	first := b.op("a", "a", "", "main", 10)
	first.Priority = 3
	bad := b.op("b", "b", "", "main", 10)
	bad.Priority = 2
	bad.Command.Argv = append(bad.Command.Argv, "1") // fails once
	b.op("c", "c", "", "main", 10)
	p := b.build()
	state := t.TempDir()
	res, _ := runPlan(t, p, Options{StateDir: state})
	if len(res.Failed) != 1 || res.Failed[0].Op != "b" || strings.Join(res.NotRun, ",") != "c" {
		t.Fatalf("first run: failed %+v not run %v", res.Failed, res.NotRun)
	}
	res, _ = runPlan(t, p, Options{StateDir: state, Resume: true})
	if !res.OK() || strings.Join(res.Resumed, ",") != "a" || strings.Join(res.Succeeded, ",") != "b,c" {
		t.Fatalf("resume: %+v", res)
	}
	runs := map[string]int{}
	for _, x := range readMarks(t, b.dir) {
		runs[x.op]++
	}
	if runs["a"] != 1 || runs["b"] != 2 || runs["c"] != 1 {
		t.Errorf("runs = %v, want a once, b twice (failed then resumed), c once", runs)
	}
	st, err := ReadJournal(res.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Ops["b"]; r == nil || !r.Succeeded || r.Attempts != 2 {
		t.Errorf("journal for b: %+v", r)
	}
}

func TestDetectThrottle(t *testing.T) {
	for _, tc := range []struct {
		out  string
		ok   bool
		wait time.Duration
	}{
		{"curl: (22) The requested URL returned error: 429 Too Many Requests\nRetry-After: 3\n", true, 3 * time.Second},
		{"Error: rate limit exceeded, retry_after=1.5", true, 1500 * time.Millisecond},
		{"ThrottlingException: Rate exceeded", true, 0},
		{"HTTP 500 internal error", false, 0},
		{"processed 4290 items", false, 0},
	} {
		te, ok := detectThrottle([]byte(tc.out))
		if ok != tc.ok {
			t.Errorf("%q: throttled = %v, want %v", tc.out, ok, tc.ok)
			continue
		}
		if ok && te.RetryAfter != tc.wait {
			t.Errorf("%q: retry after %v, want %v", tc.out, te.RetryAfter, tc.wait)
		}
	}
}
