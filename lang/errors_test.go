package lang

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestErrorFiles loads every testdata/errors/*.hcl. Each marks the errors it
// must produce on the offending line, as `# ERROR: <summary>` (several per
// line allowed); the test checks each marked summary is reported on that
// line, and that no error is reported that is not marked.
func TestErrorFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 45 {
		t.Fatalf("found %d error files, want at least 45", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".hcl"), func(t *testing.T) {
			want := expectedErrors(t, path)
			if len(want) == 0 {
				t.Fatalf("%s marks no error", path)
			}
			spec, diags := Load(path, LoadOptions{})
			if spec == nil {
				t.Fatal("Load returned a nil Spec")
			}
			if !diags.HasErrors() {
				t.Fatalf("no error; want %v", want)
			}
			got := map[lineSummary]bool{}
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("error without a range: %s: %s", d.Summary, d.Detail)
					continue
				}
				got[lineSummary{d.Subject.Start.Line, d.Summary}] = true
				if !want[lineSummary{d.Subject.Start.Line, d.Summary}] {
					t.Errorf("unexpected error at line %d: %s: %s", d.Subject.Start.Line, d.Summary, d.Detail)
				}
			}
			for _, w := range sortedLS(want) {
				if !got[w] {
					t.Errorf("missing error at line %d: %s", w.line, w.summary)
				}
			}
			// Rendering must not fail on any of them either.
			var sb strings.Builder
			if err := WriteDiagnostics(&sb, diags, spec.Sources, false); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sb.String(), path+":") {
				t.Errorf("text diagnostics do not name the file:\n%s", sb.String())
			}
		})
	}
}

type lineSummary struct {
	line    int
	summary string
}

func expectedErrors(t *testing.T, path string) map[lineSummary]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[lineSummary]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		parts := strings.Split(sc.Text(), "# ERROR: ")
		for _, p := range parts[1:] {
			want[lineSummary{line, strings.TrimSpace(p)}] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

func sortedLS(m map[lineSummary]bool) []lineSummary {
	out := make([]lineSummary, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].line != out[j].line {
			return out[i].line < out[j].line
		}
		return out[i].summary < out[j].summary
	})
	return out
}
