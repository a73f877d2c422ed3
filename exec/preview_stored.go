package exec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// Previews in a store (docs/store.md, "Previews in the store"): `echelon
// plan --store` keeps the preview's summary in the database, so an apply
// on any runner predicts with its counted changes. The saved plans hold
// every variable in clear: they stay in the state directory that made
// them, and only the runner with them applies them; others plan afresh.

// PreviewStore is a store that keeps previews' summaries (store.Postgres).
type PreviewStore interface {
	PutPreview(ctx context.Context, sp store.StoredPreview) error
	Preview(ctx context.Context, digest string) (store.StoredPreview, error)
	DeletePreview(ctx context.Context, digest string, created time.Time) error
}

// SharedPreview is a preview as a store has it: its summary, and where
// its saved plans are.
type SharedPreview struct {
	// Preview is the summary: preview.json less the variables' digests
	// (its Dir is "": the saved plans are Host's).
	Preview *Preview
	Host    string
	Dir     string // the preview's directory on Host
	Created time.Time
}

// StorePreview keeps pv's summary in st under its plan digest: counted
// changes per operation and in total, the saved plans' file and directory
// digests, this host and the preview's directory. Each saved plan's
// variables' digest is left out (it is a digest of the secrets too), and
// every text is masked (secrets). A newer preview replaces it.
func StorePreview(ctx context.Context, st PreviewStore, pv *Preview, secrets []string) error {
	red := newRedactor(secrets)
	s := *pv
	s.Operations = slices.Clone(pv.Operations)
	for i := range s.Operations {
		o := &s.Operations[i]
		o.Note = red.String(o.Note)
		o.Resources = maskChanges(red, o.Resources)
	}
	s.SavedPlans = slices.Clone(pv.SavedPlans)
	for i := range s.SavedPlans {
		sp := &s.SavedPlans[i]
		sp.VarsDigest = ""
		sp.Shared = maskChanges(red, sp.Shared)
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	host, _ := os.Hostname()
	dir, err := filepath.Abs(pv.Dir)
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	return st.PutPreview(ctx, store.StoredPreview{Digest: pv.PlanDigest, Host: host, Dir: dir, Created: pv.Created, Summary: b})
}

func maskChanges(red *redactor, cs []ResourceChange) []ResourceChange {
	if red == nil || cs == nil {
		return cs
	}
	out := make([]ResourceChange, len(cs))
	for i, c := range cs {
		out[i] = ResourceChange{Address: red.String(c.Address), Action: c.Action}
	}
	return out
}

// ReadSharedPreview reads the plan's preview summary from st (nil, nil:
// there is none).
func ReadSharedPreview(ctx context.Context, st PreviewStore, p *planner.Plan) (*SharedPreview, error) {
	sp, err := st.Preview(ctx, p.PlanDigest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pv Preview
	if err := json.Unmarshal(sp.Summary, &pv); err != nil {
		return nil, fmt.Errorf("the store's preview of %s: %w", p.PlanDigest, err)
	}
	return &SharedPreview{Preview: &pv, Host: sp.Host, Dir: sp.Dir, Created: sp.Created}, nil
}

// Describes reports whether local (this state directory's preview) is the
// preview the summary was made of: made at the same time, of the same
// saved plan files.
func (s *SharedPreview) Describes(local *Preview) bool {
	if local == nil || !local.Created.Equal(s.Created) || len(local.SavedPlans) != len(s.Preview.SavedPlans) {
		return false
	}
	for i, sp := range local.SavedPlans {
		if sp.File != s.Preview.SavedPlans[i].File || sp.FileDigest != s.Preview.SavedPlans[i].FileDigest {
			return false
		}
	}
	return true
}

// Where names where the saved plans are: HOST:DIR.
func (s *SharedPreview) Where() string { return s.Host + ":" + s.Dir }

// fileDigest is the SHA-256 of a file.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
