package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// Spec bundles (docs/store.md, "Spec bundles"): an apply with a database
// store keeps the files of its plan's spec there under the spec digest
// (PutSpecBundle); a worker without a checkout of the spec, or with one
// that does not match, unpacks them into its state directory
// (FetchBundle, CachedBundle) and checks the spec digest there as it
// would a checkout's.

// VarFileError is a spec not bundled because one of the files its digest
// covers is a variables file: it holds values, perhaps secrets, which the
// store never keeps.
type VarFileError struct{ File string }

func (e *VarFileError) Error() string {
	return fmt.Sprintf("%s is a variables file among the spec's files (its values may be secrets, which the store never keeps)", e.File)
}

// isVarFileName: terraform's and echelon's variables files.
func isVarFileName(name string) bool {
	return strings.HasSuffix(name, ".tfvars") || strings.HasSuffix(name, ".tfvars.json")
}

// SpecBundle is the bundle of spec: exactly the files its spec digest
// covers (planner.SpecFiles), below a root as many directories above the
// spec's directory as its paths climb (../modules), so that no path in it
// climbs. Files that do not exist (the digest records them as missing) are
// not in it, nor files named by absolute paths: those are the machine's,
// and a worker's spec digest check says when its own differ. A spec whose
// files include a variables file (*.tfvars, *.tfvars.json, or one of
// varFiles, the --var-file files) is refused (*VarFileError), and so is
// one larger than store.MaxBundleBytes (naming its biggest files). local
// maps each bundle path to its file on this machine.
func SpecBundle(spec *lang.Spec, varFiles []string) (b *store.Bundle, local map[string]string, err error) {
	digest, files, err := planner.SpecFiles(spec)
	if err != nil {
		return nil, nil, err
	}
	specDir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return nil, nil, err
	}
	var keys []string
	up := 0
	for k, d := range files {
		if d == planner.MissingFile || filepath.IsAbs(filepath.FromSlash(k)) {
			continue
		}
		keys = append(keys, k)
		n := 0
		for _, part := range strings.Split(k, "/") {
			if part != ".." {
				break
			}
			n++
		}
		up = max(up, n)
	}
	sort.Strings(keys)
	root := specDir
	for range up + 1 {
		root = filepath.Dir(root)
	}
	specRel, err := filepath.Rel(root, specDir)
	if err != nil || specRel == "." {
		return nil, nil, fmt.Errorf("bundle: the spec's directory %s has no parent to root its files", specDir)
	}
	var vfs []os.FileInfo
	for _, p := range varFiles {
		if fi, err := os.Stat(p); err == nil {
			vfs = append(vfs, fi)
		}
	}
	b = &store.Bundle{SpecDigest: digest, Spec: filepath.ToSlash(specRel)}
	if fi, err := os.Stat(spec.Path); err == nil && !fi.IsDir() {
		b.Spec = path.Join(b.Spec, filepath.Base(spec.Path))
	}
	local = make(map[string]string, len(keys))
	var total int64
	for _, k := range keys {
		p := filepath.Join(specDir, filepath.FromSlash(k))
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, nil, fmt.Errorf("bundle: %s: %w", k, err)
		}
		bp := filepath.ToSlash(rel)
		if err := store.CheckBundlePath(bp); err != nil {
			return nil, nil, fmt.Errorf("bundle: %s: %w", k, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("bundle: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("bundle: %s is not a regular file", k)
		}
		if isVarFileName(fi.Name()) {
			return nil, nil, &VarFileError{File: k}
		}
		for _, v := range vfs {
			if os.SameFile(fi, v) {
				return nil, nil, &VarFileError{File: k}
			}
		}
		mode := uint32(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		b.Files = append(b.Files, store.BundleFile{Path: bp, Digest: files[k], Size: fi.Size(), Mode: mode})
		local[bp] = p
		total += fi.Size()
	}
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Path < b.Files[j].Path })
	if total > store.MaxBundleBytes {
		return nil, nil, bundleTooBig(b.Files, total)
	}
	if len(b.Files) > store.MaxBundleFiles {
		return nil, nil, fmt.Errorf("bundle: the spec covers %d files, more than the %d a bundle may hold", len(b.Files), store.MaxBundleFiles)
	}
	if err := b.Check(); err != nil {
		return nil, nil, err
	}
	return b, local, nil
}

