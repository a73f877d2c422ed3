package review

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/sim"
)

// FormatVersion is the version of Report's JSON.
const FormatVersion = "1"

// Options say what to review.
type Options struct {
	Spec   string // the spec in the working tree (a .hcl file or a directory)
	Base   string // the git revision to compare with (origin/main)
	Load   lang.LoadOptions
	Trials int    // simulated trials per mode and side (default sim.DefaultTrials)
	Seed   uint64 // default 1
}

// UsageError is a review that cannot start: not a git repository, an
// unknown revision. The command exits 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Report is the review of a change to a spec: both sides validated,
// compiled for every mode and simulated.
type Report struct {
	FormatVersion string `json:"format_version"`
	Deployment    string `json:"deployment"`
	Spec          string `json:"spec"` // relative to the repository root
	Base          string `json:"base"`
	BaseCommit    string `json:"base_commit"`
	Trials        int    `json:"trials"`
	Seed          uint64 `json:"seed"`
	// Problems are what makes the review fail (exit 1): errors in the
	// working tree's spec, budgets it breaks. Empty when it passes.
	Problems   []string       `json:"problems"`
	Validation Validation     `json:"validation"`
	Modes      []ModeReport   `json:"modes"`
	Budgets    []BudgetReport `json:"budgets"`
}

// Validation holds the diagnostics of both sides.
type Validation struct {
	Base SideValidation `json:"base"`
	Head SideValidation `json:"head"`
}

// SideValidation is one side's diagnostics (lang.Load and every mode's
// compile). Present is false when the spec does not exist there.
type SideValidation struct {
	Present     bool         `json:"present"`
	Errors      int          `json:"errors"`
	Warnings    int          `json:"warnings"`
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// Diagnostic is a diagnostic with its position relative to the repository.
type Diagnostic struct {
	Severity string `json:"severity"`
	Pos      string `json:"pos"` // FILE:LINE:COL, or "" without a subject
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
}

// ModeReport compares one mode before and after.
type ModeReport struct {
	Mode   string `json:"mode"`
	Status string `json:"status"` // "added", "removed", "changed", "unchanged", or "not compiled" (the working tree's spec has errors)
	// Before and After are nil where the mode does not compile (or exist).
	Before *Prediction       `json:"before"`
	After  *Prediction       `json:"after"`
	Diff   *planner.PlanDiff `json:"diff"` // nil unless both sides compile

	oldPlan, newPlan *planner.Plan
	result           *sim.Result // After's
}

// Prediction is the simulated run of one plan.
type Prediction struct {
	Operations    int     `json:"operations"`
	P50           float64 `json:"p50"` // seconds
	P90           float64 `json:"p90"`
	ThrottledMean float64 `json:"throttled_mean"` // 429s a run
	PThrottled    float64 `json:"p_throttled"`    // share of runs throttled
	Risk          string  `json:"risk"`
	RiskReason    string  `json:"risk_reason"`
}

// BudgetReport is one budget held against its mode on both sides.
type BudgetReport struct {
	Name   string       `json:"name"`
	Mode   string       `json:"mode"`
	Before *BudgetState `json:"before"` // nil: no such budget or mode then
	After  *BudgetState `json:"after"`
}

// BudgetState is a budget's verdict on one side.
type BudgetState struct {
	OK         bool            `json:"ok"`
	Violations []sim.Violation `json:"violations"`
}

// side is one side compiled and simulated.
type side struct {
	val        SideValidation
	deployment string
	modes      []string
	plans      map[string]*planner.Plan
	results    map[string]*sim.Result
	checks     []sim.BudgetCheck
	failed     bool // the spec is there but does not load: its modes are unknown
}

// Run reviews the spec at opts.Spec in the working tree against the same
// path at opts.Base.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Trials == 0 {
		opts.Trials = sim.DefaultTrials
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	absSpec, err := filepath.Abs(opts.Spec)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(absSpec); err != nil {
		return nil, &UsageError{fmt.Errorf("spec: %w", err)}
	}
	specDir := absSpec
	if fi, err := os.Stat(absSpec); err == nil && !fi.IsDir() {
		specDir = filepath.Dir(absSpec)
	}
	root, err := git(ctx, specDir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, &UsageError{fmt.Errorf("%s is not in a git repository: %w", opts.Spec, err)}
	}
	root = strings.TrimSpace(root)
	commit, err := git(ctx, root, "rev-parse", "--verify", "--quiet", opts.Base+"^{commit}")
	if err != nil {
		return nil, &UsageError{fmt.Errorf("unknown base revision %q (in CI, fetch it first: a shallow clone lacks it): %w", opts.Base, err)}
	}
	commit = strings.TrimSpace(commit)
	rel, err := relInRepo(root, absSpec)
	if err != nil {
		return nil, &UsageError{err}
	}

	tmp, err := os.MkdirTemp("", "echelon-review-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := archive(ctx, root, commit, tmp); err != nil {
		return nil, err
	}
	// The base tree is a repository of its own for RepoSpecPath, so both
	// sides record the same spec.path.
	if err := os.Mkdir(filepath.Join(tmp, ".git"), 0o755); err != nil {
		return nil, err
	}

	base, err := compileSide(ctx, filepath.Join(tmp, filepath.FromSlash(rel)), tmp, opts)
	if err != nil {
		return nil, err
	}
	head, err := compileSide(ctx, filepath.Join(root, filepath.FromSlash(rel)), root, opts)
	if err != nil {
		return nil, err
	}
	r := &Report{FormatVersion: FormatVersion, Deployment: head.deployment, Spec: rel, Base: opts.Base, BaseCommit: commit,
		Trials: opts.Trials, Seed: opts.Seed, Problems: []string{}, Modes: []ModeReport{}, Budgets: []BudgetReport{},
		Validation: Validation{Base: base.val, Head: head.val}}
	if r.Deployment == "" {
		r.Deployment = base.deployment
	}
	compare(r, base, head)
	return r, nil
}

