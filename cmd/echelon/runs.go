package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/echelonhq/echelon/views"
)

const runsUsage = `runs [--store URL] [--state DIR] [--json]

Lists who holds which locks in the store, since when, and whether each
holder is live (its process runs, or on PostgreSQL its lease holds) or
stale; then each plan's last run: live (a process holds it), stale (it
died: resume it with apply --resume) or finished, with its outcome.

  echelon runs --store postgres://ci@db.internal/echelon
  echelon runs --state .echelon --json`

// runStdin is where unlock reads its confirmation; tests swap it.
var runStdin io.Reader = os.Stdin

// runRuns lists the store's holders and runs.
func runRuns(ctx context.Context, args []string) error {
	fs := newFlagSet("runs", runsUsage)
	var stf storeFlags
	stf.register(fs)
	state := fs.String("state", "", "state `DIR` (default .echelon)")
	asJSON := fs.Bool("json", false, "print holders and runs as JSON")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 0 {
		return usagef("runs takes no arguments, got %d", fs.NArg())
	}
	st, err := stf.open(ctx, stf.stateDir(*state, ".echelon"))
	if err != nil {
		return err
	}
	defer st.Close()
	holders, err := st.Holders(ctx)
	if err != nil {
		return err
	}
	runs, err := st.Runs(ctx)
	if err != nil {
		return err
	}
	return views.Runs(currentStdout{}, *asJSON, st.Where(), holders, runs, time.Now())
}

const unlockUsage = `unlock HOLDER [--store URL] [--state DIR] [--yes] [--json]

Removes a lock holder from the store: HOLDER is a holder's ID or owner as
echelon runs lists them (an apply's owner, HOST:PID:DIGEST, names every
holder of its operations). Only for a holder that is stuck: a live apply
whose locks are removed may overlap the next one. Asks for confirmation
unless --yes.

  echelon runs --store $ECHELON_STORE
  echelon unlock 42 --store $ECHELON_STORE --yes`

// runUnlock removes a holder after confirmation.
func runUnlock(ctx context.Context, args []string) error {
	fs := newFlagSet("unlock", unlockUsage)
	var stf storeFlags
	stf.register(fs)
	state := fs.String("state", "", "state `DIR` (default .echelon)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	asJSON := fs.Bool("json", false, "print what was removed as JSON")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		return usagef("unlock takes one holder (an ID or owner from echelon runs), got %d arguments", fs.NArg())
	}
	holder := fs.Arg(0)
	st, err := stf.open(ctx, stf.stateDir(*state, ".echelon"))
	if err != nil {
		return err
	}
	defer st.Close()
	if !*yes {
		fmt.Fprintf(os.Stderr, "remove holder %s from %s? its locks are free at once, even if its apply still runs [y/N] ", holder, st.Where())
		line, _ := bufio.NewReader(runStdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not unlocked (answer y, or pass --yes)")
		}
	}
	n, err := st.Unlock(ctx, holder)
	if err != nil {
		return err
	}
	if n == 0 {
		// One message: the error (with --json, main's one JSON object).
		return fmt.Errorf("no holder %s in %s (echelon runs lists them): %w", holder, st.Where(), errNoHolder)
	}
	return views.Unlocked(currentStdout{}, *asJSON, holder, n)
}

var errNoHolder = errors.New("nothing unlocked")
