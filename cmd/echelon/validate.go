package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/views"
)

// runValidate checks a spec: diagnostics and exit 1 when it has errors, a
// one-line summary otherwise.
func runValidate(ctx context.Context, args []string) error {
	fs := newFlagSet("validate", "validate SPEC [--json] [--var NAME=VALUE]... [--var-file FILE]...")
	sf := specFlags{ctx: ctx}
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the diagnostics as JSON on stdout")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("expected one SPEC (a .hcl file or a directory), got %s", planner.Plural(fs.NArg(), "argument"))
	}
	spec, diags := lang.Load(fs.Arg(0), sf.options())
	if !diags.HasErrors() {
		diags = append(diags, plannerDiagnostics(spec)...)
	}
	var summary *views.SpecSummary
	if !diags.HasErrors() {
		s := validateSummary(spec)
		summary = &s
	}
	var sources map[string]*hcl.File
	if spec != nil {
		sources = spec.Sources
	}
	if err := views.NewValidate(*asJSON, jsonStdout, os.Stderr).Result(diags, sources, summary); err != nil {
		return err
	}
	if diags.HasErrors() {
		return errReported
	}
	return nil
}

// plannerDiagnostics compiles spec for every mode and returns what the
// planner reports (cycles, regional dependencies without a counterpart,
// dependencies against the phase order, missing driver paths), each once:
// a spec that validates then compiles.
func plannerDiagnostics(spec *lang.Spec) hcl.Diagnostics {
	var out hcl.Diagnostics
	seen := map[string]bool{}
	modes := []string{""} // the planner's own "no mode" error
	if len(spec.Modes) > 0 {
		modes = modes[:0]
		for _, m := range spec.Modes {
			modes = append(modes, m.Name)
		}
	}
	for _, m := range modes {
		_, diags := planner.Compile(spec, planner.Options{Mode: m})
		for _, d := range diags {
			k := fmt.Sprint(d.Severity, "\x00", d.Summary, "\x00", d.Detail, "\x00", d.Subject)
			if d.Subject != nil {
				k = fmt.Sprint(d.Severity, "\x00", d.Summary, "\x00", d.Detail, "\x00", d.Subject.String())
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, d)
			}
		}
	}
	return out
}

func validateSummary(spec *lang.Spec) views.SpecSummary {
	s := views.SpecSummary{
		Components: len(spec.Components),
		Phases:     len(spec.Phases),
		Modes:      len(spec.Modes),
		APIs:       len(spec.APIs),
		Budgets:    len(spec.Budgets),
	}
	if spec.Deployment != nil {
		s.Deployment = spec.Deployment.Name
	}
	for _, c := range spec.Components {
		s.Instances += len(c.Instances)
	}
	return s
}
