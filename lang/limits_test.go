package lang

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// deep is n nested list brackets around 1: [[[...1...]]].
func deep(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

// wantDiag checks that diags holds an error whose summary is summary, at
// a FILE:LINE:COL in file when file is not empty, and whose detail
// contains detail.
func wantDiag(t *testing.T, diags hcl.Diagnostics, file, summary, detail string) {
	t.Helper()
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Summary != summary || !strings.Contains(d.Detail, detail) {
			continue
		}
		if file != "" && (d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line < 1 || d.Subject.Start.Column < 1) {
			t.Errorf("%q has no FILE:LINE:COL in %s: %v", summary, file, d.Subject)
		}
		return
	}
	t.Errorf("no error %q (detail containing %q); got %s", summary, detail, diags.Error())
}

// TestNestingLimit: 60,000 nested brackets overflowed the HCL parser's
// stack (a fatal error, not even a panic); every input that is parsed
// is now scanned first, and one nested more than MaxNesting levels is an
// error at the first bracket too deep.
func TestNestingLimit(t *testing.T) {
	limitText := fmt.Sprint(MaxNesting)
	skeleton := skeleton + "component \"c\" {\n  phase = \"p\"\n  duration = \"1m\"\n  command { argv = [\"true\"] }\n}\n"
	dir := writeSpec(t, map[string]string{
		"deep/s.hcl":       skeleton + "locals {\n  x = " + deep(60000) + "\n}\n",
		"blocks/s.hcl":     skeleton + strings.Repeat("locals {\n", 30000),
		"interp/s.hcl":     skeleton + "locals {\n  x = \"${" + deep(60000) + "}\"\n}\n",
		"heredoc/s.hcl":    skeleton + "locals {\n  x = <<EOT\n${" + deep(60000) + "}\nEOT\n}\n",
		"vars/s.hcl":       skeleton + "variable \"v\" { type = list(any) }\n",
		"vars/deep.tfvars": "v = " + deep(60000) + "\n",
		"vars/deep.json":   `{"v": ` + deep(60000) + "}\n",
		"tmpl/s.hcl":       skeleton + "locals {\n  x = templatefile(\"t.tmpl\", {})\n}\n",
		"tmpl/t.tmpl":      "text ${" + deep(60000) + "}\n",
		// Brackets inside strings, comments and heredoc text do not count.
		"fine/s.hcl": skeleton + "locals {\n  a = \"" + strings.Repeat("[", 60000) + "\"\n  # " + strings.Repeat("{", 60000) +
			"\n  /* " + strings.Repeat("(", 60000) + " */\n  b = <<EOT\n" + strings.Repeat("[", 60000) + "\nEOT\n  c = " + deep(MaxNesting-1) + "\n  d = \"$${\"\n}\n",
	})
	for _, tc := range []struct {
		name, spec, file string
		opts             LoadOptions
	}{
		{"spec file", "deep/s.hcl", "deep/s.hcl", LoadOptions{}},
		{"nested blocks", "blocks/s.hcl", "blocks/s.hcl", LoadOptions{}},
		{"interpolation", "interp/s.hcl", "interp/s.hcl", LoadOptions{}},
		{"heredoc", "heredoc/s.hcl", "heredoc/s.hcl", LoadOptions{}},
		{"tfvars", "vars/s.hcl", "vars/deep.tfvars", LoadOptions{VarFiles: []string{filepath.Join(dir, "vars/deep.tfvars")}}},
		{"json var file", "vars/s.hcl", "vars/deep.json", LoadOptions{VarFiles: []string{filepath.Join(dir, "vars/deep.json")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Load(filepath.Join(dir, tc.spec), tc.opts)
			wantDiag(t, diags, filepath.Join(dir, tc.file), "Nesting too deep", limitText)
		})
	}
	t.Run("template", func(t *testing.T) {
		// The error is the call's, naming the template's position.
		_, diags := Load(filepath.Join(dir, "tmpl/s.hcl"), LoadOptions{})
		wantDiag(t, diags, filepath.Join(dir, "tmpl/s.hcl"), "Error in function call", filepath.Join(dir, "tmpl/t.tmpl")+":1:263: nesting deeper than "+limitText)
	})
	t.Run("--var", func(t *testing.T) {
		_, diags := Load(filepath.Join(dir, "vars/s.hcl"), LoadOptions{Vars: []string{"v=" + deep(60000)}})
		wantDiag(t, diags, "", "Invalid value for variable", limitText)
	})
	t.Run("within the limit", func(t *testing.T) {
		mustLoad(t, filepath.Join(dir, "fine/s.hcl"), LoadOptions{})
	})
}
