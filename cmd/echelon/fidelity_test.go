package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// sleepSpec is command operations that sleep fixed times: one phase after
// another, dependencies, max_parallel 2 and a run-alone operation. Every
// end is at least 200 ms from any other, so a real run has no near tie
// whose order the machine's noise could decide.
const sleepSpec = `
deployment "sleeps" {}

phase "one" {}
phase "two" {
  after = [phase.one]
}

mode "two" {
  max_parallel  = 2
  phase_barrier = true
}

component "a" {
  phase    = phase.one
  driver   = "command"
  duration = "0.6s"
  command { argv = ["sleep", "0.6"] }
}

component "b" {
  phase    = phase.one
  driver   = "command"
  duration = "1.5s"
  command { argv = ["sleep", "1.5"] }
}

component "c" {
  phase      = phase.one
  driver     = "command"
  depends_on = [component.a]
  duration   = "0.4s"
  command { argv = ["sleep", "0.4"] }
}

component "d" {
  phase      = phase.one
  driver     = "command"
  depends_on = [component.c]
  duration   = "1.2s"
  command { argv = ["sleep", "1.2"] }
}

component "e" {
  phase    = phase.two
  driver   = "command"
  duration = "0.8s"
  command { argv = ["sleep", "0.8"] }
}

component "f" {
  phase    = phase.two
  driver   = "command"
  duration = "0.5s"
  parallel = false
  command { argv = ["sleep", "0.5"] }
}

component "g" {
  phase      = phase.two
  driver     = "command"
  depends_on = [component.e]
  duration   = "0.3s"
  command { argv = ["sleep", "0.3"] }
}
`

// rec is one op_start or op_end line of a journal or a trace.
type rec struct {
	Kind    string    `json:"kind"`
	Op      string    `json:"op"`
	Attempt int       `json:"attempt"`
	Step    int       `json:"step"`
	At      float64   `json:"at"`   // trace
	Time    time.Time `json:"time"` // journal
}

func readRecs(t *testing.T, path string) []rec {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rec
	var t0 time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if r.Kind == "run_start" {
			t0 = r.Time
		}
		if !r.Time.IsZero() {
			r.At = r.Time.Sub(t0).Seconds()
		}
		out = append(out, r)
	}
	return out
}

// starts is the start order: step:op@attempt by step. Steps started at
// one instant run on their own goroutines, which journal their starts in
// any order; the step number is the order the policy decided them in.
func starts(rs []rec) []string {
	var ss []rec
	for _, r := range rs {
		if r.Kind == "op_start" {
			ss = append(ss, r)
		}
	}
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].Step < ss[j].Step })
	var out []string
	for _, r := range ss {
		out = append(out, fmt.Sprintf("%d:%s@%d", r.Step, r.Op, r.Attempt))
	}
	return out
}

func makespan(rs []rec) float64 {
	for _, r := range rs {
		if r.Kind == "run_end" {
			return r.At
		}
	}
	return 0
}

