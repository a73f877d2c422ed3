package exec

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestWatchToolGroups: a child named like the tool, leading its own group
// (as terraform-exec starts terraform), is reported; a child with another
// name is not.
func TestWatchToolGroups(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	sleep, err := osexec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	tool := filepath.Join(t.TempDir(), "faketerraform")
	if err := os.Symlink(sleep, tool); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int
	s := Step{Started: func(pgid int) {
		mu.Lock()
		got = append(got, pgid)
		mu.Unlock()
	}}
	stop := watchToolGroups(s, tool)
	start := func(bin string) *osexec.Cmd {
		cmd := osexec.Command(bin, "5")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	other := start(sleep)
	ours := start(tool)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		found := slices.Contains(got, ours.Process.Pid)
		mu.Unlock()
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tool's group %d was not reported (got %v)", ours.Process.Pid, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if slices.Contains(got, other.Process.Pid) {
		t.Errorf("reported %d, a child with another name", other.Process.Pid)
	}
}
