package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/echelonhq/echelon/planner"
)

// diffEstimate, when set (by the simulator's wiring), adds a p50
// prediction per plan to `echelon diff`; without it diff shows the
// critical path and the lower bound, which need no simulation.
var diffEstimate planner.Estimate

// runDiff compares two plans for review: plan-level changes (mode caps,
// variables, phases, apis, budgets), operations added, removed and
// changed (by field), batches and their locks, and the time in minutes.
//
//	echelon diff OLD NEW [--format text|markdown|json] [--exit-code]
//
// Like `git diff --no-exit` it exits 0 whether or not the plans differ;
// --exit-code makes a difference exit 1 (for CI gates).
func runDiff(ctx context.Context, args []string) error {
	fs := newFlagSet("diff", "diff OLD NEW [--format text|markdown|json] [--json] [--exit-code]")
	format := fs.String("format", "text", "`FORMAT`: text, markdown or json")
	asJSON := fs.Bool("json", false, "same as --format json")
	exitCode := fs.Bool("exit-code", false, "exit 1 when the plans differ")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if *asJSON {
		*format = "json"
	}
	if fs.NArg() != 2 {
		return usagef("diff takes two plan files, got %s", planner.Plural(fs.NArg(), "argument"))
	}
	if *format != "text" && *format != "markdown" && *format != "json" {
		return usagef("--format must be text, markdown or json, not %q", *format)
	}
	oldPath, newPath := fs.Arg(0), fs.Arg(1)
	oldP, err := planner.ReadFile(oldPath)
	if err != nil {
		return err
	}
	newP, err := planner.ReadFile(newPath)
	if err != nil {
		return err
	}
	d := planner.Diff(oldP, newP, oldPath, newPath, diffEstimate)
	if *format == "json" {
		enc := json.NewEncoder(plannerStdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err = enc.Encode(d)
	} else {
		err = d.WriteText(plannerStdout, oldP, newP, *format == "markdown")
	}
	if err != nil {
		return err
	}
	if *exitCode && !d.Identical {
		return errReported
	}
	return nil
}
