package planner

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/echelonhq/echelon/lang"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// localChart says whether a helm chart is given as a local path rather
// than a repository reference (repo/chart, oci://...): ./x, ../x, an
// absolute path, "." or "..", or a path with a slash that exists.
func localChart(chart, specDir string) bool {
	if strings.Contains(chart, "://") {
		return false
	}
	if chart == "." || chart == ".." || strings.HasPrefix(chart, "./") || strings.HasPrefix(chart, "../") || filepath.IsAbs(chart) {
		return true
	}
	if !strings.ContainsRune(chart, '/') {
		return false
	}
	_, err := os.Stat(inSpecDir(chart, specDir))
	return err == nil
}

// RepoSpecPath is the spec path a plan records: specPath relative to the
// root of the repository that holds it (the nearest directory at or above
// it with a .git entry, as git finds it), slash-separated; outside any
// repository, the spec's base name. It depends neither on the working
// directory nor on where the plan is written, so neither moves a plan's
// digest. An empty specPath (a spec built in code) stays empty.
func RepoSpecPath(specPath string) string {
	if specPath == "" {
		return ""
	}
	abs, err := filepath.Abs(specPath)
	if err != nil {
		return filepath.Base(specPath)
	}
	if root, ok := RepoRoot(filepath.Dir(abs)); ok {
		if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.Base(abs)
}

// RepoRoot is the nearest directory at or above dir holding a .git entry
// (a directory, or the file of a worktree or submodule).
func RepoRoot(dir string) (string, bool) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

func inSpecDir(p, specDir string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(specDir, p)
}

// checkDriverPaths reports the local paths drivers would read that do not
// exist: a terraform dir (which must be a directory), kubectl manifests
// that are not URLs, and helm charts given as local paths. Found at compile
// time, not when apply reaches the operation. One diagnostic per
// component and path, at the attribute that names it.
func checkDriverPaths(spec *lang.Spec) hcl.Diagnostics {
	type key struct{ comp, path string }
	seen := map[key]bool{}
	stat := map[string]os.FileInfo{}
	exists := func(p string) os.FileInfo {
		abs := inSpecDir(p, spec.Dir)
		if fi, ok := stat[abs]; ok {
			return fi
		}
		fi, err := os.Stat(abs)
		if err != nil {
			fi = nil
		}
		stat[abs] = fi
		return fi
	}
	var diags hcl.Diagnostics
	report := func(c *lang.Component, block, attr, p, what string) {
		k := key{c.Name, p}
		if seen[k] {
			return
		}
		seen[k] = true
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing " + what,
			Detail:  fmt.Sprintf("Component %q: %s %q does not exist (paths are relative to the spec directory %s).", c.Name, what, p, spec.Dir),
			Subject: attrRange(spec, c, block, attr)})
	}
	// special reports a path that names a device, FIFO or socket
	// (/dev/zero, /dev/stdin): reading it would never end or would block.
	special := func(c *lang.Component, block, attr, p, what string, fi os.FileInfo) {
		k := key{c.Name, p}
		if seen[k] {
			return
		}
		seen[k] = true
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Not a regular file",
			Detail:  fmt.Sprintf("Component %q: %s %q is %s, not a regular file or directory; echelon reads only regular files.", c.Name, what, p, lang.FileKind(fi.Mode())),
			Subject: attrRange(spec, c, block, attr)})
	}
	for _, c := range spec.Components {
		for _, in := range c.Instances {
			switch {
			case in.Terraform != nil:
				if fi := exists(in.Terraform.Dir); fi == nil {
					report(c, "terraform", "dir", in.Terraform.Dir, "terraform dir")
				} else if !fi.IsDir() {
					k := key{c.Name, in.Terraform.Dir}
					if !seen[k] {
						seen[k] = true
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Terraform dir is not a directory",
							Detail:  fmt.Sprintf("Component %q: terraform dir %q is a file; it must be the root module's directory.", c.Name, in.Terraform.Dir),
							Subject: attrRange(spec, c, "terraform", "dir")})
					}
				}
			case in.Kubectl != nil:
				for _, m := range in.Kubectl.Manifests {
					if strings.Contains(m, "://") {
						continue
					}
					fi := exists(m)
					switch {
					case fi == nil:
						report(c, "kubectl", "manifests", m, "kubectl manifest")
					case !fi.IsDir() && !fi.Mode().IsRegular():
						special(c, "kubectl", "manifests", m, "kubectl manifest", fi)
					case fi.Mode().IsRegular() && fi.Size() > MaxManifestSize:
						k := key{c.Name, m}
						if !seen[k] {
							seen[k] = true
							diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Kubectl manifest too large",
								Detail:  fmt.Sprintf("Component %q: kubectl manifest %q is %d bytes, larger than %d MiB, the limit for a manifest.", c.Name, m, fi.Size(), MaxManifestSize>>20),
								Subject: attrRange(spec, c, "kubectl", "manifests")})
						}
					}
				}
			case in.Helm != nil:
				if !localChart(in.Helm.Chart, spec.Dir) {
					break
				}
				switch fi := exists(in.Helm.Chart); {
				case fi == nil:
					report(c, "helm", "chart", in.Helm.Chart, "helm chart")
				case !fi.IsDir() && !fi.Mode().IsRegular():
					special(c, "helm", "chart", in.Helm.Chart, "helm chart", fi)
				}
			}
		}
	}
	return diags
}

// attrRange finds the range of attribute attr in the block named block of
// component c in the spec's sources; the component's declaration when
// it cannot (a spec built in code, or JSON syntax).
func attrRange(spec *lang.Spec, c *lang.Component, block, attr string) *hcl.Range {
	names := make([]string, 0, len(spec.Sources))
	for n := range spec.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := spec.Sources[n]
		if f == nil {
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		for _, b := range body.Blocks {
			if b.Type != "component" || len(b.Labels) == 0 || b.Labels[0] != c.Name {
				continue
			}
			for _, inner := range b.Body.Blocks {
				if inner.Type != block {
					continue
				}
				if a, ok := inner.Body.Attributes[attr]; ok {
					r := a.Expr.Range()
					return &r
				}
			}
		}
	}
	if c.DeclRange.Filename == "" {
		return nil
	}
	r := c.DeclRange
	return &r
}
