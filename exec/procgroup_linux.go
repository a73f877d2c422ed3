package exec

import "syscall"

// setDeathSignal has the kernel SIGKILL the child when apply dies, even by
// kill -9: an orphaned operation would otherwise keep running while the
// lock store hands its locks to the next apply.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
