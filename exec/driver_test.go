package exec

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// recorder is a driver that exists only in this file: registering it is
// all a new driver needs from the executor.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (d *recorder) Run(ctx context.Context, s Step) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range s.Ops {
		d.seen = append(d.seen, s.Action+" "+o.ID)
	}
	return nil
}

var testRecorder = &recorder{}

func init() { RegisterDriver("test-recorder", testRecorder) }

func TestRegisteredDriverRuns(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	b.op("a", "a", "", "main", 0).Driver = "test-recorder"
	b.op("b", "b", "", "main", 0, "a").Driver = "test-recorder"
	p := b.build()
	res, _ := runPlan(t, p, Options{})
	if !res.OK() {
		t.Fatalf("run failed: %+v", res.Failed)
	}
	if got := strings.Join(testRecorder.seen, ", "); got != "deploy a, deploy b" {
		t.Errorf("driver saw %q", got)
	}
}

func TestUnknownDriverFailsTheOperation(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m"})
	b.op("a", "a", "", "main", 0).Driver = "no-such-driver"
	res, _ := runPlan(t, b.build(), Options{})
	if len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Error, `unknown driver "no-such-driver"`) {
		t.Fatalf("failed: %+v", res.Failed)
	}
}

func TestRegisterDriverTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a second registration of one name did not panic")
		}
	}()
	RegisterDriver("command", DriverFunc(commandRun))
}
