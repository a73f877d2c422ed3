package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/store/pgtest"
)

// TestStoreHintsCarryFlags: a failed apply --store --workers says how to
// continue with the same store, workers and labels (following a hint
// without --store ran outside it), and a plan --store's apply line names
// the store too. The URL is quoted for the shell.
func TestStoreHintsCarryFlags(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "h.hcl"), [][2]string{{"bad", "exit 3"}}, false)
	compilePlan(t, dir, "h.hcl", "h.json")
	startWorker(t, dir, url, "w", "--label", "region=mars")
	apply := echelonCmd(t, dir, "apply", "h.json", "--state", "st", "--store", url, "--workers", "--worker-label", "region=mars", "--backoff", "10ms")
	out, err := apply.CombinedOutput()
	if err == nil {
		t.Fatalf("the apply of a failing step succeeded:\n%s", out)
	}
	want := "continue with: echelon apply h.json --state st --store " + shellQuote(url) + " --workers --worker-label region=mars --resume\n"
	if !strings.Contains(string(out), want) {
		t.Errorf("apply's output lacks %q:\n%s", want, out)
	}

	plan := echelonCmd(t, dir, "plan", "h.json", "--state", "st2", "--store", url)
	out, err = plan.CombinedOutput()
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	if want := "; echelon apply h.json --state st2 --store " + shellQuote(url) + " applies exactly them\n"; !strings.Contains(string(out), want) {
		t.Errorf("plan's output lacks %q:\n%s", want, out)
	}
}
