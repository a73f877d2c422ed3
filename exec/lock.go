package exec

import (
	"context"
	"sort"

	"github.com/echelonhq/echelon/store"
)

// LockStore holds the contract's EXCLUSIVE/SHARED lock sets across every
// apply that shares a state store (store.Locks; see package store).
type LockStore interface {
	Acquire(ctx context.Context, owner string, exclusive, shared []string) (release func() error, err error)
}

// TryLocker is a LockStore that can also try a set without waiting.
type TryLocker = store.TryLocker

// GroupRecorder is a LockStore that can note the process groups a
// holder's step started.
type GroupRecorder interface {
	AddGroup(owner string, pgid int) error
}

// DirLocks is the state directory's lock table (store.DirLocks).
type DirLocks = store.DirLocks

// NewDirLocks returns the lock table in dir (store.NewDirLocks).
func NewDirLocks(dir string) (*DirLocks, error) { return store.NewDirLocks(dir) }

// lockNames namespaces operation IDs by deployment so two deployments on one
// state store never contend.
func lockNames(deployment string, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, deployment+"/"+id)
	}
	sort.Strings(out)
	return out
}
