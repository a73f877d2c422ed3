package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Dir is the state directory as a Store (docs/state-dir.md): the lock table
// in locks/ (DirLocks), and per plan runs/<digest>/ with apply.lock (an
// flock: one apply of a plan at a time), journal.jsonl (fsynced) and logs/.
// A process keeps its locks while it (or a process group it started) runs;
// it has no lease, so Lost is nil.
type Dir struct {
	Path string
	*DirLocks
}

// OpenDir opens (creating) the state directory at path.
func OpenDir(path string) (*Dir, error) {
	l, err := NewDirLocks(filepath.Join(path, "locks"))
	if err != nil {
		return nil, err
	}
	return &Dir{Path: path, DirLocks: l}, nil
}

// Where implements Store.
func (d *Dir) Where() string { return d.Path }

// Lost implements Store: a state directory has no leases.
func (d *Dir) Lost() <-chan struct{} { return nil }

func (d *Dir) runDir(digest string) string { return filepath.Join(d.Path, "runs", RunKey(digest)) }

// OpenRun implements Store.
func (d *Dir) OpenRun(_ context.Context, digest string, resume bool) (Run, error) {
	runDir := d.runDir(digest)
	logDir := filepath.Join(runDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	// Two applies of one plan would share the journal and the log files:
	// the second one refuses. Taken before the journal is rotated.
	lf, err := lockRun(runDir)
	if err != nil {
		return nil, err
	}
	jpath := filepath.Join(runDir, "journal.jsonl")
	if !resume && fileExists(jpath) {
		// A fresh run keeps the old journal beside the new one.
		old := filepath.Join(runDir, fmt.Sprintf("journal-%s.jsonl", time.Now().UTC().Format("20060102T150405.000000000")))
		err := os.Rename(jpath, old)
		if err == nil {
			err = os.RemoveAll(logDir)
		}
		if err == nil {
			err = os.MkdirAll(logDir, 0o755)
		}
		if err != nil {
			lf.Close()
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	f, err := os.OpenFile(jpath, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err == nil {
		if err = dropTornTail(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("open journal %s: %w", jpath, err)
	}
	return &dirRun{dir: runDir, path: jpath, f: f, lock: lf, locks: d.DirLocks}, nil
}

type dirRun struct {
	dir, path string
	f, lock   *os.File
	locks     *DirLocks
}

func (r *dirRun) Dir() string     { return r.dir }
func (r *dirRun) Journal() string { return r.path }

// Append implements Run: one write, then fsync.
func (r *dirRun) Append(_ context.Context, lines []byte) error {
	_, err := r.f.Write(lines)
	if err == nil {
		err = r.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("journal %s: %w", r.path, err)
	}
	return nil
}

// Commit implements Run (CommitLocal with the state directory's lock
// table and journal file).
func (r *dirRun) Commit(ctx context.Context, entries []Entry) ([]Held, error) {
	return CommitLocal(ctx, r.locks, r.Append, entries)
}

// TryLocker takes a lock set if it is free now (Locks.TryAcquire).
type TryLocker interface {
	TryAcquire(owner string, exclusive, shared []string) (release func() error, ok bool, err error)
}

// CommitLocal is Run.Commit for a journal written by write (whole lines,
// durable when it returns) with lock sets taken from locks: the entries'
// takes and releases in order (a release before a later take of its
// names, as in one transaction), then every line in one write.
func CommitLocal(ctx context.Context, locks TryLocker, write func(context.Context, []byte) error, entries []Entry) ([]Held, error) {
	held := make([]Held, len(entries))
	var lines []byte
	for i, e := range entries {
		if e.Task != nil {
			releaseTaken(held[:i])
			return nil, errors.New("the state directory has no workers: dispatching steps needs a postgres:// store")
		}
		if e.Take != nil {
			rel, ok, err := locks.TryAcquire(e.Take.Owner, e.Take.Exclusive, e.Take.Shared)
			if err != nil {
				releaseTaken(held[:i])
				return nil, err
			}
			if !ok {
				continue
			}
			held[i] = Held{release: rel, owner: e.Take.Owner}
		}
		lines = append(lines, e.Lines...)
		if e.Release.release != nil {
			// As a step's deferred release always was: a set that
			// cannot be let go stays held until this process ends.
			_ = e.Release.release()
		}
	}
	if len(lines) > 0 {
		if err := write(ctx, lines); err != nil {
			releaseTaken(held)
			return nil, err
		}
	}
	return held, nil
}

// releaseTaken lets go what a failed commit took.
func releaseTaken(held []Held) {
	for _, h := range held {
		if h.release != nil {
			_ = h.release()
		}
	}
}

func (r *dirRun) Close() error {
	err := r.f.Close()
	r.lock.Close() // releases the flock
	return err
}

// Journal implements Store.
func (d *Dir) Journal(_ context.Context, digest string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.runDir(digest), "journal.jsonl"))
}

// PutPlan implements Store: runs/<digest>/plan.json.
func (d *Dir) PutPlan(_ context.Context, digest string, data []byte) error {
	if err := os.MkdirAll(d.runDir(digest), 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	tmp := filepath.Join(d.runDir(digest), ".plan.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.runDir(digest), "plan.json")); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// Plan implements Store.
func (d *Dir) Plan(_ context.Context, digest string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.runDir(digest), "plan.json"))
}

// Holders implements Store.
func (d *Dir) Holders(context.Context) ([]Holder, error) { return d.DirLocks.Holders() }

// Unlock implements Store.
func (d *Dir) Unlock(_ context.Context, holder string) (int, error) { return d.DirLocks.Unlock(holder) }

// Runs implements Store: each runs/<digest>/ with a journal.
func (d *Dir) Runs(context.Context) ([]RunInfo, error) {
	ents, err := os.ReadDir(filepath.Join(d.Path, "runs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var out []RunInfo
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		ri, ok := dirRunInfo(filepath.Join(d.Path, "runs", e.Name()))
		if ok {
			out = append(out, ri)
		}
	}
	sortRuns(out)
	return out, nil
}

func sortRuns(rs []RunInfo) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].Started.Equal(rs[j].Started) {
			return rs[i].Started.After(rs[j].Started)
		}
		return rs[i].Digest < rs[j].Digest
	})
}

// dirRunInfo reads a run directory: its journal's last run, and whether
// an apply holds its flock.
func dirRunInfo(runDir string) (RunInfo, bool) {
	f, err := os.Open(filepath.Join(runDir, "journal.jsonl"))
	if err != nil {
		return RunInfo{}, false
	}
	defer f.Close()
	ri := scanRun(f)
	if ri.Digest == "" {
		return RunInfo{}, false
	}
	pid, held := runLockHeld(runDir)
	switch {
	case held:
		ri.State, ri.PID = RunLive, pid
		ri.Host, _ = os.Hostname()
	case !ri.Ended.IsZero():
		ri.State = RunFinished
	default:
		ri.State = RunStale
	}
	return ri, true
}

// scanRun reads a journal's last run_start and run_end.
func scanRun(r io.Reader) RunInfo {
	var ri RunInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Time       time.Time `json:"time"`
			Kind       string    `json:"kind"`
			PlanDigest string    `json:"plan_digest"`
			Outcome    string    `json:"outcome"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Kind {
		case "run_start":
			ri.Digest, ri.Started, ri.Ended, ri.Outcome = ev.PlanDigest, ev.Time, time.Time{}, ""
		case "run_end":
			ri.Ended, ri.Outcome = ev.Time, ev.Outcome
		}
	}
	return ri
}

// runLockHeld reports whether an apply holds runDir's apply.lock, and its pid.
func runLockHeld(runDir string) (int, bool) {
	path := filepath.Join(runDir, "apply.lock")
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := Flock(f, syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		Flock(f, syscall.LOCK_UN)
		return 0, false
	}
	b, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, true
}

// lockRun takes the run directory's apply lock (an flock, so a killed
// apply never leaves it behind) and records this process's PID in it.
func lockRun(runDir string) (*os.File, error) {
	path := filepath.Join(runDir, "apply.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := Flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w (pid %s) with the state directory %s; wait for it to finish", ErrRunBusy, pid, filepath.Dir(filepath.Dir(runDir)))
		}
		return nil, fmt.Errorf("state directory: lock %s: %w", path, err)
	}
	// The PID only informs the message above: a failed write is harmless.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return f, nil
}

// dropTornTail cuts a journal back to its last newline. A run that died
// mid-write leaves part of a record with no newline; it was never
// acknowledged as durable, and appending after it would glue the next
// record onto it and lose both.
func dropTornTail(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := min(int64(len(buf)), end)
		chunk := buf[:n]
		if _, err := f.ReadAt(chunk, end-n); err != nil {
			return err
		}
		if end == size && chunk[n-1] == '\n' {
			return nil // intact
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	return f.Sync()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
