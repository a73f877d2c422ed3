package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/views"
	"github.com/spf13/pflag"
)

// specFlags are the flags of every command that loads a spec: --var and
// --var-file, both repeatable, applied in command-line order.
type specFlags struct {
	vars     []string
	varFiles []string
	ctx      context.Context // stops a long load on Ctrl-C
}

func (f *specFlags) register(fs *pflag.FlagSet) {
	fs.Var((*varList)(&f.vars), "var", "set a variable: `NAME=VALUE` (repeatable; beats --var-file and ECHELON_VAR_NAME)")
	fs.StringArrayVar(&f.varFiles, "var-file", nil, "read variables from an HCL `FILE` of NAME = VALUE lines (repeatable)")
}

// varList is --var: repeatable like StringArray, but a value without
// "=" is refused while parsing, so it is bad usage (exit 2) in every
// command rather than a spec diagnostic.
type varList []string

func (v *varList) String() string {
	if len(*v) == 0 {
		return "" // no "(default [])" in --help
	}
	return "[" + strings.Join(*v, ",") + "]"
}
func (v *varList) Type() string { return "stringArray" }

func (v *varList) Set(s string) error {
	name, _, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	*v = append(*v, s)
	return nil
}

// options are the lang.LoadOptions the flags and the environment give.
func (f *specFlags) options() lang.LoadOptions {
	return lang.LoadOptions{Vars: f.vars, VarFiles: f.varFiles, Environ: os.Environ(), Context: f.ctx}
}

// load loads and validates the spec at path. Errors (and, in text mode,
// warnings) are printed, as JSON on stdout with asJSON (every command's
// --json diagnostics go there, so one stream carries the machine-readable
// answer) and for people on stderr (w); a spec with errors returns
// errReported so the command exits 1.
func (f *specFlags) load(path string, w io.Writer, asJSON bool) (*lang.Spec, error) {
	spec, diags := lang.Load(path, f.options())
	var sources map[string]*hcl.File
	if spec != nil {
		sources = spec.Sources
	}
	if err := views.NewDiagnostics(asJSON, jsonStdout, w).Diagnostics(diags, sources); err != nil {
		return nil, err
	}
	if diags.HasErrors() || spec == nil {
		return nil, errReported
	}
	return spec, nil
}

// jsonStdout is where --json diagnostics and validate's result go; tests
// swap it. By default it is whatever os.Stdout is at the time of the write
// (tests that redirect os.Stdout see the output too).
var jsonStdout io.Writer = currentStdout{}

type currentStdout struct{}

func (currentStdout) Write(p []byte) (int, error) { return os.Stdout.Write(p) }

// isPlanFile says whether a command's argument is a plan file rather than
// a spec: an existing regular file, not *.hcl, named *.json or starting
// with "{". Specs are .hcl files or directories.
func isPlanFile(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || strings.HasSuffix(path, ".hcl") {
		// Not a FIFO or device either: opening one to peek would block.
		return false
	}
	if strings.HasSuffix(path, ".json") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, _ := f.Read(buf)
	return strings.HasPrefix(strings.TrimSpace(string(buf[:n])), "{")
}

// newFlagSet makes a command's flag set: errors come back to the caller
// (usage, exit 2) and --help prints the usage line and the flags.
func newFlagSet(name, usage string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: echelon %s\n\nflags:\n%s", usage, fs.FlagUsages())
	}
	return fs
}

// errHelp is returned by parseFlags when --help was asked for and the
// usage was printed: the command should return nil (exit 0).
var errHelp = errors.New("help requested")

// parseFlags parses args, accepting Terraform's single-dash long flags
// (-check, -diff, -json) as well as --check. Bad flags give a usage error
// (exit 2); --help gives errHelp.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	args = singleDashLong(fs, args)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		// pflag says `invalid argument "abc" for "--trials" flag:
		// strconv.ParseInt: parsing "abc": invalid syntax`: keep the
		// first part, people need not read Go.
		msg := err.Error()
		if i := strings.Index(msg, ": strconv.Parse"); i >= 0 {
			msg = msg[:i] + ": not a number"
		}
		if f := closestFlag(fs, msg); f != "" {
			msg += "; did you mean --" + f + "?"
		}
		return usagef("%s (see 'echelon %s --help')", msg, fs.Name())
	}
	// A mistyped database store must not become a directory of its name.
	if f := fs.Lookup("store"); f != nil {
		v, from := f.Value.String(), "--store"
		if v == "" {
			v, from = os.Getenv("ECHELON_STORE"), "ECHELON_STORE"
		}
		if err := store.CheckWhere(v); err != nil {
			return usagef("%s: %v", from, err)
		}
	}
	return nil
}

// singleDashLong rewrites -name and -name=value to --name... when name is a
// long flag of fs: pflag would read -check as -c -h -e -c -k.
func singleDashLong(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// checkMode makes --mode naming no mode of the spec bad usage (exit 2),
// with the modes there are and the closest one; extra are values the
// command accepts besides the spec's modes ("all" for simulate). An
// empty mode is the spec's default.
func checkMode(spec *lang.Spec, mode string, extra ...string) error {
	if mode == "" || len(spec.Modes) == 0 {
		return nil // the planner reports a spec without modes
	}
	names := make([]string, 0, len(spec.Modes)+len(extra))
	for _, m := range spec.Modes {
		if m.Name == mode {
			return nil
		}
		names = append(names, m.Name)
	}
	for _, x := range extra {
		if x == mode {
			return nil
		}
		names = append(names, x)
	}
	return usagef("--mode %q is not a mode of the spec, which has %s.%s", mode, orList(names), didYouMean(mode, names))
}

// orList is "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// didYouMean is " Did you mean X?" for the candidate closest to given
// when it is likely a typo (Levenshtein distance under 3, as lang's
// diagnostics and hcl's own), else "". Ties go to the first candidate.
func didYouMean(given string, candidates []string) string {
	if best := closest(given, candidates); best != "" {
		return fmt.Sprintf(" Did you mean %s?", best)
	}
	return ""
}

// closest is the candidate closest to given when it is likely a typo
// (Levenshtein distance under 3), else "".
func closest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// closestFlag is the visible flag of fs closest to the one pflag's error
// message msg calls unknown, or "": "unknown flag: --jsno", or for a
// single-dash long flag "unknown shorthand flag: 'j' in -jsno".
func closestFlag(fs *pflag.FlagSet, msg string) string {
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok && strings.HasPrefix(msg, "unknown shorthand flag: ") {
		if i := strings.LastIndex(msg, " in -"); i >= 0 {
			name, _, _ = strings.Cut(msg[i+len(" in -"):], "=")
			ok = len(name) > 1
		}
	}
	if !ok {
		return ""
	}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	return closest(name, names)
}
