package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/echelonhq/echelon/store"
)

// storeFlags are --store (and ECHELON_STORE) and the hidden --store-lease.
type storeFlags struct {
	where *string
	lease *time.Duration
}

func (f *storeFlags) register(fs *pflag.FlagSet) {
	f.registerWith(fs, "the shared `STORE`: a postgres:// URL, or a state directory path (default $ECHELON_STORE, else the state directory)")
}

// registerURL is register for a command that needs a database store
// (worker): a path is refused, so its help names none.
func (f *storeFlags) registerURL(fs *pflag.FlagSet) {
	f.registerWith(fs, "the shared `STORE`: a postgres:// URL (default $ECHELON_STORE)")
}

func (f *storeFlags) registerWith(fs *pflag.FlagSet, help string) {
	f.where = fs.String("store", "", help)
	f.lease = fs.Duration("store-lease", 30*time.Second, "how long a database store's lease lasts without a heartbeat")
	_ = fs.MarkHidden("store-lease")
}

// value is --store, else $ECHELON_STORE ("" neither).
func (f *storeFlags) value() string {
	if *f.where != "" {
		return *f.where
	}
	return os.Getenv("ECHELON_STORE")
}

// stateDir is the state directory: --store when it is a path, else
// --state, else def.
func (f *storeFlags) stateDir(state, def string) string {
	if v := f.value(); v != "" && !store.IsURL(v) {
		return v
	}
	if state != "" {
		return state
	}
	return def
}

// open opens the store: the database when --store is a URL, else the
// state directory.
func (f *storeFlags) open(ctx context.Context, stateDir string) (store.Store, error) {
	where := f.value()
	if !store.IsURL(where) {
		where = stateDir
	}
	return store.Open(ctx, where, store.Options{LocalDir: stateDir, Lease: *f.lease})
}
