package exec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/store/pgtest"
)

// bundleSpecDir writes a spec in root/repo/spec whose command runs
// ./scripts/run.sh and ../shared/lib.sh (a file outside the spec's
// directory), and reads data.txt through file(); it returns the spec's
// directory.
func bundleSpecDir(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "repo", "spec")
	write := func(rel, data string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("main.hcl", `
deployment "b" {}
variable "token" {
  type      = string
  sensitive = true
}
phase "p" {}
mode "m" {}
component "run" {
  phase    = "p"
  driver   = "command"
  duration = "1s"
  command {
    argv = ["./scripts/run.sh", file("data.txt")]
    env  = { T = var.token }
  }
}
component "lib" {
  phase    = "p"
  driver   = "command"
  duration = "1s"
  command { argv = ["../shared/lib.sh"] }
}
`, 0o644)
	write("scripts/run.sh", "#!/bin/sh\necho run \"$1\"\n", 0o755)
	write("../shared/lib.sh", "#!/bin/sh\necho lib\n", 0o755)
	write("data.txt", "payload", 0o644)
	write("notes.md", "not covered by the digest\n", 0o644)
	return dir
}

func loadBundleSpec(t *testing.T, path string) (*lang.Spec, *planner.Plan) {
	t.Helper()
	spec, diags := lang.Load(path, lang.LoadOptions{Vars: []string{"token=Sekr3tVal"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := planner.Compile(spec, planner.Options{Mode: "m"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return spec, p
}

// TestSpecBundle: a bundle holds exactly the files the spec digest covers,
// rooted above the spec's directory as far as its paths climb, with the
// scripts executable; variables files among them, and a spec past the
// size bound, are refused.
func TestSpecBundle(t *testing.T) {
	root := t.TempDir()
	dir := bundleSpecDir(t, root)
	spec, p := loadBundleSpec(t, dir)
	b, local, err := SpecBundle(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.SpecDigest != p.SpecDigest || b.Spec != "repo/spec" {
		t.Errorf("bundle of %s rooted at %s; want %s, repo/spec", b.SpecDigest, b.Spec, p.SpecDigest)
	}
	var got []string
	for _, f := range b.Files {
		got = append(got, fmt.Sprintf("%s %o", f.Path, f.Mode))
		if local[f.Path] == "" {
			t.Errorf("%s: no local file", f.Path)
		}
	}
	want := []string{"repo/shared/lib.sh 755", "repo/spec/data.txt 644", "repo/spec/main.hcl 644", "repo/spec/scripts/run.sh 755"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The secret is a variable's value, in no file.
	for _, f := range b.Files {
		data, _ := os.ReadFile(local[f.Path])
		if strings.Contains(string(data), "Sekr3tVal") {
			t.Errorf("%s holds the secret", f.Path)
		}
	}
	// One of the --var-file files among the covered ones.
	var vfe *VarFileError
	if _, _, err := SpecBundle(spec, []string{filepath.Join(dir, "data.txt")}); !errors.As(err, &vfe) || vfe.File != "data.txt" {
		t.Errorf("a --var-file among the spec's files: %v", err)
	}
	// A *.tfvars the spec reads.
	if err := os.WriteFile(filepath.Join(dir, "prod.tfvars"), []byte("token = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "main.hcl")
	src, _ := os.ReadFile(main)
	if err := os.WriteFile(main, []byte(strings.Replace(string(src), `file("data.txt")`, `file("prod.tfvars")`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	spec2, _ := loadBundleSpec(t, dir)
	if _, _, err := SpecBundle(spec2, nil); !errors.As(err, &vfe) || vfe.File != "prod.tfvars" {
		t.Errorf("a .tfvars among the spec's files: %v", err)
	}
	if err := os.WriteFile(main, src, 0o644); err != nil {
		t.Fatal(err)
	}
	// Past the bound: the biggest file is named.
	big := filepath.Join(dir, "..", "shared", "lib.sh")
	if err := os.Truncate(big, store.MaxBundleBytes+1); err != nil {
		t.Fatal(err)
	}
	spec3, _ := loadBundleSpec(t, dir)
	if _, _, err := SpecBundle(spec3, nil); err == nil || !strings.Contains(err.Error(), "repo/shared/lib.sh (64.0 MiB)") {
		t.Errorf("a spec past the bound: %v", err)
	}
}

// TestBundleRoundTrip: on a real PostgreSQL, a spec's bundle is stored
// once; unpacked elsewhere it loads to the same spec digest and runs its
// script; a tampered copy in the cache is refused; a manifest that climbs
// out is refused and nothing is written.
func TestBundleRoundTrip(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	st, err := store.OpenPostgres(ctx, url, store.Options{LocalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := bundleSpecDir(t, t.TempDir())
	spec, p := loadBundleSpec(t, dir)
	n, err := PutSpecBundle(ctx, st, p, spec, nil)
	if err != nil || n != 4 {
		t.Fatalf("put: %d files, %v; want 4", n, err)
	}
	if n, err := PutSpecBundle(ctx, st, p, spec, nil); err != nil || n != 0 {
		t.Fatalf("second put: %d files, %v; want none", n, err)
	}

	state := t.TempDir()
	bdir := BundleDir(state, p.SpecDigest)
	if _, err := CachedBundle(bdir, p.SpecDigest); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a bundle never fetched: %v", err)
	}
	sp, err := FetchBundle(ctx, st, p.SpecDigest, bdir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(bdir, "files", "repo", "spec"); sp != want {
		t.Errorf("spec at %s, want %s", sp, want)
	}
	got, _ := loadBundleSpec(t, sp)
	if err := planner.CheckFresh(p, got); err != nil {
		t.Fatalf("the unpacked spec: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sp, "notes.md")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file the digest does not cover was bundled: %v", err)
	}
	out, err := osexec.Command(filepath.Join(sp, "scripts", "run.sh"), "x").Output()
	if err != nil || string(out) != "run x\n" {
		t.Errorf("the unpacked script: %q %v", out, err)
	}
	if cp, err := CachedBundle(bdir, p.SpecDigest); err != nil || cp != sp {
		t.Fatalf("cached: %s %v", cp, err)
	}

	script := filepath.Join(sp, "scripts", "run.sh")
	for name, tamper := range map[string]func(){
		"content": func() { os.WriteFile(script, []byte("#!/bin/sh\necho evil \"$1\"\n"), 0o755) },
		"mode":    func() { os.Chmod(script, 0o644) },
		"link": func() {
			os.Remove(script)
			os.Symlink(filepath.Join(dir, "scripts", "run.sh"), script)
		},
		"gone": func() { os.Remove(script) },
	} {
		tamper()
		if _, err := CachedBundle(bdir, p.SpecDigest); err == nil {
			t.Errorf("%s: a tampered cache was accepted", name)
		}
		if _, err := FetchBundle(ctx, st, p.SpecDigest, bdir); err != nil {
			t.Fatal(err)
		}
		if _, err := CachedBundle(bdir, p.SpecDigest); err != nil {
			t.Fatalf("%s: fetched again: %v", name, err)
		}
	}

	// A manifest written into the database that climbs out of the bundle.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	evil := "sha256:" + strings.Repeat("e", 64)
	m := fmt.Sprintf(`{"spec_digest": %q, "spec": "s", "files": [{"path": "../../../escaped.sh", "digest": %q, "size": 1, "mode": 493}]}`,
		evil, store.ContentDigest([]byte("x")))
	if _, err := conn.Exec(ctx, "INSERT INTO bundles (spec_digest, manifest) VALUES ($1, $2)", evil, m); err != nil {
		t.Fatal(err)
	}
	edir := BundleDir(state, evil)
	if _, err := FetchBundle(ctx, st, evil, edir); err == nil || !strings.Contains(err.Error(), "not a plain relative path") {
		t.Errorf("an unsafe manifest: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "escaped.sh")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the unsafe manifest wrote a file: %v", err)
	}
	if _, err := os.Stat(edir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the unsafe manifest left a bundle: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "bundles", ".fetch-*")); len(left) > 0 {
		t.Errorf("fetches left behind: %v", left)
	}
}
