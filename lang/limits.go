package lang

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/hashicorp/hcl/v2"
)

// Limits on what a spec may make echelon read or build, so hostile or
// mistaken input gets a diagnostic naming the limit instead of exhausting
// the stack, memory or time (docs/contract-notes.md, "Limits").
const (
	// MaxNesting is the deepest nesting of brackets, braces, parentheses
	// and template interpolations a spec file, variables file or --var
	// value may have. The HCL parser recurses once per level: 60,000
	// levels overflow Go's stack.
	MaxNesting = 256
	// MaxDiagnostics caps the diagnostics one Load returns (errors
	// first); a last one says how many more there were.
	MaxDiagnostics = 1000
	// MaxNameLength caps component, region, phase, mode, api and
	// deployment names: they go into operation IDs and log file names
	// (component, region and replica together must fit the file system's
	// 255 bytes).
	MaxNameLength = 64
	// MaxSpecFileSize caps each spec file and variables file.
	MaxSpecFileSize = 16 << 20
	// MaxReadFileSize caps a file read by file(), templatefile(),
	// filebase64() and filesha256()/filesha1()/filemd5().
	MaxReadFileSize = 16 << 20
	// MaxDecodeInput caps the string given to jsondecode, yamldecode and
	// csvdecode.
	MaxDecodeInput = 16 << 20
	// MaxDecodedValues caps the values (scalars, lists and maps counted
	// one each) a yamldecode result may hold after aliases are expanded.
	MaxDecodedValues = 100_000
)

// sizeMiB writes a byte limit for messages: "16 MiB".
func sizeMiB(n int64) string {
	return fmt.Sprintf("%d MiB", n>>20)
}

// Syntaxes checkNesting reads.
const (
	syntaxHCL      = iota // native syntax: spec files, .tfvars, --var values
	syntaxJSON            // JSON variables files
	syntaxTemplate        // templatefile: text with ${ } and %{ }
)

