package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/echelonhq/echelon/lang"
	"github.com/spf13/pflag"
)

// specFlags are the flags of every command that loads a spec: --var and
// --var-file, both repeatable, applied in command-line order.
type specFlags struct {
	vars     []string
	varFiles []string
}

func (f *specFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.vars, "var", nil, "set a variable: `NAME=VALUE` (repeatable; beats --var-file and ECHELON_VAR_NAME)")
	fs.StringArrayVar(&f.varFiles, "var-file", nil, "read variables from an HCL `FILE` of NAME = VALUE lines (repeatable)")
}

// options are the lang.LoadOptions the flags and the environment give.
func (f *specFlags) options() lang.LoadOptions {
	return lang.LoadOptions{Vars: f.vars, VarFiles: f.varFiles, Environ: os.Environ()}
}

// load loads and validates the spec at path. Errors (and, in text mode,
// warnings) are printed to w, as JSON with asJSON; a spec with errors
// returns errReported so the command exits 1.
func (f *specFlags) load(path string, w io.Writer, asJSON bool) (*lang.Spec, error) {
	spec, diags := lang.Load(path, f.options())
	if diags.HasErrors() || (len(diags) > 0 && !asJSON) {
		if err := lang.WriteDiagnostics(w, diags, spec.Sources, asJSON); err != nil {
			return nil, fmt.Errorf("writing diagnostics: %w", err)
		}
	}
	if diags.HasErrors() {
		return nil, errReported
	}
	return spec, nil
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
		return usagef("%v (see 'echelon %s --help')", err, fs.Name())
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