// relInRepo is abs relative to root, slash-separated.
func relInRepo(root, abs string) (string, error) {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	a, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(r, a)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("spec %s is outside the repository %s", abs, root)
	}
	return filepath.ToSlash(rel), nil
}

// git runs git in dir and returns its stdout.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(errb.String()); msg != "" {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return out.String(), nil
}

// archive writes the tree of commit into dir (git archive, unpacked
// here: regular files, directories and symlinks, none outside dir).
func archive(ctx context.Context, root, commit, dir string) error {
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	cmd.Dir = root
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	uerr := untar(out, dir)
	if uerr != nil {
		_, _ = io.Copy(io.Discard, out)
	}
	werr := cmd.Wait()
	if uerr != nil {
		return fmt.Errorf("unpacking the base revision: %w", uerr)
	}
	if werr != nil {
		return fmt.Errorf("git archive: %w: %s", werr, strings.TrimSpace(errb.String()))
	}
	return nil
}

func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) {
			continue
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, path); err != nil {
				return err
			}
		}
	}
}

// compileSide loads the spec at path (positions shown relative to root),
// compiles every mode and simulates each.
func compileSide(ctx context.Context, path, root string, opts Options) (*side, error) {
	s := &side{plans: map[string]*planner.Plan{}, results: map[string]*sim.Result{}, val: SideValidation{Diagnostics: []Diagnostic{}}}
	if _, err := os.Stat(path); err != nil {
		return s, nil // not there: every mode is added or removed
	}
	s.val.Present = true
	spec, diags := lang.Load(path, opts.Load)
	s.addDiags(diags, root)
	if diags.HasErrors() || spec == nil {
		s.failed = true
		return s, nil
	}
	if spec.Deployment != nil {
		s.deployment = spec.Deployment.Name
	}
	for _, m := range spec.Modes {
		s.modes = append(s.modes, m.Name)
		p, d := planner.Compile(spec, planner.Options{Mode: m.Name})
		s.addDiags(d, root)
		if d.HasErrors() || p == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := sim.Simulate(p, sim.Options{Trials: opts.Trials, Seed: opts.Seed, Overhead: sim.DefaultOverhead()})
		if err != nil {
			return nil, fmt.Errorf("simulate mode %s: %w", m.Name, err)
		}
		s.plans[m.Name], s.results[m.Name] = p, res
	}
	var results []*sim.Result
	var budgets []planner.Budget
	for _, m := range s.modes {
		if res := s.results[m]; res != nil {
			results = append(results, res)
			if budgets == nil {
				budgets = s.plans[m].Budgets
			}
		}
	}
	s.checks = sim.CheckBudgets(budgets, results)
	return s, nil
}

