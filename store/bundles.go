package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Spec bundles (docs/store.md, "Spec bundles"): the files of a plan's spec
// (exactly those its spec_digest covers), kept by the store under the spec
// digest so that a worker without a checkout can run the plan. Files are
// content-addressed: a file's content is kept once, whatever specs hold
// it. Package exec makes bundles from specs and unpacks them.

// Bounds of a bundle: its files' total size and their number.
const (
	MaxBundleBytes = 64 << 20
	MaxBundleFiles = 20000
)

// BundleFile is one file of a bundle.
type BundleFile struct {
	// Path is a slash path below the bundle's root (see CheckBundlePath).
	Path string `json:"path"`
	// Digest is "sha256:" and the hex SHA-256 of its content.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Mode is 0o644, or 0o755 for an executable (a command's program).
	Mode uint32 `json:"mode"`
}

// Bundle is a spec bundle's manifest.
type Bundle struct {
	SpecDigest string `json:"spec_digest"`
	// Spec is the spec below the bundle's root: its directory, or its one
	// file. Files outside the spec's directory that it names (../modules)
	// are below the root too: the root is as many directories above the
	// spec's as the spec climbs.
	Spec  string       `json:"spec"`
	Files []BundleFile `json:"files"` // sorted by Path
}

// Bundles keeps spec bundles: PostgreSQL does; a state directory does not
// (ErrNoBundles).
type Bundles interface {
	// PutBundle keeps b under its spec digest, with the content of each of
	// its files the store does not hold yet (read gives it; it must have
	// the file's digest), and says how many files it stored. A bundle
	// kept already stores nothing.
	PutBundle(ctx context.Context, b *Bundle, read func(BundleFile) ([]byte, error)) (int, error)
	// Bundle is the manifest kept under a spec digest, checked
	// (fs.ErrNotExist: none).
	Bundle(ctx context.Context, specDigest string) (*Bundle, error)
	// BundleFile is a file's content by its digest, checked against it
	// (fs.ErrNotExist: none).
	BundleFile(ctx context.Context, digest string) ([]byte, error)
}

// ErrNoBundles: the state directory keeps no spec bundles.
var ErrNoBundles = fmt.Errorf("a state directory keeps no spec bundles (a postgres:// store does): %w", errors.ErrUnsupported)

// CheckBundlePath says whether p is a path a bundle may hold: relative,
// slash-separated, with no empty, "." or ".." part, no backslash or NUL,
// at most 4096 bytes.
func CheckBundlePath(p string) error {
	switch {
	case p == "":
		return errors.New("an empty path")
	case len(p) > 4096:
		return fmt.Errorf("a path of %d bytes", len(p))
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q is absolute", p)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("%q holds a backslash or NUL", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("%q is not a plain relative path (an empty, . or .. part)", p)
		}
	}
	return nil
}

// Check says whether b is a bundle safe to unpack: every path plain and
// relative (CheckBundlePath), sorted, each once and none below another
// file; modes 0o644 or 0o755; digests sha256; within MaxBundleBytes and
// MaxBundleFiles.
func (b *Bundle) Check() error {
	if !validDigest(b.SpecDigest) {
		return fmt.Errorf("bundle: spec digest %q is not sha256:<hex>", b.SpecDigest)
	}
	if err := CheckBundlePath(b.Spec); err != nil {
		return fmt.Errorf("bundle %s: spec: %w", b.SpecDigest, err)
	}
	if len(b.Files) > MaxBundleFiles {
		return fmt.Errorf("bundle %s: %d files, more than %d", b.SpecDigest, len(b.Files), MaxBundleFiles)
	}
	var total int64
	for i, f := range b.Files {
		if err := CheckBundlePath(f.Path); err != nil {
			return fmt.Errorf("bundle %s: %w", b.SpecDigest, err)
		}
		if i > 0 {
			prev := b.Files[i-1].Path
			if prev >= f.Path {
				return fmt.Errorf("bundle %s: paths not sorted, or twice: %q, %q", b.SpecDigest, prev, f.Path)
			}
		}
		if !validDigest(f.Digest) {
			return fmt.Errorf("bundle %s: %s: digest %q is not sha256:<hex>", b.SpecDigest, f.Path, f.Digest)
		}
		if f.Mode != 0o644 && f.Mode != 0o755 {
			return fmt.Errorf("bundle %s: %s: mode %o (only 644 and 755)", b.SpecDigest, f.Path, f.Mode)
		}
		if f.Size < 0 || f.Size > MaxBundleBytes {
			return fmt.Errorf("bundle %s: %s: size %d", b.SpecDigest, f.Path, f.Size)
		}
		if total += f.Size; total > MaxBundleBytes {
			return fmt.Errorf("bundle %s: more than %d MiB", b.SpecDigest, MaxBundleBytes>>20)
		}
	}
	// A file below another file ("a" and "a/b"): sorted, "a/b" need not
	// follow "a" at once ("a-x" sorts between), so look each parent up.
	paths := make(map[string]bool, len(b.Files))
	for _, f := range b.Files {
		paths[f.Path] = true
	}
	for _, f := range b.Files {
		for d := f.Path; ; {
			i := strings.LastIndexByte(d, '/')
			if i < 0 {
				break
			}
			d = d[:i]
			if paths[d] {
				return fmt.Errorf("bundle %s: %q is a file and a directory", b.SpecDigest, d)
			}
		}
	}
	return nil
}

