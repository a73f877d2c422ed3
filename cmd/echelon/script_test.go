package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run the echelon binary in-process: a script's
// `exec echelon ...` re-runs this test binary as the command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"echelon": func() { os.Exit(mainExit()) },
	})
}

// TestScript runs every testdata/script/*.txtar: the CLI as a user runs it.
// $SPECS is the repository's specs directory, for scripts that use the
// example specs. `exitcode N echelon ...` checks an exact exit code.
func TestScript(t *testing.T) {
	specs, err := filepath.Abs(filepath.Join("..", "..", "specs"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("SPECS", specs)
			return nil
		},
		RequireExplicitExec: true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exitcode": cmdExitCode},
	})
}

// cmdExitCode is `exitcode N PROGRAM ARGS...`: run PROGRAM as exec does
// and check it exits with exactly N (testscript's `! exec` only checks for
// a failure, and the exit codes 1 and 2 mean different things).
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}