// addDiags records diags once each (every mode's compile repeats the
// spec-wide ones), positions relative to root.
func (s *side) addDiags(diags hcl.Diagnostics, root string) {
	for _, d := range diags {
		x := Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			x.Severity = "warning"
		}
		if d.Subject != nil {
			name := d.Subject.Filename
			if rel, err := filepath.Rel(root, name); err == nil && filepath.IsLocal(rel) {
				name = filepath.ToSlash(rel)
			} else if abs, err := filepath.Abs(name); err == nil {
				if rel, err := filepath.Rel(root, abs); err == nil && filepath.IsLocal(rel) {
					name = filepath.ToSlash(rel)
				}
			}
			x.Pos = fmt.Sprintf("%s:%d:%d", name, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		if slices.Contains(s.val.Diagnostics, x) {
			continue
		}
		s.val.Diagnostics = append(s.val.Diagnostics, x)
		if x.Severity == "error" {
			s.val.Errors++
		} else {
			s.val.Warnings++
		}
	}
}

func prediction(p *planner.Plan, r *sim.Result) *Prediction {
	if r == nil {
		return nil
	}
	return &Prediction{Operations: len(p.Operations), P50: r.WallClock.P50, P90: r.WallClock.P90, ThrottledMean: r.ThrottledMean,
		PThrottled: r.PThrottled, Risk: r.Risk, RiskReason: r.RiskReason}
}

// compare fills r's modes, budgets and problems from both sides.
func compare(r *Report, base, head *side) {
	modes := slices.Clone(head.modes)
	for _, m := range base.modes {
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	for _, m := range modes {
		mr := ModeReport{Mode: m, oldPlan: base.plans[m], newPlan: head.plans[m], result: head.results[m]}
		mr.Before = prediction(mr.oldPlan, base.results[m])
		mr.After = prediction(mr.newPlan, head.results[m])
		inBase, inHead := slices.Contains(base.modes, m), slices.Contains(head.modes, m)
		switch {
		case !inHead && head.failed:
			// Not removed: the spec has errors, so no mode compiles.
			mr.Status = "not compiled"
		case !inBase && base.failed:
			mr.Status = "changed" // the base did not load: nothing to compare with
		case !inBase:
			mr.Status = "added"
		case !inHead:
			mr.Status = "removed"
		default:
			mr.Status = "changed"
			if mr.oldPlan != nil && mr.newPlan != nil {
				mr.Diff = planner.Diff(mr.oldPlan, mr.newPlan, "base", "head", nil)
				if mr.Diff.Identical {
					mr.Status = "unchanged"
				}
			}
		}
		r.Modes = append(r.Modes, mr)
	}

	type key struct{ name, mode string }
	var order []key
	states := map[key]*BudgetReport{}
	add := func(checks []sim.BudgetCheck, after bool) {
		for _, c := range checks {
			if !c.Checked {
				continue
			}
			k := key{c.Name, c.Mode}
			br := states[k]
			if br == nil {
				br = &BudgetReport{Name: c.Name, Mode: c.Mode}
				states[k] = br
				order = append(order, k)
			}
			st := &BudgetState{OK: c.OK, Violations: c.Violations}
			if after {
				br.After = st
			} else {
				br.Before = st
			}
		}
	}
	add(head.checks, true)
	add(base.checks, false)
	for _, k := range order {
		r.Budgets = append(r.Budgets, *states[k])
	}

	if !head.val.Present {
		r.Problems = append(r.Problems, fmt.Sprintf("the spec %s does not exist in the working tree", r.Spec))
	}
	if head.val.Errors > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("the spec has %s", planner.Plural(head.val.Errors, "error")))
	}
	for _, b := range r.Budgets {
		if b.After != nil && !b.After.OK {
			was := "newly broken"
			if b.Before != nil && !b.Before.OK {
				was = "already broken at the base"
			}
			r.Problems = append(r.Problems, fmt.Sprintf("budget %s (mode %s) broken: %s (%s)", b.Name, b.Mode, violations(b.After.Violations), was))
		}
	}
}

func violations(vs []sim.Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		if v.What == "max_throttled" {
			parts[i] = fmt.Sprintf("throttled %.1f > %.1f", v.Predicted, v.Limit)
			continue
		}
		parts[i] = fmt.Sprintf("%s %s > %s", strings.ToUpper(v.What), sim.Duration(v.Predicted), sim.Duration(v.Limit))
	}
	return strings.Join(parts, ", ")
}
