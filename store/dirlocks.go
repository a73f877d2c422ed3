package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DirLocks is the embedded LockStore: one file in a directory,
// table.json, whose first line is a snapshot of the holders and whose
// other lines are the changes since (a holder acquired, released, or given
// a process group), one JSON record each. Every reader and writer holds a
// flock on the directory. Holders record their pid, so the locks of a
// process that died (kill -9) are reclaimed by the next one that needs
// them.
//
// The cost of an acquire or release does not grow with the number of
// holders: each process keeps the table in memory, indexed by lock name,
// and on taking the flock reads only the records others appended since
// (a single write each); it checks liveness only of the holders in its
// way. Once the records outnumber twice the holders (and 1024), the file
// is compacted: dead holders dropped and a new snapshot written to a
// temporary file, fsynced and renamed over the table, the directory
// fsynced. The rename is the only way the snapshot changes, so a torn
// snapshot can never be seen; a record torn by a kill or a full disk is
// the last bytes of the file, never acknowledged, and cut off by the
// next holder of the flock. Anything else that does not parse fails
// closed: no lock is granted while the table cannot be read, and the
// error names the file and line.
type DirLocks struct {
	Dir string

	mu   sync.Mutex // the flock is per open file; this serialises our goroutines
	dirf *os.File   // the directory: flocked, and fsynced after a rename
	host string
	seq  uint64

	// The table as of our last look, kept between flocks.
	f           *os.File // table.json as loaded (O_APPEND)
	off         int64    // bytes of f applied
	lines       int      // lines of f applied (for FILE:LINE)
	gen         uint64   // the snapshot's generation
	records     int      // change records since the snapshot
	nextCompact int
	st          lockState
	// mine maps an owner to the IDs of the holders this store took for it.
	mine map[string]map[string]bool
}

// lockState is the table indexed by lock name.
type lockState struct {
	holders map[string]*lockHolder
	excl    map[string]string              // lock name -> holder ID
	shared  map[string]map[string]struct{} // lock name -> holder IDs
}

func newLockState() lockState {
	return lockState{holders: map[string]*lockHolder{}, excl: map[string]string{}, shared: map[string]map[string]struct{}{}}
}

func (s *lockState) add(h *lockHolder) {
	s.remove(h.ID)
	s.holders[h.ID] = h
	for _, n := range h.Exclusive {
		s.excl[n] = h.ID
	}
	for _, n := range h.Shared {
		m := s.shared[n]
		if m == nil {
			m = map[string]struct{}{}
			s.shared[n] = m
		}
		m[h.ID] = struct{}{}
	}
}

func (s *lockState) remove(id string) {
	h := s.holders[id]
	if h == nil {
		return
	}
	delete(s.holders, id)
	for _, n := range h.Exclusive {
		if s.excl[n] == id {
			delete(s.excl, n)
		}
	}
	for _, n := range h.Shared {
		if m := s.shared[n]; m != nil {
			delete(m, id)
			if len(m) == 0 {
				delete(s.shared, n)
			}
		}
	}
}

// conflict returns a holder in the way of h ("" none).
func (s *lockState) conflict(h *lockHolder) string {
	for _, n := range h.Exclusive {
		if id, ok := s.excl[n]; ok {
			return id
		}
		for id := range s.shared[n] {
			return id
		}
	}
	for _, n := range h.Shared {
		if id, ok := s.excl[n]; ok {
			return id
		}
	}
	return ""
}

// NewDirLocks returns a lock store in dir, creating it.
func NewDirLocks(dir string) (*DirLocks, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	h, _ := os.Hostname()
	d := &DirLocks{Dir: dir, dirf: dirf, host: h, mine: map[string]map[string]bool{}}
	// Load now: a table that cannot be read is reported before any work.
	if err := d.with(func() error { return nil }); err != nil {
		dirf.Close()
		return nil, err
	}
	return d, nil
}

// Close releases the store's files; locks still held stay in the table
// until released or their process dies.
func (d *DirLocks) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	return d.dirf.Close()
}

func (d *DirLocks) path() string { return filepath.Join(d.Dir, "table.json") }

type lockHolder struct {
	ID        string   `json:"id"`
	Owner     string   `json:"owner"`
	Host      string   `json:"host"`
	PID       int      `json:"pid"`
	Since     string   `json:"since"`
	Exclusive []string `json:"exclusive"`
	Shared    []string `json:"shared"`
	// Groups are the process groups of the tools the holder's step
	// started (GroupRecorder).
	Groups []int `json:"groups,omitempty"`
}

