package store

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/echelonhq/echelon/store/pgtest"
)

// Orphaned process groups (orphans.go) on a real PostgreSQL, with real
// process groups: a `sleep` leading a group of its own stands for what a
// dead echelon's step left running.

// startGroup starts sleep 120 as the leader of a process group of its own
// and returns it; it is killed when the test ends.
func startGroup(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "120")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	})
	return c
}

// warnings collects a store's warnings.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }
func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

func (w *warnings) waitFor(t *testing.T, sub string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.all(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning with %q; warnings:\n%s", sub, w.all())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sql(t *testing.T, p *Postgres, q string, args ...any) {
	t.Helper()
	if _, err := p.pool.Exec(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}

// holdWithGroup has a fresh store take x with a running process group
// recorded, and ends its lease: a dead holder whose step's group runs on.
func holdWithGroup(t *testing.T, url string) (*Postgres, *exec.Cmd) {
	t.Helper()
	a := openPG(t, url)
	if _, ok, err := a.TryAcquire("A#x", []string{"d/x"}, nil); err != nil || !ok {
		t.Fatal(ok, err)
	}
	g := startGroup(t)
	if err := a.AddGroup("A#x", g.Process.Pid); err != nil {
		t.Fatal(err)
	}
	expire(t, a)
	return a, g
}

// TestPostgresOrphanSameHost: a holder whose lease ran out while its
// step's process group runs on this host is taken over only after the
// taker killed that group, and the group is gone when the taker has the
// set.
func TestPostgresOrphanSameHost(t *testing.T) {
	url := pgtest.URL(t)
	_, g := holdWithGroup(t, url)
	b := openPG(t, url)
	var w warnings
	b.SetWarn(w.add)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rel, err := b.Acquire(ctx, "B#x", []string{"d/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rel()
	if st := CheckGroup(g.Process.Pid, 0); st != GroupGone {
		t.Errorf("B has the set while the dead holder's group is %s", st)
	}
	if !strings.Contains(w.all(), "killed process group") {
		t.Errorf("B does not say it killed the group: %q", w.all())
	}
	var n int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM step_groups").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d group records left (%v), want 0", n, err)
	}
}

// TestPostgresOrphanOtherHost: a dead holder whose groups ran on another
// host (which this one cannot see) is not taken over during one more lease
// after its lease ended; the taker says whose groups it waits for, and
// then takes it over, saying so. Nothing is killed here.
func TestPostgresOrphanOtherHost(t *testing.T) {
	url := pgtest.URL(t)
	a, g := holdWithGroup(t, url)
	sql(t, a, "UPDATE sessions SET host = 'elsewhere', lease_until = now() - interval '1 second' WHERE id = $1", a.session)
	b := openPG(t, url)
	var w warnings
	b.SetWarn(w.add)
	if _, ok, err := b.TryAcquire("B#x", []string{"d/x"}, nil); ok || err != nil {
		t.Fatalf("B took the set of a holder whose groups may still run elsewhere (%v)", err)
	}
	w.waitFor(t, "waiting for holder")
	if m := w.all(); !strings.Contains(m, "host elsewhere") || !strings.Contains(m, "groups "+strconv.Itoa(g.Process.Pid)) {
		t.Errorf("the warning does not name the host and groups: %q", m)
	}
	// One lease (30 s) after the lease ended, and after the group was
	// last seen running.
	sql(t, a, "UPDATE sessions SET lease_until = now() - interval '31 seconds' WHERE id = $1", a.session)
	if _, ok, _ := b.TryAcquire("B#x", []string{"d/x"}, nil); ok {
		t.Fatal("B took the set over while the group was seen running less than a lease ago")
	}
	sql(t, a, "UPDATE step_groups SET seen = now() - interval '31 seconds'")
	rel, ok, err := b.TryAcquire("B#x", []string{"d/x"}, nil)
	if err != nil || !ok {
		t.Fatalf("B after the grace: %v %v", ok, err)
	}
	defer rel()
	w.waitFor(t, "took over the locks of holder")
	if st := CheckGroup(g.Process.Pid, 0); st == GroupGone {
		t.Error("a group recorded on another host was killed here")
	}
}

// TestPostgresOrphanReusedID: a recorded group whose leader's PID is
// another process's now (its start time differs) ended: it is not killed,
// and the holder is taken over.
func TestPostgresOrphanReusedID(t *testing.T) {
	url := pgtest.URL(t)
	a, g := holdWithGroup(t, url)
	sql(t, a, "UPDATE step_groups SET leader = leader + 1")
	b := openPG(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rel, err := b.Acquire(ctx, "B#x", []string{"d/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rel()
	if st := CheckGroup(g.Process.Pid, 0); st == GroupGone {
		t.Error("a group whose ID is another's now was killed")
	}
}

// TestPostgresCleanOrphans: CleanOrphans (a worker at start) kills the
// groups of this host's dead sessions and drops their records, before
// anyone wants their locks; a live session's groups are left alone.
func TestPostgresCleanOrphans(t *testing.T) {
	url := pgtest.URL(t)
	_, dead := holdWithGroup(t, url)
	live := openPG(t, url)
	if _, ok, err := live.TryAcquire("L#y", []string{"d/y"}, nil); err != nil || !ok {
		t.Fatal(ok, err)
	}
	lg := startGroup(t)
	if err := live.AddGroup("L#y", lg.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c := openPG(t, url)
	var w warnings
	c.SetWarn(w.add)
	if err := c.CleanOrphans(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := CheckGroup(dead.Process.Pid, 0); st != GroupGone {
		t.Errorf("the dead session's group is %s after CleanOrphans", st)
	}
	if st := CheckGroup(lg.Process.Pid, 0); st == GroupGone {
		t.Error("CleanOrphans killed a live session's group")
	}
	var n int
	if err := c.pool.QueryRow(context.Background(), "SELECT count(*) FROM step_groups").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d group records (%v), want the live one's", n, err)
	}
	if !strings.Contains(w.all(), "killed process group "+strconv.Itoa(dead.Process.Pid)) {
		t.Errorf("warnings %q", w.all())
	}
}

// TestPostgresReleaseDropsGroups: a holder let go by its own session takes
// its group records with it: nothing waits for a step that ended.
func TestPostgresReleaseDropsGroups(t *testing.T) {
	url := pgtest.URL(t)
	a := openPG(t, url)
	rel, ok, err := a.TryAcquire("A#x", []string{"d/x"}, nil)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	g := startGroup(t)
	if err := a.AddGroup("A#x", g.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := rel(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.pool.QueryRow(context.Background(), "SELECT count(*) FROM step_groups").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d group records after the release (%v), want 0", n, err)
	}
}

// TestKillGroupChecksLeader: KillGroup kills a group only while its
// leader is the recorded process (its start time); a group that runs is
// GroupOurs, one whose leader's start differs GroupOther.
func TestKillGroupChecksLeader(t *testing.T) {
	g := startGroup(t)
	pid := g.Process.Pid
	start := ProcStart(pid)
	if start == 0 {
		t.Skip("no /proc")
	}
	if st := CheckGroup(pid, start); st != GroupOurs {
		t.Fatalf("CheckGroup of a running group: %s", st)
	}
	if st, err := KillGroup(pid, start+1, time.Second); err != nil || st != GroupOther {
		t.Fatalf("KillGroup with another leader's start: %s %v", st, err)
	}
	if CheckGroup(pid, 0) == GroupGone {
		t.Fatal("KillGroup killed a group whose leader was not the recorded one")
	}
	if st, err := KillGroup(pid, start, 20*time.Second); err != nil || st != GroupGone {
		t.Fatalf("KillGroup of the recorded group: %s %v", st, err)
	}
}
