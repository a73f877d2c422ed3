package exec

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// A run that stops tells apart what failed and waits for a retry, what
// never started and (TestRunCancelledGroup) what was cancelled running.
func TestRunStoppedGroups(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	flaky := b.op("flaky", "flaky", "", "main", 10)
	flaky.Retries = 5
	flaky.Command.Argv = append(flaky.Command.Argv, "99")
	bad := b.op("bad", "bad", "", "main", 300) // fails after flaky's first attempt
	bad.Command.Argv = append(bad.Command.Argv, "99")
	b.op("later", "later", "", "main", 10, "flaky")
	// The retry's backoff outlasts bad: the run stops while flaky waits.
	res, evs := runPlan(t, b.build(), Options{Backoff: 20 * time.Second, MaxBackoff: 20 * time.Second})
	if res.OK() {
		t.Fatalf("run OK: %+v", res)
	}
	if len(res.Failed) != 1 || res.Failed[0].Op != "bad" {
		t.Errorf("failed = %+v, want bad", res.Failed)
	}
	if len(res.RetryPending) != 1 {
		t.Fatalf("retry pending = %+v, want flaky", res.RetryPending)
	}
	f := res.RetryPending[0]
	if f.Op != "flaky" || f.Attempts != 1 || !strings.Contains(f.Error, "exit") ||
		!strings.HasSuffix(f.Log, filepath.Join("logs", "flaky.1.log")) {
		t.Errorf("retry pending: %+v, want flaky after 1 attempt with its error and log", f)
	}
	if strings.Join(res.NotRun, ",") != "later" {
		t.Errorf("not run = %v, want later", res.NotRun)
	}
	if len(res.Cancelled) != 0 {
		t.Errorf("cancelled = %+v, want none", res.Cancelled)
	}
	// The retry line says why.
	var retry *Event
	for i := range evs {
		if evs[i].Kind == EvRetry && evs[i].Op == "flaky" {
			retry = &evs[i]
		}
	}
	if retry == nil || !strings.Contains(retry.Message, "exit") {
		t.Fatalf("retry event = %+v, want the failure's reason", retry)
	}
	if retry.Attempt != 2 || !strings.HasSuffix(retry.Message, "exit status 1") {
		t.Errorf("retry event %+v does not say why", retry)
	}
}

func TestRunCancelledGroup(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	b.op("slow/eu", "slow", "eu", "main", 5000)
	b.op("slow/us", "slow", "us", "main", 5000)
	b.op("next", "next", "", "main", 10, "slow/eu")
	hard, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	started := 0
	opts := Options{StateDir: t.TempDir(), Hard: hard, OnEvent: func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == EvOpStart {
			if started++; started == 2 {
				go func() { time.Sleep(100 * time.Millisecond); cancel() }()
			}
		}
	}}
	res, err := Run(context.Background(), b.build(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cancelled) != 2 {
		t.Fatalf("cancelled = %+v, want slow/eu and slow/us", res.Cancelled)
	}
	for _, f := range res.Cancelled {
		if f.Log == "" || f.Error == "" || f.Attempts != 1 {
			t.Errorf("cancelled %+v lacks its log or error", f)
		}
	}
	if strings.Join(res.NotRun, ",") != "next" || len(res.RetryPending) != 0 || len(res.Failed) != 0 {
		t.Errorf("not run %v, retry pending %+v, failed %+v; want next only not run", res.NotRun, res.RetryPending, res.Failed)
	}
}

// Cancelling a coalesced step: an operation whose error is not its own
// says "cancelled" instead of another instance's error.
func TestOpMessageCancelled(t *testing.T) {
	shared := errors.New("terraform: aws_instance.eu errored")
	own := errors.New("terraform: aws_instance.eu errored")
	cut := errors.New("terraform: module.us was not applied: the apply stopped on another instance's error")
	se := &StepError{Failed: map[string]*OpError{"eu": {Err: own}, "us": {Err: cut, Blameless: true}}}
	for _, tc := range []struct {
		step, err error
		blameless bool
		n         int
		cancelled bool
		want      string
	}{
		{shared, shared, false, 2, false, shared.Error()},
		{shared, shared, false, 2, true, "cancelled"},
		{shared, shared, false, 1, true, shared.Error()},
		{se, own, false, 2, true, own.Error()},
		{se, cut, true, 2, true, "cancelled"},
		{se, cut, true, 2, false, cut.Error()},
	} {
		if got := opMessage(tc.step, tc.err, tc.blameless, tc.n, tc.cancelled); got != tc.want {
			t.Errorf("opMessage(%v, n=%d, blameless=%v, cancelled=%v) = %q, want %q", tc.err, tc.n, tc.blameless, tc.cancelled, got, tc.want)
		}
	}
}
