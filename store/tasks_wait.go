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

// ClaimWatcher is a Dispatcher that tells its coordinator which worker
// claimed a task, when it reads the task's state (at most a poll, a
// second, after the claim).
type ClaimWatcher interface {
	// OnClaim has fn called once, from the store's watcher, with the
	// claiming worker's host:pid; stop forgets fn (the task ended).
	OnClaim(task Held, fn func(worker string)) (stop func())
}

// OnClaim implements ClaimWatcher.
func (p *Postgres) OnClaim(task Held, fn func(worker string)) func() {
	p.register(task.task) // starts the watcher; the commit registered it already
	a := &p.await
	a.mu.Lock()
	if a.claims == nil {
		a.claims = map[int64]func(string){}
	}
	a.claims[task.task] = fn
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.claims, task.task)
		a.mu.Unlock()
	}
}

// claimed calls (once) the OnClaim of a task seen claimed.
func (p *Postgres) claimed(id int64, worker string) {
	a := &p.await
	a.mu.Lock()
	fn := a.claims[id]
	delete(a.claims, id)
	a.mu.Unlock()
	if fn != nil && worker != "" {
		fn(worker)
	}
}