// bundleTooBig names the biggest of files.
func bundleTooBig(files []store.BundleFile, total int64) error {
	big := append([]store.BundleFile(nil), files...)
	sort.SliceStable(big, func(i, j int) bool { return big[i].Size > big[j].Size })
	var names []string
	for _, f := range big[:min(5, len(big))] {
		names = append(names, fmt.Sprintf("%s (%s)", f.Path, mib(f.Size)))
	}
	return fmt.Errorf("bundle: the spec's files come to %s, more than the %d MiB a bundle may hold; the biggest: %s",
		mib(total), store.MaxBundleBytes>>20, strings.Join(names, ", "))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// PutSpecBundle keeps the bundle of the plan's spec in st (SpecBundle),
// once per spec digest: a spec kept already costs one query, and files
// the store holds are not read again. It says how many files it stored.
// store.ErrNoBundles: st keeps none.
func PutSpecBundle(ctx context.Context, st store.Bundles, p *planner.Plan, spec *lang.Spec, varFiles []string) (int, error) {
	if _, err := st.Bundle(ctx, p.SpecDigest); err == nil {
		return 0, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	b, local, err := SpecBundle(spec, varFiles)
	if err != nil {
		return 0, err
	}
	if b.SpecDigest != p.SpecDigest {
		return 0, fmt.Errorf("bundle: the spec changed since it was checked against the plan (spec digest %s, the plan's %s)", b.SpecDigest, p.SpecDigest)
	}
	return st.PutBundle(ctx, b, func(f store.BundleFile) ([]byte, error) {
		fh, err := os.Open(local[f.Path])
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		defer fh.Close()
		data, err := io.ReadAll(io.LimitReader(fh, f.Size+1))
		if err != nil {
			return nil, fmt.Errorf("bundle: %s: %w", local[f.Path], err)
		}
		return data, nil
	})
}

// BundleDir is where a worker unpacks the bundle of a spec digest in its
// state directory: bundles/<the digest's first 16 hex digits>/, holding
// bundle.json (the manifest) and files/ (the bundle's root).
func BundleDir(stateDir, specDigest string) string {
	return filepath.Join(stateDir, "bundles", store.RunKey(specDigest))
}

// bundleSpec is where the spec is in a bundle unpacked at dir.
func bundleSpec(dir string, b *store.Bundle) string {
	return filepath.Join(dir, "files", filepath.FromSlash(b.Spec))
}

// CachedBundle is the spec's path in the bundle unpacked at dir, when it
// is the bundle of specDigest and every file of its manifest is there as
// the manifest says (content, size, mode; a regular file, not a link).
// fs.ErrNotExist: nothing is unpacked there. The caller still checks the
// spec digest of what it loads from it, as of any checkout.
func CachedBundle(dir, specDigest string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	fi, err := root.Stat("bundle.json")
	if err != nil {
		return "", err
	}
	if fi.Size() > 16<<20 {
		return "", fmt.Errorf("bundle %s: its manifest is %s", dir, mib(fi.Size()))
	}
	m, err := root.ReadFile("bundle.json")
	if err != nil {
		return "", err
	}
	var b store.Bundle
	if err := json.Unmarshal(m, &b); err != nil {
		return "", fmt.Errorf("bundle %s: manifest: %w", dir, err)
	}
	if b.SpecDigest != specDigest {
		return "", fmt.Errorf("bundle %s is of spec digest %s, not %s", dir, b.SpecDigest, specDigest)
	}
	if err := b.Check(); err != nil {
		return "", err
	}
	for _, f := range b.Files {
		if err := checkUnpacked(root, f); err != nil {
			return "", fmt.Errorf("bundle %s: %w", dir, err)
		}
	}
	return bundleSpec(dir, &b), nil
}

// checkUnpacked says whether f is in root as the manifest says.
func checkUnpacked(root *os.Root, f store.BundleFile) error {
	rel := "files/" + f.Path
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", f.Path)
	}
	if fi.Size() != f.Size || uint32(fi.Mode().Perm()) != f.Mode {
		return fmt.Errorf("%s: %d bytes, mode %o; the manifest says %d, %o", f.Path, fi.Size(), fi.Mode().Perm(), f.Size, f.Mode)
	}
	data, err := root.ReadFile(rel)
	if err != nil {
		return err
	}
	if store.ContentDigest(data) != f.Digest {
		return fmt.Errorf("%s: its content does not match the manifest", f.Path)
	}
	return nil
}

// FetchBundle unpacks the bundle of specDigest from st into dir (replacing
// what is there) and returns the spec's path in it. The manifest is
// checked first (store.Bundle.Check: no absolute path, no .., no file
// twice, bounded); files are written below a new directory only, through
// os.Root (nothing resolves outside it), as regular files of the
// manifest's modes, each checked against its digest; the directory takes
// dir's place once whole.
func FetchBundle(ctx context.Context, st store.Bundles, specDigest, dir string) (string, error) {
	b, err := st.Bundle(ctx, specDigest)
	if err != nil {
		return "", err
	}
	if b.SpecDigest != specDigest {
		return "", fmt.Errorf("bundle: the store's bundle of %s says it is %s", specDigest, b.SpecDigest)
	}
	if err := b.Check(); err != nil {
		return "", err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".fetch-")
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	defer os.RemoveAll(tmp) // gone by then when renamed
	if err := unpack(ctx, st, b, tmp); err != nil {
		return "", fmt.Errorf("bundle %s: %w", specDigest, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another worker of this state directory unpacked it meanwhile.
		if p, cerr := CachedBundle(dir, specDigest); cerr == nil {
			return p, nil
		}
		return "", fmt.Errorf("bundle: %w", err)
	}
	return bundleSpec(dir, b), nil
}

// unpack writes b's files and manifest below dir (new and empty).
func unpack(ctx context.Context, st store.Bundles, b *store.Bundle, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Mkdir("files", 0o755); err != nil {
		return err
	}
	for _, f := range b.Files {
		data, err := st.BundleFile(ctx, f.Digest)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if int64(len(data)) != f.Size || store.ContentDigest(data) != f.Digest {
			return fmt.Errorf("%s: the store's content does not match the manifest", f.Path)
		}
		rel := "files/" + f.Path
		if err := root.MkdirAll(path.Dir(rel), 0o755); err != nil {
			return err
		}
		w, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(f.Mode))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = root.Chmod(rel, fs.FileMode(f.Mode)) // whatever the umask
		}
		if err != nil {
			return err
		}
	}
	m, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return root.WriteFile("bundle.json", m, 0o644)
}
