package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/echelonhq/echelon/planner"
)

// runShow prints a plan for people: header (deployment, action, mode caps,
// short digests, totals), then per phase its batches with operations and
// EXCLUSIVE / SHARED locks, and which operations run alone and why.
//
//	echelon show PLAN [--json]
func runShow(ctx context.Context, args []string) error {
	fs := newFlagSet("show", "show PLAN [--json]")
	asJSON := fs.Bool("json", false, "print the same view as JSON")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("show takes one plan file, got %s", planner.Plural(fs.NArg(), "argument"))
	}
	if fi, err := os.Stat(fs.Arg(0)); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory; show takes a plan file: echelon compile %s -o PLAN, then echelon show PLAN", fs.Arg(0), fs.Arg(0))
	}
	p, err := planner.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(plannerStdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(p.View())
	}
	return p.WriteText(plannerStdout)
}
