package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
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
	if *asJSON {
		out := struct {
			lang.DiagnosticsReport
			Summary *specSummary `json:"summary,omitempty"`
		}{DiagnosticsReport: lang.DiagnosticsJSON(diags)}
		if !diags.HasErrors() {
			s := validateSummary(spec)
			out.Summary = &s
		}
		enc := json.NewEncoder(jsonStdout)
		enc.SetEscapeHTML(false) // "a -> b" in details, as lang writes them
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("writing result: %w", err)
		}
		if diags.HasErrors() {
			return errReported
		}
		return nil
	}
	if len(diags) > 0 {
		if err := lang.WriteDiagnostics(os.Stderr, diags, spec.Sources, false); err != nil {
			return fmt.Errorf("writing diagnostics: %w", err)
		}
	}
	if diags.HasErrors() {
		return errReported
	}
	s := validateSummary(spec)
	fmt.Printf("Success! The spec is valid: deployment %q, %s (%s), %s, %s, %s, %s.\n",
		s.Deployment, planner.Plural(s.Components, "component"), planner.Plural(s.Instances, "instance"), planner.Plural(s.Phases, "phase"),
		planner.Plural(s.Modes, "mode"), planner.Plural(s.APIs, "api"), planner.Plural(s.Budgets, "budget"))
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

// specSummary counts what a valid spec declares.
type specSummary struct {
	Deployment string `json:"deployment"`
	Components int    `json:"components"`
	Instances  int    `json:"instances"`
	Phases     int    `json:"phases"`
	Modes      int    `json:"modes"`
	APIs       int    `json:"apis"`
	Budgets    int    `json:"budgets"`
}

func validateSummary(spec *lang.Spec) specSummary {
	s := specSummary{
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