// lockTable is the snapshot, the table's first line. A table written
// before the change records existed is this object alone (generation 0).
type lockTable struct {
	Generation uint64       `json:"generation"`
	Holders    []lockHolder `json:"holders"`
}

// lockRecord is one change after the snapshot: exactly one of Acquire,
// Release, Group (with PGID).
type lockRecord struct {
	Acquire *lockHolder `json:"acquire,omitempty"`
	Release string      `json:"release,omitempty"`
	Group   string      `json:"group,omitempty"`
	PGID    int         `json:"pgid,omitempty"`
}

// TryAcquire implements TryLocker.
func (d *DirLocks) TryAcquire(owner string, exclusive, shared []string) (func() error, bool, error) {
	h := d.holder(owner, exclusive, shared)
	ok, err := d.tryAcquire(h)
	if err != nil || !ok {
		return nil, false, err
	}
	return d.releaser(h.ID), true, nil
}

func (d *DirLocks) releaser(id string) func() error {
	var once sync.Once
	return func() error {
		var rerr error
		once.Do(func() { rerr = d.release(id) })
		return rerr
	}
}

func (d *DirLocks) holder(owner string, exclusive, shared []string) *lockHolder {
	d.mu.Lock()
	d.seq++
	id := fmt.Sprintf("%d-%d-%d", os.Getpid(), time.Now().UnixNano(), d.seq)
	d.mu.Unlock()
	h := &lockHolder{ID: id, Owner: owner, Host: d.host, PID: os.Getpid(),
		Since: time.Now().UTC().Format(time.RFC3339Nano), Exclusive: exclusive, Shared: shared}
	if h.Exclusive == nil {
		h.Exclusive = []string{}
	}
	if h.Shared == nil {
		h.Shared = []string{}
	}
	return h
}

// Acquire implements LockStore.
func (d *DirLocks) Acquire(ctx context.Context, owner string, exclusive, shared []string) (func() error, error) {
	h := d.holder(owner, exclusive, shared)
	return acquireLoop(ctx, nil, nil, func() (func() error, bool, error) {
		ok, err := d.tryAcquire(h)
		if err != nil || !ok {
			return nil, false, err
		}
		return d.releaser(h.ID), true, nil
	})
}

// acquireLoop tries a lock set until try takes it, ctx ends, or lost is
// closed (then it returns lostErr()). It polls with jittered backoff from
// 2 ms to 100 ms, so waiters from several processes do not stampede the
// table.
func acquireLoop(ctx context.Context, lost <-chan struct{}, lostErr func() error, try func() (func() error, bool, error)) (func() error, error) {
	wait := 2 * time.Millisecond
	for {
		rel, ok, err := try()
		if err != nil || ok {
			return rel, err
		}
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-lost:
			t.Stop()
			return nil, lostErr()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// with runs f holding the directory's flock, the table brought up to date
// first; f changes it through d.append. A due compaction follows.
func (d *DirLocks) with(f func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := Flock(d.dirf, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	defer Flock(d.dirf, syscall.LOCK_UN)
	if err := d.sync(); err != nil {
		return err
	}
	if err := f(); err != nil {
		return err
	}
	if d.records >= d.nextCompact {
		if err := d.compact(); err != nil {
			// The table as it is stays valid; try again later.
			d.nextCompact = 2*d.records + 1
		}
	}
	return nil
}

// Flock is syscall.Flock retried across EINTR (a signal arriving while it
// waits); exec's file locks use it too.
func Flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// sync brings d.st up to date with the file: the records appended since
// we last looked, or the whole file when it was replaced (compacted).
func (d *DirLocks) sync() error {
	if d.f == nil {
		return d.load()
	}
	fi, err := d.f.Stat()
	if err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		return d.load() // renamed over: a compaction
	}
	switch size := fi.Size(); {
	case size == d.off:
		return nil
	case size < d.off:
		return d.load()
	default:
		buf := make([]byte, size-d.off)
		if _, err := d.f.ReadAt(buf, d.off); err != nil {
			return fmt.Errorf("lock store: %w", err)
		}
		return d.apply(buf, d.off)
	}
}

// load reads the whole table: the snapshot, then every record.
func (d *DirLocks) load() error {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	d.st, d.off, d.lines, d.gen, d.records = newLockState(), 0, 0, 0, 0
	f, err := os.OpenFile(d.path(), os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return d.compact() // a new store: write its first snapshot
	}
	if err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("lock store: %w", err)
	}
	d.f = f
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		// Empty, or the whole-object table of an earlier echelon: read
		// it, then rewrite it as a snapshot line.
		if len(bytes.TrimSpace(data)) > 0 {
			var t lockTable
			if err := json.Unmarshal(data, &t); err != nil {
				d.f.Close()
				d.f = nil
				return d.corrupt(1, err)
			}
			for i := range t.Holders {
				d.st.add(&t.Holders[i])
			}
		}
		return d.compact()
	}
	var t lockTable
	if err := json.Unmarshal(data[:nl], &t); err != nil {
		d.f.Close()
		d.f = nil
		return d.corrupt(1, err)
	}
	for i := range t.Holders {
		d.st.add(&t.Holders[i])
	}
	d.gen, d.off, d.lines = t.Generation, int64(nl+1), 1
	d.nextCompact = max(1024, 2*len(d.st.holders))
	return d.apply(data[nl+1:], d.off)
}

