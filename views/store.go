package views

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/echelonhq/echelon/store"
)

// Runs renders `echelon runs`: who holds which locks since when, and each
// plan's last run, live, stale or finished. now is when the store was read
// (ages are told from it).
func Runs(w io.Writer, asJSON bool, where string, holders []store.Holder, runs []store.RunInfo, now time.Time) error {
	if holders == nil {
		holders = []store.Holder{}
	}
	if runs == nil {
		runs = []store.RunInfo{}
	}
	if asJSON {
		b, err := json.MarshalIndent(struct {
			Store   string          `json:"store"`
			Holders []store.Holder  `json:"holders"`
			Runs    []store.RunInfo `json:"runs"`
		}{where, holders, runs}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	fmt.Fprintf(w, "store %s\n", where)
	fmt.Fprintf(w, "\nholders (%d):\n", len(holders))
	for _, h := range holders {
		state := "live"
		if l := leaseUntil(h.LeaseUntil); l != "" {
			state += " (" + l + ")"
		}
		if !h.Live {
			state = "stale (reclaimed by the next apply that needs its locks)"
		}
		fmt.Fprintf(w, "  %s  %s  host %s pid %d, since %s (%s ago), %s\n", h.ID, h.Owner, h.Host, h.PID,
			h.Since.UTC().Format(time.RFC3339), age(now, h.Since), state)
		if len(h.Exclusive) > 0 {
			fmt.Fprintf(w, "      EXCLUSIVE %s\n", strings.Join(h.Exclusive, ", "))
		}
		if len(h.Shared) > 0 {
			fmt.Fprintf(w, "      SHARED    %s\n", strings.Join(h.Shared, ", "))
		}
	}
	fmt.Fprintf(w, "\nruns (%d):\n", len(runs))
	for _, r := range runs {
		fmt.Fprintf(w, "  %s  %s", r.Digest, r.State)
		switch r.State {
		case store.RunLive:
			lease := ""
			if l := leaseUntil(r.LeaseUntil); l != "" {
				lease = ", " + l
			}
			fmt.Fprintf(w, " (%shost %s pid %d%s), started %s (%s ago)", runID(r), r.Host, r.PID, lease, r.Started.UTC().Format(time.RFC3339), age(now, r.Started))
		case store.RunFinished:
			fmt.Fprintf(w, " %s, %s%s", r.Outcome, r.Ended.UTC().Format(time.RFC3339), runWhere(r))
		default:
			fmt.Fprintf(w, ", started %s%s: no process holds it and it never ended (resume it with apply --resume)", r.Started.UTC().Format(time.RFC3339), runWhere(r))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// runID is "run 13, " for a database store's run ("" for a state
// directory's, which has no number).
func runID(r store.RunInfo) string {
	if r.ID == 0 {
		return ""
	}
	return fmt.Sprintf("run %d, ", r.ID)
}

// runWhere is " (run 13, host h)": which run and where it ran, what is
// known of them ("" for a state directory's finished run: this machine).
func runWhere(r store.RunInfo) string {
	var parts []string
	if r.ID != 0 {
		parts = append(parts, fmt.Sprintf("run %d", r.ID))
	}
	if r.Host != "" {
		parts = append(parts, "host "+r.Host)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// leaseUntil is "lease until 06:51:20 UTC", when a database store's
// holder's lease ends unless renewed: a holder that died keeps its locks
// and its run until then ("" on the state directory: none).
func leaseUntil(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return "lease until " + t.UTC().Format(time.TimeOnly) + " UTC"
}

func age(now, t time.Time) string {
	if t.IsZero() || now.Before(t) {
		return "0s"
	}
	return now.Sub(t).Truncate(time.Second).String()
}

// Unlocked renders `echelon unlock`: how many holders were removed.
func Unlocked(w io.Writer, asJSON bool, holder string, n int) error {
	if asJSON {
		b, err := json.Marshal(struct {
			Holder  string `json:"holder"`
			Removed int    `json:"removed"`
		}{holder, n})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	_, err := fmt.Fprintf(w, "removed %d holder(s) of %s\n", n, holder)
	return err
}
