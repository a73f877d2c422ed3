package views

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
)

// SpecSummary counts what a valid spec declares.
type SpecSummary struct {
	Deployment string `json:"deployment"`
	Components int    `json:"components"`
	Instances  int    `json:"instances"`
	Phases     int    `json:"phases"`
	Modes      int    `json:"modes"`
	APIs       int    `json:"apis"`
	Budgets    int    `json:"budgets"`
}

// Validate is validate's view: the spec's diagnostics and, when it has no
// errors, what it declares.
type Validate interface {
	// Result shows diags and summary (nil when diags has errors).
	Result(diags hcl.Diagnostics, sources map[string]*hcl.File, summary *SpecSummary) error
}

// NewValidate returns validate's view: one JSON object on stdout with
// asJSON; otherwise diagnostics on stderr and the summary line on stdout.
func NewValidate(asJSON bool, stdout, stderr io.Writer) Validate {
	if asJSON {
		return validateJSON{stdout}
	}
	return validateHuman{diagnosticsHuman{stderr}, stdout}
}

type validateHuman struct {
	diags diagnosticsHuman
	out   io.Writer
}

func (v validateHuman) Result(diags hcl.Diagnostics, sources map[string]*hcl.File, s *SpecSummary) error {
	if err := v.diags.Diagnostics(diags, sources); err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	_, err := fmt.Fprintf(v.out, "Success! The spec is valid: deployment %q, %s (%s), %s, %s, %s, %s.\n",
		s.Deployment, lang.Plural(s.Components, "component"), lang.Plural(s.Instances, "instance"), lang.Plural(s.Phases, "phase"),
		lang.Plural(s.Modes, "mode"), lang.Plural(s.APIs, "api"), lang.Plural(s.Budgets, "budget"))
	return err
}

type validateJSON struct{ w io.Writer }

func (v validateJSON) Result(diags hcl.Diagnostics, _ map[string]*hcl.File, s *SpecSummary) error {
	out := struct {
		lang.DiagnosticsReport
		Summary *SpecSummary `json:"summary,omitempty"`
	}{lang.DiagnosticsJSON(diags), s}
	enc := json.NewEncoder(v.w)
	enc.SetEscapeHTML(false) // "a -> b" in details, as lang writes them
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}
