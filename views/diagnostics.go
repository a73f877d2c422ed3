package views

import (
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
)

// Diagnostics is a command's view of what is wrong with its input.
type Diagnostics interface {
	// Diagnostics shows diags: for people every one of them, with the
	// source line (sources, or the file on disk); as JSON only when there
	// are errors, so a warning never precedes the command's own JSON on
	// the same stream.
	Diagnostics(diags hcl.Diagnostics, sources map[string]*hcl.File) error
	// Refused shows why the command does nothing, as a diagnostic with
	// summary and err as its detail, and says whether it did: the human
	// view leaves err to the command's caller, which prints every error.
	Refused(summary string, err error) (shown bool)
	// Advice is a line for people after the diagnostics (what to run
	// next); the JSON view leaves it out.
	Advice(line string)
}

// NewDiagnostics returns the diagnostics view: JSON on stdout with asJSON
// (every --json command's one machine-readable stream), text on stderr.
func NewDiagnostics(asJSON bool, stdout, stderr io.Writer) Diagnostics {
	if asJSON {
		return diagnosticsJSON{stdout}
	}
	return diagnosticsHuman{stderr}
}

type diagnosticsHuman struct{ w io.Writer }

func (v diagnosticsHuman) Diagnostics(diags hcl.Diagnostics, sources map[string]*hcl.File) error {
	if len(diags) == 0 {
		return nil
	}
	if err := lang.WriteDiagnostics(v.w, diags, sources, false); err != nil {
		return fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil
}

func (diagnosticsHuman) Refused(string, error) bool { return false }

func (v diagnosticsHuman) Advice(line string) { fmt.Fprintln(v.w, line) }

type diagnosticsJSON struct{ w io.Writer }

func (v diagnosticsJSON) Diagnostics(diags hcl.Diagnostics, _ map[string]*hcl.File) error {
	if !diags.HasErrors() {
		return nil
	}
	if err := lang.WriteDiagnostics(v.w, diags, nil, true); err != nil {
		return fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil
}

func (v diagnosticsJSON) Refused(summary string, err error) bool {
	diags := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: err.Error()}}
	_ = lang.WriteDiagnostics(v.w, diags, nil, true)
	return true
}

func (diagnosticsJSON) Advice(string) {}
