package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docSpec is one full spec of docs/language.md: a fence opened with
// "```hcl spec", optionally followed by files=a,b/ (files, or with a
// trailing slash directories, the spec's drivers read, created empty).
type docSpec struct {
	line  int
	files []string
	text  string
}

func docSpecs(t *testing.T, path string) []docSpec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docSpec
	var cur *docSpec
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```hcl spec"):
			cur = &docSpec{line: i + 1}
			for _, f := range strings.Fields(strings.TrimPrefix(line, "```hcl spec")) {
				list, ok := strings.CutPrefix(f, "files=")
				if !ok {
					t.Fatalf("%s:%d: unknown fence option %q", path, i+1, f)
				}
				cur.files = strings.Split(list, ",")
			}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated spec fence", path, cur.line)
	}
	return out
}

// TestLanguageDocSpecsValidate runs `echelon validate` on every full spec
// in docs/language.md: an example the reference calls complete must
// validate, without even a warning, so the reference cannot rot.
func TestLanguageDocSpecsValidate(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "language.md")
	specs := docSpecs(t, path)
	if len(specs) < 5 {
		t.Fatalf("%s has %d full specs (```hcl spec fences), want at least 5", path, len(specs))
	}
	for _, s := range specs {
		dir := t.TempDir()
		for _, f := range s.files {
			p := filepath.Join(dir, filepath.FromSlash(f))
			if strings.HasSuffix(f, "/") {
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(s.text), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCaptured(t, "validate", dir)
		if code != 0 {
			t.Errorf("%s:%d: echelon validate exits %d:\n%s", path, s.line, code, stderr)
		} else if stderr != "" {
			t.Errorf("%s:%d: echelon validate printed diagnostics:\n%s", path, s.line, stderr)
		}
		if !strings.HasPrefix(stdout, "Success!") {
			t.Errorf("%s:%d: echelon validate printed %q, want Success!", path, s.line, stdout)
		}
	}
}

// runCaptured runs the echelon command line in-process with os.Stdout and
// os.Stderr captured (commands write to them directly).
func runCaptured(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	capture := func(f **os.File) func() string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := *f
		*f = w
		done := make(chan string)
		go func() {
			b, _ := io.ReadAll(r)
			done <- string(b)
		}()
		return func() string {
			*f = old
			w.Close()
			return <-done
		}
	}
	stdout, stderr := capture(&os.Stdout), capture(&os.Stderr)
	code := run(context.Background(), args, os.Stderr)
	return code, stdout(), stderr()
}

// TestDocLinksStayInRepo checks every relative link of README.md and
// docs/*.md names a file of the repository: a clone must be complete.
func TestDocLinksStayInRepo(t *testing.T) {
	root := filepath.Join("..", "..")
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") {
				continue
			}
			p, err := filepath.Abs(filepath.Join(filepath.Dir(page), filepath.FromSlash(target)))
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(absRoot, p); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links %s, outside the repository", page, m[1])
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links %s: %v", page, m[1], err)
			}
		}
	}
}
