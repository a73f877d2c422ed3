package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Locks holds the contract's EXCLUSIVE/SHARED lock sets across every apply
// that shares a store. A set is taken whole or not at all; no holder waits
// for more while holding a set, so applies cannot deadlock.
type Locks interface {
	// Acquire takes the set, waiting until it can or ctx ends.
	Acquire(ctx context.Context, owner string, exclusive, shared []string) (release func() error, err error)
	// TryAcquire takes the set if it is free now.
	TryAcquire(owner string, exclusive, shared []string) (release func() error, ok bool, err error)
	// AddGroup notes a process group that a holder of owner started.
	AddGroup(owner string, pgid int) error
}

// Store is where applies keep their lock table, their runs and journals and
// the plans they ran: the state directory (Dir) or PostgreSQL (Postgres).
type Store interface {
	Locks
	Logs
	Bundles
	// OpenRun takes the run of the plan with this digest for this
	// process: one process runs a plan at a time. With resume it continues
	// the plan's last journal, else it starts a new one (the last is kept).
	OpenRun(ctx context.Context, digest string, resume bool) (Run, error)
	// Journal reads the plan's current journal (fs.ErrNotExist: none).
	Journal(ctx context.Context, digest string) (io.ReadCloser, error)
	// PutPlan keeps a plan file (never one with secrets filled in) under
	// its digest; Plan reads it back (fs.ErrNotExist: none).
	PutPlan(ctx context.Context, digest string, data []byte) error
	Plan(ctx context.Context, digest string) ([]byte, error)
	// Holders lists the lock holders; Runs the runs, newest first.
	Holders(ctx context.Context) ([]Holder, error)
	Runs(ctx context.Context) ([]RunInfo, error)
	// Unlock removes the holders whose ID or owner is holder (an apply's
	// owner also names the holders of its steps, owner#op) and says how
	// many it removed.
	Unlock(ctx context.Context, holder string) (int, error)
	// Lost is closed once this process has lost its lease on the store:
	// its locks and runs may be anyone's now, and its writes are refused.
	// nil (never) for a store without leases.
	Lost() <-chan struct{}
	// Where names the store for messages.
	Where() string
	Close() error
}

// Run is one process's hold on a plan's run: it appends to the journal.
type Run interface {
	// Dir is a local directory for the run's log files and private files
	// (terraform variable files), on this machine.
	Dir() string
	// Journal names where the journal is, for messages.
	Journal() string
	// Append writes whole JSON lines (each ending in a newline) and returns
	// once they are durable. A process that lost its hold on the run gets
	// ErrFenced and nothing is written.
	Append(ctx context.Context, lines []byte) error
	// Commit makes entries durable in one write, in order (group commit:
	// apply's journal gathers what its steps write meanwhile). An entry
	// with Take gets its lock set first, all or nothing, and its Lines are
	// written only if it was taken; one with Release lets a set it took go
	// with its Lines. The result has one Held per entry: the set taken, or
	// the zero Held (no Take, or the set is busy). Fenced as Append is.
	Commit(ctx context.Context, entries []Entry) ([]Held, error)
	// PutLog keeps the log file at path of an operation's attempt for
	// readers on other machines (Logs), once the attempt has ended: a
	// no-op where the run's directory is the store (Dir). Fenced as
	// Append is.
	PutLog(ctx context.Context, op string, attempt int, path string) error
	Close() error
}

// LockSet is a lock set to take: its owner, its EXCLUSIVE and SHARED names.
type LockSet struct {
	Owner             string
	Exclusive, Shared []string
}

// Entry is one part of a Run's group commit.
type Entry struct {
	// Take, when set, is taken before Lines are written; busy, nothing of
	// the entry is written. A lock grant is always durable at once.
	Take *LockSet
	// Lines are whole JSON lines for the journal.
	Lines []byte
	// Release, when set, is a set this process took (Commit's result),
	// let go in the same write as Lines.
	Release Held
	// Task, when set, dispatches the step to workers (a Dispatcher
	// store) with the entry's lock set, if taken; the entry's Held is then
	// the task's, for Await.
	Task *Task
	// Async: the entry may stay volatile until the next durable write of
	// the run returns (a commit is durable when any of its entries is
	// not Async). What an operation's end needs: it is durable before any
	// later step starts, and a crash before that leaves it in flight.
	Async bool
}

