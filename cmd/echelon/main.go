// Command echelon compiles, predicts and runs multi-region deployments.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/echelonhq/echelon/views"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand; each lives in a file of its own.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"validate":  {"check a spec and print diagnostics", runValidate},
	"fmt":       {"rewrite specs in canonical HCL layout", runFmt},
	"compile":   {"compile a spec into a plan", runCompile},
	"show":      {"show a plan for people", runShow},
	"report":    {"lay a plan's last run beside its prediction (text, --json, --gantt)", runReport},
	"calibrate": {"fit durations, overhead and failure rates from past runs for simulate", runCalibrate},
	"graph":     {"print the operation graph as Graphviz DOT", runGraph},
	"simulate":  {"predict wall-clock time and throttling per mode", runSimulate},
	"plan":      {"preview a compiled plan: terraform plan -out per state, what apply would change", runPlan},
	"apply":     {"run a plan (the saved plans of its preview, when there is one)", runApply},
	"diff":      {"compare two plans for review", runDiff},
	"golden":    {"write or check the golden plans beside a spec", runGolden},
	"review":    {"compare a spec with a git revision: one PR comment", runReview},
	"logs":      {"print an operation's log from a plan's last run (this machine's file, or the store's copy)", runLogs},
	"runs":      {"list the store's lock holders and runs (live, stale, finished)", runRuns},
	"unlock":    {"remove a stuck lock holder from the store (asks first; --yes)", runUnlock},
	"worker":    {"run steps an apply --workers dispatches through the store", runWorker},
}

// usageError is bad usage: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// errReported means the failure was already printed (diagnostics, a run
// summary, broken budgets): exit 1 without another message.
var errReported = errors.New("failed")

func main() { os.Exit(mainExit()) }

// mainExit is main without os.Exit, so testscript can run it in-process.
func mainExit() int {
	// The first Ctrl-C cancels ctx (apply stops starting work); apply
	// handles a second one itself. SIGTERM behaves the same.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stderr)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		bi, ok := debug.ReadBuildInfo()
		fmt.Fprintln(os.Stdout, "echelon", versionOf(version, bi, ok))
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "echelon: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	err := runInterruptible(ctx, args[0], cmd, args[1:])
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && args[0] != "apply":
		// Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it. apply
		// reports its own interrupted run (and exit code).
		fmt.Fprintf(stderr, "echelon %s: interrupted\n", args[0])
		return exitInterrupted
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, new(usageError)):
		msg := err.Error()
		if !strings.Contains(msg, "--help") {
			msg += fmt.Sprintf(" (see 'echelon %s --help')", args[0])
		}
		fmt.Fprintf(stderr, "echelon %s: %s\n", args[0], msg)
		jsonError(args[1:], "Bad usage", errors.New(msg))
		return 2
	default:
		fmt.Fprintf(stderr, "echelon %s: %v\n", args[0], err)
		jsonError(args[1:], "Error", err)
		return 1
	}
}

// jsonError gives a command run with --json its error as one JSON
// diagnostic on stdout too, as every --json diagnostic is (a CI job reads
// stdout); the text stays on stderr.
func jsonError(args []string, summary string, err error) {
	for _, a := range args {
		if a == "--" {
			return
		}
		if a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true" {
			views.NewDiagnostics(true, currentStdout{}, io.Discard).Refused(summary, err)
			return
		}
	}
}

// exitInterrupted is the exit code of a command stopped by Ctrl-C.
const exitInterrupted = 130

// runInterruptible runs cmd. Loading a spec stops at its next step when
// ctx is done (lang.LoadOptions.Context), but some work cannot stop
// midway (parsing one big file, compiling a large plan): a command that
// only reads, or writes its output by rename (compile -o), is abandoned
// there, so Ctrl-C always ends it. apply stops its operations itself, fmt
// rewrites files in place and worker waits for its running steps: those
// are waited for.
func runInterruptible(ctx context.Context, name string, cmd command, args []string) error {
	if name == "apply" || name == "fmt" || name == "worker" {
		return cmd.run(ctx, args)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.run(ctx, args) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// version is set by a release build: -ldflags "-X main.version=v1.2.0".
var version = "dev"

// versionOf is the version to print: the -ldflags one when set, else the
// main module's version Go recorded (v1.2.0 for `go install ...@v1.2.0`,
// or the tag of a tagged checkout), else the VCS revision of the build
// ("dev+0123456789ab", "-dirty" with uncommitted changes), else "dev".
func versionOf(ldflags string, bi *debug.BuildInfo, ok bool) string {
	if ldflags != "dev" && ldflags != "" {
		return ldflags
	}
	if !ok || bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev+" + rev
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: echelon <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'echelon <command> --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted.")
}
