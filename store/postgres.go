package store

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLock is the advisory lock key under which migrations run: two
// processes opening a new database do not both create the schema.
const migrateLock = 8206112116

// Postgres is the shared store on PostgreSQL (docs/store.md). Each process
// has a session row whose lease the server's clock judges (now()); a
// heartbeat renews it every third of the lease. Lock sets, runs and journal
// records are written only while the lease holds, each under a fencing
// token (the holder's ID, the run's epoch): a process paused past its lease
// finds its locks reclaimed and its late writes refused (ErrFenced).
type Postgres struct {
	pool    *pgxpool.Pool
	where   string
	local   string
	lease   time.Duration
	session int64
	host    string

	ctx    context.Context // the store's life: ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lostOnce sync.Once
	lost     chan struct{}

	mu   sync.Mutex
	mine map[string][]int64 // owner -> holder IDs this store took

	await awaiter // tasks this coordinator waits for
	orph  orphans // orphaned process groups (orphans.go)
}

// OpenPostgres connects to the database at rawURL, applies the schema's
// migrations and opens this process's session.
func OpenPostgres(ctx context.Context, rawURL string, opts Options) (*Postgres, error) {
	if i := strings.Index(rawURL, "://"); i > 0 && IsURL(rawURL) {
		rawURL = strings.ToLower(rawURL[:i]) + rawURL[i:] // pgx knows the scheme in lower case only
	}
	where := redactURL(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", where, err)
	}
	cfg.MaxConns = 8
	var p *Postgres
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if p != nil {
			p.notice(n)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", where, err)
	}
	lease := opts.Lease
	if lease <= 0 {
		lease = 30 * time.Second
	}
	host, _ := os.Hostname()
	p = &Postgres{pool: pool, where: where, local: opts.LocalDir, lease: lease, host: host,
		lost: make(chan struct{}), mine: map[string][]int64{}}
	p.orph.view = ProcView()
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	opened := time.Now()
	err = pool.QueryRow(ctx, `INSERT INTO sessions (host, pid, lease_until, proc_view, lease)
		VALUES ($1, $2, now() + make_interval(secs => $3), $4, $3) RETURNING id`,
		host, os.Getpid(), lease.Seconds(), p.orph.view).Scan(&p.session)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store %s: opening a session: %w", where, err)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.heartbeat(opened)
	return p, nil
}

// redactURL is a URL without its password, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	// A password may be a query parameter too (postgres:///db?password=...).
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// migrate applies the embedded migrations not yet applied, in order, each
// in its own transaction, holding the migration advisory lock.
func (p *Postgres) migrate(ctx context.Context) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store %s: %w", p.where, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("store %s: migration lock: %w", p.where, err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS echelon_schema (
		version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store %s: %w", p.where, err)
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM echelon_schema").Scan(&have); err != nil {
		return fmt.Errorf("store %s: %w", p.where, err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if have > len(names) {
		return fmt.Errorf("store %s: the schema is version %d, newer than this echelon's %d: upgrade echelon", p.where, have, len(names))
	}
	for i, name := range names[have:] {
		version := have + i + 1
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO echelon_schema (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return fmt.Errorf("store %s: migration %s: %w", p.where, name, err)
		}
	}
	return nil
}

// heartbeat renews the lease every third of it. A renewal the server
// refuses (the lease had run out) loses it, and so does the local
// deadline: a lease after the last renewal that succeeded, counted from
// when that renewal was sent. The server counts from when it got it, so
// the process knows it lost before anyone else can take over.
func (p *Postgres) heartbeat(opened time.Time) {
	defer p.wg.Done()
	t := time.NewTicker(p.lease / 3)
	defer t.Stop()
	deadline := time.NewTimer(time.Until(opened.Add(p.lease)))
	defer deadline.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-deadline.C:
			p.markLost()
			return
		case <-t.C:
		}
		sent := time.Now()
		ok, err := p.renew()
		switch {
		case err == nil && ok:
			deadline.Reset(time.Until(sent.Add(p.lease)))
			p.cleanSoon()
		case err == nil && !ok:
			p.markLost()
			return
		}
	}
}

