//go:build !linux

package exec

// groupGuard: only Linux has the group guard (guard_linux.go); elsewhere
// the lock store's process-group records keep a dead apply's locks while
// its children run.
type groupGuard struct{}

var guard = &groupGuard{}

func (*groupGuard) watch(int)   {}
func (*groupGuard) unwatch(int) {}
