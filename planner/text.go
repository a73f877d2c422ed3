package planner

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/echelonhq/echelon/lang"
)

// ShowView is `echelon show --json`: the plan arranged for people (phases
// of batches, totals), the same data as the text view.
type ShowView struct {
	FormatVersion    string         `json:"format_version"`
	Deployment       string         `json:"deployment"`
	Action           string         `json:"action"`
	UndeployStrategy string         `json:"undeploy_strategy,omitempty"`
	Only             []string       `json:"only,omitempty"`
	Mode             Mode           `json:"mode"`
	SpecPath         string         `json:"spec_path"`
	SpecDigest       string         `json:"spec_digest"`
	PlanDigest       string         `json:"plan_digest"`
	Variables        map[string]any `json:"variables"`
	Totals           Totals         `json:"totals"`
	Phases           []ShowPhase    `json:"phases"`
}

// Totals are a plan's counts and its lower bound in seconds.
type Totals struct {
	Operations   int     `json:"operations"`
	Batches      int     `json:"batches"`
	Phases       int     `json:"phases"`
	Alone        int     `json:"alone"`
	CriticalPath float64 `json:"critical_path"`
	LowerBound   float64 `json:"lower_bound"`
}

// ShowPhase is a run of consecutive batches of one phase ("" when the mode
// has no phase_barrier and the batches mix phases).
type ShowPhase struct {
	Phase   string      `json:"phase"`
	Batches []ShowBatch `json:"batches"`
}

// ShowBatch is a batch with why it runs alone, if it does.
type ShowBatch struct {
	Batch
	Alone string `json:"alone,omitempty"`
}

// View arranges the plan for show.
func (p *Plan) View() ShowView {
	v := ShowView{FormatVersion: FormatVersion, Deployment: p.Deployment, Action: p.Action,
		UndeployStrategy: p.UndeployStrategy, Only: p.Only, Mode: p.Mode, SpecPath: p.Spec.Path,
		SpecDigest: p.SpecDigest, PlanDigest: p.PlanDigest, Variables: p.Spec.Variables, Phases: []ShowPhase{}}
	if v.Variables == nil {
		v.Variables = map[string]any{}
	}
	ops := p.opIndex()
	phases := map[string]bool{}
	for _, o := range p.Operations {
		phases[o.Phase] = true
		if o.Alone != "" {
			v.Totals.Alone++
		}
	}
	v.Totals.CriticalPath = p.CriticalPath()
	v.Totals.Operations = len(p.Operations)
	v.Totals.Batches = len(p.Batches)
	v.Totals.Phases = len(phases)
	v.Totals.LowerBound = LowerBound(p)
	for _, b := range p.Batches {
		sb := ShowBatch{Batch: b}
		if len(b.Operations) == 1 {
			if o := ops[b.Operations[0]]; o != nil {
				sb.Alone = o.Alone
			}
		}
		if n := len(v.Phases); n == 0 || v.Phases[n-1].Phase != b.Phase {
			v.Phases = append(v.Phases, ShowPhase{Phase: b.Phase})
		}
		last := &v.Phases[len(v.Phases)-1]
		last.Batches = append(last.Batches, sb)
	}
	return v
}

// CriticalPath is the plan's p50 critical path in seconds: the highest
// operation priority (0 for no operations). View's Totals.CriticalPath.
func (p *Plan) CriticalPath() float64 {
	cp := 0.0
	for i := range p.Operations {
		cp = math.Max(cp, p.Operations[i].Priority)
	}
	return cp
}

func (p *Plan) opIndex() map[string]*Operation {
	m := make(map[string]*Operation, len(p.Operations))
	for i := range p.Operations {
		m[p.Operations[i].ID] = &p.Operations[i]
	}
	return m
}

