package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

const tfFailSpec = `
deployment "tf-fail" {}

phase "main" {}

mode "m" {
  max_parallel = 3
}

component "region" {
  phase   = phase.main
  driver  = "terraform"
  regions = ["ap", "eu", "us"]
  retries = %d
  on_error = "continue"
  terraform {
    dir    = "tf"
    target = "module.region_deployment[\"${each.region}\"]"
    vars = {
      regions = ["ap", "eu", "us"]
      fail    = %s
      broken  = %t
    }
  }
}
`

// opEnd is one op_end journal record.
type opEnd struct {
	attempt int
	outcome string
	err     string
	log     string
}

// journalEnds reads a journal's op_end records per operation, in order.
func journalEnds(t *testing.T, path string) map[string][]opEnd {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]opEnd{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		if e.Kind == EvOpEnd {
			out[e.Op] = append(out[e.Op], opEnd{e.Attempt, e.Outcome, e.Error, e.Log})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func runTFFail(t *testing.T, retries int, fail string, broken bool) (*Result, map[string][]opEnd) {
	t.Helper()
	bin := terraformBin(t)
	dir := t.TempDir()
	copyDir(t, "testdata/tf-fail", filepath.Join(dir, "tf"))
	spec := fmt.Sprintf(tfFailSpec, retries, fail, broken)
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{})
	res, err := Run(context.Background(), p, Options{
		StateDir: filepath.Join(dir, ".echelon"),
		SpecDir:  s.Dir,
		Env:      append(os.Environ(), "ECHELON_TERRAFORM="+bin, "CHECKPOINT_DISABLE=1"),
		Backoff:  10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, journalEnds(t, res.Journal)
}

func logOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTerraformCoalescedBlame: one coalesced apply of three regions where
// only us fails. The -json stream says so: ap and eu succeed at attempt 1,
// us fails with its own error and, with retries = 0, is not run again.
func TestTerraformCoalescedBlame(t *testing.T) {
	res, ends := runTFFail(t, 0, `["us"]`, false)
	for _, id := range []string{"region/ap", "region/eu"} {
		if got := ends[id]; len(got) != 1 || got[0].attempt != 1 || got[0].outcome != OutcomeSucceeded {
			t.Errorf("%s journal op_end records %+v, want one: attempt 1 succeeded", id, got)
		}
	}
	us := ends["region/us"]
	if len(us) != 1 || us[0].attempt != 1 || us[0].outcome != OutcomeFailed {
		t.Fatalf("region/us journal op_end records %+v, want one: attempt 1 failed (retries = 0)", us)
	}
	if !strings.Contains(us[0].err, `module.region_deployment["us"]`) || strings.Contains(us[0].err, `["eu"]`) {
		t.Errorf("region/us error %q: want us's own error only", us[0].err)
	}
	if !strings.Contains(logOf(t, us[0].log), "of 3 instance(s)") {
		t.Errorf("attempt 1 was not one coalesced apply of 3 instances:\n%s", logOf(t, us[0].log))
	}
	if len(res.Failed) != 1 || res.Failed[0].Op != "region/us" ||
		strings.Join(res.Succeeded, ",") != "region/ap,region/eu" {
		t.Errorf("result: succeeded %v, failed %+v", res.Succeeded, res.Failed)
	}
}

// TestTerraformCoalescedRetrySolo: the failed region is retried on its own
// (only its -target), as often as its retries allow, and nothing else runs
// again.
func TestTerraformCoalescedRetrySolo(t *testing.T) {
	res, ends := runTFFail(t, 2, `["us"]`, false)
	for _, id := range []string{"region/ap", "region/eu"} {
		if got := ends[id]; len(got) != 1 || got[0].attempt != 1 || got[0].outcome != OutcomeSucceeded {
			t.Errorf("%s journal op_end records %+v, want one: attempt 1 succeeded", id, got)
		}
	}
	us := ends["region/us"]
	if len(us) != 3 {
		t.Fatalf("region/us journal op_end records %+v, want 3 (1 + retries 2)", us)
	}
	for i, e := range us {
		if e.attempt != i+1 || e.outcome != OutcomeFailed {
			t.Errorf("region/us record %d: %+v, want attempt %d failed", i, e, i+1)
		}
		if i == 0 {
			continue
		}
		log := logOf(t, e.log)
		if !strings.Contains(log, "of 1 instance(s)") || strings.Contains(log, `module.region_deployment["eu"]`) {
			t.Errorf("region/us attempt %d did not run alone:\n%s", e.attempt, log)
		}
	}
	if len(res.Failed) != 1 || res.Failed[0].Op != "region/us" {
		t.Errorf("failed: %+v", res.Failed)
	}
}

// TestTerraformCoalescedUnattributed: the plan fails with an error that
// names no resource: every instance fails with that error, and each is
// retried (alone) exactly as its retries allow.
func TestTerraformCoalescedUnattributed(t *testing.T) {
	res, ends := runTFFail(t, 1, `[]`, true)
	for _, id := range []string{"region/ap", "region/eu", "region/us"} {
		got := ends[id]
		if len(got) != 2 {
			t.Errorf("%s journal op_end records %+v, want 2 (1 + retries 1)", id, got)
			continue
		}
		for i, e := range got {
			if e.attempt != i+1 || e.outcome != OutcomeFailed || !strings.Contains(e.err, "broken-on-purpose") {
				t.Errorf("%s record %d: %+v, want attempt %d failed with the plan's error", id, i, e, i+1)
			}
		}
	}
	if len(res.Failed) != 3 {
		t.Errorf("failed: %+v", res.Failed)
	}
}

// TestTerraformAttribute feeds tfEvents hand-written -json streams: what
// each instance is blamed for, and when the stream cannot tell.
func TestTerraformAttribute(t *testing.T) {
	tgt := func(r string) string { return `module.region_deployment[\"` + r + `\"]` }
	res := func(r string) string { return tgt(r) + `.terraform_data.x` }
	planned := func(r string) string {
		return `{"type":"planned_change","change":{"resource":{"addr":"` + res(r) + `"},"action":"create"}}`
	}
	hook := func(typ, r string) string {
		return `{"type":"` + typ + `","hook":{"resource":{"addr":"` + res(r) + `"}}}`
	}
	diag := func(addr string) string {
		return `{"type":"diagnostic","diagnostic":{"severity":"error","summary":"boom","detail":"first line\nsecond","address":"` + addr + `"}}`
	}
	cases := []struct {
		name   string
		stream []string
		want   map[string]string // op -> "failed" or "blameless"; nil: unattributable
	}{
		{"one failed", []string{planned("eu"), planned("us"), hook("apply_start", "eu"), hook("apply_start", "us"),
			hook("apply_complete", "eu"), hook("apply_errored", "us"), diag(res("us"))},
			map[string]string{"c/us": "failed"}},
		{"cut short", []string{planned("eu"), planned("us"), hook("apply_start", "us"), hook("apply_errored", "us"), diag(res("us"))},
			map[string]string{"c/us": "failed", "c/eu": "blameless"}},
		{"errored without a diagnostic", []string{planned("eu"), planned("us"), hook("apply_start", "eu"), hook("apply_start", "us"),
			hook("apply_complete", "eu"), hook("apply_errored", "us"), diag("")},
			nil},
		{"diagnostic outside every target", []string{planned("eu"), hook("apply_start", "eu"), hook("apply_complete", "eu"),
			diag("aws_s3_bucket.shared")}, nil},
		{"plan failed", []string{diag(res("us"))}, nil},
		{"nobody to blame", []string{planned("eu"), hook("apply_start", "eu"), hook("apply_complete", "eu")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ops []*planner.Operation
			for _, r := range []string{"eu", "us"} {
				ops = append(ops, &planner.Operation{ID: "c/" + r, Driver: "terraform",
					Terraform: &planner.Terraform{Target: `module.region_deployment["` + r + `"]`}})
			}
			var log strings.Builder
			ev := &tfEvents{log: &log, ops: ops, started: map[string]time.Time{},
				planned: map[string]bool{}, completed: map[string]bool{}, errored: map[string]bool{}, opDiag: map[string]*opDiag{}}
			for _, l := range c.stream {
				if _, err := ev.Write([]byte(l + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			se := ev.attribute()
			if c.want == nil {
				if se != nil {
					t.Fatalf("attributed %v, want nil (cannot tell)", se)
				}
				return
			}
			if se == nil {
				t.Fatalf("not attributed, want %v", c.want)
			}
			got := map[string]string{}
			for id, oe := range se.Failed {
				got[id] = "failed"
				if oe.Blameless {
					got[id] = "blameless"
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %v, want %v (%v)", got, c.want, se)
			}
			if oe := se.Failed["c/us"]; oe != nil && !oe.Blameless && !strings.Contains(oe.Err.Error(), `boom (`+strings.ReplaceAll(res("us"), `\"`, `"`)+`): first line`) {
				t.Errorf("us error %q: want its own diagnostic", oe.Err)
			}
		})
	}
}
