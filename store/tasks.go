package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Workers (docs/store.md, "Workers"): a coordinator (apply --workers)
// dispatches each step as a task in the same commit as its lock set and
// start records (Entry.Task); workers claim tasks, run them and finish
// them; the coordinator awaits each one's end.

// Task is a step dispatched to workers.
type Task struct {
	// Step is what the worker runs, as the coordinator describes it
	// (exec's StepTask): no secrets in it.
	Step json.RawMessage
	// Labels a worker must have, every one (--label k=v).
	Labels map[string]string
}

type pgTask struct {
	Step   json.RawMessage   `json:"step"`
	Labels map[string]string `json:"labels,omitempty"`
}

// TaskEnd is how a task ended.
type TaskEnd struct {
	// Result is the worker's (exec's StepOutcome) when it finished.
	Result json.RawMessage
	// Worker is the host:pid of the worker that claimed it, if any.
	Worker string
	// Lost: its worker's lease ran out before it finished (killed, paused,
	// cut off); the worker's late result, if any, is refused.
	Lost bool
	// Cancelled: Await's ctx ended first; the task was cancelled.
	Cancelled bool
}

// Dispatcher is a store that workers serve (PostgreSQL).
type Dispatcher interface {
	// Await waits for a task (the Held of its Entry) to end. When ctx
	// ends first the task is cancelled: a worker running it kills it.
	Await(ctx context.Context, task Held) (TaskEnd, error)
}

// Claimed is a task a worker claimed: Claim is its fencing token.
type Claimed struct {
	ID     int64
	Digest string
	Step   json.RawMessage
	Claim  int64
}

// awaiter is the coordinator's side: one LISTEN connection, the tasks
// waited for, and a poll of all of them at each notification or every
// poll interval (a missed notification, a lost worker).
type awaiter struct {
	mu      sync.Mutex
	waiting map[int64]chan TaskEnd
	claims  map[int64]func(worker string) // OnClaim's, called once
	once    sync.Once
}

// Await implements Dispatcher.
func (p *Postgres) Await(ctx context.Context, task Held) (TaskEnd, error) {
	if task.task == 0 {
		return TaskEnd{}, errors.New("store: await of no task")
	}
	ch := p.register(task.task)
	a := &p.await
	defer func() {
		a.mu.Lock()
		delete(a.waiting, task.task)
		a.mu.Unlock()
	}()
	select {
	case end := <-ch:
		return end, nil
	case <-p.lost:
		return TaskEnd{}, p.fenced("await")
	case <-ctx.Done():
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A ready task is withdrawn (its lock set let go); a claimed one
		// is killed by its worker, which then lets its set go.
		_, err := p.pool.Exec(cctx, `WITH c AS (
			UPDATE tasks SET state = 'cancelled' WHERE id = $1 AND state IN ('ready', 'claimed')
			RETURNING holder_id, worker_id)
			DELETE FROM holders h USING c WHERE h.id = c.holder_id AND c.worker_id IS NULL AND h.session_id = $2`,
			task.task, p.session)
		if err != nil {
			return TaskEnd{}, fmt.Errorf("store %s: cancel task: %w", p.where, err)
		}
		_, _ = p.pool.Exec(cctx, "SELECT pg_notify('echelon_cancel', $1)", fmt.Sprint(task.task))
		return TaskEnd{Cancelled: true}, nil
	}
}

// register makes (once) the channel a task's end is handed to: the
// commit that dispatches it registers it at once, so a result notified
// before Await is called is kept. The first registration starts the
// watcher.
func (p *Postgres) register(id int64) chan TaskEnd {
	a := &p.await
	a.once.Do(func() {
		a.waiting = map[int64]chan TaskEnd{}
		p.wg.Add(1)
		go p.watchTasks()
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := a.waiting[id]
	if ch == nil {
		ch = make(chan TaskEnd, 1)
		a.waiting[id] = ch
	}
	return ch
}

// watchTasks LISTENs for finished tasks and polls the waited ones.
func (p *Postgres) watchTasks() {
	defer p.wg.Done()
	poll := min(p.lease/3, time.Second)
	conn, err := p.listen("echelon_done")
	if err != nil {
		conn = nil // poll only
	}
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for p.ctx.Err() == nil {
		p.checkTasks()
		if conn == nil {
			select {
			case <-p.ctx.Done():
			case <-time.After(poll):
			}
			conn, _ = p.listen("echelon_done")
			continue
		}
		ctx, cancel := context.WithTimeout(p.ctx, poll)
		// Results that rode in their notifications are handed out at
		// once; the others (and lost workers) at the next check.
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() == nil && p.ctx.Err() == nil {
					conn.Close(context.Background())
					conn, _ = p.listen("echelon_done")
				}
				break
			}
			if !p.deliverNote(n.Payload) {
				break
			}
		}
		cancel()
	}
}

