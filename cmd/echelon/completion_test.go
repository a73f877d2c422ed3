package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCompletionCoversFlags holds the completion table to every command's
// --help: a flag added to a command must be offered by the scripts.
func TestCompletionCoversFlags(t *testing.T) {
	flagLine := regexp.MustCompile(`^\s+(?:-([a-z]), )?--([a-z0-9-]+)`)
	for _, c := range completionCommands() {
		flags, ok := completionFlags[c]
		if !ok {
			t.Errorf("command %s has no completionFlags entry", c)
			continue
		}
		code, _, stderr := runCaptured(t, c, "--help")
		if code != 0 {
			t.Fatalf("echelon %s --help exits %d: %s", c, code, stderr)
		}
		var got, want []string
		for _, line := range strings.Split(stderr, "\n") {
			if m := flagLine.FindStringSubmatch(line); m != nil {
				got = append(got, m[2]+"/"+m[1])
			}
		}
		for _, f := range flags {
			want = append(want, f.name+"/"+f.short)
		}
		if !slices.Equal(got, want) {
			t.Errorf("echelon %s --help lists flags %v; the completion table has %v", c, got, want)
		}
	}
}

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out bytes.Buffer
	old := completionStdout
	completionStdout = &out
	defer func() { completionStdout = old }()
	if code, _, stderr := runCaptured(t, "completion", shell); code != 0 {
		t.Fatalf("echelon completion %s exits %d: %s", shell, code, stderr)
	}
	return out.String()
}

// TestCompletionScripts checks each script's syntax with its shell (bash
// -n; zsh -n and fish --no-execute where installed), that it names every
// command and flag, and drives the bash one as bash would.
func TestCompletionScripts(t *testing.T) {
	dir := t.TempDir()
	for _, sh := range completionShells {
		script := completionScript(t, sh)
		for _, c := range completionCommands() {
			if !strings.Contains(script, c) {
				t.Errorf("%s script does not name command %s", sh, c)
			}
			for _, f := range completionFlags[c] {
				if !strings.Contains(script, f.name) {
					t.Errorf("%s script does not name %s's flag --%s", sh, c, f.name)
				}
			}
		}
		path := filepath.Join(dir, "echelon."+sh)
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		check := map[string][]string{"bash": {"-n"}, "zsh": {"-n"}, "fish": {"--no-execute"}}[sh]
		bin, err := exec.LookPath(sh)
		if err != nil {
			if sh == "bash" {
				t.Fatal("bash is needed to check the bash script")
			}
			t.Logf("%s not installed: its script's syntax is not checked", sh)
			continue
		}
		if out, err := exec.Command(bin, append(check, path)...).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", sh, strings.Join(check, " "), err, out)
		}
	}

	// What bash offers, given the words typed so far (the last is the one
	// being completed).
	bashScript := filepath.Join(dir, "echelon.bash")
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"echelon", "comp"}, "compile completion"},
		{[]string{"echelon", "simulate", "--mo"}, "--mode"},
		{[]string{"echelon", "compile", "spec", "--undeploy-strategy", "sk"}, "skip_depending"},
		{[]string{"echelon", "diff", "--format", "m"}, "markdown"},
		{[]string{"echelon", "completion", "f"}, "fish"},
		{[]string{"echelon", "apply", "--re"}, "--resume"},
	} {
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _echelon; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", append([]string{"-c", prog, "bash", bashScript}, c.words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("bash completes %q to %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
}
