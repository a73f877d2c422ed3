package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LockStore holds the contract's EXCLUSIVE/SHARED lock sets across every
// apply that shares a state store. Acquire takes the whole set or nothing,
// blocking until it can or ctx ends; because no holder ever waits for more
// while holding a set, two applies cannot deadlock. A shared database can
// implement the same interface for teams.
type LockStore interface {
	Acquire(ctx context.Context, owner string, exclusive, shared []string) (release func() error, err error)
}

// TryLocker is a LockStore that can also try a set without waiting. The
// scheduler uses it so an operation whose locks another apply holds does
// not take a slot while it waits: other ready operations start meanwhile.
type TryLocker interface {
	TryAcquire(owner string, exclusive, shared []string) (release func() error, ok bool, err error)
}

// GroupRecorder is a LockStore that can note the process groups a
// holder's step started. A holder whose apply died keeps its locks while
// any of those groups still has a process: an orphaned operation (its
// apply killed with -9) must not overlap the next apply's run of it.
type GroupRecorder interface {
	AddGroup(owner string, pgid int) error
}

// DirLocks is the embedded LockStore: a directory with a lock table
// (table.json) guarded by a flock on that file. Holders record their
// pid, so the locks of a process that died (kill -9) are reclaimed by the
// next one that looks.
type DirLocks struct {
	Dir string

	mu  sync.Mutex // flock is per open file; this serialises our goroutines
	fd  *os.File   // the lock table; also what is flocked
	buf []byte
	// last is the table as we last wrote it, lastTable its decoded form.
	last      []byte
	lastTable lockTable
	seq       uint64
	host      string
}

// NewDirLocks returns a lock store in dir, creating it.
func NewDirLocks(dir string) (*DirLocks, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "table.json"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	h, _ := os.Hostname()
	return &DirLocks{Dir: dir, fd: f, host: h}, nil
}

// Close releases the store's file; locks still held stay in the table until
// released or their process dies.
func (d *DirLocks) Close() error { return d.fd.Close() }

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

type lockTable struct {
	Holders []lockHolder `json:"holders"`
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

func (d *DirLocks) holder(owner string, exclusive, shared []string) lockHolder {
	d.mu.Lock()
	d.seq++
	id := fmt.Sprintf("%d-%d-%d", os.Getpid(), time.Now().UnixNano(), d.seq)
	d.mu.Unlock()
	h := lockHolder{ID: id, Owner: owner, Host: d.host, PID: os.Getpid(),
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
	wait := 2 * time.Millisecond
	for {
		ok, err := d.tryAcquire(h)
		if err != nil {
			return nil, err
		}
		if ok {
			return d.releaser(h.ID), nil
		}
		// Poll with jittered backoff: waiters from several processes do not
		// stampede the table.
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// with runs f holding the table's flock. The table lives in the locked
// file itself, rewritten in place (write at 0, then truncate to length):
// replacing a file by rename makes ext4 flush it (auto_da_alloc), which
// cost milliseconds per operation. Readers hold the flock, so they never
// see a half-written table; the table needs no durability, since a
// restarted process holds nothing.
func (d *DirLocks) with(f func(t *lockTable) (write bool, err error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := flock(d.fd, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	defer flock(d.fd, syscall.LOCK_UN)
	fi, err := d.fd.Stat()
	if err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	var t lockTable
	if n := fi.Size(); n > 0 {
		if cap(d.buf) < int(n) {
			d.buf = make([]byte, n)
		}
		data := d.buf[:n]
		if _, err := d.fd.ReadAt(data, 0); err != nil {
			return fmt.Errorf("lock store: %w", err)
		}
		if bytes.Equal(data, d.last) {
			// Nobody else wrote since we did: skip the decode, which was
			// most of the cost per operation.
			t.Holders = append([]lockHolder(nil), d.lastTable.Holders...)
		} else if err := json.Unmarshal(data, &t); err != nil {
			// Only a crash mid-write leaves this; its writer is gone and
			// live holders re-check their own state, so start afresh.
			t = lockTable{}
		}
	}
	write, err := f(&t)
	if err != nil || !write {
		return err
	}
	if t.Holders == nil {
		t.Holders = []lockHolder{}
	}
	out, err := json.Marshal(t)
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if _, err := d.fd.WriteAt(out, 0); err != nil {
		return fmt.Errorf("lock store: %w", err)
	}
	if int64(len(out)) < fi.Size() {
		if err := d.fd.Truncate(int64(len(out))); err != nil {
			return fmt.Errorf("lock store: %w", err)
		}
	}
	d.last = out
	d.lastTable = lockTable{Holders: append([]lockHolder(nil), t.Holders...)}
	return nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func (d *DirLocks) tryAcquire(h lockHolder) (bool, error) {
	ok := false
	err := d.with(func(t *lockTable) (bool, error) {
		changed := false
		excl := map[string]bool{}
		held := map[string]bool{}
		live := t.Holders[:0]
		for _, o := range t.Holders {
			if !holderAlive(o, d.host) {
				changed = true // reclaim a dead process's locks
				continue
			}
			live = append(live, o)
			for _, n := range o.Exclusive {
				excl[n] = true
				held[n] = true
			}
			for _, n := range o.Shared {
				held[n] = true
			}
		}
		t.Holders = live
		for _, n := range h.Exclusive {
			if held[n] {
				return changed, nil
			}
		}
		for _, n := range h.Shared {
			if excl[n] {
				return changed, nil
			}
		}
		t.Holders = append(t.Holders, h)
		ok = true
		return true, nil
	})
	return ok, err
}

func (d *DirLocks) release(id string) error {
	return d.with(func(t *lockTable) (bool, error) {
		for i, o := range t.Holders {
			if o.ID == id {
				t.Holders = append(t.Holders[:i], t.Holders[i+1:]...)
				return true, nil
			}
		}
		return false, nil
	})
}

// AddGroup implements GroupRecorder: the holders this process took under
// owner record pgid.
func (d *DirLocks) AddGroup(owner string, pgid int) error {
	pid := os.Getpid()
	return d.with(func(t *lockTable) (bool, error) {
		changed := false
		for i := range t.Holders {
			h := &t.Holders[i]
			if h.Owner == owner && h.PID == pid && h.Host == d.host {
				h.Groups = append(h.Groups, pgid)
				changed = true
			}
		}
		return changed, nil
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

// lockNames namespaces operation IDs by deployment so two deployments on one
// state store never contend.
func lockNames(deployment string, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, deployment+"/"+id)
	}
	sort.Strings(out)
	return out
}
