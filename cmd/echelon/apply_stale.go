package main

import (
	"context"
	"time"

	"github.com/echelonhq/echelon/store"
)

// staleRunNote is apply's one note when, without --resume, the plan's
// last run never finished and no one holds it (it died): a new run starts
// over, which --resume would not have. "" otherwise (or when the store
// cannot tell).
func staleRunNote(ctx context.Context, st store.Store, digest string) string {
	lr, ok := st.(store.LastRunner)
	if !ok {
		return ""
	}
	ri, ok, err := lr.LastRun(ctx, digest)
	if err != nil || !ok || ri.State != store.RunStale {
		return ""
	}
	on := ""
	if ri.Host != "" {
		on = ", on host " + ri.Host
	}
	return "the last run of this plan (started " + ri.Started.UTC().Format(time.RFC3339) + on +
		") did not finish; starting a new run (--resume continues it instead)"
}
