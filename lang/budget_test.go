package lang

import (
	"path/filepath"
	"testing"
)

// TestBudgetDescription: a budget's description is kept (simulate --check
// prints it under a broken budget); one derived from a secret is kept as
// a placeholder only.
func TestBudgetDescription(t *testing.T) {
	dir := writeSpec(t, map[string]string{"s.hcl": skeleton + `
variable "who" {
  type      = string
  sensitive = true
  default   = "s3cr3t-owner"
}
component "c" {
  phase    = "p"
  duration = "1s"
  command { argv = ["true"] }
}
budget "claim" {
  description = "the vendor's claim; broken on purpose"
  mode        = "m"
  p50         = "1m"
}
budget "owned" {
  description = "promised by ${var.who}"
  mode        = "m"
  p50         = "1m"
}
budget "bare" {
  mode = "m"
  p50  = "1m"
}`})
	s := mustLoad(t, filepath.Join(dir, "s.hcl"), LoadOptions{})
	got := map[string]string{}
	for _, b := range s.Budgets {
		got[b.Name] = b.Description
	}
	want := map[string]string{"claim": "the vendor's claim; broken on purpose", "owned": "(sensitive value)", "bare": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("budget %s: Description = %q, want %q", k, got[k], v)
		}
	}
}
