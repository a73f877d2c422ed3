//go:build !linux

package exec

import "syscall"

// setDeathSignal: only Linux has a parent-death signal; elsewhere the lock
// store's process-group records keep a dead apply's locks while its
// children run.
func setDeathSignal(*syscall.SysProcAttr) {}