// WriteText writes the human view of `echelon show`: a header (deployment,
// action, mode caps, short digests, totals), then per phase its batches
// with their operations and EXCLUSIVE and SHARED locks. Long operation
// lists are compressed per component (infra/{eu,us}/{0,1}) but stay
// complete.
func (p *Plan) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	v := p.View()
	ops := p.opIndex()
	action := v.Action
	if v.UndeployStrategy != "" {
		action += ", " + v.UndeployStrategy
	}
	if len(v.Only) > 0 {
		action += ", only " + strings.Join(v.Only, ",")
	}
	fmt.Fprintf(bw, "deployment  %s\n", v.Deployment)
	fmt.Fprintf(bw, "action      %s\n", action)
	fmt.Fprintf(bw, "mode        %s\n", modeText(v.Mode))
	fmt.Fprintf(bw, "spec        %s (%s)\n", v.SpecPath, Plural(len(p.Spec.Files), "file"))
	names := slices.Sorted(maps.Keys(v.Variables))
	for i, n := range names {
		label := ""
		if i == 0 {
			label = "variables"
		}
		val, _ := json.Marshal(v.Variables[n])
		fmt.Fprintf(bw, "%-11s %s = %s\n", label, n, wrap(strings.ReplaceAll(string(val), ",", ","+brk), 100, 15+len(n)))
	}
	fmt.Fprintf(bw, "digests     spec %s  plan %s\n", short(v.SpecDigest), short(v.PlanDigest))
	t := v.Totals
	fmt.Fprintf(bw, "totals      %s in %s, %s, %d run alone\n", Plural(t.Operations, "operation"), Plural(t.Phases, "phase"), Plural(t.Batches, "batch"), t.Alone)
	fmt.Fprintf(bw, "time        critical path %s, lower bound %s (p50, before throttling)\n", FormatSeconds(t.CriticalPath), FormatSeconds(t.LowerBound))
	for _, ph := range v.Phases {
		first, last := ph.Batches[0].Index, ph.Batches[len(ph.Batches)-1].Index
		n := 0
		for _, b := range ph.Batches {
			n += len(b.Operations)
		}
		rng := "batch " + strconv.Itoa(first)
		if last != first {
			rng = fmt.Sprintf("batches %d-%d", first, last)
		}
		name := "phase " + ph.Phase
		if ph.Phase == "" {
			name = "mixed phases"
		}
		fmt.Fprintf(bw, "\n%s (%s, %s)\n", name, rng, Plural(n, "operation"))
		for _, b := range ph.Batches {
			head := fmt.Sprintf("  batch %d: %s", b.Index, Plural(len(b.Operations), "operation"))
			if b.Alone != "" {
				head += ", runs alone: " + b.Alone
			}
			fmt.Fprintln(bw, head)
			fmt.Fprintf(bw, "    run        %s\n", wrap(compressIDs(b.Operations, ops), 100, 15))
			if equal(b.Exclusive, b.Operations) {
				fmt.Fprintf(bw, "    EXCLUSIVE  the operations run\n")
			} else {
				fmt.Fprintf(bw, "    EXCLUSIVE  %s\n", wrap(compressIDs(b.Exclusive, ops), 100, 15))
			}
			sh := "-"
			if len(b.Shared) > 0 {
				sh = wrap(compressIDs(b.Shared, ops), 100, 15)
			}
			fmt.Fprintf(bw, "    SHARED     %s\n", sh)
		}
	}
	return bw.Flush()
}

func modeText(m Mode) string {
	parts := []string{m.Name + ":"}
	if m.PhaseBarrier {
		parts = append(parts, "phase_barrier")
	}
	if m.BatchBarrier {
		parts = append(parts, "batch_barrier")
	}
	caps := func(name string, v int) {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, v))
		}
	}
	caps("max_parallel", m.MaxParallel)
	caps("region_parallel", m.RegionParallel)
	caps("terraform_parallelism", m.TerraformParallelism)
	for _, k := range slices.Sorted(maps.Keys(m.ComponentParallel)) {
		caps("component_parallel."+k, m.ComponentParallel[k])
	}
	if len(parts) == 1 {
		parts = append(parts, "no caps")
	}
	return strings.Join(parts, " ")
}

