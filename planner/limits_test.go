package planner

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/echelonhq/echelon/lang"
	"github.com/hashicorp/hcl/v2"
)

const limitsSkeleton = `
deployment "d" {}
phase "p" {}
mode "m" {}
`

// loadOK loads an HCL spec that must have no error.
func loadOK(t *testing.T, path string) *lang.Spec {
	t.Helper()
	s, diags := lang.Load(path, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return s
}

// TestManifestsSpecialFiles: manifests = ["/dev/zero"] was digested by
// reading it whole (without end), and "/dev/stdin" or a FIFO hung
// compile. Each is now an error at the attribute, as is a manifest over
// MaxManifestSize; a directory of manifests is still fine.
func TestManifestsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	write(t, big, "")
	if err := os.Truncate(big, MaxManifestSize+1); err != nil { // sparse
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "manifests", "a.yaml"), "kind: ConfigMap\n")
	for _, tc := range []struct{ manifest, summary, detail string }{
		{"/dev/zero", "Not a regular file", "a character device"},
		{"/dev/null", "Not a regular file", "a character device"},
		{"pipe.yaml", "Not a regular file", "a named pipe (FIFO)"},
		{"big.yaml", "Kubectl manifest too large", fmt.Sprintf("%d MiB", MaxManifestSize>>20)},
		{"manifests", "", ""},
	} {
		t.Run(tc.manifest, func(t *testing.T) {
			spec := filepath.Join(dir, "s.hcl")
			write(t, spec, limitsSkeleton+fmt.Sprintf(`component "c" {
  phase    = "p"
  duration = "1m"
  kubectl {
    manifests = [%q]
  }
}
`, tc.manifest))
			s := loadOK(t, spec)
			var diags hcl.Diagnostics
			n := allocatedBy(func() { _, diags = Compile(s, Options{}) })
			if n > 64<<20 {
				t.Errorf("compile allocated %d MB", n>>20)
			}
			if tc.summary == "" {
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				return
			}
			for _, d := range diags {
				if d.Summary == tc.summary && strings.Contains(d.Detail, tc.detail) {
					if d.Subject == nil || d.Subject.Filename != spec || d.Subject.Start.Line != 9 {
						t.Errorf("%s: at %v, want %s line 9", d.Summary, d.Subject, spec)
					}
					return
				}
			}
			t.Errorf("no %q error naming %q: %v", tc.summary, tc.detail, diags)
		})
	}
}

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDigestStreams: the digest read each file of a terraform dir whole;
// a big one (sparse here, 256 MB) now costs time, not memory, and a FIFO
// in the directory is skipped rather than blocking.
func TestDigestStreams(t *testing.T) {
	dir := t.TempDir()
	s := tfSpec(t, dir)
	big := filepath.Join(dir, "tf", "big.bin")
	write(t, big, "")
	if err := os.Truncate(big, 256<<20); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "tf", "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	var files map[string]string
	var err error
	n := allocatedBy(func() { _, files, err = specDigest(s) })
	if err != nil {
		t.Fatal(err)
	}
	if n > 32<<20 {
		t.Errorf("digesting a 256 MB file allocated %d MB", n>>20)
	}
	if files["tf/big.bin"] == "" || files["tf/pipe"] != "" {
		t.Errorf("file digests = %v, want tf/big.bin and no tf/pipe", files)
	}
	// A special file named as a driver path itself is an error, not a hang.
	if err := digestTree(dir, "/dev/zero", map[string]string{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("digest of /dev/zero: err = %v", err)
	}
}

// TestIsPlanStreaming: a plan inside a driver directory is recognised by
// streaming it, as IsPlanJSON does on bytes.
func TestIsPlanStreaming(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{`{"format_version": "1", "ops": [{"plan_digest": 1}], "plan_digest": "x"}`, true},
		{`{"format_version": "1", "x": {"plan_digest": "y"}}`, false},
		{`{"format_version": "plan_digest"}`, false},
		{`{"format_version": "1", "plan_digest": "x"} trailing`, false},
		{`{"plan_digest": "x", "format_version": "1"}`, false},
		{`["format_version"]`, false},
	} {
		p := filepath.Join(t.TempDir(), "p.json")
		write(t, p, tc.text)
		_, got, err := digestFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || IsPlanJSON([]byte(tc.text)) != tc.want {
			t.Errorf("%s: streaming %v, IsPlanJSON %v, want %v", tc.text, got, IsPlanJSON([]byte(tc.text)), tc.want)
		}
	}
}

// TestReadPlanFileSpecial: apply /dev/zero read without end and a FIFO
// blocked; a plan must be a regular file of at most MaxPlanSize.
func TestReadPlanFileSpecial(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "plan.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.json")
	write(t, big, "")
	if err := os.Truncate(big, MaxPlanSize+1); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/dev/zero": "a character device", fifo: "a named pipe (FIFO)", big: "larger than 1024 MiB"} {
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s): err = %v, want %q", path, err, want)
		}
	}
	ok := filepath.Join(t.TempDir(), "ok.json")
	write(t, ok, `{"format_version": "0"}`)
	if _, err := ReadFile(ok); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("a small regular file is read: err = %v", err)
	}
}
