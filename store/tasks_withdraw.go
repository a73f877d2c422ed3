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
	tag, err := p.pool.Exec(ctx, `WITH c AS (
		UPDATE tasks SET state = 'cancelled' WHERE id = $1 AND state = 'ready' AND coord_id = $2
		RETURNING holder_id)
		DELETE FROM holders h USING c WHERE h.id = c.holder_id AND h.session_id = $2`, task.task, p.session)
	if err != nil {
		return false, fmt.Errorf("store %s: withdraw task: %w", p.where, err)
	}
	var withdrawn bool
	if tag.RowsAffected() == 0 {
		// The holder may already be gone; ask whether the task was ours to withdraw.
		if err := p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND state = 'cancelled' AND worker_id IS NULL)`,
			task.task).Scan(&withdrawn); err != nil {
			return false, fmt.Errorf("store %s: withdraw task: %w", p.where, err)
		}
	} else {
		withdrawn = true
	}
	if withdrawn {
		select {
		case p.register(task.task) <- TaskEnd{Cancelled: true}:
		default: // an end is already waiting for Await
		}
	}
	return withdrawn, nil
}
