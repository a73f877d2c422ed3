package lang

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/mitchellh/go-wordwrap"
)

// DiagnosticsFormatVersion is the format_version of the JSON diagnostics.
const DiagnosticsFormatVersion = "1"

// WriteDiagnostics prints diags for people or, with asJSON, as one JSON
// object. Text reads, per diagnostic:
//
//	FILE:LINE:COL: error: SUMMARY
//
//	  on FILE line LINE, in component "x":
//	  12:   depends_on = [component.kubernetse]
//	                      ^^^^^^^^^^^^^^^^^^^^
//
//	DETAIL
//
// Sources supplies the snippets; a file missing from it is read from disk.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, sources map[string]*hcl.File, asJSON bool) error {
	if asJSON {
		return writeDiagnosticsJSON(w, diags)
	}
	bw := bufio.NewWriter(w)
	files := fileSource{sources: sources, read: map[string][]byte{}}
	for _, d := range diags {
		writeDiagnostic(bw, d, &files)
	}
	return bw.Flush()
}

type fileSource struct {
	sources map[string]*hcl.File
	read    map[string][]byte
	split   map[string][][]byte // lines, split once per file
}

// lines is a file's lines, split once however many diagnostics it has
// (20,000 of them split a 20,000-line file 20,000 times: 9 GB).
func (f *fileSource) lines(name string) [][]byte {
	if l, ok := f.split[name]; ok {
		return l
	}
	if f.split == nil {
		f.split = map[string][][]byte{}
	}
	var l [][]byte
	if src := f.bytes(name); len(src) > 0 {
		l = bytes.Split(src, []byte("\n"))
	}
	f.split[name] = l
	return l
}

func (f *fileSource) bytes(name string) []byte {
	if file := f.sources[name]; file != nil {
		return file.Bytes
	}
	if b, ok := f.read[name]; ok {
		return b
	}
	// Bounded: a diagnostic may be about a file too big or not regular.
	b, _ := readBounded(name, MaxSpecFileSize, "file")
	f.read[name] = b
	return b
}

func severityWord(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

func writeDiagnostic(w *bufio.Writer, d *hcl.Diagnostic, files *fileSource) {
	if d.Subject != nil {
		fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, severityWord(d.Severity), d.Summary)
	} else {
		fmt.Fprintf(w, "echelon: %s: %s\n", severityWord(d.Severity), d.Summary)
	}
	if d.Subject != nil && !SourceHidden(d) {
		writeSnippet(w, d, files)
	}
	if d.Detail != "" {
		fmt.Fprintln(w)
		for _, line := range strings.Split(wordwrap.WrapString(d.Detail, 78), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	fmt.Fprintln(w)
}

// writeSnippet prints the subject's line(s), within the context's, and a
// caret line under the subject when it lies on one line.
func writeSnippet(w *bufio.Writer, d *hcl.Diagnostic, files *fileSource) {
	lines := files.lines(d.Subject.Filename)
	if len(lines) == 0 {
		return
	}
	start, end := d.Subject.Start.Line, d.Subject.End.Line
	if end < start {
		end = start
	}
	if start < 1 || start > len(lines) {
		return
	}
	if end > len(lines) {
		end = len(lines)
	}
	if end-start > 4 { // long subjects: their first lines are enough
		end = start + 4
	}
	fmt.Fprintln(w)
	in := ""
	// hclsyntax files can name the block around an offset (as hcl's own
	// diagnostic writer does).
	if file := files.sources[d.Subject.Filename]; file != nil {
		if nav, ok := file.Nav.(interface{ ContextString(int) string }); ok {
			if c := nav.ContextString(d.Subject.Start.Byte); c != "" {
				in = ", in " + c
			}
		}
	}
	fmt.Fprintf(w, "  on %s line %d%s:\n", d.Subject.Filename, start, in)
	width := len(fmt.Sprint(end))
	for n := start; n <= end; n++ {
		text := strings.TrimRight(string(lines[n-1]), "\r")
		fmt.Fprintf(w, "  %*d: %s\n", width, n, text)
		if n == start && d.Subject.End.Line == start {
			// Columns count characters; tabs are kept so the carets line up.
			var pad strings.Builder
			for i, r := range []rune(text) {
				if i >= d.Subject.Start.Column-1 {
					break
				}
				if r == '\t' {
					pad.WriteRune('\t')
				} else {
					pad.WriteRune(' ')
				}
			}
			// A zero-width subject (a missing item) still gets one caret.
			carets := max(1, d.Subject.End.Column-d.Subject.Start.Column)
			fmt.Fprintf(w, "  %*s  %s%s\n", width, "", pad.String(), strings.Repeat("^", carets))
		}
	}
}

// sourceHidden marks a diagnostic (in its Extra) whose source must not be
// quoted: it points into a variables file, which may hold secrets on the
// very line it is about.
type sourceHidden struct{ inner any }

// UnwrapDiagnosticExtra lets hcl.DiagnosticExtra find what was in Extra.
func (s sourceHidden) UnwrapDiagnosticExtra() any { return s.inner }

// SourceHidden says whether d's source lines must not be printed: the
// renderer gives its FILE:LINE:COL and message only.
func SourceHidden(d *hcl.Diagnostic) bool {
	_, ok := d.Extra.(sourceHidden)
	return ok
}

// hideSource marks d so no renderer quotes its source, and drops its
// Context (a snippet's wider range).
func hideSource(d *hcl.Diagnostic) {
	if !SourceHidden(d) {
		d.Extra = sourceHidden{inner: d.Extra}
	}
	d.Context = nil
}

// DiagnosticsReport is the JSON form of a set of diagnostics.
type DiagnosticsReport struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []jsonDiagnostic `json:"diagnostics"`
}

type jsonDiagnostic struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail"`
	Range    *jsonRange `json:"range,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// DiagnosticsJSON is the JSON form of diags, for commands that embed it.
func DiagnosticsJSON(diags hcl.Diagnostics) DiagnosticsReport {
	out := DiagnosticsReport{FormatVersion: DiagnosticsFormatVersion, Diagnostics: []jsonDiagnostic{}}
	for _, d := range diags {
		jd := jsonDiagnostic{Severity: severityWord(d.Severity), Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if r := d.Subject; r != nil {
			jd.Range = &jsonRange{
				Filename: r.Filename,
				Start:    jsonPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:      jsonPos{r.End.Line, r.End.Column, r.End.Byte},
			}
		}
		out.Diagnostics = append(out.Diagnostics, jd)
	}
	out.Valid = out.ErrorCount == 0
	return out
}

func writeDiagnosticsJSON(w io.Writer, diags hcl.Diagnostics) error {
	// No HTML escaping: details quote cycles as "a -> b", not "a -\u003e b".
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(DiagnosticsJSON(diags)); err != nil {
		return fmt.Errorf("encoding diagnostics: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
