package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/views"
)

// runPlan previews a compiled plan: `terraform plan -out` per terraform
// state under the same scheduler as apply, nothing changed.
//
//	echelon plan PLAN [--spec SPEC] [--state DIR] [--store URL] [--format text|json|markdown] [--json] [--var k=v]... [--var-file F]...
//
// PLAN is a plan from `echelon compile -o` (echelon's plan; this command
// previews it). It is checked as apply checks it; the saved Terraform
// plans and preview.json go in the state directory under the plan's
// digest, and `echelon apply PLAN` then applies exactly them. With a
// database store the summary (never the saved plans) goes in it too.
func runPlan(ctx context.Context, args []string) error {
	fs := newFlagSet("plan", "plan PLAN [--spec SPEC] [--state DIR] [--store URL] [--format text|json|markdown] [--var NAME=VALUE]... [--var-file FILE]...\n\n"+
		"Preview what `echelon apply PLAN` would change: terraform plan -out for every terraform\n"+
		"state of a compiled plan (from `echelon compile -o`), under apply's scheduler, changing\n"+
		"nothing. Prints per operation and in total how many resources terraform would add, change\n"+
		"and destroy; kubectl, helm and command operations are listed as not previewed. The saved\n"+
		"plans stay in the state directory, and apply PLAN applies exactly them (or refuses a stale\n"+
		"one: preview again). With --store postgres://... (or ECHELON_STORE) the summary, the\n"+
		"counted changes without the saved plans (they hold every variable in clear), goes in the\n"+
		"store too: apply --store on any runner predicts with it, and plans afresh where the\n"+
		"saved plans are not.\n\n"+
		"Example:\n"+
		"  echelon compile specs/app -o app.plan\n"+
		"  echelon plan app.plan --format markdown > comment.md\n"+
		"  echelon apply app.plan\n"+
		"  echelon plan app.plan --store $ECHELON_STORE   # then apply --store on any runner")
	sf := specFlags{ctx: ctx}
	specFlag := fs.String("spec", "", "the plan's `SPEC` (default: found from the plan's spec.path)")
	state := fs.String("state", "", "state `DIR`: where the saved plans go (default .echelon next to the plan)")
	var stf storeFlags
	stf.register(fs)
	format := fs.String("format", "text", "output `FORMAT`: text, json or markdown (a PR comment)")
	asJSON := fs.Bool("json", false, "same as --format json")
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("plan takes one plan file, got %d arguments", fs.NArg())
	}
	if *asJSON {
		*format = "json"
	}
	switch *format {
	case "text", "json", "markdown":
	default:
		return usagef("--format %q: want text, json or markdown", *format)
	}
	planPath := fs.Arg(0)
	diagView := views.NewDiagnostics(*format == "json", os.Stdout, os.Stderr)
	lp, err := loadRunnable(planPath, *specFlag, sf, diagView, "plan")
	if err != nil {
		return err
	}
	stateDir := stf.stateDir(*state, filepath.Join(filepath.Dir(planPath), ".echelon"))
	// A database store keeps the summary. A preview takes no lock in it,
	// as it takes none in the state directory's lock table (it changes
	// nothing; terraform's state lock keeps its reads whole): only the
	// preview directory's own flock, here (docs/contract-notes.md).
	var shared exec.PreviewStore
	where := ""
	if store.IsURL(stf.value()) {
		st, err := stf.open(ctx, stateDir)
		if err != nil {
			return err
		}
		defer st.Close()
		ps, ok := st.(exec.PreviewStore)
		if !ok {
			return fmt.Errorf("the store %s keeps no previews", st.Where())
		}
		shared, where = ps, st.Where()
		// The plan file as written, as apply keeps it, for whoever reads
		// the preview's plan from the store.
		if raw, err := os.ReadFile(planPath); err == nil {
			if err := st.PutPlan(ctx, lp.plan.PlanDigest, raw); err != nil {
				return err
			}
		}
	}
	pv, res, err := exec.RunPreview(ctx, lp.runPlan, exec.Options{StateDir: stateDir, SpecDir: lp.spec.Dir, Secrets: lp.secrets, Spec: lp.spec})
	if err != nil {
		return err
	}
	if shared != nil {
		if err := exec.StorePreview(ctx, shared, pv, lp.secrets); err != nil {
			return err
		}
	}
	out := exec.RedactWriter(os.Stdout, lp.secrets)
	defer out.Flush()
	again := rerunOf(planPath, *state, &stf, *specFlag, sf)
	applyCmd := again.command("apply") + again.note()
	if err := views.Preview(out, *format, pv, res.Failed, applyCmd); err != nil {
		return err
	}
	if shared != nil && *format == "text" {
		fmt.Fprintf(out, "summary kept in the store %s: apply --store on another runner predicts with it and plans afresh (the saved plans stay in %s)\n",
			where, stateDir)
	}
	if !res.OK() {
		for _, f := range res.Failed {
			log := ""
			if f.Log != "" {
				log = " (log " + f.Log + ")"
			}
			fmt.Fprintf(os.Stderr, "echelon plan: %s failed: %s%s\n", f.Op, f.Error, log)
		}
		return errReported
	}
	return nil
}
