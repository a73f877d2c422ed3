package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WaitWatcher is a Dispatcher that can say why a task waits unclaimed:
// its coordinator asks once a task has waited WaitNotice, and tells the
// user which labels it waits for and which workers there are.
type WaitWatcher interface {
	// Unclaimed reads whether the task is still ready (no worker claimed
	// it) and the workers that could claim it.
	Unclaimed(ctx context.Context, task Held) (Workers, bool, error)
	// WaitNotice is how long a task waits unclaimed before its
	// coordinator says so: a third of the lease (10s by default).
	WaitNotice() time.Duration
}

// Workers are the live workers of a store (sessions with slots whose
// lease holds) as a task sees them.
type Workers struct {
	Live  int // live workers
	Match int // of them, those with every label the task wants
	Free  int // of those, with a slot free (fewer tasks claimed than --slots)
}

// WaitNotice implements WaitWatcher.
func (p *Postgres) WaitNotice() time.Duration { return p.lease / 3 }

// Unclaimed implements WaitWatcher.
func (p *Postgres) Unclaimed(ctx context.Context, task Held) (Workers, bool, error) {
	if task.task == 0 {
		return Workers{}, false, errors.New("store: no task")
	}
	var w Workers
	var ready bool
	err := p.pool.QueryRow(ctx, `SELECT k.state = 'ready', count(s.id),
		count(s.id) FILTER (WHERE s.labels @> k.labels),
		count(s.id) FILTER (WHERE s.labels @> k.labels AND s.slots > (SELECT count(*) FROM tasks t
			WHERE t.worker_id = s.id AND t.state IN ('claimed', 'cancelled')))
		FROM tasks k LEFT JOIN sessions s ON s.slots IS NOT NULL AND s.lease_until > now()
		WHERE k.id = $1 GROUP BY k.id, k.state`, task.task).Scan(&ready, &w.Live, &w.Match, &w.Free)
	if errors.Is(err, pgx.ErrNoRows) {
		return Workers{}, false, nil
	}
	if err != nil {
		return Workers{}, false, fmt.Errorf("store %s: %w", p.where, err)
	}
	return w, ready, nil
}
