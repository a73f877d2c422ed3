package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestApplySensitiveCommand: a command operation gets a sensitive value in
// its env and argv (as written and derived). The plan holds placeholders;
// apply runs the real values (the operation writes what it got to a file)
// and the secret is nowhere in what apply printed or kept in its state.
func TestApplySensitiveCommand(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "got.txt")
	spec := `
deployment "s" {}
variable "token" {
  type      = string
  sensitive = true
}
phase "p" {}
mode "m" {}
component "c" {
  phase    = "p"
  driver   = "command"
  duration = "1s"
  command {
    argv = ["sh", "-c", "printf '%s|%s|%s|%s|%s|%s\n' \"$T\" \"$1\" \"$L\" \"$2\" \"$3\" \"$F\" > ` + got + `; echo \"printing $T\"; echo \"$T\" >&2", "sh", "--token=${var.token}", "--pw=${upper(var.token)}", lower(var.token)]
    env  = { T = var.token, L = lower(var.token), F = format("x-%s", lower(var.token)) }
  }
}
`
	specPath := filepath.Join(dir, "s.hcl")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "p.json")
	if out, errOut, code := runCLI(t, "compile", specPath, "--var", "token=Sekr3tVal", "-o", plan); code != 0 {
		t.Fatalf("compile: %d\n%s%s", code, out, errOut)
	}
	// Case-insensitive: lower(var.token) and upper(var.token) do not
	// contain the token; lang records that they derive from it.
	b, _ := os.ReadFile(plan)
	if strings.Contains(strings.ToLower(string(b)), "sekr3tval") || !strings.Contains(string(b), planner.Sensitive) {
		t.Fatalf("the plan holds the secret or no placeholder:\n%s", b)
	}
	// What the plan shows of the command: the secret-free argv and env
	// as written, placeholders for every element derived from the token.
	pl, err := planner.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	cmd := pl.Operations[0].Command
	if want := []string{"sh", "-c", cmd.Argv[2], "sh", planner.Sensitive, planner.Sensitive, planner.Sensitive}; !slices.Equal(cmd.Argv, want) {
		t.Errorf("planned argv %q, want %q", cmd.Argv, want)
	}
	for _, k := range []string{"T", "L", "F"} {
		if cmd.Env[k] != planner.Sensitive {
			t.Errorf("planned env %s = %q, want %q", k, cmd.Env[k], planner.Sensitive)
		}
	}
	for _, args := range [][]string{
		{"show", plan}, {"show", plan, "--json"},
		{"graph", plan}, {"graph", plan, "--json"},
		{"graph", specPath, "--var", "token=Sekr3tVal"}, {"graph", specPath, "--var", "token=Sekr3tVal", "--json"},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: %d\n%s%s", args, code, out, errOut)
		}
		if strings.Contains(strings.ToLower(out+errOut), "sekr3tval") {
			t.Errorf("%q printed the secret:\n%s%s", args, out, errOut)
		}
	}
	for _, asJSON := range []bool{false, true} {
		args := []string{"apply", plan, "--var", "token=Sekr3tVal"}
		if asJSON {
			args = append(args, "--json")
		}
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("apply: %d\n%s%s", code, out, errOut)
		}
		b, err := os.ReadFile(got)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Sekr3tVal|--token=Sekr3tVal|sekr3tval|--pw=SEKR3TVAL|sekr3tval|x-sekr3tval\n"; string(b) != want {
			t.Errorf("the operation got %q, want %q", b, want)
		}
		if strings.Contains(strings.ToLower(out+errOut), "sekr3tval") {
			t.Errorf("apply printed the secret:\n%s%s", out, errOut)
		}
		masked := false
		filepath.WalkDir(filepath.Join(dir, ".echelon"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(strings.ToLower(string(b)), "sekr3tval") {
				t.Errorf("%s holds the secret:\n%s", p, b)
			}
			masked = masked || strings.Contains(string(b), "printing (sensitive)")
			return nil
		})
		if !masked {
			t.Errorf("no log shows the masked output")
		}
	}
}
