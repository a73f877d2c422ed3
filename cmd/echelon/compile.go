package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/views"
)

// plannerStdout is where compile, show, graph and diff write; tests swap it.
var plannerStdout io.Writer = os.Stdout

// runCompile compiles a spec into a plan.
//
//	echelon compile SPEC [--mode M] [--var k=v]... [--var-file F]... [-o PLAN]
//	                     [--destroy [--only a,b] [--undeploy-strategy S]] [--json]
//
// Without -o the plan goes to stdout. Its spec.path is SPEC relative to
// the root of the repository holding it (its base name outside one), so
// the plan's bytes and digest are the same whatever -o and the working
// directory (planner.RepoSpecPath). --json prints diagnostics as JSON.
func runCompile(ctx context.Context, args []string) error {
	fs := newFlagSet("compile", "compile SPEC [--mode M] [--var NAME=VALUE]... [--var-file FILE]... [-o PLAN] [--destroy [--only a,b] [--undeploy-strategy S]] [--json]")
	sf := specFlags{ctx: ctx}
	var only []string
	mode := fs.String("mode", "", "`MODE` to compile for (default: deployment.default_mode, else the first mode)")
	sf.register(fs)
	out := fs.StringP("out", "o", "", "write the plan to `PLAN` instead of stdout")
	destroy := fs.Bool("destroy", false, "compile an undeploy plan (reverse order)")
	fs.StringSliceVar(&only, "only", nil, "destroy only these `components` (comma-separated)")
	strategy := fs.String("undeploy-strategy", "", "`S`: if_depending_stop (default), skip_depending or undeploy_depending")
	asJSON := fs.Bool("json", false, "print diagnostics as JSON on stdout")
	// For profiling the whole command on large specs (scripts/bench-planner.sh).
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `FILE`")
	_ = fs.MarkHidden("cpuprofile")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	tuneGC()
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if fs.NArg() != 1 {
		return usagef("compile takes one spec (a .hcl file or a directory), got %s", planner.Plural(fs.NArg(), "argument"))
	}
	if !*destroy && (len(only) > 0 || *strategy != "") {
		return usagef("--only and --undeploy-strategy need --destroy")
	}
	switch *strategy {
	case "", planner.IfDependingStop, planner.SkipDepending, planner.UndeployDepending:
	default:
		return usagef("--undeploy-strategy must be %s, %s or %s, not %q", planner.IfDependingStop, planner.SkipDepending, planner.UndeployDepending, *strategy)
	}
	specPath := fs.Arg(0)
	spec, err := sf.load(specPath, os.Stderr, *asJSON)
	if err != nil {
		return err
	}
	if err := checkMode(spec, *mode); err != nil {
		return err
	}
	plan, err := compileSpec(spec, planner.Options{Mode: *mode, Destroy: *destroy, Only: only, Strategy: *strategy}, *asJSON)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = plan.WriteTo(plannerStdout)
		return err
	}
	if err := plan.WriteFile(*out); err != nil {
		return err
	}
	// Not plan.View(): its lower bound costs a tenth of a 100k compile.
	fmt.Fprintf(plannerStdout, "wrote %s: %s %s, mode %s, %s in %s, critical path %s (p50)\n",
		*out, plan.Deployment, plan.Action, plan.Mode.Name, planner.Plural(len(plan.Operations), "operation"), planner.Plural(len(plan.Batches), "batch"), planner.FormatSeconds(plan.CriticalPath()))
	return nil
}

// tuneGC trades memory for time in the short-lived compile process:
// collecting at 5x the live heap instead of 2x, capped by a 768 MiB soft
// limit, cuts the CPU of a 100k-operation compile by about 40% (most of it
// GC during lang.Load) and keeps its peak under 800 MiB. GOGC or GOMEMLIMIT
// in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
		debug.SetMemoryLimit(768 << 20)
	}
}

// startCPUProfile profiles the CPU into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// compileSpec runs the planner and prints its diagnostics: errors and
// warnings on stderr for people; with asJSON only errors, on stdout (a
// warning there would precede the plan or graph on the same stream).
func compileSpec(spec *lang.Spec, opts planner.Options, asJSON bool) (*planner.Plan, error) {
	plan, diags := planner.Compile(spec, opts)
	if err := views.NewDiagnostics(asJSON, jsonStdout, os.Stderr).Diagnostics(diags, spec.Sources); err != nil {
		return nil, err
	}
	if diags.HasErrors() || plan == nil {
		return nil, errReported
	}
	return plan, nil
}
