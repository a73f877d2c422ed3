package kubetest

import "syscall"

// sysProcAttr kills the servers when the test binary dies without running
// its cleanups (a panic in another goroutine, a timeout, kill -9), so no
// apiserver outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
