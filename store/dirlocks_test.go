package store

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestDirLocksCompatibility(t *testing.T) {
	dir := t.TempDir()
	a, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A second store on the same directory stands for another process.
	b, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	relA, ok, err := a.TryAcquire("A", []string{"x"}, []string{"base"})
	if err != nil || !ok {
		t.Fatalf("first acquire: %v %v", ok, err)
	}
	for _, tc := range []struct {
		name      string
		excl, shr []string
		want      bool
	}{
		{"exclusive on an exclusive", []string{"x"}, nil, false},
		{"shared on an exclusive", nil, []string{"x"}, false},
		{"shared on a shared", []string{"y"}, []string{"base"}, true},
		{"exclusive on a shared", []string{"base"}, nil, false},
		{"all or nothing", []string{"z", "x"}, nil, false},
	} {
		rel, ok, err := b.TryAcquire("B", tc.excl, tc.shr)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, ok, tc.want)
		}
		if ok {
			rel()
		}
	}
	// "all or nothing": z must not have been taken by the failed attempt.
	if rel, ok, _ := a.TryAcquire("A", []string{"z"}, nil); !ok {
		t.Error("a refused set left part of itself held")
	} else {
		rel()
	}

	// Acquire blocks until the holder releases, and gives up with ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := b.Acquire(ctx, "B", []string{"x"}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("blocked acquire: %v, want deadline exceeded", err)
	}
	cancel()
	got := make(chan error, 1)
	go func() {
		rel, err := b.Acquire(context.Background(), "B", []string{"x"}, nil)
		if err == nil {
			rel()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := relA(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("acquire after release: %v", err)
	}
}

// A holder whose process is gone (kill -9) does not block anyone.
func TestDirLocksReclaimDead(t *testing.T) {
	dir := t.TempDir()
	cmd := osexec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dead := lockTable{Holders: []lockHolder{{ID: "dead", Owner: "gone", Host: host, PID: cmd.Process.Pid,
		Exclusive: []string{"x"}, Shared: []string{}}}}
	b, _ := json.Marshal(dead)
	if err := os.WriteFile(filepath.Join(dir, "table.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rel, ok, err := l.TryAcquire("me", []string{"x"}, nil)
	if err != nil || !ok {
		t.Fatalf("the dead holder's lock was not reclaimed: %v %v", ok, err)
	}
	rel()
	if hs := lockHolders(t, dir); len(hs) != 0 {
		t.Errorf("table after release: %+v", hs)
	}
}

// lockHolders reads the lock table in dir as another process would.
func lockHolders(t *testing.T, dir string) []lockHolder {
	t.Helper()
	d, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []lockHolder
	for _, id := range slices.Sorted(maps.Keys(d.st.holders)) {
		out = append(out, *d.st.holders[id])
	}
	return out
}

// TestDirLocksDeadHolderGroups: a holder whose process is gone keeps its
// locks while a process group it recorded has a running process, and
// loses them once that group is only a zombie (not reaped) or gone.
// AddGroup records groups under the holder's owner only.
func TestDirLocksDeadHolderGroups(t *testing.T) {
	dir := t.TempDir()
	gone := osexec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	orphan := osexec.Command("sleep", "30")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	defer orphan.Process.Kill()
	host, _ := os.Hostname()
	tab := lockTable{Holders: []lockHolder{{ID: "dead", Owner: "gone", Host: host, PID: gone.Process.Pid,
		Exclusive: []string{"x"}, Shared: []string{}, Groups: []int{orphan.Process.Pid}}}}
	b, _ := json.Marshal(tab)
	if err := os.WriteFile(filepath.Join(dir, "table.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := NewDirLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, ok, err := l.TryAcquire("me", []string{"x"}, nil); err != nil || ok {
		t.Fatalf("took the lock while the dead holder's group runs: %v %v", ok, err)
	}
	// Our own holders record groups under their owner.
	rel, ok, err := l.TryAcquire("me#y", []string{"y"}, nil)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := l.AddGroup("me#y", 4242); err != nil {
		t.Fatal(err)
	}
	for _, h := range lockHolders(t, dir) {
		if want := h.Owner == "me#y"; want != slices.Contains(h.Groups, 4242) {
			t.Errorf("holder %s groups %v", h.Owner, h.Groups)
		}
	}
	rel()
	// Killed but not reaped: a zombie holds nothing.
	orphan.Process.Signal(syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); pidRuns(orphan.Process.Pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sleep did not die")
		}
	}
	rel, ok, err = l.TryAcquire("me", []string{"x"}, nil)
	if err != nil || !ok {
		t.Fatalf("the lock was not reclaimed after the group ended: %v %v", ok, err)
	}
	rel()
	orphan.Wait()
}