// apply applies the records in buf, the bytes of the file from offset at.
// Bytes after the last newline are a record torn by a kill or a full disk
// (its writer held the flock, so it is gone or gave up): cut off.
func (d *DirLocks) apply(buf []byte, at int64) error {
	for len(buf) > 0 {
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			if err := d.f.Truncate(at); err != nil {
				return fmt.Errorf("lock store: cutting a torn record: %w", err)
			}
			break
		}
		line := buf[:nl]
		buf, at = buf[nl+1:], at+int64(nl+1)
		var r lockRecord
		err := json.Unmarshal(line, &r)
		if err == nil {
			err = d.applyRecord(r)
		}
		if err != nil {
			line := d.lines + 1
			d.f.Close()
			d.f = nil
			return d.corrupt(line, err)
		}
		d.off, d.lines = at, d.lines+1
		d.records++
	}
	return nil
}

func (d *DirLocks) applyRecord(r lockRecord) error {
	switch {
	case r.Acquire != nil && r.Release == "" && r.Group == "" && r.Acquire.ID != "":
		d.st.add(r.Acquire)
	case r.Release != "" && r.Acquire == nil && r.Group == "":
		d.st.remove(r.Release)
	case r.Group != "" && r.Acquire == nil && r.Release == "":
		if h := d.st.holders[r.Group]; h != nil && !slices.Contains(h.Groups, r.PGID) {
			h.Groups = append(h.Groups, r.PGID)
		}
	default:
		return errors.New("not a lock record")
	}
	return nil
}

// corrupt is the fail-closed error for a table that cannot be read.
func (d *DirLocks) corrupt(line int, err error) error {
	return fmt.Errorf("lock store %s:%d: unreadable (%v); no lock is granted while the table cannot be read: "+
		"if no apply is running with this state directory, remove %s", d.path(), line, err, d.path())
}

// append writes one record with a single write and applies it. A short
// write (a full disk) is cut off again, and the change did not happen.
func (d *DirLocks) append(r lockRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := d.f.Write(b); err != nil {
		_ = d.f.Truncate(d.off) // else the next holder of the flock cuts it
		return fmt.Errorf("lock store %s: %w", d.path(), err)
	}
	if err := d.applyRecord(r); err != nil {
		return err
	}
	d.off += int64(len(b))
	d.lines++
	d.records++
	return nil
}

// compact drops dead holders and replaces the table by a snapshot of the
// live ones: temporary file, fsync, rename, fsync of the directory.
func (d *DirLocks) compact() error {
	for id, h := range d.st.holders {
		if !holderAlive(*h, d.host) {
			d.st.remove(id)
		}
	}
	ids := slices.Sorted(maps.Keys(d.st.holders))
	t := lockTable{Generation: d.gen + 1, Holders: make([]lockHolder, 0, len(ids))}
	for _, id := range ids {
		t.Holders = append(t.Holders, *d.st.holders[id])
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(d.Dir, ".table-*.json")
	if err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), d.path())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("lock store: writing %s: %w", d.path(), err)
	}
	if err := d.dirf.Sync(); err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	f, err := os.OpenFile(d.path(), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	if d.f != nil {
		d.f.Close()
	}
	d.f, d.off, d.lines, d.gen, d.records = f, int64(len(b)), 1, t.Generation, 0
	d.nextCompact = max(1024, 2*len(t.Holders))
	return nil
}

