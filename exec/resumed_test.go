package exec

import (
	"context"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// A resumed run tells Options.OnResumed what succeeded in the earlier run
// (apply's view counts those as done): the same list as Result.Resumed.
func TestOnResumed(t *testing.T) {
	b := newPlan(t, planner.Mode{Name: "m", MaxParallel: 1})
	b.op("a", "a", "", "main", 10)
	bad := b.op("b", "b", "", "main", 10)
	bad.Command.Argv = append(bad.Command.Argv, "1") // fails once
	b.op("c", "c", "", "main", 10, "b")
	b.op("d", "d", "", "main", 10)
	p := b.build()
	state := t.TempDir()
	runPlan(t, p, Options{StateDir: state})
	var resumed []string
	res, err := Run(context.Background(), p, Options{StateDir: state, Resume: true,
		OnResumed: func(ids []string) { resumed = ids }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || strings.Join(resumed, ",") != strings.Join(res.Resumed, ",") || len(resumed) == 0 {
		t.Fatalf("resumed %v, result %+v", resumed, res)
	}
}
