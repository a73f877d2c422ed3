package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/review"
)

// goldenStdout is where golden writes; tests swap it.
var goldenStdout io.Writer = os.Stdout

const goldenUsage = `golden [--check|--update] SPEC [--mode M|all] [--var k=v]... [--var-file F]...

Golden files for a spec's repository: each mode's plan (MODE.plan.json),
its show view (MODE.plan.txt) and its prediction (MODE.simulate.txt and
.json: simulate --check with 1000 trials, seed 1), in SPEC.golden beside
the spec (specs/app -> specs/app.golden). Commit them; CI runs --check.

--update (the default) writes them; --check writes nothing and exits 1 with
a unified diff when they are stale (or missing), 0 when fresh. --mode
limits both to one mode; with every mode (the default, or --mode all) the
files of a mode that no longer exists are stale too.`

// runGolden writes or checks the golden files beside a spec.
func runGolden(ctx context.Context, args []string) error {
	fs := newFlagSet("golden", goldenUsage)
	sf := specFlags{ctx: ctx}
	check := fs.Bool("check", false, "exit 1 with a diff when the golden files are stale")
	update := fs.Bool("update", false, "rewrite the golden files (the default)")
	mode := fs.String("mode", "all", "`MODE` to write or check, or all")
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if *check && *update {
		return usagef("--check and --update exclude each other")
	}
	if fs.NArg() != 1 {
		return usagef("golden takes one spec (a .hcl file or a directory), got %d arguments", fs.NArg())
	}
	path := fs.Arg(0)
	spec, err := sf.load(path, os.Stderr, false)
	if err != nil {
		return err
	}
	var modes []string
	all := *mode == "all"
	if !all {
		if spec.Mode(*mode) == nil {
			return usagef("the spec has no mode %q", *mode)
		}
		modes = []string{*mode}
	}
	files, diags, err := review.GoldenFiles(spec, modes)
	if len(diags) > 0 {
		if werr := lang.WriteDiagnostics(os.Stderr, diags, spec.Sources, false); werr != nil {
			return fmt.Errorf("writing diagnostics: %w", werr)
		}
	}
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return errReported
	}
	dir := review.GoldenDir(path)
	if *check {
		d, err := review.CheckGolden(dir, files, all)
		if err != nil {
			return err
		}
		if d != nil {
			goldenStdout.Write(d)
			fmt.Fprintf(os.Stderr, "echelon golden: %s is stale; run: echelon golden --update %s\n", dir, path)
			return errReported
		}
		fmt.Fprintf(goldenStdout, "%s is fresh (%d files)\n", dir, len(files))
		return nil
	}
	changed, err := review.UpdateGolden(dir, files, all)
	if err != nil {
		return err
	}
	fmt.Fprintf(goldenStdout, "%s: %d files, %d changed\n", dir, len(files), len(changed))
	for _, n := range changed {
		fmt.Fprintf(goldenStdout, "  %s\n", n)
	}
	return nil
}
