package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/views"
)

// Spec bundles (docs/store.md, "Spec bundles"): apply keeps its spec's
// files in a database store; a worker without a matching checkout runs
// from them.

// storeBundle keeps the plan's spec bundle in st, and, for a coordinator
// (workers), says why not when it cannot ("" when it did, or st is a state
// directory, which keeps none): the run goes on, workers then need their
// own checkout. An apply running its own steps stores it for a later
// --workers run and says nothing: it needs none.
func storeBundle(ctx context.Context, st store.Store, plan *planner.Plan, spec *lang.Spec, varFiles []string, workers bool) string {
	_, err := exec.PutSpecBundle(ctx, st, plan, spec, varFiles)
	if err == nil || errors.Is(err, errors.ErrUnsupported) || !workers {
		return ""
	}
	return fmt.Sprintf("the spec's files are not stored in %s (%v): workers need their own checkout of the spec to run this plan", st.Where(), err)
}

// findSpec is the plan's spec on this worker, checked against the plan
// (spec_digest, then what it compiles to): --spec when given; else the
// checkout's, found from spec.path as apply finds it; else, when that is
// missing or does not match, the store's bundle of the plan's spec_digest,
// unpacked in the state directory. from says which, for the worker's log.
func (w *worker) findSpec(ctx context.Context, plan *planner.Plan) (spec *lang.Spec, from string, err error) {
	if w.spec != "" {
		spec, err := w.checkSpec(plan, w.spec, true)
		if err != nil {
			return nil, "", fmt.Errorf("spec %s: %w", w.spec, err)
		}
		return spec, "--spec " + w.spec, nil
	}
	const planPath = "plan.json" // none on disk: the spec is found from the working directory
	specPath := planner.SpecPath(plan, planPath)
	var why error
	if _, serr := os.Stat(specPath); serr != nil {
		why = errors.New("not found")
	} else if spec, why = w.checkSpec(plan, specPath, false); why == nil {
		return spec, "this checkout (" + specPath + ")", nil
	}
	spec, from, err = w.bundledSpec(ctx, plan)
	if err != nil {
		return nil, "", fmt.Errorf("spec %s: %v; and the store's bundle of the plan's spec_digest: %w", specPath, why, err)
	}
	return spec, fmt.Sprintf("%s; this checkout's %s: %s", from, specPath, firstLine(why.Error())), nil
}

// checkSpec loads the spec at path for plan, with this worker's variables,
// and checks the plan against it as apply does.
func (w *worker) checkSpec(plan *planner.Plan, path string, given bool) (*lang.Spec, error) {
	spec, err := applyLoadSpec(plan, "", path, given, w.sf.vars, w.sf.varFiles, views.NewDiagnostics(false, w.log, w.log))
	if errors.Is(err, errReported) {
		err = errors.New("it has errors on this worker (see its output; is a variable the plan needs, such as a sensitive one, missing from this worker's environment as ECHELON_VAR_NAME?)")
	}
	if err == nil {
		err = planner.CheckFresh(plan, spec)
	}
	if err == nil {
		err = planner.Verify(plan, spec)
	}
	if err != nil {
		return nil, err
	}
	return spec, nil
}

// bundledSpec is the plan's spec from the store's bundle: the one unpacked
// in the state directory when it is whole and matches, else fetched (and
// unpacked) again.
func (w *worker) bundledSpec(ctx context.Context, plan *planner.Plan) (*lang.Spec, string, error) {
	dir := exec.BundleDir(w.state, plan.SpecDigest)
	if _, err := os.Stat(dir); err == nil {
		p, err := exec.CachedBundle(dir, plan.SpecDigest)
		if err == nil {
			var spec *lang.Spec
			if spec, err = w.checkSpec(plan, p, true); err == nil {
				return spec, "the store's bundle, cached in " + dir, nil
			}
		}
		fmt.Fprintf(w.log, "echelon worker: the bundle cached in %s is refused (%s): fetching it again\n", dir, firstLine(err.Error()))
	}
	p, err := exec.FetchBundle(ctx, w.st, plan.SpecDigest, dir)
	if err != nil {
		return nil, "", err
	}
	spec, err := w.checkSpec(plan, p, true)
	if err != nil {
		return nil, "", fmt.Errorf("unpacked in %s: %w", dir, err)
	}
	return spec, "the store's bundle, fetched into " + dir, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