// deliverNote hands out a result carried by a notification; false when
// the notification carries none (read the tasks' states).
func (p *Postgres) deliverNote(payload string) bool {
	var note struct {
		ID     int64           `json:"id"`
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal([]byte(payload), &note) != nil || note.ID == 0 || note.Result == nil {
		return false
	}
	p.hand(note.ID, TaskEnd{Result: note.Result})
	return true
}

// hand gives a waiter its task's end.
func (p *Postgres) hand(id int64, end TaskEnd) {
	a := &p.await
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch := a.waiting[id]; ch != nil {
		select {
		case ch <- end:
		default:
		}
	}
}

// listen opens a connection of its own LISTENing on channel.
func (p *Postgres) listen(channel string) (*pgx.Conn, error) {
	ctx, cancel := p.opCtx()
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// checkTasks reads the waited tasks' states and hands out the ended ones.
func (p *Postgres) checkTasks() {
	a := &p.await
	a.mu.Lock()
	ids := make([]int64, 0, len(a.waiting))
	for id := range a.waiting {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := p.opCtx()
	defer cancel()
	rows, err := p.pool.Query(ctx, "SELECT id, state, result, worker FROM echelon_task_state($1)", ids)
	if err != nil {
		return // tried again at the next poll
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var state, worker string
		var result []byte
		if rows.Scan(&id, &state, &result, &worker) != nil {
			return
		}
		var end TaskEnd
		switch state {
		case "done":
			end = TaskEnd{Result: result, Worker: worker}
		case "lost":
			end = TaskEnd{Lost: true, Worker: worker}
		case "claimed":
			p.claimed(id, worker)
			continue
		default:
			continue
		}
		p.hand(id, end)
	}
}

// RegisterWorker marks this session a worker with labels and slots (for
// `echelon runs`, and the labels tasks are matched against).
func (p *Postgres) RegisterWorker(ctx context.Context, labels map[string]string, slots int) error {
	if labels == nil {
		labels = map[string]string{}
	}
	_, err := p.pool.Exec(ctx, "UPDATE sessions SET labels = $2, slots = $3 WHERE id = $1", p.session, labels, slots)
	if err != nil {
		return fmt.Errorf("store %s: %w", p.where, err)
	}
	return nil
}

// Claim claims up to want ready tasks whose labels are among labels
// (echelon_claim). ErrFenced: this worker's lease is gone.
func (p *Postgres) Claim(ctx context.Context, want int, labels map[string]string) ([]Claimed, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	rows, err := p.pool.Query(ctx, "SELECT id, digest, step, claim FROM echelon_claim($1, $2, $3)", p.session, want, labels)
	if err != nil {
		return nil, fmt.Errorf("store %s: claim: %w", p.where, err)
	}
	defer rows.Close()
	var out []Claimed
	for rows.Next() {
		var c Claimed
		var id, claim *int64
		var digest *string
		if err := rows.Scan(&id, &digest, &c.Step, &claim); err != nil {
			return nil, fmt.Errorf("store %s: claim: %w", p.where, err)
		}
		if id == nil {
			return nil, p.fenced("claim")
		}
		c.ID, c.Digest, c.Claim = *id, *digest, *claim
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: claim: %w", p.where, err)
	}
	return out, nil
}

// Finish records a claimed task's result and lets its lock set go
// (echelon_finish). ErrFenced: refused, the task was given up as lost (or
// this worker's lease is gone); nothing was recorded.
func (p *Postgres) Finish(ctx context.Context, c Claimed, result json.RawMessage) error {
	var n int
	err := p.pool.QueryRow(ctx, "SELECT echelon_finish($1, $2, $3, $4)", p.session, c.ID, c.Claim, result).Scan(&n)
	if err != nil {
		return fmt.Errorf("store %s: finish task %d: %w", p.where, c.ID, err)
	}
	switch n {
	case 0:
		return fmt.Errorf("store %s: the result of task %d %w", p.where, c.ID, ErrFenced)
	case -1:
		return p.fenced(fmt.Sprintf("the result of task %d", c.ID))
	}
	return nil
}

// CancelledTasks are this worker's claimed tasks that their coordinator
// cancelled: the worker kills them.
func (p *Postgres) CancelledTasks(ctx context.Context) ([]int64, error) {
	rows, err := p.pool.Query(ctx, "SELECT id FROM tasks WHERE worker_id = $1 AND state = 'cancelled'", p.session)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// Listen opens a connection of its own LISTENing on the workers'
// channels (new tasks, cancellations); Wake waits on it.
func (p *Postgres) Listen() (*pgx.Conn, error) {
	conn, err := p.listen("echelon_tasks")
	if err != nil {
		return nil, fmt.Errorf("store %s: listen: %w", p.where, err)
	}
	if _, err := conn.Exec(p.ctx, "LISTEN echelon_cancel"); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("store %s: listen: %w", p.where, err)
	}
	return conn, nil
}