func (p *Postgres) renew() (bool, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.lease/3)
	defer cancel()
	tag, err := p.pool.Exec(ctx, `UPDATE sessions SET lease_until = now() + make_interval(secs => $2)
		WHERE id = $1 AND lease_until > now()`, p.session, p.lease.Seconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (p *Postgres) markLost() { p.lostOnce.Do(func() { close(p.lost) }) }

// fenced marks the lease lost and returns ErrFenced.
func (p *Postgres) fenced(what string) error {
	p.markLost()
	return fmt.Errorf("store %s: %s %w", p.where, what, ErrFenced)
}

// Lost implements Store.
func (p *Postgres) Lost() <-chan struct{} { return p.lost }

// Where implements Store: the URL without its password.
func (p *Postgres) Where() string { return p.where }

// Close ends the session: its lock sets are released and its runs left
// for others (each stays resumable).
func (p *Postgres) Close() error {
	p.cancel()
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1", p.session)
	p.pool.Close()
	if err != nil {
		return fmt.Errorf("store %s: closing the session: %w", p.where, err)
	}
	return nil
}

func (p *Postgres) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, max(p.lease, 10*time.Second))
}

// TryAcquire implements Locks.
func (p *Postgres) TryAcquire(owner string, exclusive, shared []string) (func() error, bool, error) {
	ctx, cancel := p.opCtx()
	defer cancel()
	return p.tryAcquire(ctx, owner, exclusive, shared)
}

func (p *Postgres) tryAcquire(ctx context.Context, owner string, exclusive, shared []string) (func() error, bool, error) {
	if exclusive == nil {
		exclusive = []string{}
	}
	if shared == nil {
		shared = []string{}
	}
	var id int64
	keys, ex := lockKeys([]LockSet{{Exclusive: exclusive, Shared: shared}})
	err := p.pool.QueryRow(ctx, "SELECT echelon_try_acquire($1, $2, $3, $4, $5, $6)", p.session, owner, exclusive, shared, keys, ex).Scan(&id)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("store %s: acquire: %w", p.where, err)
	case id == takeOrphans:
		p.inWay([]LockSet{{Exclusive: exclusive, Shared: shared}})
		return nil, false, nil
	case id < 0:
		return nil, false, p.fenced("acquire")
	case id == 0:
		return nil, false, nil
	}
	p.remember(owner, id)
	var once sync.Once
	return func() error {
		var rerr error
		once.Do(func() { rerr = p.release(owner, id) })
		return rerr
	}, true, nil
}

// Acquire implements Locks: tries with jittered backoff until ctx ends.
func (p *Postgres) Acquire(ctx context.Context, owner string, exclusive, shared []string) (func() error, error) {
	return acquireLoop(ctx, p.lost, func() error { return p.fenced("acquire") }, func() (func() error, bool, error) {
		return p.tryAcquire(ctx, owner, exclusive, shared)
	})
}

// release removes a holder, under its fencing token and a live lease
// (echelon_release: without waiting for the WAL flush; see its comment).
func (p *Postgres) release(owner string, id int64) error {
	p.forget(owner, id)
	ctx, cancel := p.opCtx()
	defer cancel()
	var n int
	if err := p.pool.QueryRow(ctx, "SELECT echelon_release($1, $2)", p.session, id).Scan(&n); err != nil {
		return fmt.Errorf("store %s: release: %w", p.where, err)
	}
	switch n {
	case 0:
		return fmt.Errorf("store %s: lock release: holder %d was removed (echelon unlock)", p.where, id)
	case -1:
		return p.fenced("lock release")
	}
	return nil
}

// remember and forget keep the holders this store took, by owner, for
// AddGroup.
func (p *Postgres) remember(owner string, id int64) {
	p.mu.Lock()
	p.mine[owner] = append(p.mine[owner], id)
	p.mu.Unlock()
}

func (p *Postgres) forget(owner string, id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := slices.DeleteFunc(p.mine[owner], func(x int64) bool { return x == id })
	if len(ids) == 0 {
		delete(p.mine, owner)
	} else {
		p.mine[owner] = ids
	}
}

