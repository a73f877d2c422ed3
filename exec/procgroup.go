package exec

import (
	osexec "os/exec"
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
func inOwnProcessGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
}
