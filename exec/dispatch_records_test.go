package exec

import (
	"testing"
	"time"
)

// TestResultRecords: a worker's resource records are journaled as
// resource events timed back from the step's end on the coordinator's
// clock (the worker's own clock never enters).
func TestResultRecords(t *testing.T) {
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out := StepOutcome{Duration: 10, Resources: []TaskResource{
		{Op: "net/eu", Resource: "terraform_data.a", Action: "create", Duration: 1.5, Message: "complete after 1.5s", At: 4},
		{Ops: []string{"net/eu", "net/us"}, Resource: "terraform_data.shared", Action: "update", Duration: 2, At: 9.5},
	}}
	evs := resultRecords(out, end)
	if len(evs) != 2 {
		t.Fatalf("%d records, want 2", len(evs))
	}
	a, b := evs[0], evs[1]
	if a.Kind != EvResource || a.Op != "net/eu" || a.Resource != "terraform_data.a" || a.Action != "create" ||
		a.Duration != 1.5 || a.Message != "complete after 1.5s" || !a.Time.Equal(end.Add(-6*time.Second)) {
		t.Errorf("first record %+v: want net/eu's create 6 s before the end", a)
	}
	if b.Op != "" || len(b.Ops) != 2 || !b.Time.Equal(end.Add(-500*time.Millisecond)) {
		t.Errorf("second record %+v: want the step's ops, 0.5 s before the end", b)
	}
	if got := resultRecords(StepOutcome{Duration: 3}, end); len(got) != 0 {
		t.Errorf("a result without resources gave %d records", len(got))
	}
}
