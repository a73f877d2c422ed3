package exec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestRunSamePlanTwice: a second apply of the same plan on the same state
// directory refuses while the first runs (they would share the journal and
// the log files), and runs once the first is done.
func TestRunSamePlanTwice(t *testing.T) {
	b := newPlan(t, planner.Mode{})
	b.op("a/x", "a", "", "main", 1500)
	p := b.build()
	state := filepath.Join(t.TempDir(), "state")

	started := make(chan struct{})
	var once sync.Once
	type out struct {
		res *Result
		err error
	}
	first := make(chan out, 1)
	go func() {
		res, err := Run(context.Background(), p, Options{StateDir: state, OnEvent: func(e Event) {
			if e.Kind == EvOpStart {
				once.Do(func() { close(started) })
			}
		}})
		first <- out{res, err}
	}()
	<-started
	_, err := Run(context.Background(), p, Options{StateDir: state})
	want := fmt.Sprintf("another apply of this plan is running (pid %d)", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second apply: err %v, want %q", err, want)
	}
	o := <-first
	if o.err != nil || !o.res.OK() {
		t.Fatalf("first apply: %v %+v", o.err, o.res)
	}
	// The refused apply touched nothing: no rotated journal, the log kept.
	old, _ := filepath.Glob(filepath.Join(o.res.RunDir, "journal-*.jsonl"))
	if len(old) != 0 {
		t.Errorf("the refused apply rotated the journal: %v", old)
	}
	if _, err := os.Stat(filepath.Join(o.res.RunDir, "logs", "a_x.1.log")); err != nil {
		t.Errorf("first apply's log: %v", err)
	}
	// Released when the first ends.
	res, err := Run(context.Background(), p, Options{StateDir: state})
	if err != nil || !res.OK() {
		t.Fatalf("apply after the first ended: %v %+v", err, res)
	}
}

// TestRunEventsInTimeOrder: events reach OnEvent in the order of their
// timestamps, however many steps emit at once.
func TestRunEventsInTimeOrder(t *testing.T) {
	b := newPlan(t, planner.Mode{})
	for i := range 16 {
		b.op(fmt.Sprintf("c/r%02d", i), "c", "", "main", 20)
	}
	p := b.build()
	var evs []Event
	res, err := Run(context.Background(), p, Options{StateDir: t.TempDir(), OnEvent: func(e Event) {
		evs = append(evs, e) // OnEvent calls are serialised
	}})
	if err != nil || !res.OK() {
		t.Fatalf("%v %+v", err, res)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s %s at %s) before event %d (%s %s at %s)", i, evs[i].Kind, evs[i].Op,
				evs[i].Time.Format("15:04:05.000000"), i-1, evs[i-1].Kind, evs[i-1].Op, evs[i-1].Time.Format("15:04:05.000000"))
		}
	}
}
