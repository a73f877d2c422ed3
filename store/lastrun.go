package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LastRunner is a store that reads one plan's last run (as Runs lists
// it) without reading every plan's: apply says so when the run it is
// about to start over never finished.
type LastRunner interface {
	// LastRun is the plan's newest run; false when it has none.
	LastRun(ctx context.Context, digest string) (RunInfo, bool, error)
}

// LastRun implements LastRunner: the run directory's journal and flock.
func (d *Dir) LastRun(_ context.Context, digest string) (RunInfo, bool, error) {
	ri, ok := dirRunInfo(d.runDir(digest))
	if !ok || ri.Digest != digest {
		return RunInfo{}, false, nil
	}
	return ri, true, nil
}

// LastRun implements LastRunner.
func (p *Postgres) LastRun(ctx context.Context, digest string) (RunInfo, bool, error) {
	ri := RunInfo{Digest: digest}
	var ended, until *time.Time
	var pid int32
	var live bool
	err := p.pool.QueryRow(ctx, `SELECT r.id, r.started, r.ended, coalesce(r.outcome, ''), r.host, r.pid,
		coalesce(s.lease_until > now(), false), s.lease_until FROM runs r LEFT JOIN sessions s ON s.id = r.session_id
		WHERE r.digest = $1 ORDER BY r.id DESC LIMIT 1`, digest).Scan(&ri.ID, &ri.Started, &ended, &ri.Outcome, &ri.Host, &pid, &live, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return RunInfo{}, false, nil
	}
	if err != nil {
		return RunInfo{}, false, fmt.Errorf("store %s: %w", p.where, err)
	}
	ri.PID = int(pid)
	switch {
	case live:
		ri.State, ri.LeaseUntil = RunLive, *until
	case ended != nil:
		ri.State, ri.Ended = RunFinished, *ended
	default:
		ri.State = RunStale
	}
	return ri, true, nil
}
