package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Orphaned process groups on PostgreSQL (docs/store.md, "Orphaned process
// groups"). A step's tool process dies with echelon (its death signal, and
// exec's group guard), but what it started may not: when echelon is killed
// outright, those processes can outlive its lease. So each process group a
// holder's step starts is recorded (step_groups: its ID and its leader's
// start time), and a holder whose session's lease ran out is taken over
// only once its groups are known gone (echelon_take, migration 006):
//
//   - a taker on the same host (and PID namespace) kills what still runs
//     of them (KillGroup: SIGKILL to the group, only while it is still the
//     recorded group) and deletes each row once the group is gone; until
//     then the take is busy (-3);
//   - a group of another host, which the taker cannot see, holds the
//     holder for one more lease (the dead session's) after its lease
//     ended, or after a process on that host last saw it running; then
//     the holder is taken over with a warning naming the host and groups.
//
// A worker cleans up its host at start, after reopening its session, and
// every third of its lease (CleanOrphans).

// Warner is a store that has something to tell while a run goes on (a
// database store's orphaned process groups). f nil: standard error.
type Warner interface {
	SetWarn(f func(msg string))
}

// orphans is a Postgres store's part in this.
type orphans struct {
	view     string // ProcView of this process
	mu       sync.Mutex
	warnf    func(string)
	warned   map[string]bool
	inWay    atomic.Bool // a look at the groups in a take's way runs
	cleaning atomic.Bool // CleanOrphans was called: a pass every heartbeat
	pass     atomic.Bool // a pass runs
}

// SetWarn implements Warner.
func (p *Postgres) SetWarn(f func(string)) {
	p.orph.mu.Lock()
	p.orph.warnf = f
	p.orph.mu.Unlock()
}

// warn tells msg once per key ("" every time).
func (p *Postgres) warn(key, msg string) {
	p.orph.mu.Lock()
	if key != "" {
		if p.orph.warned == nil {
			p.orph.warned = map[string]bool{}
		}
		if p.orph.warned[key] {
			p.orph.mu.Unlock()
			return
		}
		p.orph.warned[key] = true
	}
	f := p.orph.warnf
	p.orph.mu.Unlock()
	if f != nil {
		f(msg)
		return
	}
	fmt.Fprintf(os.Stderr, "echelon: %s\n", msg)
}

// notice is the connections' OnNotice: echelon_take's notice of a holder
// taken over while groups of another host may still run.
func (p *Postgres) notice(n *pgconn.Notice) {
	js, ok := strings.CutPrefix(n.Message, "echelon_orphans ")
	if !ok {
		return
	}
	var h struct {
		Holder     int64     `json:"holder"`
		Owner      string    `json:"owner"`
		Host       string    `json:"host"`
		PID        int       `json:"pid"`
		LeaseUntil time.Time `json:"lease_until"`
		Groups     []int     `json:"groups"`
	}
	if json.Unmarshal([]byte(js), &h) != nil {
		return
	}
	p.warn("taken "+strconv.FormatInt(h.Holder, 10), fmt.Sprintf(
		"took over the locks of holder %d (%s): its echelon (pid %d on host %s) lost its lease at %s; its process groups %s may still run there, unseen from here (docs/store.md, \"Orphaned process groups\")",
		h.Holder, h.Owner, h.PID, h.Host, h.LeaseUntil.UTC().Format(time.RFC3339), joinInts(h.Groups)))
}

// addGroup records process group pgid for the holders ids, with its
// leader's start time (the leader has not been waited for yet).
func (p *Postgres) addGroup(ctx context.Context, ids []int64, pgid int) error {
	_, err := p.pool.Exec(ctx, `WITH h AS (
			UPDATE holders SET groups = CASE WHEN $2 = ANY (groups) THEN groups ELSE array_append(groups, $2) END
			 WHERE id = ANY ($1) RETURNING id, session_id)
		INSERT INTO step_groups (holder_id, pgid, session_id, leader) SELECT id, $2, session_id, $3 FROM h
		ON CONFLICT (holder_id, pgid) DO UPDATE SET leader = excluded.leader, seen = now()`,
		ids, pgid, int64(ProcStart(pgid)))
	if err != nil {
		return fmt.Errorf("store %s: %w", p.where, err)
	}
	return nil
}

// AddTaskGroup records a process group that the step of a claimed task
// started, with the task's lock set (the worker's now): a worker killed
// outright leaves its lock set held until the group is gone.
func (p *Postgres) AddTaskGroup(ctx context.Context, c Claimed, pgid int) error {
	var hid *int64
	err := p.pool.QueryRow(ctx, `SELECT holder_id FROM tasks WHERE id = $1 AND worker_id = $2 AND claim = $3`,
		c.ID, p.session, c.Claim).Scan(&hid)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && hid == nil) {
		return nil // no lock set (or the task is not ours now): nothing to hold
	}
	if err != nil {
		return fmt.Errorf("store %s: record a process group: %w", p.where, err)
	}
	return p.addGroup(ctx, []int64{*hid}, pgid)
}