// checkNesting scans src (in syntax, one of syntaxHCL...) for its
// nesting depth without parsing it, and returns an error diagnostic at the
// first bracket that goes deeper than MaxNesting, or nil. Strings,
// comments and heredocs are followed so brackets inside them do not
// count, while ${ } and %{ } interpolations inside them do (they hold
// expressions the parser recurses into).
func checkNesting(src []byte, filename string, syntax int) *hcl.Diagnostic {
	isJSON := syntax == syntaxJSON
	const (
		code = iota
		str
		heredoc
		tmpl // a whole template file: like a heredoc without its end
	)
	type frame struct {
		mode       int
		terminator []byte // heredoc
		closer     byte   // code: the bracket that ends it, 0 at top level
	}
	stack := []frame{{mode: code}}
	if syntax == syntaxTemplate {
		stack[0].mode = tmpl
	}
	depth := 0
	line := 1
	lineStart := 0
	atLineStart := false // in a heredoc: a new line begins at i
	diag := func(i int) *hcl.Diagnostic {
		pos := hcl.Pos{Line: line, Column: i - lineStart + 1, Byte: i}
		end := pos
		end.Column++
		end.Byte++
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Nesting too deep",
			Detail:   fmt.Sprintf("This file nests brackets, braces, parentheses or template interpolations more than %d levels deep, the limit echelon reads.", MaxNesting),
			Subject:  &hcl.Range{Filename: filename, Start: pos, End: end},
		}
	}
	push := func(i int, f frame) *hcl.Diagnostic {
		depth++
		if depth > MaxNesting {
			return diag(i)
		}
		stack = append(stack, f)
		return nil
	}
	pop := func() {
		if len(stack) > 1 {
			stack = stack[:len(stack)-1]
			depth--
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		top := &stack[len(stack)-1]
		if top.mode == heredoc && atLineStart {
			atLineStart = false
			rest := src[i:]
			if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
				rest = rest[:nl]
			}
			if bytes.Equal(bytes.TrimSpace(rest), top.terminator) {
				stack = stack[:len(stack)-1]
				i += len(rest) - 1
				continue
			}
		}
		if c == '\n' {
			line++
			lineStart = i + 1
			switch top.mode {
			case heredoc:
				atLineStart = true
			case str:
				// A quoted string ends at the line's end for the parser
				// too (an error): what follows is code again.
				stack = stack[:len(stack)-1]
			}
			continue
		}
		switch top.mode {
		case str, heredoc, tmpl:
			switch {
			case c == '\\' && top.mode == str:
				i++
			case c == '"' && top.mode == str:
				stack = stack[:len(stack)-1]
			case !isJSON && (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				// $${ and %%{ are literal: the next case skips "$$".
				if d := push(i, frame{mode: code, closer: '}'}); d != nil {
					return d
				}
				i++
			case !isJSON && (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == c:
				i++ // $$ or %%: an escaped literal
			}
		case code:
			switch c {
			case '"':
				stack = append(stack, frame{mode: str})
			case '#':
				if isJSON {
					break
				}
				i = skipLine(src, i) - 1
			case '/':
				if isJSON || i+1 >= len(src) {
					break
				}
				if src[i+1] == '/' {
					i = skipLine(src, i) - 1
				} else if src[i+1] == '*' {
					end := bytes.Index(src[i+2:], []byte("*/"))
					stop := len(src)
					if end >= 0 {
						stop = i + 2 + end + 2
					}
					for k := i; k < stop; k++ {
						if src[k] == '\n' {
							line++
							lineStart = k + 1
						}
					}
					i = stop - 1
				}
			case '<':
				if isJSON || i+2 >= len(src) || src[i+1] != '<' {
					break
				}
				j := i + 2
				if j < len(src) && src[j] == '-' {
					j++
				}
				k := j
				for k < len(src) && (isIdentByte(src[k])) {
					k++
				}
				if k == j || k >= len(src) || (src[k] != '\n' && src[k] != '\r') {
					break
				}
				stack = append(stack, frame{mode: heredoc, terminator: append([]byte(nil), src[j:k]...)})
				i = k - 1
			case '(':
				if d := push(i, frame{mode: code, closer: ')'}); d != nil {
					return d
				}
			case '[':
				if d := push(i, frame{mode: code, closer: ']'}); d != nil {
					return d
				}
			case '{':
				if d := push(i, frame{mode: code, closer: '}'}); d != nil {
					return d
				}
			case ')', ']', '}':
				// Unbalanced closers are the parser's to report; any
				// closer ends the innermost level.
				pop()
			}
		}
	}
	return nil
}

func skipLine(src []byte, i int) int {
	if nl := bytes.IndexByte(src[i:], '\n'); nl >= 0 {
		return i + nl
	}
	return len(src)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// readBounded reads the regular file at path, at most limit bytes. Anything
// else is refused before it is opened (a device such as /dev/zero or
// /dev/stdin, a FIFO, a socket, a directory; symlinks are followed to what
// they name), and the file is opened non-blocking, so a FIFO swapped in
// after the check does not hang the open. what names the file in
// messages ("spec file", "variables file"...).
func readBounded(path string, limit int64, what string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regularWithin(path, info, limit, what); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := regularWithin(path, info, limit, what); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s %s is larger than %s, the limit for a %s", what, path, sizeMiB(limit), what)
	}
	return b, nil
}

func regularWithin(path string, info os.FileInfo, limit int64, what string) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file (it is %s); echelon reads only regular files", what, path, FileKind(info.Mode()))
	}
	if info.Size() > limit {
		return fmt.Errorf("%s %s is %d bytes, larger than %s, the limit for a %s", what, path, info.Size(), sizeMiB(limit), what)
	}
	return nil
}

// FileKind names a file mode's type for messages: "a named pipe (FIFO)".
func FileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	default:
		return "of another kind"
	}
}

// fileStart is the range of a file's first character, for diagnostics
// about the file as a whole.
func fileStart(name string) *hcl.Range {
	return &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.Pos{Line: 1, Column: 1, Byte: 0}}
}

// ReadSpecSource reads a spec file for tools other than Load (echelon
// fmt) under Load's limits: a regular file of at most MaxSpecFileSize,
// nested at most MaxNesting deep. The diagnostic, when not nil, is an
// error at FILE:LINE:COL.
func ReadSpecSource(path string) ([]byte, *hcl.Diagnostic) {
	src, err := readBounded(path, MaxSpecFileSize, "spec file")
	if err != nil {
		return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read spec file", Detail: err.Error() + ".", Subject: fileStart(path)}
	}
	return src, CheckSource(src, path)
}

// CheckSource is the nesting check Load makes before parsing src (HCL
// native syntax), for tools that parse specs themselves; nil when src
// may be parsed.
func CheckSource(src []byte, filename string) *hcl.Diagnostic {
	return checkNesting(src, filename, syntaxHCL)
}
