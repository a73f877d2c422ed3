package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/store/pgtest"
)

func testBundle(specDigest string, files map[string]string) (*Bundle, map[string][]byte) {
	b := &Bundle{SpecDigest: specDigest, Spec: "team/spec"}
	content := map[string][]byte{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		data := []byte(files[p])
		mode := uint32(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		b.Files = append(b.Files, BundleFile{Path: p, Digest: ContentDigest(data), Size: int64(len(data)), Mode: mode})
		content[p] = data
	}
	return b, content
}

var (
	specA = "sha256:" + strings.Repeat("a", 64)
	specB = "sha256:" + strings.Repeat("b", 64)
)

// TestStoreBundles: a bundle's files are kept once by content: a second
// put of the same spec, and a put of another spec with the same files,
// read and store nothing; the manifest and files read back from another
// process, checked. A state directory keeps none.
func TestStoreBundles(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		files := map[string]string{
			"team/spec/main.hcl":       "deployment \"x\" {}\n",
			"team/spec/scripts/run.sh": "#!/bin/sh\necho hi\n",
			"team/modules/vpc/main.tf": "deployment \"x\" {}\n", // the same content as main.hcl
		}
		bun, content := testBundle(specA, files)
		reads := 0
		read := func(f BundleFile) ([]byte, error) {
			reads++
			return content[f.Path], nil
		}
		n, err := a.PutBundle(ctx, bun, read)
		if _, ok := a.(*Dir); ok {
			if !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("a state directory's PutBundle: %v, want ErrUnsupported", err)
			}
			if _, err := a.Bundle(ctx, specA); !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("a state directory's Bundle: %v, want ErrUnsupported", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 || reads != 2 {
			t.Errorf("first put: %d files stored, %d read; want 2 (two contents), 2", n, reads)
		}
		reads = 0
		if n, err := b.PutBundle(ctx, bun, read); err != nil || n != 0 || reads != 0 {
			t.Errorf("second put of the same spec: %d stored, %d read, %v; want nothing", n, reads, err)
		}
		other, _ := testBundle(specB, files)
		if n, err := b.PutBundle(ctx, other, read); err != nil || n != 0 || reads != 0 {
			t.Errorf("another spec with the same files: %d stored, %d read, %v; want nothing", n, reads, err)
		}
		got, err := b.Bundle(ctx, specA)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, bun) {
			t.Errorf("manifest reads back\n%+v\nwant\n%+v", got, bun)
		}
		for _, f := range got.Files {
			data, err := b.BundleFile(ctx, f.Digest)
			if err != nil || string(data) != files[f.Path] {
				t.Errorf("%s: %q %v", f.Path, data, err)
			}
		}
		if _, err := b.Bundle(ctx, "sha256:"+strings.Repeat("c", 64)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a bundle never put: %v", err)
		}
		if _, err := b.BundleFile(ctx, ContentDigest([]byte("nothing"))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a file never put: %v", err)
		}
		// Content that does not match its digest is refused, and no
		// manifest is kept without its files.
		changed, _ := testBundle("sha256:"+strings.Repeat("d", 64), map[string]string{"team/spec/new.hcl": "one"})
		_, err = a.PutBundle(ctx, changed, func(BundleFile) ([]byte, error) { return []byte("two"), nil })
		if err == nil || !strings.Contains(err.Error(), "changed") {
			t.Errorf("content not matching its digest: %v", err)
		}
		if _, err := b.Bundle(ctx, changed.SpecDigest); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a manifest was kept without its files: %v", err)
		}
	})
}

// TestBundleCheck: what a bundle may not hold.
func TestBundleCheck(t *testing.T) {
	ok := func() *Bundle {
		b, _ := testBundle(specA, map[string]string{"s/a.hcl": "a", "s/b/c.sh": "c"})
		return b
	}
	if err := ok().Check(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Bundle){
		"dot-dot":          func(b *Bundle) { b.Files[0].Path = "../a.hcl" },
		"inner dot-dot":    func(b *Bundle) { b.Files[0].Path = "s/../../a.hcl" },
		"absolute":         func(b *Bundle) { b.Files[0].Path = "/etc/passwd" },
		"dot":              func(b *Bundle) { b.Files[0].Path = "s/./a.hcl" },
		"empty part":       func(b *Bundle) { b.Files[0].Path = "s//a.hcl" },
		"backslash":        func(b *Bundle) { b.Files[0].Path = `s\..\a.hcl` },
		"twice":            func(b *Bundle) { b.Files[1].Path = b.Files[0].Path },
		"unsorted":         func(b *Bundle) { b.Files[0], b.Files[1] = b.Files[1], b.Files[0] },
		"file and dir":     func(b *Bundle) { b.Files[0].Path = "s/b" },
		"setuid":           func(b *Bundle) { b.Files[0].Mode = 0o4755 },
		"bad digest":       func(b *Bundle) { b.Files[0].Digest = "md5:00" },
		"too big":          func(b *Bundle) { b.Files[0].Size = MaxBundleBytes; b.Files[1].Size = 1 },
		"spec dot-dot":     func(b *Bundle) { b.Spec = ".." },
		"spec digest":      func(b *Bundle) { b.SpecDigest = "x" },
		"negative size":    func(b *Bundle) { b.Files[1].Size = -1 },
		"too many files":   func(b *Bundle) { b.Files = make([]BundleFile, MaxBundleFiles+1) },
		"NUL in path":      func(b *Bundle) { b.Files[0].Path = "s/a\x00.hcl" },
		"trailing slash":   func(b *Bundle) { b.Files[0].Path = "s/a/" },
		"absolute in spec": func(b *Bundle) { b.Spec = "/s" },
	} {
		b := ok()
		mod(b)
		if err := b.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPostgresBundleUnsafeManifest: a manifest written into the database
// by anyone (not PutBundle) with a path that climbs out is refused when
// read.
func TestPostgresBundleUnsafeManifest(t *testing.T) {
	ctx := context.Background()
	p := openPG(t, pgtest.URL(t))
	for i, path := range []string{"../../.bashrc", "/etc/cron.d/x", "s/../../x"} {
		digest := fmt.Sprintf("sha256:%064d", i)
		m := fmt.Sprintf(`{"spec_digest": %q, "spec": "s", "files": [{"path": %q, "digest": %q, "size": 1, "mode": 420}]}`,
			digest, path, ContentDigest([]byte("x")))
		if _, err := p.pool.Exec(ctx, "INSERT INTO bundles (spec_digest, manifest) VALUES ($1, $2)", digest, m); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Bundle(ctx, digest); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want refused", path, err)
		}
	}
}