// orphanGroup is a recorded group of a session other than this one.
type orphanGroup struct {
	holder  int64
	pgid    int
	leader  uint64
	session int64
	host    string
	view    string
	pid     int
	expired bool // the session's lease has run out
	until   time.Time
	owner   string
	grace   time.Time // when a taker elsewhere takes the holder over
}

// dead reports whether g's session is dead as seen from here: its lease
// ran out, or (this host, this view) its process is gone.
func (p *Postgres) dead(g orphanGroup) bool {
	return g.expired || (p.sees(g) && !pidRuns(g.pid))
}

// sees reports whether this process sees g's processes.
func (p *Postgres) sees(g orphanGroup) bool { return g.host == p.host && g.view == p.orph.view }

const orphanCols = `g.holder_id, g.pgid, g.leader, gs.id, gs.host, gs.proc_view, gs.pid, gs.lease_until <= now(), gs.lease_until,
	coalesce(ho.owner, ''), greatest(g.seen, gs.lease_until) + make_interval(secs => gs.lease)`

func (p *Postgres) orphanRows(ctx context.Context, sql string, args ...any) ([]orphanGroup, error) {
	rows, err := p.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var out []orphanGroup
	for rows.Next() {
		var g orphanGroup
		var leader int64
		var pgid, pid int32
		if err := rows.Scan(&g.holder, &pgid, &leader, &g.session, &g.host, &g.view, &pid, &g.expired, &g.until, &g.owner, &g.grace); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		g.pgid, g.pid, g.leader = int(pgid), int(pid), uint64(leader)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return out, nil
}

// inWay looks at the expired holders in the way of sets (a take came back
// -3), in the background, one look at a time: it kills their groups on
// this host and warns once of each holder held by groups elsewhere.
func (p *Postgres) inWay(sets []LockSet) {
	if p.ctx.Err() != nil || !p.orph.inWay.CompareAndSwap(false, true) {
		return
	}
	var excl, shr []string
	for _, s := range sets {
		excl = append(excl, s.Exclusive...)
		shr = append(shr, s.Shared...)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.orph.inWay.Store(false)
		ctx, cancel := p.opCtx()
		defer cancel()
		gs, err := p.orphanRows(ctx, `SELECT `+orphanCols+`
			  FROM holders ho JOIN sessions s ON s.id = ho.session_id
			  JOIN step_groups g ON g.holder_id = ho.id JOIN sessions gs ON gs.id = g.session_id
			 WHERE s.lease_until <= now() AND ho.id IN (SELECT holder_id FROM held
			        WHERE name = ANY ($1) OR (exclusive AND name = ANY ($2)))
			 ORDER BY g.holder_id, g.pgid`, nonNil(excl), nonNil(shr))
		if err != nil {
			return
		}
		var here []orphanGroup
		elsewhere := map[int64][]orphanGroup{}
		for _, g := range gs {
			if p.sees(g) {
				here = append(here, g)
			} else {
				elsewhere[g.holder] = append(elsewhere[g.holder], g)
			}
		}
		p.reap(ctx, here)
		for _, hid := range slices.Sorted(maps.Keys(elsewhere)) {
			g := elsewhere[hid]
			var pgids []int
			for _, x := range g {
				pgids = append(pgids, x.pgid)
			}
			p.warn("wait "+strconv.FormatInt(hid, 10), fmt.Sprintf(
				"waiting for holder %d (%s): its echelon (pid %d on host %s) lost its lease at %s, and its process groups %s may still run there, unseen from here; its locks are taken over at %s unless an echelon on %s finds them gone first (docs/store.md, \"Orphaned process groups\")",
				hid, g[0].owner, g[0].pid, g[0].host, g[0].until.UTC().Format(time.RFC3339), joinInts(pgids),
				g[0].grace.UTC().Format(time.RFC3339), g[0].host))
		}
	}()
}

// CleanOrphans kills what still runs of the process groups recorded by
// dead sessions of this host (their lease ran out, or their process is
// gone) and deletes the records of the groups gone, so that their lock
// sets can be taken over; from then on it does so again every third of
// the lease, while the store is open. A worker calls it when its session
// opens: a worker restarted after a kill -9 cleans up after the one
// before it.
func (p *Postgres) CleanOrphans(ctx context.Context) error {
	p.orph.cleaning.Store(true)
	return p.cleanPass(ctx)
}

func (p *Postgres) cleanPass(ctx context.Context) error {
	if !p.orph.pass.CompareAndSwap(false, true) {
		return nil
	}
	defer p.orph.pass.Store(false)
	gs, err := p.orphanRows(ctx, `SELECT `+orphanCols+`
		  FROM step_groups g JOIN sessions gs ON gs.id = g.session_id
		  LEFT JOIN holders ho ON ho.id = g.holder_id
		 WHERE gs.host = $1 AND gs.proc_view = $2 AND gs.id <> $3
		 ORDER BY g.session_id, g.pgid`, p.host, p.orph.view, p.session)
	if err != nil {
		return err
	}
	p.reap(ctx, gs)
	return nil
}

// reap kills what runs of gs (groups this process sees) whose session is
// dead, waits for each to be gone and then deletes its record; a group
// that still runs (or may: GroupUnknown) is marked seen now, so that
// takers on other hosts wait for it too.
func (p *Postgres) reap(ctx context.Context, gs []orphanGroup) {
	for _, g := range gs {
		if !p.sees(g) || !p.dead(g) {
			continue
		}
		was := CheckGroup(g.pgid, g.leader)
		st, kerr := KillGroup(g.pgid, g.leader, 5*time.Second)
		who := fmt.Sprintf("left by echelon pid %d of this host (holder %d, %s; %s)", g.pid, g.holder, g.owner, lostWhen(g))
		key := fmt.Sprintf("%d/%d", g.holder, g.pgid)
		switch st {
		case GroupGone, GroupOther:
			if _, err := p.pool.Exec(ctx, `DELETE FROM step_groups WHERE holder_id = $1 AND pgid = $2`, g.holder, g.pgid); err != nil {
				continue
			}
			if was == GroupOurs {
				p.warn("", fmt.Sprintf("killed process group %d %s", g.pgid, who))
			}
			continue
		case GroupOurs:
			why := "still runs after SIGKILL"
			if kerr != nil {
				why = fmt.Sprintf("could not be killed (%v)", kerr)
			}
			p.warn(key, fmt.Sprintf("process group %d %s %s: its locks wait for it; kill it, or echelon unlock %d", g.pgid, who, why, g.holder))
		case GroupUnknown:
			p.warn(key, fmt.Sprintf("process group %d %s may still run, and cannot be told from another group of that ID (not killed): its locks wait for it; kill it, or echelon unlock %d", g.pgid, who, g.holder))
		}
		_, _ = p.pool.Exec(ctx, `UPDATE step_groups SET seen = now() WHERE holder_id = $1 AND pgid = $2`, g.holder, g.pgid)
	}
}

func lostWhen(g orphanGroup) string {
	if g.expired {
		return "lease ended " + g.until.UTC().Format(time.RFC3339)
	}
	return "process gone"
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// takeOrphans is echelon_take's busy with an expired holder in the way:
// its groups may still run.
const takeOrphans = -3

// cleanSoon runs a CleanOrphans pass in the background, once CleanOrphans
// was called.
func (p *Postgres) cleanSoon() {
	if !p.orph.cleaning.Load() {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := p.opCtx()
		defer cancel()
		_ = p.cleanPass(ctx)
	}()
}