// Held is a lock set a Commit took; the zero Held is none.
type Held struct {
	id      int64        // PostgreSQL: the holder's ID
	task    int64        // PostgreSQL: the task's ID (Entry.Task)
	owner   string       // PostgreSQL: its owner
	release func() error // state directory: DirLocks's release
}

// Owner is the owner the set was taken under.
func (h Held) Owner() string { return h.owner }

// Ok reports whether h is a set taken.
func (h Held) Ok() bool { return h.id != 0 || h.task != 0 || h.release != nil }

// ErrFenced is a write refused because the writer no longer holds what it
// wrote under: its lease ran out (it was paused or cut off), or another
// process took its run over.
var ErrFenced = errors.New("refused: this process no longer holds its lease on the store (another process may have taken over)")

// ErrRunBusy is OpenRun refused: another process holds the plan's run
// (the error names it). One process runs a plan at a time.
var ErrRunBusy = errors.New("another apply of this plan is running")

// Holder is one lock set in the table.
type Holder struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Since     time.Time `json:"since"`
	Exclusive []string  `json:"exclusive"`
	Shared    []string  `json:"shared"`
	Groups    []int     `json:"groups,omitempty"`
	// Live: its process (its lease, on PostgreSQL) still holds it. A
	// holder that is not live is reclaimed by the next apply needing
	// its locks.
	Live bool `json:"live"`
	// LeaseUntil is when its lease ends unless renewed (PostgreSQL).
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// Run states.
const (
	RunLive     = "live"     // a process holds it
	RunStale    = "stale"    // no process holds it and it has no end: it died
	RunFinished = "finished" // it ended (run_end)
)

// RunInfo is a run as the store knows it.
type RunInfo struct {
	// ID is the run's number in a database store (apply prints "(run
	// 13)"); 0 in a state directory, which keeps one run per plan.
	ID      int64     `json:"run_id,omitempty"`
	Digest  string    `json:"plan_digest"`
	State   string    `json:"state"`
	Host    string    `json:"host,omitempty"` // the process that holds it, or last held it
	PID     int       `json:"pid,omitempty"`
	Started time.Time `json:"started"`
	// Ended and Outcome come from its run_end record.
	Ended   time.Time `json:"ended,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
	// LeaseUntil is when the lease of a live run's holder ends unless
	// renewed (PostgreSQL): a holder that died keeps the run until then.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// Options configure Open.
type Options struct {
	// LocalDir is the state directory on this machine: the store itself
	// for a path, and where a database store's runs keep their log files.
	LocalDir string
	// Lease is how long a database store's hold lasts without a heartbeat
	// (default 30s); it is renewed every third of it.
	Lease time.Duration
}

// IsURL reports whether s names a database store rather than a directory
// (the scheme in any case: POSTGRES:// too).
func IsURL(s string) bool {
	l := strings.ToLower(s[:min(len(s), len("postgresql://"))])
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// CheckWhere refuses a store that is neither a postgres:// URL nor
// plausibly a path: another scheme (a typo such as postgress:// would
// otherwise be a directory of that name, the run outside the team's
// store) or PostgreSQL's keyword form (host=... password=...). The error
// never repeats the value: it may hold a password.
func CheckWhere(s string) error {
	if s == "" || IsURL(s) {
		return nil
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, "/\\ ") {
		return fmt.Errorf("the store %s://... is not a database URL echelon knows: use postgres://USER@HOST/DB (or postgresql://), or a state directory path", scheme)
	}
	for _, kw := range []string{"host=", "password=", "dbname=", "user=", "sslmode="} {
		if strings.HasPrefix(s, kw) || strings.Contains(s, " "+kw) {
			return errors.New("the store looks like PostgreSQL's keyword form (host=... dbname=...): write it as a URL, postgres://USER@HOST/DB?sslmode=...")
		}
	}
	return nil
}

// Open opens the store named by where: a postgres:// URL, or a state
// directory path ("" is opts.LocalDir).
func Open(ctx context.Context, where string, opts Options) (Store, error) {
	if err := CheckWhere(where); err != nil {
		return nil, err
	}
	if IsURL(where) {
		return OpenPostgres(ctx, where, opts)
	}
	if where == "" {
		where = opts.LocalDir
	}
	if where == "" {
		return nil, errors.New("store: no state directory")
	}
	d, err := OpenDir(where)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", where, err)
	}
	return d, nil
}

// RunKey is the short form of a plan digest that names its run directory:
// the first 16 hex digits.
func RunKey(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 16 {
		d = d[:16]
	}
	if d == "" {
		d = "undigested"
	}
	return d
}
