package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/echelonhq/echelon/calib"
	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/views"
)

// calibrateStdout is where calibrate writes its view; tests swap it.
var calibrateStdout io.Writer = os.Stdout

const calibrateUsage = `calibrate SPEC|PLAN... [--state DIR] [--store URL] [--runs N] [-o FILE] [--json] [--var k=v]...

Fits what past runs took from their journals (the state directory's
runs/<digest>/journal*.jsonl, deploy and destroy, any mode): each
component's duration p50/p90 with the samples it had and 95% ranges,
terraform's per-resource time and per-process overhead, failure and retry
rates, the throttling each api answered, and outliers by name. It writes
` + calib.FileName + ` beside the spec (deterministic: review it in a
PR); simulate and apply predict with it, and it never changes a plan.

A PLAN's runs are in --state (default .echelon beside the plan). A SPEC is
compiled for every mode, deploy and destroy (with --var as given), and the
runs of those plans are read from --state (default .echelon in the spec's
directory); runs of plans compiled with other variables are found by
passing their plan files. With --store postgres://... (or ECHELON_STORE)
the runs are read from the shared store: every run of each plan, on
whichever runner it was made.

Example:
  echelon compile specs/web --mode fast -o fast.plan
  echelon apply fast.plan
  echelon calibrate fast.plan
  echelon simulate specs/web --mode safe    # "calibrated from 1 run, last on ..."

See docs/calibration.md for the file and the fit.`

// runCalibrate fits past runs into the spec's calibration file.
func runCalibrate(ctx context.Context, args []string) error {
	fs := newFlagSet("calibrate", calibrateUsage)
	sf := specFlags{ctx: ctx}
	state := fs.String("state", "", "state `DIR` holding the runs (default .echelon beside a plan, in a spec's directory)")
	runs := fs.Int("runs", 0, "use only the last `N` runs (default all)")
	out := fs.StringP("out", "o", "", "write the calibration to `FILE` (default "+calib.FileName+" beside the spec)")
	asJSON := fs.Bool("json", false, "print the calibration as JSON")
	var stf storeFlags
	stf.register(fs)
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		return usagef("calibrate takes a spec or plan files, got none")
	}
	if *runs < 0 {
		return usagef("--runs must be 0 (all) or more, got %d", *runs)
	}
	var shared store.Store
	if store.IsURL(stf.value()) {
		st, err := stf.open(ctx, stf.stateDir(*state, ".echelon"))
		if err != nil {
			return err
		}
		defer st.Close()
		shared = st
	}
	var srcs []calib.Source
	specDirs := map[string]bool{}
	seen := map[string]bool{}
	for _, path := range fs.Args() {
		plans, specDir, stateDir, err := calibrateTargets(path, *state, &sf, *asJSON)
		if err != nil {
			return err
		}
		abs, _ := filepath.Abs(specDir)
		specDirs[abs] = true
		if *out == "" {
			*out = calib.PathFor(specDir)
		}
		for _, p := range plans {
			if seen[p.PlanDigest] {
				continue
			}
			seen[p.PlanDigest] = true
			if shared != nil {
				src, err := storedJournal(ctx, shared, p)
				if err != nil {
					return err
				}
				if src != nil {
					srcs = append(srcs, *src)
				}
				continue
			}
			if js := journalsOf(exec.RunDir(stateDir, p)); len(js) > 0 {
				srcs = append(srcs, calib.Source{Plan: p, Journals: js})
			}
		}
	}
	if len(specDirs) > 1 {
		return usagef("the plans are of %d different specs; calibrate one spec at a time (or name the file with -o)", len(specDirs))
	}
	if len(srcs) == 0 {
		if shared != nil {
			return fmt.Errorf("no runs of %s found in the store %s (apply --store writes them there)", planner.Plural(len(seen), "plan"), shared.Where())
		}
		return fmt.Errorf("no runs of %s found (apply writes them to the state directory; --state names another, --store postgres://... reads a shared store)", planner.Plural(len(seen), "plan"))
	}
	c, notes, err := calib.Build(srcs, calib.Options{Runs: *runs})
	if err != nil {
		return err
	}
	if err := c.Write(*out); err != nil {
		return err
	}
	return views.NewCalibrate(*asJSON, calibrateStdout).Result(*out, c, notes)
}

// storedJournal is a plan's runs in a shared store (nil: it has none):
// every run's journal where the store keeps them all (store.History),
// whichever runner made it; else the last one.
func storedJournal(ctx context.Context, st store.Store, p *planner.Plan) (*calib.Source, error) {
	if h, ok := st.(store.History); ok {
		js, cut, err := h.Journals(ctx, p.PlanDigest, maxStoredJournal)
		if err != nil {
			return nil, err
		}
		if len(js) == 0 {
			if cut {
				return nil, fmt.Errorf("%s: the last journal of %s is over %d MB", st.Where(), p.PlanDigest, maxStoredJournal>>20)
			}
			return nil, nil
		}
		return &calib.Source{Plan: p, Stored: js, Where: st.Where()}, nil
	}
	rc, err := st.Journal(ctx, p.PlanDigest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Where(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxStoredJournal+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Where(), err)
	}
	if len(b) > maxStoredJournal {
		return nil, fmt.Errorf("%s: the journal of %s is over %d MB", st.Where(), p.PlanDigest, maxStoredJournal>>20)
	}
	return &calib.Source{Plan: p, Stored: [][]byte{b}, Where: st.Where()}, nil
}

// maxStoredJournal bounds what calibrate reads of one plan's journal.
const maxStoredJournal = 256 << 20

// calibrateTargets are the plans an argument stands for, its spec's
// directory and the state directory their runs are in.
func calibrateTargets(path, state string, sf *specFlags, asJSON bool) ([]*planner.Plan, string, string, error) {
	if isPlanFile(path) {
		p, err := planner.ReadFile(path)
		if err != nil {
			return nil, "", "", err
		}
		if state == "" {
			state = filepath.Join(filepath.Dir(path), ".echelon")
		}
		return []*planner.Plan{p}, planSpecDir(p, path), state, nil
	}
	spec, err := sf.load(path, os.Stderr, asJSON)
	if err != nil {
		return nil, "", "", err
	}
	if state == "" {
		state = filepath.Join(spec.Dir, ".echelon")
	}
	var plans []*planner.Plan
	for _, m := range spec.Modes {
		for _, destroy := range []bool{false, true} {
			p, diags := planner.Compile(spec, planner.Options{Mode: m.Name, Destroy: destroy})
			if diags.HasErrors() {
				continue // a mode that does not compile has no runs
			}
			if _, err := p.Marshal(); err != nil { // fills plan_digest
				return nil, "", "", err
			}
			plans = append(plans, p)
		}
	}
	return plans, spec.Dir, state, nil
}

// journalsOf are a run directory's journals: the current one and those
// of earlier runs a fresh apply kept.
func journalsOf(runDir string) []string {
	js, _ := filepath.Glob(filepath.Join(runDir, "journal*.jsonl"))
	sort.Strings(js)
	return js
}
