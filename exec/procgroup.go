package exec

import (
	osexec "os/exec"
	"runtime"
	"syscall"
	"time"
)

// inOwnProcessGroup makes cmd the leader of a process group of its own, the
// way every driver that starts a tool process (command, kubectl, helm) runs
// it. The terminal's Ctrl-C goes to the foreground group, and the first one
// must not reach running operations (they finish). Cancelling cmd's context (the second Ctrl-C) sends
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
// (cmd is its group's leader: inOwnProcessGroup). The group guard watches
// the group meanwhile (guard_linux.go): if echelon dies, the guard kills
// what still runs of it.
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
	pgid := cmd.Process.Pid
	guard.watch(pgid)
	defer guard.unwatch(pgid)
	if s.Started != nil {
		s.Started(pgid)
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