func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// ContentDigest is the digest a bundle gives a file's content.
func ContentDigest(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

// PutBundle implements Bundles: ErrNoBundles.
func (d *Dir) PutBundle(context.Context, *Bundle, func(BundleFile) ([]byte, error)) (int, error) {
	return 0, ErrNoBundles
}

// Bundle implements Bundles: ErrNoBundles.
func (d *Dir) Bundle(context.Context, string) (*Bundle, error) { return nil, ErrNoBundles }

// BundleFile implements Bundles: ErrNoBundles.
func (d *Dir) BundleFile(context.Context, string) ([]byte, error) { return nil, ErrNoBundles }

// PutBundle implements Bundles: the files the store lacks, each checked
// against its digest, then the manifest (never a manifest without its
// files).
func (p *Postgres) PutBundle(ctx context.Context, b *Bundle, read func(BundleFile) ([]byte, error)) (int, error) {
	if err := b.Check(); err != nil {
		return 0, err
	}
	var kept bool
	if err := p.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bundles WHERE spec_digest = $1)", b.SpecDigest).Scan(&kept); err != nil {
		return 0, fmt.Errorf("store %s: %w", p.where, err)
	}
	if kept {
		return 0, nil
	}
	digests := make([]string, 0, len(b.Files))
	for _, f := range b.Files {
		digests = append(digests, f.Digest)
	}
	rows, err := p.pool.Query(ctx, "SELECT digest FROM bundle_files WHERE digest = ANY ($1)", digests)
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", p.where, err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", p.where, err)
	}
	held := make(map[string]bool, len(have))
	for _, d := range have {
		held[d] = true
	}
	stored := 0
	for _, f := range b.Files {
		if held[f.Digest] {
			continue
		}
		data, err := read(f)
		if err != nil {
			return stored, err
		}
		if int64(len(data)) != f.Size || ContentDigest(data) != f.Digest {
			return stored, fmt.Errorf("bundle: %s changed since its digest was taken", f.Path)
		}
		if _, err := p.pool.Exec(ctx, "INSERT INTO bundle_files (digest, size, data) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
			f.Digest, f.Size, data); err != nil {
			return stored, fmt.Errorf("store %s: %w", p.where, err)
		}
		held[f.Digest] = true
		stored++
	}
	m, err := json.Marshal(b)
	if err != nil {
		return stored, err
	}
	if _, err := p.pool.Exec(ctx, "INSERT INTO bundles (spec_digest, manifest) VALUES ($1, $2) ON CONFLICT (spec_digest) DO NOTHING",
		b.SpecDigest, m); err != nil {
		return stored, fmt.Errorf("store %s: %w", p.where, err)
	}
	return stored, nil
}

// Bundle implements Bundles.
func (p *Postgres) Bundle(ctx context.Context, specDigest string) (*Bundle, error) {
	var m []byte
	err := p.pool.QueryRow(ctx, "SELECT manifest FROM bundles WHERE spec_digest = $1", specDigest).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store %s: no spec bundle of %s: %w", p.where, specDigest, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	var b Bundle
	if err := json.Unmarshal(m, &b); err != nil {
		return nil, fmt.Errorf("store %s: the spec bundle of %s: %w", p.where, specDigest, err)
	}
	if b.SpecDigest != specDigest {
		return nil, fmt.Errorf("store %s: the spec bundle kept under %s says it is %s", p.where, specDigest, b.SpecDigest)
	}
	if err := b.Check(); err != nil {
		return nil, fmt.Errorf("store %s: refused: %w", p.where, err)
	}
	return &b, nil
}

// BundleFile implements Bundles.
func (p *Postgres) BundleFile(ctx context.Context, digest string) ([]byte, error) {
	var data []byte
	err := p.pool.QueryRow(ctx, "SELECT data FROM bundle_files WHERE digest = $1", digest).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store %s: no bundle file %s: %w", p.where, digest, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	if ContentDigest(data) != digest {
		return nil, fmt.Errorf("store %s: bundle file %s: its content does not match its digest", p.where, digest)
	}
	return data, nil
}
