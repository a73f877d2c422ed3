package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInterruptedLoad: validate and compile ignored Ctrl-C (the signal is
// caught for apply, so nothing stopped them). Interrupted, they now stop
// with exit 130 and say so, writing no plan.
func TestInterruptedLoad(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("deployment \"d\" {}\nphase \"p\" {}\nmode \"m\" {}\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "component \"c%d\" {\n  phase = \"p\"\n  duration = \"1s\"\n  command { argv = [\"true\"] }\n}\n", i)
	}
	spec := filepath.Join(dir, "s.hcl")
	if err := os.WriteFile(spec, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.json")
	for _, args := range [][]string{{"validate", spec}, {"compile", spec, "-o", plan}, {"simulate", spec, "--trials", "10"}, {"graph", spec}} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stderr strings.Builder
		code := run(ctx, args, &stderr)
		if code != exitInterrupted || !strings.Contains(stderr.String(), "echelon "+args[0]+": interrupted") {
			t.Errorf("%s: code %d, want %d and \"interrupted\":\n%s", args[0], code, exitInterrupted, stderr.String())
		}
	}
	if fileExists(plan) {
		t.Error("an interrupted compile wrote its plan")
	}
	if _, stderr, code := runCLI(t, "validate", spec); code != 0 {
		t.Errorf("validate without interruption: %d\n%s", code, stderr)
	}
}
