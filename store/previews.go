package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
)

// Previews in the store (docs/store.md, "Previews in the store"): `echelon
// plan PLAN --store` keeps its preview's summary (exec's preview.json less
// the variables' digest) by plan digest, so an apply on any runner predicts
// with its counted changes. The saved plans themselves hold every variable
// in clear and never go in the store: they stay in the state directory
// (Dir) of the host (Host) that made them.

// StoredPreview is a preview's summary as the store keeps it.
type StoredPreview struct {
	Digest  string          `json:"plan_digest"`
	Host    string          `json:"host"`
	Dir     string          `json:"dir"` // the preview's directory on Host
	Created time.Time       `json:"created"`
	Summary json.RawMessage `json:"summary"` // exec's Preview, no secrets, no variables' digest
}

// PutPreview keeps a preview's summary, replacing the plan's older one (a
// summary older than the one kept is dropped: a slow `echelon plan` does
// not undo a newer one).
func (p *Postgres) PutPreview(ctx context.Context, sp StoredPreview) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO previews (digest, host, dir, created, summary) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (digest) DO UPDATE SET host = excluded.host, dir = excluded.dir, created = excluded.created,
			summary = excluded.summary, stored = now()
		WHERE previews.created <= excluded.created`,
		sp.Digest, sp.Host, sp.Dir, sp.Created, []byte(sp.Summary))
	if err != nil {
		return fmt.Errorf("store %s: preview: %w", p.where, err)
	}
	return nil
}

// Preview reads the plan's preview summary (fs.ErrNotExist: none).
func (p *Postgres) Preview(ctx context.Context, digest string) (StoredPreview, error) {
	sp := StoredPreview{Digest: digest}
	var summary []byte
	err := p.pool.QueryRow(ctx, "SELECT host, dir, created, summary FROM previews WHERE digest = $1", digest).
		Scan(&sp.Host, &sp.Dir, &sp.Created, &summary)
	if errors.Is(err, pgx.ErrNoRows) {
		return sp, fmt.Errorf("store %s: no preview of %s: %w", p.where, digest, fs.ErrNotExist)
	}
	if err != nil {
		return sp, fmt.Errorf("store %s: preview: %w", p.where, err)
	}
	sp.Summary = summary
	return sp, nil
}

// DeletePreview removes the plan's preview summary if it is the one made
// at created (zero: whichever there is): an apply that used up one
// preview leaves a newer one alone.
func (p *Postgres) DeletePreview(ctx context.Context, digest string, created time.Time) error {
	var err error
	if created.IsZero() {
		_, err = p.pool.Exec(ctx, "DELETE FROM previews WHERE digest = $1", digest)
	} else {
		_, err = p.pool.Exec(ctx, "DELETE FROM previews WHERE digest = $1 AND created = $2", digest, created)
	}
	if err != nil {
		return fmt.Errorf("store %s: preview: %w", p.where, err)
	}
	return nil
}

// Previews lists the preview summaries, newest first (Summary left out).
func (p *Postgres) Previews(ctx context.Context) ([]StoredPreview, error) {
	rows, err := p.pool.Query(ctx, "SELECT digest, host, dir, created FROM previews ORDER BY created DESC, digest")
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var out []StoredPreview
	for rows.Next() {
		var sp StoredPreview
		if err := rows.Scan(&sp.Digest, &sp.Host, &sp.Dir, &sp.Created); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return out, nil
}