func (d *DirLocks) tryAcquire(h *lockHolder) (bool, error) {
	ok := false
	err := d.with(func() error {
		for {
			id := d.st.conflict(h)
			if id == "" {
				break
			}
			if holderAlive(*d.st.holders[id], d.host) {
				return nil
			}
			// A dead process's locks: reclaim them.
			if err := d.append(lockRecord{Release: id}); err != nil {
				return err
			}
		}
		if err := d.append(lockRecord{Acquire: h}); err != nil {
			return err
		}
		m := d.mine[h.Owner]
		if m == nil {
			m = map[string]bool{}
			d.mine[h.Owner] = m
		}
		m[h.ID] = true
		ok = true
		return nil
	})
	return ok, err
}

func (d *DirLocks) release(id string) error {
	return d.with(func() error {
		h := d.st.holders[id]
		if h == nil {
			return nil
		}
		if m := d.mine[h.Owner]; m != nil {
			if delete(m, id); len(m) == 0 {
				delete(d.mine, h.Owner)
			}
		}
		return d.append(lockRecord{Release: id})
	})
}

// AddGroup implements GroupRecorder: the holders this store took under
// owner record pgid.
func (d *DirLocks) AddGroup(owner string, pgid int) error {
	return d.with(func() error {
		for _, id := range slices.Sorted(maps.Keys(d.mine[owner])) {
			if h := d.st.holders[id]; h != nil && !slices.Contains(h.Groups, pgid) {
				if err := d.append(lockRecord{Group: id, PGID: pgid}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// holderAlive reports whether a holder's process, or a process group it
// started, still runs. Holders from another host are taken as alive: only
// that host can tell.
func holderAlive(h lockHolder, host string) bool {
	if h.Host != host || h.PID <= 0 {
		return h.Host != host
	}
	if h.PID == os.Getpid() {
		return true
	}
	if pidRuns(h.PID) {
		return true
	}
	for _, g := range h.Groups {
		if g > 1 && groupRuns(g) {
			return true
		}
	}
	return false
}

// pidExists: kill(pid, 0); EPERM means it exists under another user.
func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// pidRuns is pidExists for a process, not counting a zombie (an apply
// killed after its parent exited may never be reaped).
func pidRuns(pid int) bool {
	if !pidExists(pid) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: kill(2) said it exists
	}
	state, _, _ := procStat(b)
	return state != "Z" && state != "X"
}

// procStat reads state and pgrp from a /proc/PID/stat line: "pid (comm)
// state ppid pgrp ...", where comm may hold spaces and parentheses.
func procStat(b []byte) (state, pgrp string, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return "", "", false
	}
	return f[0], f[2], true
}

// groupRuns reports whether process group g has a member that is not a
// zombie. kill(-g, 0) alone also counts zombies, and in a container whose
// init does not reap, an orphan's zombie would hold the locks for ever.
func groupRuns(g int) bool {
	if !pidExists(-g) {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: keep the locks
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		state, pgrp, ok := procStat(b)
		if ok && pgrp == strconv.Itoa(g) && state != "Z" && state != "X" {
			return true
		}
	}
	return false
}

// Holders lists the table's holders, sorted by ID, with whether each
// one's process (or a process group it started) still runs.
func (d *DirLocks) Holders() ([]Holder, error) {
	var out []Holder
	err := d.with(func() error {
		for _, id := range slices.Sorted(maps.Keys(d.st.holders)) {
			h := d.st.holders[id]
			since, _ := time.Parse(time.RFC3339Nano, h.Since)
			out = append(out, Holder{ID: h.ID, Owner: h.Owner, Host: h.Host, PID: h.PID, Since: since,
				Exclusive: slices.Clone(h.Exclusive), Shared: slices.Clone(h.Shared),
				Groups: slices.Clone(h.Groups), Live: holderAlive(*h, d.host)})
		}
		return nil
	})
	return out, err
}

// ownerMatches reports whether holder (an ID or an owner) names h: an
// apply's owner also names its steps' holders (owner#op).
func ownerMatches(holder, id, owner string) bool {
	return holder == id || holder == owner || strings.HasPrefix(owner, holder+"#")
}

// Unlock removes the holders holder names (ID or owner) and says how many.
func (d *DirLocks) Unlock(holder string) (int, error) {
	n := 0
	err := d.with(func() error {
		for _, id := range slices.Sorted(maps.Keys(d.st.holders)) {
			h := d.st.holders[id]
			if !ownerMatches(holder, h.ID, h.Owner) {
				continue
			}
			if err := d.append(lockRecord{Release: id}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
