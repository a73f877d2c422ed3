package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Logs (docs/store.md, "Logs"): each step attempt's log file, as the
// machine that ran it wrote it (masked of secrets), kept where readers on
// other machines find it. The state directory has them in its
// runs/<digest>/logs/ already; PostgreSQL keeps the last MaxLog bytes of
// each, stored when the attempt ends (Run.PutLog, Postgres.PutTaskLog).

// MaxLog is how much of a log file a store keeps: its last MiB.
const MaxLog = 1 << 20

// Log is one attempt's log as a store keeps it.
type Log struct {
	Op      string `json:"op"`
	Attempt int    `json:"attempt"`
	// Host is the machine that ran the attempt and wrote the log.
	Host string `json:"host"`
	// Data is the log's last MaxLog bytes; Truncated how many bytes were
	// cut from its front (0: it is whole).
	Data      []byte    `json:"-"`
	Truncated int64     `json:"truncated"`
	Stored    time.Time `json:"stored"`
}

// Logs reads the logs a store keeps.
type Logs interface {
	// Log is the log of an attempt (0: the last one kept) of operation op
	// in the newest run of the plan with this digest, written on host
	// ("": any). fs.ErrNotExist: none kept.
	Log(ctx context.Context, digest, op string, attempt int, host string) (*Log, error)
}

// LogName is an operation attempt's log file name in a run's logs/: the
// ID with path separators replaced, and an ID too long for a file name
// (255 bytes) truncated and told apart from others by a hash of the
// whole ID.
func LogName(id string, attempt int) string {
	return logStem(id) + "." + strconv.Itoa(attempt) + ".log"
}

// maxLogStem leaves room under the 255-byte name limit for ".ATTEMPT.log".
const maxLogStem = 200

func logStem(id string) string {
	name := strings.NewReplacer("/", "_", "\\", "_", ":", "_", "\x00", "_").Replace(id)
	if len(name) > maxLogStem {
		cut := maxLogStem - 17
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		sum := sha256.Sum256([]byte(id))
		name = name[:cut] + "-" + hex.EncodeToString(sum[:8])
	}
	return name
}

// readLogTail reads the last MaxLog bytes of the file at path, and how
// many bytes came before them.
func readLogTail(path string) ([]byte, int64, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, time.Time{}, fmt.Errorf("%s is not a regular file", path)
	}
	cut := max(fi.Size()-MaxLog, 0)
	if _, err := f.Seek(cut, io.SeekStart); err != nil {
		return nil, 0, time.Time{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxLog))
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	return data, cut, fi.ModTime(), nil
}

// PutLog implements Run: the state directory's log files are where
// readers look for them already.
func (r *dirRun) PutLog(context.Context, string, int, string) error { return nil }

// Log implements Logs: the file in runs/<digest>/logs/, on this machine
// (another host's is never here), its last MaxLog bytes as a database
// keeps them.
func (d *Dir) Log(_ context.Context, digest, op string, attempt int, host string) (*Log, error) {
	me, _ := os.Hostname()
	if host != "" && host != me {
		return nil, fmt.Errorf("state directory %s: the logs of %s are not on this machine: %w", d.Path, host, fs.ErrNotExist)
	}
	dir := filepath.Join(d.runDir(digest), "logs")
	if attempt <= 0 {
		attempt = lastAttempt(dir, op)
		if attempt == 0 {
			return nil, fmt.Errorf("state directory %s: no log of %s: %w", d.Path, op, fs.ErrNotExist)
		}
	}
	data, cut, mod, err := readLogTail(filepath.Join(dir, LogName(op, attempt)))
	if err != nil {
		return nil, fmt.Errorf("state directory %s: the log of %s attempt %d: %w", d.Path, op, attempt, err)
	}
	return &Log{Op: op, Attempt: attempt, Host: me, Data: data, Truncated: cut, Stored: mod}, nil
}

// lastAttempt is the highest attempt of op with a log file in dir (0: none).
func lastAttempt(dir, op string) int {
	stem := logStem(op) + "."
	ents, _ := os.ReadDir(dir)
	last := 0
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), stem)
		if !ok {
			continue
		}
		n, ok = strings.CutSuffix(n, ".log")
		if a, err := strconv.Atoi(n); ok && err == nil && a > last {
			last = a
		}
	}
	return last
}

// PutLog implements Run: the file's last MaxLog bytes, under the run's
// epoch, while the lease holds (echelon_put_log; not waited for).
func (r *pgRun) PutLog(ctx context.Context, op string, attempt int, path string) error {
	return r.p.putLog(ctx, r.id, r.epoch, nil, op, attempt, path)
}

// PutTaskLog stores the log of an attempt a worker ran for a task it
// claimed (under the task's claim token, while the lease holds).
func (p *Postgres) PutTaskLog(ctx context.Context, c Claimed, op string, attempt int, path string) error {
	return p.putLog(ctx, 0, 0, &c, op, attempt, path)
}

func (p *Postgres) putLog(ctx context.Context, run, epoch int64, c *Claimed, op string, attempt int, path string) error {
	data, cut, _, err := readLogTail(path)
	if err != nil {
		return fmt.Errorf("store %s: the log of %s: %w", p.where, op, err)
	}
	var task, claim *int64
	if c != nil {
		task, claim = &c.ID, &c.Claim
	}
	var n int
	err = p.pool.QueryRow(ctx, "SELECT echelon_put_log($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		p.session, run, epoch, task, claim, op, attempt, p.host, data, cut).Scan(&n)
	switch {
	case err != nil:
		return fmt.Errorf("store %s: the log of %s: %w", p.where, op, err)
	case n == -1:
		return p.fenced("the log of " + op)
	case n == 0:
		return fmt.Errorf("store %s: the log of %s %w", p.where, op, ErrFenced)
	}
	return nil
}

// Log implements Logs.
func (p *Postgres) Log(ctx context.Context, digest, op string, attempt int, host string) (*Log, error) {
	l := Log{Op: op}
	err := p.pool.QueryRow(ctx, `SELECT l.attempt, l.host, l.data, l.truncated, l.stored FROM logs l
		WHERE l.run_id = (SELECT max(id) FROM runs WHERE digest = $1) AND l.op = $2
		  AND ($3 = 0 OR l.attempt = $3) AND ($4 = '' OR l.host = $4)
		ORDER BY l.attempt DESC, l.stored DESC LIMIT 1`, digest, op, attempt, host).
		Scan(&l.Attempt, &l.Host, &l.Data, &l.Truncated, &l.Stored)
	if errors.Is(err, pgx.ErrNoRows) {
		what := "any attempt"
		if attempt > 0 {
			what = "attempt " + strconv.Itoa(attempt)
		}
		return nil, fmt.Errorf("store %s: no log of %s (%s) in the plan's last run: %w", p.where, op, what, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", p.where, err)
	}
	return &l, nil
}
