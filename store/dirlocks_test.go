package store

import (
	"encoding/json"
	"maps"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

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
