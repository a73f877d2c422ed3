package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// A coordinator may die while a worker runs its task: the worker still
// finishes it (its claim is its own), and so may a task whose result the
// dead coordinator got but had not journaled yet. The coordinator that
// resumes the run (a new epoch) journals those results as the steps' ends
// instead of running them again (docs/store.md, "Workers").

// DoneTask is a task of a run that a worker finished, with its result.
type DoneTask struct {
	ID int64
	// Step is the task's step as dispatched (exec's StepTask): its
	// operations and their attempts.
	Step json.RawMessage
	// Result is the worker's (exec's StepOutcome).
	Result json.RawMessage
	// Worker is the host:pid of the worker that ran it, "" once its
	// session ended.
	Worker string
}

// DoneTasker is a Run whose steps workers ran (PostgreSQL): its tasks
// from earlier epochs (coordinators before this one) that are done.
type DoneTasker interface {
	DoneTasks(ctx context.Context) ([]DoneTask, error)
}

// DoneTasks implements DoneTasker, oldest first.
func (r *pgRun) DoneTasks(ctx context.Context) ([]DoneTask, error) {
	rows, err := r.p.pool.Query(ctx, `SELECT k.id, k.step, k.result, coalesce(w.host || ':' || w.pid, '')
		FROM tasks k LEFT JOIN sessions w ON w.id = k.worker_id
		WHERE k.run_id = $1 AND k.epoch < $2 AND k.state = 'done' AND k.result IS NOT NULL ORDER BY k.id`, r.id, r.epoch)
	if err != nil {
		return nil, fmt.Errorf("store %s: done tasks: %w", r.p.where, err)
	}
	defer rows.Close()
	var out []DoneTask
	for rows.Next() {
		var t DoneTask
		if err := rows.Scan(&t.ID, &t.Step, &t.Result, &t.Worker); err != nil {
			return nil, fmt.Errorf("store %s: done tasks: %w", r.p.where, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: done tasks: %w", r.p.where, err)
	}
	return out, nil
}