// Plural is "1 batch", "3 batches".
func Plural(n int, word string) string { return lang.Plural(n, word) }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FormatSeconds writes seconds, rounded to whole ones, as lang.FormatDuration
// does: 1h2m3s, 4m5s, 6s.
func FormatSeconds(s float64) string {
	s = min(max(s, 0), 1e9)
	if s < 10 {
		// Under ten seconds, tenths: a plan of 300ms steps is not "0s".
		return lang.FormatDuration(time.Duration(math.Round(s*10)) * time.Second / 10)
	}
	return lang.FormatDuration(time.Duration(math.Round(s)) * time.Second)
}

// brk marks where wrap may break a line; it is removed on output.
const brk = "\x1f"

// wrap breaks s at its brk marks to fit width, indenting continuation
// lines by indent spaces; s without marks is returned as is.
func wrap(s string, width, indent int) string {
	parts := strings.Split(s, brk)
	var b strings.Builder
	col := indent
	for i, part := range parts {
		if i > 0 && col+len(part) > width && col > indent {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
			part = strings.TrimLeft(part, " ")
		}
		b.WriteString(part)
		col += len(part)
	}
	return b.String()
}

// compressIDs writes a sorted ID list compactly and completely, with
// line-break marks (brk) for wrap: runs of one component become
// component/{a,b}/{0,1} when they are the full region x replica product,
// else component/{a/0,b/1}; each run > 1 ends with its count. ops gives each
// ID's component, region and replica; IDs it does not know are written as
// they are.
func compressIDs(ids []string, ops map[string]*Operation) string {
	return compressIDsIn(ids, ops, nil)
}

// compressIDsIn is compressIDs that writes a list of more than three
// regions holding every region the component has (regions[component],
// when regions is not nil) as "{N regions}".
func compressIDsIn(ids []string, ops map[string]*Operation, regions map[string]int) string {
	var out []string
	for i := 0; i < len(ids); {
		o := ops[ids[i]]
		j := i + 1
		for o != nil && j < len(ids) {
			q := ops[ids[j]]
			if q == nil || q.Component != o.Component {
				break
			}
			j++
		}
		out = append(out, compressRun(ids[i:j], ops, regions))
		i = j
	}
	return strings.Join(out, ","+brk+" ")
}

func compressRun(ids []string, ops map[string]*Operation, all map[string]int) string {
	if len(ids) == 1 {
		return ids[0]
	}
	c := ops[ids[0]].Component
	var regions, reps []string
	seenR, seenI := map[string]bool{}, map[int]bool{}
	have := map[string]bool{}
	replicated := false
	for _, id := range ids {
		o := ops[id]
		if !seenR[o.Region] {
			seenR[o.Region] = true
			regions = append(regions, o.Region)
		}
		if !seenI[o.Replica] {
			seenI[o.Replica] = true
			reps = append(reps, strconv.Itoa(o.Replica))
		}
		if strings.Count(strings.TrimPrefix(id, c+"/"), "/") > 0 || (o.Region == "" && id != c) {
			replicated = true
		}
		have[o.Region+"\x00"+strconv.Itoa(o.Replica)] = true
	}
	sort.Strings(regions)
	sort.Slice(reps, func(a, b int) bool { x, _ := strconv.Atoi(reps[a]); y, _ := strconv.Atoi(reps[b]); return x < y })
	count := fmt.Sprintf(" (%d)", len(ids))
	full := len(regions)*len(reps) == len(ids)
	regionList := "{" + strings.Join(regions, ","+brk) + "}"
	if len(regions) > 3 && len(regions) == all[c] {
		regionList = "{" + strconv.Itoa(len(regions)) + " regions}"
	}
	switch {
	case full && !replicated:
		return c + "/" + regionList + count
	case full && len(regions) == 1 && regions[0] == "":
		return c + "/{" + strings.Join(reps, ",") + "}" + count
	case full && len(reps) > 0:
		return c + "/" + regionList + "/{" + strings.Join(reps, ",") + "}" + count
	}
	suffixes := make([]string, len(ids))
	for i, id := range ids {
		suffixes[i] = strings.TrimPrefix(id, c+"/")
	}
	return c + "/{" + strings.Join(suffixes, ","+brk) + "}" + count
}
