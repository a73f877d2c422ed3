package planner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pathsSpec = `deployment "d" {}
phase "p" {}
mode "m" {}
component "infra" {
  phase  = "p"
  driver = "terraform"
  terraform {
    dir = "nodir"
  }
}
component "kube" {
  phase  = "p"
  driver = "kubectl"
  kubectl {
    manifests = ["ok.yaml", "nofile.yaml", "https://example.com/x.yaml"]
  }
}
component "chart" {
  phase  = "p"
  driver = "helm"
  helm {
    release = "r"
    chart   = "./nochart"
  }
}
component "repo" {
  phase  = "p"
  driver = "helm"
  helm {
    release = "r2"
    chart   = "bitnami/nginx"
  }
}
`

// Driver paths that do not exist are compile errors at the attribute that
// names them (review #12); URLs and repository charts are not paths.
func TestMissingDriverPaths(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spec.hcl"), pathsSpec)
	write(t, filepath.Join(dir, "ok.yaml"), "kind: ConfigMap\n")
	spec := load(t, filepath.Join(dir, "spec.hcl"))
	_, diags := Compile(spec, Options{})
	got := map[string]int{} // summary -> line
	for _, d := range diags {
		if d.Subject == nil {
			t.Errorf("%s: no subject", d.Summary)
			continue
		}
		got[d.Summary+" "+d.Detail[strings.Index(d.Detail, `"`):strings.Index(d.Detail, ":")]] = d.Subject.Start.Line
	}
	want := map[string]int{
		`Missing terraform dir "infra"`:   8,
		`Missing kubectl manifest "kube"`: 15,
		`Missing helm chart "chart"`:      23,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, line := range want {
		if got[k] != line {
			t.Errorf("%s: line %d, want %d (all: %v)", k, got[k], line, got)
		}
	}
	for _, d := range diags {
		if strings.Contains(d.Detail, "ok.yaml") || strings.Contains(d.Detail, "example.com") || strings.Contains(d.Detail, "bitnami") {
			t.Errorf("reported a path that is fine: %s", d.Detail)
		}
	}

	// Create them: the spec compiles, and the local chart is digested; its
	// absence would have been recorded as "missing".
	if err := os.MkdirAll(filepath.Join(dir, "nodir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "nofile.yaml"), "kind: ConfigMap\n")
	write(t, filepath.Join(dir, "nochart", "Chart.yaml"), "name: x\n")
	p, diags := Compile(spec, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if p.Spec.FileDigests["nochart/Chart.yaml"] == "" {
		t.Errorf("local chart not digested: %v", p.Spec.FileDigests)
	}
	if err := os.RemoveAll(filepath.Join(dir, "nochart")); err != nil {
		t.Fatal(err)
	}
	_, files, err := specDigest(spec)
	if err != nil {
		t.Fatal(err)
	}
	if files["nochart"] != "missing" {
		t.Errorf("a missing local chart is recorded as %q, want missing", files["nochart"])
	}
}

// TestRepoSpecPath: the recorded spec path is relative to the repository
// root whatever the working directory, and the base name outside one.
func TestRepoSpecPath(t *testing.T) {
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	for _, d := range []string{filepath.Join(repo, ".git"), filepath.Join(repo, "specs", "app"), filepath.Join(tmp, "loose")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ cwd, path, want string }{
		{repo, "specs/app", "specs/app"},
		{filepath.Join(repo, "specs"), "app", "specs/app"},
		{filepath.Join(repo, "specs", "app"), ".", "specs/app"},
		{tmp, "repo/specs/app/main.hcl", "specs/app/main.hcl"},
		{tmp, filepath.Join(tmp, "loose"), "loose"},
		{filepath.Join(tmp, "loose"), ".", "loose"},
	} {
		t.Run(c.path, func(t *testing.T) {
			t.Chdir(c.cwd)
			if got := RepoSpecPath(c.path); got != c.want {
				t.Errorf("RepoSpecPath(%q) from %s = %q, want %q", c.path, c.cwd, got, c.want)
			}
		})
	}
}
