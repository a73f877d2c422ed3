package exec

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store/pgtest"
)

// The test binary doubles as the command the operations run: with
// EXEC_TEST_HELPER set it records its start and end in a marks file, sleeps,
// and fails as told. Real processes, real files, no mocks.
func TestMain(m *testing.M) {
	if os.Getenv("EXEC_TEST_HELPER") != "" {
		os.Exit(helperMain(os.Args[1:]))
	}
	code := m.Run()
	pgtest.Stop() // a server store/pgtest started for this binary
	if echelonBin != "" {
		os.RemoveAll(filepath.Dir(echelonBin)) // built by buildEchelon
	}
	os.Exit(code)
}

// helperMain: mark DIR SLEEP_MS [FAIL_TIMES]
// Appends "OP start NS" and "OP end NS" lines to DIR/marks; the first
// FAIL_TIMES runs of an op exit 1 (counted in DIR/OP.count).
func helperMain(args []string) int {
	if len(args) < 3 || args[0] != "mark" {
		fmt.Fprintln(os.Stderr, "helper: bad args", args)
		return 2
	}
	dir := args[1]
	ms, _ := strconv.Atoi(args[2])
	op := os.Getenv("ECHELON_OP")
	if tag := os.Getenv("EXEC_TEST_TAG"); tag != "" {
		op += "@" + tag // which of several concurrent applies ran it
	}
	appendLine(filepath.Join(dir, "marks"), fmt.Sprintf("%s start %d\n", op, time.Now().UnixNano()))
	time.Sleep(time.Duration(ms) * time.Millisecond)
	fail := 0
	if len(args) > 3 {
		fail, _ = strconv.Atoi(args[3])
	}
	if fail > 0 {
		cf := filepath.Join(dir, strings.ReplaceAll(op, "/", "_")+".count")
		n := 0
		if b, err := os.ReadFile(cf); err == nil {
			n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		os.WriteFile(cf, []byte(strconv.Itoa(n+1)), 0o644)
		if n < fail {
			appendLine(filepath.Join(dir, "marks"), fmt.Sprintf("%s end %d\n", op, time.Now().UnixNano()))
			fmt.Println("helper: failing on purpose, run", n+1)
			return 1
		}
	}
	appendLine(filepath.Join(dir, "marks"), fmt.Sprintf("%s end %d\n", op, time.Now().UnixNano()))
	fmt.Println("helper: done", op)
	return 0
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	f.WriteString(line)
	f.Close()
}

// interval is one run of an operation as its marks record it.
type interval struct {
	op         string
	start, end int64
}

func readMarks(t *testing.T, dir string) []interval {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "marks"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	open := map[string]int64{}
	var out []interval
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			t.Fatalf("bad mark line %q", sc.Text())
		}
		ns, _ := strconv.ParseInt(fs[2], 10, 64)
		switch fs[1] {
		case "start":
			open[fs[0]] = ns
		case "end":
			out = append(out, interval{fs[0], open[fs[0]], ns})
			delete(open, fs[0])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// peak returns the most distinct keys active at one instant, counting each
// interval under key(x) (skipped when key returns ""); with a key unique
// per interval it is the peak concurrency.
func peak(iv []interval, key func(interval) string) int {
	type pt struct {
		t     int64
		delta int
		k     string
	}
	var pts []pt
	for _, x := range iv {
		k := key(x)
		if k == "" {
			continue
		}
		pts = append(pts, pt{x.start, 1, k}, pt{x.end, -1, k})
	}
	// Ends sort before starts at the same instant.
	sort.Slice(pts, func(i, j int) bool {
		if pts[i].t != pts[j].t {
			return pts[i].t < pts[j].t
		}
		return pts[i].delta < pts[j].delta
	})
	active := map[string]int{}
	best := 0
	for _, p := range pts {
		active[p.k] += p.delta
		if active[p.k] == 0 {
			delete(active, p.k)
		}
		best = max(best, len(active))
	}
	return best
}

// planBuilder makes plans by hand for the scheduler tests; batches are the
// contract's earliest levels (phase-ordered with phase_barrier).
type planBuilder struct {
	p   planner.Plan
	bin string
	dir string
}

func newPlan(t *testing.T, mode planner.Mode, phases ...string) *planBuilder {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if len(phases) == 0 {
		phases = []string{"main"}
	}
	b := &planBuilder{bin: bin, dir: t.TempDir()}
	b.p = planner.Plan{FormatVersion: "1", Action: planner.ActionDeploy, Mode: mode, Deployment: "test",
		PlanDigest: fmt.Sprintf("sha256:%x", time.Now().UnixNano())}
	for _, ph := range phases {
		b.p.Phases = append(b.p.Phases, planner.Phase{Name: ph, After: []string{}})
	}
	return b
}

// op adds a command operation running the helper for ms milliseconds.
func (b *planBuilder) op(id, component, region, phase string, ms int, deps ...string) *planner.Operation {
	if deps == nil {
		deps = []string{}
	}
	b.p.Operations = append(b.p.Operations, planner.Operation{
		ID: id, Component: component, Region: region, Phase: phase, Driver: "command",
		DependsOn: deps, Parallel: true, OnError: "stop", Calls: map[string]int{},
		Command: &planner.Command{Argv: []string{b.bin, "mark", b.dir, strconv.Itoa(ms)},
			Env: map[string]string{"EXEC_TEST_HELPER": "1"}},
	})
	return &b.p.Operations[len(b.p.Operations)-1]
}

func (b *planBuilder) build() *planner.Plan {
	p := &b.p
	sort.Slice(p.Operations, func(i, j int) bool { return p.Operations[i].ID < p.Operations[j].ID })
	byID := map[string]*planner.Operation{}
	for i := range p.Operations {
		byID[p.Operations[i].ID] = &p.Operations[i]
	}
	phaseIdx := map[string]int{}
	for i, ph := range p.Phases {
		phaseIdx[ph.Name] = i
	}
	level := map[string]int{}
	var lv func(id string) int
	lv = func(id string) int {
		if l, ok := level[id]; ok {
			return l
		}
		l := 0
		for _, d := range byID[id].DependsOn {
			l = max(l, lv(d)+1)
		}
		level[id] = l
		return l
	}
	type key struct{ phase, level int }
	groups := map[key][]string{}
	for _, op := range p.Operations {
		k := key{0, lv(op.ID)}
		if p.Mode.PhaseBarrier {
			k.phase = phaseIdx[op.Phase]
		}
		groups[k] = append(groups[k], op.ID)
	}
	var keys []key
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].phase != keys[j].phase {
			return keys[i].phase < keys[j].phase
		}
		return keys[i].level < keys[j].level
	})
	for _, k := range keys {
		ids := groups[k]
		sort.Strings(ids)
		// Alone operations get a batch each (contract §3).
		var rest []string
		for _, id := range ids {
			if byID[id].Alone != "" {
				p.Batches = append(p.Batches, planner.Batch{Index: len(p.Batches), Operations: []string{id}, Exclusive: []string{id}, Shared: depsOf(byID, []string{id})})
			} else {
				rest = append(rest, id)
			}
		}
		if len(rest) > 0 {
			p.Batches = append(p.Batches, planner.Batch{Index: len(p.Batches), Operations: rest, Exclusive: rest, Shared: depsOf(byID, rest)})
		}
	}
	return p
}

func depsOf(byID map[string]*planner.Operation, ids []string) []string {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	seen := map[string]bool{}
	out := []string{}
	for _, id := range ids {
		for _, d := range byID[id].DependsOn {
			if !in[d] && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}
