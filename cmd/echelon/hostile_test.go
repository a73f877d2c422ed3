package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestHostileExitCodes: through the CLI, hostile specs (lang's corpus
// covers 157 of them) end validate and compile with exit 1 and a
// FILE:LINE:COL error, not a crash (exit 2 from the runtime), a hang or
// an exit 0.
func TestHostileExitCodes(t *testing.T) {
	base := "deployment \"d\" {}\nphase \"p\" {}\nmode \"m\" {}\ncomponent \"c\" {\n  phase = \"p\"\n  duration = \"1s\"\n  command { argv = [\"true\"] }\n}\n"
	// --json: text diagnostics go to os.Stderr, which runCLI leaves be.
	at := regexp.MustCompile(`"severity": "error",[^}]*"range": \{\s*"filename": "[^"]+",\s*"start": \{\s*"line": [1-9]`)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		fmt   bool // fmt must refuse it too
	}{
		{"nesting", func(t *testing.T, dir string) {
			write(t, dir, "s.hcl", base+"locals {\n  x = "+strings.Repeat("[", 60000)+strings.Repeat("]", 60000)+"\n}\n")
		}, true},
		{"symlink to /dev/zero", func(t *testing.T, dir string) {
			write(t, dir, "s.hcl", base)
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "z.hcl")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"fifo", func(t *testing.T, dir string) {
			write(t, dir, "s.hcl", base)
			if err := syscall.Mkfifo(filepath.Join(dir, "p.hcl"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"manifest /dev/stdin", func(t *testing.T, dir string) {
			write(t, dir, "s.hcl", strings.Replace(base, "command { argv = [\"true\"] }", "kubectl { manifests = [\"/dev/stdin\", \"/dev/zero\"] }", 1))
		}, false},
		{"workspace", func(t *testing.T, dir string) {
			write(t, dir, "s.hcl", strings.Replace(base, "command { argv = [\"true\"] }", "terraform {\n    dir = \".\"\n    workspace = \"../../../x\"\n  }", 1))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			cmds := [][]string{{"validate", "--json", dir}, {"compile", "--json", dir, "-o", filepath.Join(dir, "plan.json")}}
			if tc.fmt {
				cmds = append(cmds, []string{"fmt", "-check", "--json", dir})
			}
			for _, cmd := range cmds {
				var js strings.Builder
				jsonStdout = &js
				stdout, stderr, code := runCLI(t, cmd...)
				jsonStdout = os.Stdout
				stdout += js.String()
				if code != 1 || !at.MatchString(stdout) {
					t.Errorf("%s: exit %d, want 1 and an error with FILE:LINE:COL:\n%s%s", cmd[0], code, stdout, stderr)
				}
			}
		})
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSpecialPlanPaths: apply /dev/zero read without end, and simulate
// or show of a FIFO blocked opening it to see whether it was a plan. Each
// now exits 1 naming what the file is.
func TestSpecialPlanPaths(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "plan.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fifoSpec := filepath.Join(t.TempDir(), "spec")
	if err := syscall.Mkfifo(fifoSpec, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"apply", "/dev/zero"}, {"apply", fifo}, {"show", fifo}, {"simulate", fifoSpec}, {"validate", "/dev/zero"}} {
		out, stderr, code := runCLI(t, args...)
		// Spec diagnostics go to os.Stderr, which runCLI does not
		// capture: for those the exit code (and not hanging) is the test.
		specDiag := args[0] == "simulate" || args[0] == "validate"
		if code != 1 || (!specDiag && !strings.Contains(out+stderr, "not a regular file")) {
			t.Errorf("%s %s: exit %d, want 1 and \"not a regular file\":\n%s%s", args[0], args[1], code, out, stderr)
		}
	}
}
