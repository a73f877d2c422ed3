package exec

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/echelonhq/echelon/store"
)

// previewStore is the store a preview runs against: its journal and logs
// in the preview directory, no lock table (a preview changes nothing, and
// terraform's own state lock keeps a plan from reading a state halfway
// through an apply's write), nothing to resume.
type previewStore struct{ dir string }

func (p previewStore) OpenRun(_ context.Context, _ string, _ bool) (store.Run, error) {
	if err := os.MkdirAll(filepath.Join(p.dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(p.dir, "journal.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	return &previewRun{dir: p.dir, f: f}, nil
}

func (p previewStore) Journal(context.Context, string) (io.ReadCloser, error) {
	return nil, fs.ErrNotExist
}
func (p previewStore) PutPlan(context.Context, string, []byte) error   { return nil }
func (p previewStore) Plan(context.Context, string) ([]byte, error)    { return nil, fs.ErrNotExist }
func (p previewStore) Holders(context.Context) ([]store.Holder, error) { return nil, nil }
func (p previewStore) Runs(context.Context) ([]store.RunInfo, error)   { return nil, nil }
func (p previewStore) Unlock(context.Context, string) (int, error)     { return 0, nil }
func (p previewStore) Lost() <-chan struct{}                           { return nil }
func (p previewStore) Where() string                                   { return p.dir }
func (p previewStore) Close() error                                    { return nil }
func (p previewStore) AddGroup(string, int) error                      { return nil }
func (p previewStore) Log(context.Context, string, string, int, string) (*store.Log, error) {
	return nil, fs.ErrNotExist
}
func (p previewStore) PutBundle(context.Context, *store.Bundle, func(store.BundleFile) ([]byte, error)) (int, error) {
	return 0, store.ErrNoBundles
}
func (p previewStore) Bundle(context.Context, string) (*store.Bundle, error) {
	return nil, store.ErrNoBundles
}
func (p previewStore) BundleFile(context.Context, string) ([]byte, error) {
	return nil, store.ErrNoBundles
}
func (p previewStore) Acquire(context.Context, string, []string, []string) (func() error, error) {
	return func() error { return nil }, nil
}
func (p previewStore) TryAcquire(string, []string, []string) (func() error, bool, error) {
	return func() error { return nil }, true, nil
}

// previewRun is a preview's journal: written, not fsynced (a preview is
// not resumed; it is made again).
type previewRun struct {
	dir string
	f   *os.File
}

func (r *previewRun) Dir() string     { return r.dir }
func (r *previewRun) Journal() string { return r.f.Name() }
func (r *previewRun) Append(_ context.Context, lines []byte) error {
	_, err := r.f.Write(lines)
	return err
}
func (r *previewRun) Close() error { return r.f.Close() }

// PutLog implements store.Run: a preview's logs stay in its directory.
func (r *previewRun) PutLog(context.Context, string, int, string) error { return nil }

// Commit implements store.Run: every lock set is free (previewStore).
func (r *previewRun) Commit(ctx context.Context, entries []store.Entry) ([]store.Held, error) {
	return store.CommitLocal(ctx, previewStore{}, r.Append, entries)
}