// TestTraceMatchesApply is the real check of the one-policy promise:
// `simulate --trials 1 --trace` and `apply` of the same plan of sleeping
// commands start the same operations in the same order; the makespans are
// logged (held to 5% under make bench, ECHELON_BENCH=1: a time limit
// does not belong in go test on a loaded machine).
func TestTraceMatchesApply(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "sleeps.hcl")
	if err := os.WriteFile(spec, []byte(sleepSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, trace, state := filepath.Join(dir, "p.plan"), filepath.Join(dir, "t.jsonl"), filepath.Join(dir, "state")
	if _, stderr, code := runCLI(t, "compile", spec, "-o", plan); code != 0 {
		t.Fatalf("compile: %d %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "simulate", plan, "--trials", "1", "--trace", trace); code != 0 {
		t.Fatalf("simulate: %d %s", code, stderr)
	}
	predicted := readRecs(t, trace)
	// The fixture's own promise: no two ends within 200 ms.
	var ends []float64
	for _, r := range predicted {
		if r.Kind == "op_end" {
			for _, e := range ends {
				if math.Abs(e-r.At) < 0.2 {
					t.Fatalf("fixture: ends at %.2fs and %.2fs are too close to order reliably", e, r.At)
				}
			}
			ends = append(ends, r.At)
		}
	}
	if out, stderr, code := runCLI(t, "apply", plan, "--state", state); code != 0 {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	journals, _ := filepath.Glob(filepath.Join(state, "runs", "*", "journal.jsonl"))
	if len(journals) != 1 {
		t.Fatalf("journals: %v", journals)
	}
	actual := readRecs(t, journals[0])
	want, got := starts(predicted), starts(actual)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("apply started\n  %v\nsimulate predicted\n  %v", got, want)
	}
	pm, am := makespan(predicted), makespan(actual)
	diff := math.Abs(am-pm) / pm
	t.Logf("predicted %.3fs, actual %.3fs (%+.1f%%), same order of %d starts", pm, am, 100*(am-pm)/pm, len(got))
	if os.Getenv("ECHELON_BENCH") != "" && diff > 0.05 {
		t.Errorf("makespans differ by %.1f%% (predicted %.3fs, actual %.3fs), over 5%%", 100*diff, pm, am)
	}
}

// TestApplySummaryAgainstPrediction: apply's summary lays the run beside
// the prediction it recorded at the start (journal run_start), per phase,
// and names the operation that took far longer than its duration says.
func TestApplySummaryAgainstPrediction(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "s.hcl")
	src := `
deployment "late" {}
phase "p" {}
mode "m" {}
component "quick" {
  phase    = phase.p
  driver   = "command"
  duration = "0.1s"
  command { argv = ["sleep", "0.1"] }
}
component "slow" {
  phase    = phase.p
  driver   = "command"
  duration = "0.1s"
  command { argv = ["sleep", "0.8"] }
}
`
	if err := os.WriteFile(spec, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "p.plan")
	if _, stderr, code := runCLI(t, "compile", spec, "-o", plan); code != 0 {
		t.Fatalf("compile: %d %s", code, stderr)
	}
	out, stderr, code := runCLI(t, "apply", plan, "--state", filepath.Join(dir, "state"))
	if code != 0 {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "predicted 0.1s (P10-P90 0.1s-0.1s) from 200 simulated runs; took ") {
		t.Errorf("no prediction beside the run:\n%s", out)
	}
	// (quick may be named too on a loaded machine: 0.1 s is little room.)
	if !regexp.MustCompile(`outside their predicted P10-P90 \([12] of 2\):.* slow took `).MatchString(out) {
		t.Errorf("the slow operation is not named:\n%s", out)
	}
	journals, _ := filepath.Glob(filepath.Join(dir, "state", "runs", "*", "journal.jsonl"))
	if len(journals) != 1 {
		t.Fatal(journals)
	}
	b, _ := os.ReadFile(journals[0])
	first, _, _ := strings.Cut(string(b), "\n")
	if !strings.Contains(first, `"predicted":{"trials":200,"p10":0.102,"p50":0.102,"p90":0.102}`) {
		t.Errorf("run_start does not record the prediction: %s", first)
	}
	// report lays the journal's run beside the prediction again, and draws both.
	svg := filepath.Join(dir, "run.svg")
	out, stderr, code = runCLI(t, "report", plan, "--state", filepath.Join(dir, "state"), "--gantt", svg)
	if code != 0 || !strings.Contains(out, "predicted 0.1s (P10-P90 0.1s-0.1s) from 200 simulated runs; took ") ||
		!regexp.MustCompile(`outside their predicted P10-P90 \([12] of 2\):.* slow took `).MatchString(out) {
		t.Errorf("report (exit %d):\n%s\n%s", code, out, stderr)
	}
	// The real run's chart outlines each operation's predicted span over it.
	if b, _ := os.ReadFile(svg); strings.Count(string(b), `class="predicted"`) != 2 {
		t.Errorf("%s: want the 2 operations' predicted spans outlined", svg)
	}
	for _, f := range []string{svg, filepath.Join(dir, "run-predicted.svg")} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "slow") {
			t.Errorf("%s: %v, not a chart of the run", f, err)
		}
	}
	out, _, code = runCLI(t, "report", plan, "--state", filepath.Join(dir, "state"), "--json")
	if code != 0 || !strings.Contains(out, `"ended": true`) || !strings.Contains(out, `"op": "slow"`) {
		t.Errorf("report --json (exit %d):\n%s", code, out)
	}
	// --json: the summary line carries the comparison.
	out, _, code = runCLI(t, "apply", plan, "--state", filepath.Join(dir, "state2"), "--json")
	if code != 0 || !strings.Contains(out, `"prediction":{"trials":200,`) || !strings.Contains(out, `"op":"slow"`) {
		t.Errorf("--json summary without the prediction (exit %d):\n%s", code, out)
	}
}
