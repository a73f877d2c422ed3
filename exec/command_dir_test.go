package exec

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

// TestCommandDirMissing: a command whose dir does not exist (or is a file)
// is reported as such, not as os/exec's "fork/exec PROGRAM: no such file
// or directory", which sends the user looking for the program.
func TestCommandDirMissing(t *testing.T) {
	spec := t.TempDir()
	if err := os.WriteFile(filepath.Join(spec, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{"missing", "command dir " + filepath.Join(spec, "missing") + ": no such directory"},
		{"file", "command dir " + filepath.Join(spec, "file") + ": not a directory"},
	} {
		op := &planner.Operation{ID: "a", Driver: "command",
			Command: &planner.Command{Argv: []string{"true"}, Dir: tc.dir}}
		err := commandRun(context.Background(), Step{Ops: []*planner.Operation{op}, SpecDir: spec,
			Log: &bytes.Buffer{}, Env: os.Environ()})
		if err == nil || err.Error() != tc.want {
			t.Errorf("dir %q: error %v, want %q", tc.dir, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "fork/exec") {
			t.Errorf("dir %q: the error blames the program: %v", tc.dir, err)
		}
	}
	// An existing dir still runs.
	if err := os.Mkdir(filepath.Join(spec, "ok"), 0o755); err != nil {
		t.Fatal(err)
	}
	op := &planner.Operation{ID: "a", Driver: "command", Command: &planner.Command{Argv: []string{"true"}, Dir: "ok"}}
	if err := commandRun(context.Background(), Step{Ops: []*planner.Operation{op}, SpecDir: spec,
		Log: &bytes.Buffer{}, Env: os.Environ()}); err != nil {
		t.Errorf("dir ok: %v", err)
	}
}
