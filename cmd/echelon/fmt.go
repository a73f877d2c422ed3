package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/echelonhq/echelon/lang"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/rogpeppe/go-internal/diff"
)

// runFmt rewrites spec files in hclwrite's canonical layout. Like gofmt and
// terraform fmt it lists the files it changed; -check changes nothing and
// fails when a file is not formatted; -diff shows the changes.
func runFmt(ctx context.Context, args []string) error {
	flags := newFlagSet("fmt", "fmt [-check] [-diff] [--json] SPEC...   (SPEC: a .hcl file, a directory, or - for stdin)")
	check := flags.Bool("check", false, "change nothing; list unformatted files and exit 1 if there are any")
	showDiff := flags.Bool("diff", false, "print the changes as a unified diff")
	asJSON := flags.Bool("json", false, "print the result as JSON on stdout")
	if err := parseFlags(flags, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if flags.NArg() == 0 {
		return usagef("expected at least one SPEC (a .hcl file, a directory, or -)")
	}

	if flags.NArg() == 1 && flags.Arg(0) == "-" {
		return fmtStdin(*asJSON)
	}

	var files []string
	for _, arg := range flags.Args() {
		found, err := hclFiles(arg)
		if err != nil {
			return err
		}
		files = append(files, found...)
	}

	res := fmtResult{FormatVersion: "1", Files: []fmtFile{}}
	var diags hcl.Diagnostics
	sources := map[string]*hcl.File{}
	var stdout io.Writer = os.Stdout
	if *asJSON {
		stdout = io.Discard
	}
	for _, name := range files {
		// A device, FIFO, huge or too deeply nested file is reported,
		// not read without end or handed to a recursive parser.
		src, bad := lang.ReadSpecSource(name)
		if bad != nil {
			diags = append(diags, bad)
			res.Files = append(res.Files, fmtFile{Path: name, Error: true})
			continue
		}
		// hclwrite formats whatever it is given; parse first so a broken
		// file is reported rather than rewritten.
		f, d := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		if f != nil {
			sources[name] = f
		}
		if d.HasErrors() {
			diags = append(diags, d...)
			res.Files = append(res.Files, fmtFile{Path: name, Error: true})
			continue
		}
		out := hclwrite.Format(src)
		changed := string(out) != string(src)
		res.Files = append(res.Files, fmtFile{Path: name, Formatted: !changed})
		if !changed {
			continue
		}
		res.Unformatted++
		fmt.Fprintln(stdout, name)
		if *showDiff {
			stdout.Write(diff.Diff(name, src, name+" (formatted)", out))
		}
		if !*check {
			info, err := os.Stat(name)
			if err != nil {
				return err
			}
			if err := os.WriteFile(name, out, info.Mode().Perm()); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			res.Files[len(res.Files)-1].Rewritten = true
		}
	}

	res.Diagnostics = lang.DiagnosticsJSON(diags)
	if *asJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding result: %w", err)
		}
		os.Stdout.Write(append(b, '\n'))
	} else if len(diags) > 0 {
		if err := lang.WriteDiagnostics(os.Stderr, diags, sources, false); err != nil {
			return err
		}
	}
	if diags.HasErrors() || (*check && res.Unformatted > 0) {
		return errReported
	}
	return nil
}

type fmtResult struct {
	FormatVersion string                 `json:"format_version"`
	Files         []fmtFile              `json:"files"`
	Unformatted   int                    `json:"unformatted"`
	Diagnostics   lang.DiagnosticsReport `json:"diagnostics"`
}

type fmtFile struct {
	Path      string `json:"path"`
	Formatted bool   `json:"formatted"`           // already in canonical layout
	Rewritten bool   `json:"rewritten,omitempty"` // changed on disk (not with -check)
	Error     bool   `json:"error,omitempty"`     // did not parse
}

// fmtStdin formats standard input to standard output.
func fmtStdin(asJSON bool) error {
	src, err := io.ReadAll(io.LimitReader(os.Stdin, lang.MaxSpecFileSize+1))
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if len(src) > lang.MaxSpecFileSize {
		return fmt.Errorf("stdin holds more than %d MiB, the limit for a spec file", lang.MaxSpecFileSize>>20)
	}
	if d := lang.CheckSource(src, "<stdin>"); d != nil {
		if err := lang.WriteDiagnostics(os.Stderr, hcl.Diagnostics{d}, nil, asJSON); err != nil {
			return err
		}
		return errReported
	}
	f, diags := hclsyntax.ParseConfig(src, "<stdin>", hcl.InitialPos)
	if diags.HasErrors() {
		if err := lang.WriteDiagnostics(os.Stderr, diags, map[string]*hcl.File{"<stdin>": f}, asJSON); err != nil {
			return err
		}
		return errReported
	}
	_, err = os.Stdout.Write(hclwrite.Format(src))
	return err
}

// hclFiles is path itself when it is a file, or every *.hcl file under it
// when it is a directory (recursively, skipping hidden directories), sorted.
func hclFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != path && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".hcl") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", path, err)
	}
	sort.Strings(files)
	return files, nil
}
