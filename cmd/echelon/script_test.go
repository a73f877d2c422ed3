package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/echelonhq/echelon/store/pgtest"
)

// TestMain lets testscript run the echelon binary in-process: a script's
// `exec echelon ...` re-runs this test binary as the command.
func TestMain(m *testing.M) {
	testscript.Main(pgMain{m}, map[string]func(){
		"echelon": func() { os.Exit(mainExit()) },
	})
}

// pgMain stops the test binary's PostgreSQL (store/pgtest) after the tests.
type pgMain struct{ m *testing.M }

func (p pgMain) Run() int { return pgtest.Main(p.m) }

// TestScript runs every testdata/script/*.txtar: the CLI as a user runs it.
// $SPECS is the repository's specs directory, for scripts that use the
// example specs; $DOCS its docs directory. `exitcode N echelon ...` checks an exact exit code.
func TestScript(t *testing.T) {
	specs, err := filepath.Abs(filepath.Join("..", "..", "specs"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Abs(filepath.Join("..", "..", "docs"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("SPECS", specs)
			env.Setenv("DOCS", docs)
			return nil
		},
		RequireExplicitExec: true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exitcode": cmdExitCode, "cisteps": cmdCISteps},
	})
}

// TestScriptStore runs testdata/store/*.txtar against a real PostgreSQL:
// $STORE is the URL of a fresh database for each script.
func TestScriptStore(t *testing.T) {
	srv := pgtest.Server(t)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "store"),
		Setup: func(env *testscript.Env) error {
			u, drop, err := pgtest.NewDatabase(srv)
			if err != nil {
				return err
			}
			env.Defer(drop)
			env.Setenv("STORE", u)
			env.Setenv("ECHELON_STORE", "")
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

// cmdCISteps is `cisteps FILE OUT`: the shell lines between
// "# echelon-ci-begin" and "# echelon-ci-end" in the CI sample FILE, with
// their common indentation removed, written to OUT, so a script runs the
// very commands the sample does.
func cmdCISteps(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cisteps FILE OUT")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var block []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch strings.TrimSpace(line) {
		case "# echelon-ci-begin":
			in = true
			continue
		case "# echelon-ci-end":
			in = false
		}
		if in {
			block = append(block, line)
		}
	}
	if len(block) == 0 {
		ts.Fatalf("%s: no echelon-ci-begin/end block", args[0])
	}
	indent := -1
	for _, l := range block {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range block {
		if len(l) >= indent {
			block[i] = l[indent:]
		}
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(block, "\n")+"\n"), 0o755))
}
