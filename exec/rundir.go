package exec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// The run directory: one per plan in the state directory, holding its
// journal and log files; one apply of a plan at a time.

// lockRun takes the run directory's apply lock (an flock, so a killed
// apply never leaves it behind) and records this process's PID in it.
func lockRun(runDir string) (*os.File, error) {
	path := filepath.Join(runDir, "apply.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("another apply of this plan is running (pid %s) with the state directory %s; wait for it to finish", pid, filepath.Dir(filepath.Dir(runDir)))
		}
		return nil, fmt.Errorf("state directory: lock %s: %w", path, err)
	}
	// The PID only informs the message above: a failed write is harmless.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return f, nil
}

// RunDir is where a plan's journal and logs live in a state store.
func RunDir(stateDir string, p *planner.Plan) string {
	d := strings.TrimPrefix(p.PlanDigest, "sha256:")
	if len(d) > 16 {
		d = d[:16]
	}
	if d == "" {
		d = "undigested"
	}
	return filepath.Join(stateDir, "runs", d)
}

// openRunDir prepares the plan's run directory: takes its flock, reads the
// last journal on --resume (or keeps it aside for a fresh run) and opens
// the journal for this run.
func (r *runner) openRunDir() (err error) {
	opts, p := r.opts, r.plan
	r.runDir = RunDir(opts.StateDir, p)
	r.logDir = filepath.Join(r.runDir, "logs")
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	// Two applies of one plan would share the journal and the log files:
	// the second one refuses. Taken before the journal is rotated.
	lf, err := lockRun(r.runDir)
	if err != nil {
		return err
	}
	r.runLock = lf
	defer func() {
		if err != nil {
			lf.Close() // Run will not release it
		}
	}()
	jpath := filepath.Join(r.runDir, "journal.jsonl")
	r.res.RunDir, r.res.Journal = r.runDir, jpath
	if opts.Resume {
		if fileExists(jpath) {
			st, err := ReadJournal(jpath)
			if err != nil {
				return err
			}
			r.warnings = st.Warnings
			for id, rec := range st.Ops {
				s := r.byID[id]
				if s == nil {
					continue
				}
				r.sch.Resume(s.rank, rec.Succeeded, rec.Attempts)
				if rec.Succeeded {
					r.res.Resumed = append(r.res.Resumed, id)
				}
			}
		}
	} else if fileExists(jpath) {
		// A fresh run keeps the old journal beside the new one.
		old := filepath.Join(r.runDir, fmt.Sprintf("journal-%s.jsonl", time.Now().UTC().Format("20060102T150405.000000000")))
		if err := os.Rename(jpath, old); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		if err := os.RemoveAll(r.logDir); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		if err := os.MkdirAll(r.logDir, 0o755); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	}
	j, err := openJournal(jpath)
	if err != nil {
		return err
	}
	r.journal = j
	j.red = r.red
	return nil
}
