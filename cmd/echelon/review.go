package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/echelonhq/echelon/review"
)

// reviewStdout is where review writes its comment; tests swap it.
var reviewStdout io.Writer = os.Stdout

const reviewUsage = `review --base REV [SPEC] [--json] [--html F.html] [--trials N] [--seed S] [--var k=v]...

One pull-request comment for a change to a spec: the spec (default: the
current directory) is compiled for every mode at the base revision (its
git tree unpacked into a temporary directory) and in the working tree, and
both are simulated. The comment (markdown, or --json) shows validation,
P50/P90, throttling and risk per mode before and after, budgets held or
broken, and each mode's plan diff, repeated per-region changes grouped.
--html also writes the working tree's page (as simulate --html), with the
base's P50 beside each mode.

Exit codes: 0 no problems; 1 the working tree's spec has errors or breaks a
budget (the comment is still printed); 2 bad usage, not a git repository,
or an unknown base revision.`

// runReview prints the review comment for a change to a spec.
func runReview(ctx context.Context, args []string) error {
	fs := newFlagSet("review", reviewUsage)
	sf := specFlags{ctx: ctx}
	base := fs.String("base", "", "the git `REV` to compare with, required (in CI, say origin/main)")
	asJSON := fs.Bool("json", false, "print the review as JSON")
	htmlOut := fs.String("html", "", "also write a self-contained HTML report to `FILE`")
	trials := fs.Int("trials", 1000, "simulated trials (`N`) per mode and side")
	seed := fs.Uint64("seed", 1, "random `SEED`")
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if *base == "" {
		return usagef("--base REV is required (the revision the change is compared with, e.g. origin/main)")
	}
	if fs.NArg() > 1 {
		return usagef("review takes at most one spec, got %d arguments", fs.NArg())
	}
	if *trials < 1 || *trials > 100000 {
		return usagef("--trials must be 1 to 100000, got %d", *trials)
	}
	spec := "."
	if fs.NArg() == 1 {
		spec = fs.Arg(0)
	}
	r, err := review.Run(ctx, review.Options{Spec: spec, Base: *base, Load: sf.options(), Trials: *trials, Seed: *seed})
	var ue *review.UsageError
	if errors.As(err, &ue) {
		return usagef("%v", ue.Err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		err = review.WriteJSON(reviewStdout, r)
	} else {
		err = review.WriteMarkdown(reviewStdout, r)
	}
	if err != nil {
		return err
	}
	if *htmlOut != "" {
		pg, err := r.Page()
		if err != nil {
			return err
		}
		if err := writeHTMLFile(*htmlOut, pg); err != nil {
			return err
		}
	}
	if len(r.Problems) > 0 {
		return errReported
	}
	return nil
}
