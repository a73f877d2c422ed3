package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/echelonhq/echelon/exec"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// logsStdout is where logs writes; tests swap it.
var logsStdout io.Writer = currentStdout{}

const logsUsage = `logs PLAN OP [--attempt N] [--state DIR] [--store URL] [--json]

Prints the log of operation OP (an ID as apply and report name it) in the
plan's last run: its last attempt, or --attempt N. The log is read from
its file when the attempt ran on this machine, else from the shared store
of --store / ECHELON_STORE, where apply and workers keep each attempt's
log (its last MiB) when it ends. Logs are masked of secrets as written.

  echelon logs deploy.plan web/eu-west-1
  echelon logs deploy.plan web/eu-west-1 --attempt 2 --store postgres://ci@db.internal/echelon`

// runLogs prints one attempt's log.
func runLogs(ctx context.Context, args []string) error {
	fs := newFlagSet("logs", logsUsage)
	state := fs.String("state", "", "state `DIR` of the run (default .echelon next to the plan)")
	var stf storeFlags
	stf.register(fs)
	attempt := fs.Int("attempt", 0, "the attempt `N` (default the last one)")
	asJSON := fs.Bool("json", false, "print the log and where it was read as JSON")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 2 {
		return usagef("logs takes a plan file and an operation ID, got %s", planner.Plural(fs.NArg(), "argument"))
	}
	if *attempt < 0 {
		return usagef("--attempt must be 1 or more, got %d", *attempt)
	}
	planPath, op := fs.Arg(0), fs.Arg(1)
	plan, err := planner.ReadFile(planPath)
	if err != nil {
		return err
	}
	if !slicesContainsOp(plan, op) {
		return usagef("the plan %s has no operation %q (echelon show %s lists them)", planPath, op, planPath)
	}
	stateDir := stf.stateDir(*state, filepath.Join(filepath.Dir(planPath), ".echelon"))
	st, err := stf.open(ctx, stateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	att, loc, err := journalLog(ctx, st, plan, op, *attempt)
	if err != nil {
		return err
	}
	l, err := findLog(ctx, st, plan.PlanDigest, op, att, loc)
	if err != nil {
		return err
	}
	if *asJSON {
		data, err := l.read(0)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(struct {
			Op        string `json:"op"`
			Attempt   int    `json:"attempt"`
			Host      string `json:"host,omitempty"`
			From      string `json:"from"`
			Path      string `json:"path"`
			Truncated int64  `json:"truncated"`
			Log       string `json:"log"`
		}{op, att, l.host, l.from, l.path, l.truncated, string(data)}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(logsStdout, string(b))
		return err
	}
	if l.truncated > 0 {
		fmt.Fprintf(os.Stderr, "echelon logs: the first %d bytes of this log were cut: the store keeps the last %d MiB of each\n", l.truncated, store.MaxLog>>20)
	}
	if l.from == "file" {
		f, err := os.Open(l.path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(logsStdout, f)
		return err
	}
	_, err = logsStdout.Write(l.data)
	return err
}

func slicesContainsOp(p *planner.Plan, id string) bool {
	for i := range p.Operations {
		if p.Operations[i].ID == id {
			return true
		}
	}
	return false
}

// journalLog is the attempt of op to show (attempt, or the last one
// started) in the plan's journal in st, and its log as its op_end
// recorded it ("" when the attempt has not ended).
func journalLog(ctx context.Context, st store.Store, plan *planner.Plan, op string, attempt int) (int, string, error) {
	rc, err := st.Journal(ctx, plan.PlanDigest)
	if err != nil {
		return 0, "", fmt.Errorf("no run of this plan in %s (apply it first, or give --state or --store): %w", st.Where(), err)
	}
	defer rc.Close()
	started := map[int]bool{}
	logs := map[int]string{}
	last := 0
	err = exec.ReadEventsFrom(rc, func(ev exec.Event) {
		if ev.Op != op {
			return
		}
		switch ev.Kind {
		case exec.EvOpStart:
			started[ev.Attempt] = true
			last = max(last, ev.Attempt)
		case exec.EvOpEnd:
			logs[ev.Attempt] = ev.Log
		}
	})
	if err != nil {
		return 0, "", err
	}
	if last == 0 {
		return 0, "", fmt.Errorf("%s did not run in the plan's last run (journal %s)", op, st.Where())
	}
	if attempt == 0 {
		attempt = last
	}
	if !started[attempt] {
		var nums []int
		for a := range started {
			nums = append(nums, a)
		}
		sort.Ints(nums)
		have := make([]string, len(nums))
		for i, a := range nums {
			have[i] = strconv.Itoa(a)
		}
		return 0, "", fmt.Errorf("%s has no attempt %d in the plan's last run (its attempts: %s)", op, attempt, strings.Join(have, ", "))
	}
	return attempt, logs[attempt], nil
}

// opLog is where an attempt's log was found: its file on this machine,
// or the store's copy.
type opLog struct {
	from      string // "file" or "store"
	path      string // the file, or where the journal says it is
	host      string // the machine that wrote it, when known
	data      []byte // the store's copy
	truncated int64
}

// read is the log's last n bytes (all: n 0).
func (l *opLog) read(n int64) ([]byte, error) {
	if l.from == "store" {
		d := l.data
		if n > 0 && int64(len(d)) > n {
			d = d[int64(len(d))-n:]
		}
		return d, nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if n > 0 {
		if fi, err := f.Stat(); err == nil && fi.Size() > n {
			if _, err := f.Seek(fi.Size()-n, io.SeekStart); err != nil {
				return nil, err
			}
		}
	}
	return io.ReadAll(f)
}

// splitLogLoc splits a log's place as results record it: host:path for a
// worker's, a path for the runner's own.
func splitLogLoc(loc string) (host, path string) {
	if _, err := os.Stat(loc); err == nil {
		return "", loc
	}
	if i := strings.IndexByte(loc, ':'); i > 0 && !strings.ContainsRune(loc[:i], '/') {
		return loc[:i], loc[i+1:]
	}
	return "", loc
}

// findLog finds the log of op's attempt whose journal records it at loc:
// the store's copy when another machine wrote it, else the file when it
// is on this machine, else the store's copy.
func findLog(ctx context.Context, st store.Store, digest, op string, attempt int, loc string) (*opLog, error) {
	host, path := splitLogLoc(loc)
	me, _ := os.Hostname()
	sl, serr := st.Log(ctx, digest, op, attempt, host)
	if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
		return nil, serr
	}
	fromStore := func() *opLog {
		return &opLog{from: "store", path: loc, host: sl.Host, data: sl.Data, truncated: sl.Truncated}
	}
	if sl != nil && sl.Host != me {
		return fromStore(), nil
	}
	if path != "" && (host == "" || host == me) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			return &opLog{from: "file", path: path, host: me}, nil
		}
	}
	if sl != nil {
		return fromStore(), nil
	}
	switch {
	case loc == "":
		return nil, fmt.Errorf("the log of %s (attempt %d) is not in %s: the attempt has not ended (its log is stored when it does)", op, attempt, st.Where())
	case !store.IsURL(st.Where()) && host != "" && host != me:
		return nil, fmt.Errorf("the log of %s (attempt %d) is on %s (%s), not on this machine: read it from the shared store with --store URL", op, attempt, host, loc)
	}
	return nil, fmt.Errorf("the log of %s (attempt %d) is neither on this machine (%s) nor in %s", op, attempt, loc, st.Where())
}

// logTail is the last lines of a log, each cut to width, for report.
func logTail(data []byte, lines, width int, cut bool) []string {
	data = bytes.TrimRight(data, "\n")
	all := strings.Split(string(data), "\n")
	if cut && len(all) > 1 {
		all = all[1:] // the first line began before what was read
	}
	if len(data) == 0 {
		return nil
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	for i, l := range all {
		l = strings.TrimRight(l, "\r")
		if r := []rune(l); len(r) > width {
			l = string(r[:width-1]) + "…"
		}
		all[i] = l
	}
	return all
}

// reportFailure is a failed operation as report shows it: its last
// attempt's error and the end of its log.
type reportFailure struct {
	Op      string   `json:"op"`
	Attempt int      `json:"attempt"`
	Error   string   `json:"error"`
	Log     string   `json:"log"`
	LogFrom string   `json:"log_from,omitempty"` // "file", "store"; "" not found
	Tail    []string `json:"log_tail"`
	Missing string   `json:"log_missing,omitempty"` // why the log was not found
}

// Bounds of report's failures: how many, and the lines of each log.
const (
	reportFailuresShown = 10
	reportTailLines     = 10
)

// failureLogs gives each of the first reportFailuresShown failures the
// end of its log: from its file on this machine, else from the store
// (another machine's, a worker's).
func failureLogs(ctx context.Context, stf *storeFlags, stateDir string, plan *planner.Plan, fails []exec.Failure) []reportFailure {
	out := make([]reportFailure, 0, len(fails))
	for _, f := range fails {
		out = append(out, reportFailure{Op: f.Op, Attempt: f.Attempts, Error: f.Error, Log: f.Log, Tail: []string{}})
	}
	if len(out) == 0 {
		return out
	}
	st, err := stf.open(ctx, stateDir)
	if err != nil {
		for i := range out {
			out[i].Missing = err.Error()
		}
		return out
	}
	defer st.Close()
	for i := range out[:min(len(out), reportFailuresShown)] {
		rf := &out[i]
		l, err := findLog(ctx, st, plan.PlanDigest, rf.Op, rf.Attempt, rf.Log)
		if err != nil {
			rf.Missing = err.Error()
			continue
		}
		const tailBytes = 64 << 10
		data, err := l.read(tailBytes)
		if err != nil {
			rf.Missing = err.Error()
			continue
		}
		rf.LogFrom = l.from
		rf.Tail = logTail(data, reportTailLines, 240, len(data) == tailBytes || l.truncated > 0)
	}
	return out
}
