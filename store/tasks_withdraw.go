package store

import (
	"context"
	"fmt"
)

// Withdrawer is a Dispatcher that can take back a task no worker has
// claimed yet: apply's first Ctrl-C ("nothing new starts") withdraws its
// ready tasks, while claimed ones run to their end.
type Withdrawer interface {
	// Withdraw cancels the task if it is still ready (unclaimed) and lets
	// its lock set go; its Await then returns a Cancelled end. It reports
	// whether it did: false, a worker had claimed it (or it ended).
	Withdraw(ctx context.Context, task Held) (bool, error)
}

// Withdraw implements Withdrawer.
func (p *Postgres) Withdraw(ctx context.Context, task Held) (bool, error) {
	if task.task == 0 {
		return false, nil
	}
	// One statement: the task cancelled if still ready and ours, its lock
	// set let go, and whether it was.
	var n int
	err := p.pool.QueryRow(ctx, `WITH c AS (
		UPDATE tasks SET state = 'cancelled' WHERE id = $1 AND state = 'ready' AND coord_id = $2
		RETURNING holder_id),
		d AS (DELETE FROM holders h USING c WHERE h.id = c.holder_id AND h.session_id = $2)
		SELECT count(*) FROM c`, task.task, p.session).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store %s: withdraw task: %w", p.where, err)
	}
	if n > 0 {
		p.hand(task.task, TaskEnd{Cancelled: true}) // to its Await, if it still waits
	}
	return n > 0, nil
}
