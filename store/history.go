package store

import (
	"bytes"
	"context"
	"fmt"
)

// History is a store that keeps every run's journal, not only the last:
// calibrate learns from all of a team's runs of a plan, on whichever
// runner they were made. (The state directory keeps earlier journals as
// files beside the current one; calibrate reads them there.)
type History interface {
	// Journals are the journals of the plan's runs, oldest first, each
	// one run's records as JSON lines; at most limit bytes in all (the
	// newest runs are kept when the limit cuts), and whether it cut.
	Journals(ctx context.Context, digest string, limit int) (journals [][]byte, cut bool, err error)
}

// Journals implements History: one journal per row of runs, whoever ran it.
func (p *Postgres) Journals(ctx context.Context, digest string, limit int) ([][]byte, bool, error) {
	rows, err := p.pool.Query(ctx, `SELECT j.run_id, j.rec FROM journal j
		JOIN runs r ON r.id = j.run_id WHERE r.digest = $1 ORDER BY j.run_id DESC, j.seq`, digest)
	if err != nil {
		return nil, false, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var (
		newestFirst [][]byte
		buf         bytes.Buffer
		run         int64 = -1
		total       int
		cut         bool
	)
	for rows.Next() {
		var id int64
		var rec string
		if err := rows.Scan(&id, &rec); err != nil {
			return nil, false, fmt.Errorf("store %s: %w", p.where, err)
		}
		if id != run {
			if run >= 0 {
				newestFirst = append(newestFirst, bytes.Clone(buf.Bytes()))
			}
			buf.Reset()
			run = id
		}
		if total += len(rec) + 1; total > limit {
			cut = true
			buf.Reset()
			run = -1
			break
		}
		buf.WriteString(rec)
		buf.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store %s: %w", p.where, err)
	}
	if run >= 0 && buf.Len() > 0 {
		newestFirst = append(newestFirst, bytes.Clone(buf.Bytes()))
	}
	out := make([][]byte, 0, len(newestFirst))
	for i := len(newestFirst) - 1; i >= 0; i-- {
		out = append(out, newestFirst[i])
	}
	return out, cut, nil
}