// AddGroup implements Locks: the group is recorded with the holders of
// owner (for `echelon runs`, and so that a holder whose lease ran out is
// taken over only once its groups are gone: orphans.go).
func (p *Postgres) AddGroup(owner string, pgid int) error {
	p.mu.Lock()
	ids := slices.Clone(p.mine[owner])
	p.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := p.opCtx()
	defer cancel()
	return p.addGroup(ctx, ids, pgid)
}

// OpenRun implements Store: in one transaction, under the plan's advisory
// lock, the plan's newest run is taken over (resume) or a new one made,
// with a new fencing token (epoch), unless a live session holds it.
func (p *Postgres) OpenRun(ctx context.Context, digest string, resume bool) (Run, error) {
	var id, epoch int64
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('run:' || $1, 0))", digest); err != nil {
			return err
		}
		var host *string
		var pid *int32
		var live *bool
		var until *time.Time
		var in *float64
		err := tx.QueryRow(ctx, `SELECT r.id, s.host, s.pid, s.lease_until > now(), s.lease_until,
			extract(epoch FROM s.lease_until - now())::float8 FROM runs r
			LEFT JOIN sessions s ON s.id = r.session_id WHERE r.digest = $1 ORDER BY r.id DESC LIMIT 1`, digest).Scan(&id, &host, &pid, &live, &until, &in)
		if errors.Is(err, pgx.ErrNoRows) {
			id = 0
		} else if err != nil {
			return err
		}
		if live != nil && *live {
			return &RunBusyError{Host: *host, PID: int(*pid), Where: p.where, LeaseUntil: *until,
				In: time.Duration(*in * float64(time.Second)), Resume: resume}
		}
		if err := tx.QueryRow(ctx, `SELECT nextval('fence') FROM sessions WHERE id = $1 AND lease_until > now()`, p.session).Scan(&epoch); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return p.fenced("open run")
			}
			return err
		}
		if resume && id != 0 {
			_, err = tx.Exec(ctx, `UPDATE runs SET session_id = $2, epoch = $3, host = $4, pid = $5, ended = NULL, outcome = NULL
				WHERE id = $1`, id, p.session, epoch, p.host, os.Getpid())
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO runs (digest, session_id, epoch, host, pid) VALUES ($1, $2, $3, $4, $5)
			RETURNING id`, digest, p.session, epoch, p.host, os.Getpid()).Scan(&id)
	})
	if err != nil {
		if errors.Is(err, ErrFenced) || errors.Is(err, ErrRunBusy) {
			return nil, err
		}
		return nil, fmt.Errorf("store %s: open run: %w", p.where, err)
	}
	local := p.local
	if local == "" {
		local = filepath.Join(os.TempDir(), "echelon")
	}
	dir := filepath.Join(local, "runs", RunKey(digest))
	logs := filepath.Join(dir, "logs")
	if !resume {
		_ = os.RemoveAll(logs)
	}
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &pgRun{p: p, id: id, epoch: epoch, dir: dir}, nil
}

type pgRun struct {
	p         *Postgres
	id, epoch int64
	dir       string
}

func (r *pgRun) Dir() string { return r.dir }
func (r *pgRun) Journal() string {
	return fmt.Sprintf("%s (run %d)", r.p.where, r.id)
}

// Append implements Run: Commit of one durable entry.
func (r *pgRun) Append(ctx context.Context, lines []byte) error {
	_, err := r.Commit(ctx, []Entry{{Lines: lines}})
	return err
}

// pgEntry is an Entry as echelon_commit reads it.
type pgEntry struct {
	Take *pgTake  `json:"take,omitempty"`
	Task *pgTask  `json:"task,omitempty"`
	Recs []string `json:"recs,omitempty"`
	Rel  int64    `json:"rel,omitempty"`
}

type pgTake struct {
	Owner string   `json:"o"`
	Excl  []string `json:"x"`
	Shr   []string `json:"s"`
}

// Commit implements Run: one call of echelon_commit (one round trip, one
// transaction), refused unless this run's epoch is still the run's and
// the session's lease holds. It waits for the WAL flush unless every entry
// is Async and none takes a lock set.
func (r *pgRun) Commit(ctx context.Context, entries []Entry) ([]Held, error) {
	pe := make([]pgEntry, len(entries))
	durable := false
	var end *runEnd
	var sets []LockSet
	for i, e := range entries {
		recs, e2 := splitRecords(e.Lines)
		if e2 != nil {
			end = e2
		}
		pe[i] = pgEntry{Recs: recs, Rel: e.Release.id}
		if e.Task != nil {
			pe[i].Task = &pgTask{Step: e.Task.Step, Labels: e.Task.Labels}
		}
		if e.Take != nil {
			pe[i].Take = &pgTake{Owner: e.Take.Owner, Excl: nonNil(e.Take.Exclusive), Shr: nonNil(e.Take.Shared)}
			sets = append(sets, *e.Take)
		}
		durable = durable || !e.Async || e.Take != nil || e.Task != nil
	}
	js, err := json.Marshal(pe)
	if err != nil {
		return nil, err
	}
	var endAt *time.Time
	var endOutcome *string
	if end != nil {
		endAt, endOutcome = &end.Time, &end.Outcome
	}
	keys, ex := lockKeys(sets)
	var out []int64
	for try := 0; ; try++ {
		err = r.p.pool.QueryRow(ctx, "SELECT echelon_commit($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			r.p.session, r.id, r.epoch, js, durable, keys, ex, endAt, endOutcome).Scan(&out)
		if !isDeadlock(err) || try == 2 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", r.Journal(), err)
	}
	if out == nil {
		return nil, r.p.fenced("journal write")
	}
	held := make([]Held, len(entries))
	var inWay []LockSet
	for i, e := range entries {
		if e.Take != nil && i < len(out) && out[i] == takeOrphans {
			inWay = append(inWay, *e.Take)
		}
		if e.Release.id != 0 {
			r.p.forget(e.Release.Owner(), e.Release.id)
		}
		if e.Task != nil && i < len(out) && out[i] > 0 {
			r.p.register(out[i])
			held[i] = Held{task: out[i]}
			continue
		}
		if e.Take != nil && i < len(out) && out[i] > 0 {
			held[i] = Held{id: out[i], owner: e.Take.Owner}
			r.p.remember(e.Take.Owner, out[i])
		}
	}
	if inWay != nil {
		r.p.inWay(inWay)
	}
	return held, nil
}

// isDeadlock: PostgreSQL aborted the transaction to break a deadlock
// (40P01; one with an unlock's or a reaper's row locks): nothing of it was
// written, so it is tried again.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// lockKeys are the advisory lock keys of every name of sets, sorted, each
// once: exclusive when some set wants the name EXCLUSIVE (see
// echelon_lock_names). The key is the name's 64-bit FNV-1a hash: every
// echelon computes the same.
func lockKeys(sets []LockSet) ([]int64, []bool) {
	ex := map[int64]bool{}
	for _, s := range sets {
		for _, n := range s.Exclusive {
			ex[nameKey(n)] = true
		}
		for _, n := range s.Shared {
			if k := nameKey(n); !ex[k] {
				ex[k] = false
			}
		}
	}
	keys := slices.Sorted(maps.Keys(ex))
	flags := make([]bool, len(keys))
	for i, k := range keys {
		flags[i] = ex[k]
	}
	return keys, flags
}

func nameKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type runEnd struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Outcome string    `json:"outcome"`
}

// splitRecords cuts lines into records and finds the last run_end.
func splitRecords(lines []byte) ([]string, *runEnd) {
	var recs []string
	var end *runEnd
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		if i < 0 {
			i = len(lines)
		}
		line := lines[:i]
		lines = lines[min(i+1, len(lines)):]
		if len(line) == 0 {
			continue
		}
		recs = append(recs, string(line))
		if bytes.Contains(line, []byte(`"run_end"`)) {
			var e runEnd
			if json.Unmarshal(line, &e) == nil && e.Kind == "run_end" {
				end = &e
			}
		}
	}
	return recs, end
}

// Close lets the run go: another process may resume it.
func (r *pgRun) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.p.pool.Exec(ctx, "UPDATE runs SET session_id = NULL WHERE id = $1 AND epoch = $2", r.id, r.epoch)
	if err != nil {
		return fmt.Errorf("store %s: %w", r.p.where, err)
	}
	return nil
}

// Journal implements Store: the plan's newest run's records.
func (p *Postgres) Journal(ctx context.Context, digest string) (io.ReadCloser, error) {
	rows, err := p.pool.Query(ctx, `SELECT j.rec FROM journal j
		WHERE j.run_id = (SELECT max(id) FROM runs WHERE digest = $1) ORDER BY j.seq`, digest)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var buf bytes.Buffer
	n := 0
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		buf.WriteString(rec)
		buf.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	if n == 0 {
		var exists bool
		if err := p.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM runs WHERE digest = $1)", digest).Scan(&exists); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		if !exists {
			return nil, fmt.Errorf("store %s: no run of %s: %w", p.where, digest, fs.ErrNotExist)
		}
	}
	return io.NopCloser(&buf), nil
}

// PutPlan implements Store.
func (p *Postgres) PutPlan(ctx context.Context, digest string, data []byte) error {
	_, err := p.pool.Exec(ctx, "INSERT INTO plans (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING", digest, data)
	if err != nil {
		return fmt.Errorf("store %s: %w", p.where, err)
	}
	return nil
}

// Plan implements Store.
func (p *Postgres) Plan(ctx context.Context, digest string) ([]byte, error) {
	var data []byte
	err := p.pool.QueryRow(ctx, "SELECT data FROM plans WHERE digest = $1", digest).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store %s: no plan %s: %w", p.where, digest, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return data, nil
}

// Holders implements Store.
func (p *Postgres) Holders(ctx context.Context) ([]Holder, error) {
	rows, err := p.pool.Query(ctx, `SELECT h.id, h.owner, s.host, s.pid, h.since, h.exclusive, h.shared, h.groups,
		s.lease_until > now(), s.lease_until FROM holders h JOIN sessions s ON s.id = h.session_id ORDER BY h.id`)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var out []Holder
	for rows.Next() {
		var h Holder
		var id int64
		var pid int32
		var groups []int32
		if err := rows.Scan(&id, &h.Owner, &h.Host, &pid, &h.Since, &h.Exclusive, &h.Shared, &groups, &h.Live, &h.LeaseUntil); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		h.ID, h.PID = strconv.FormatInt(id, 10), int(pid)
		for _, g := range groups {
			h.Groups = append(h.Groups, int(g))
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return out, nil
}

// Runs implements Store: every plan's newest run.
func (p *Postgres) Runs(ctx context.Context) ([]RunInfo, error) {
	rows, err := p.pool.Query(ctx, `SELECT r.id, r.digest, r.started, r.ended, coalesce(r.outcome, ''), r.host, r.pid,
		coalesce(s.lease_until > now(), false), s.lease_until FROM runs r LEFT JOIN sessions s ON s.id = r.session_id
		WHERE r.id IN (SELECT max(id) FROM runs GROUP BY digest)`)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	defer rows.Close()
	var out []RunInfo
	for rows.Next() {
		var ri RunInfo
		var ended *time.Time
		var pid int32
		var live bool
		var until *time.Time
		if err := rows.Scan(&ri.ID, &ri.Digest, &ri.Started, &ended, &ri.Outcome, &ri.Host, &pid, &live, &until); err != nil {
			return nil, fmt.Errorf("store %s: %w", p.where, err)
		}
		ri.PID = int(pid)
		if ended != nil {
			ri.Ended = *ended
		}
		switch {
		case live:
			ri.State = RunLive
			ri.LeaseUntil = *until
		case ended != nil:
			ri.State = RunFinished
		default:
			ri.State = RunStale
		}
		out = append(out, ri)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	sortRuns(out)
	return out, nil
}

// Unlock implements Store.
func (p *Postgres) Unlock(ctx context.Context, holder string) (int, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM holders WHERE id::text = $1 OR owner = $1
		OR left(owner, length($1) + 1) = $1 || '#'`, holder)
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", p.where, err)
	}
	return int(tag.RowsAffected()), nil
}
