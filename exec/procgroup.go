package exec

import (
	"bytes"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// inOwnProcessGroup makes cmd the leader of a process group of its own, the
// way every driver that starts a tool process (command, kubectl, helm) runs
// it. The terminal's Ctrl-C goes to the foreground group, and the first one
// must not reach running operations (they finish; terraform-exec does the
// same for terraform). Cancelling cmd's context (the second Ctrl-C) sends
// SIGTERM to the whole group, so a tool's own children (a helm plugin, a
// shell's sleep) stop too; WaitDelay then kills the leader and closes the
// pipes, so Wait cannot hang on a grandchild that inherited them.
//
// On Linux the tool also gets SIGKILL when apply dies (kill -9): see
// setDeathSignal and runChild.
func inOwnProcessGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
}

// runChild runs cmd to completion and tells s.Started its process group
// (cmd is its group's leader: inOwnProcessGroup).
//
// The death signal (PR_SET_PDEATHSIG) fires when the OS thread that forked
// the child exits, not the process: the goroutine stays locked to its
// thread from the fork until the child is reaped, so the Go runtime cannot
// retire that thread under a running child.
func runChild(s Step, cmd *osexec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	if s.Started != nil {
		s.Started(cmd.Process.Pid)
	}
	return cmd.Wait()
}

// recordGroup notes a step's child process group with its locks.
func (r *runner) recordGroup(owner string, pgid int) {
	if gr, ok := r.locks.(GroupRecorder); ok {
		// Best effort: without the record a kill -9 of apply frees the
		// locks as soon as its pid is gone, as before.
		_ = gr.AddGroup(owner, pgid)
	}
}

// watchToolGroups records, through s.Started, the process groups of the
// children of this process named like bin (terraform-exec starts
// terraform in a group of its own but does not say its pid). It polls
// /proc until stop is called, quickly at first (terraform is found before
// it starts providers) then every second. Concurrent steps may record each
// other's terraform: that only makes a dead apply's locks wait for more of
// its orphans. Without /proc it records nothing.
func watchToolGroups(s Step, bin string) (stop func()) {
	if s.Started == nil {
		return func() {}
	}
	name := filepath.Base(bin)
	if len(name) > 15 {
		name = name[:15] // the kernel's comm is at most 15 bytes
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		seen := map[int]bool{}
		wait := 10 * time.Millisecond
		for {
			for _, pid := range childGroupLeaders(name) {
				if !seen[pid] {
					seen[pid] = true
					s.Started(pid)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// childGroupLeaders lists this process's children named comm that lead a
// process group of their own.
func childGroupLeaders(comm string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		lp, rp := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if lp < 0 || rp < lp {
			continue
		}
		f := strings.Fields(string(b[rp+1:]))
		if len(f) < 3 || f[1] != self || f[2] != e.Name() || string(b[lp+1:rp]) != comm {
			continue
		}
		out = append(out, pid)
	}
	return out
}
