package exec

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// The run: the plan's hold on its run in the store (one apply of a plan at
// a time), its journal, and a local directory for its log files.

// RunDir is where a plan's journal and logs live in a state directory.
func RunDir(stateDir string, p *planner.Plan) string {
	return filepath.Join(stateDir, "runs", store.RunKey(p.PlanDigest))
}

// openRunDir takes the plan's run in the store, reads its last journal on
// --resume (a fresh run starts a new one; the store keeps the old) and
// opens the journal for this run.
func (r *runner) openRunDir(ctx context.Context) error {
	run, err := r.store.OpenRun(ctx, r.plan.PlanDigest, r.opts.Resume)
	if err != nil {
		return err
	}
	r.storeRun = run
	r.runDir = run.Dir()
	r.logDir = filepath.Join(r.runDir, "logs")
	r.res.RunDir, r.res.Journal = r.runDir, run.Journal()
	r.journal = newJournal(run)
	r.journal.red = r.red
	if r.opts.Resume {
		if err := r.resumeFrom(ctx); err != nil {
			run.Close()
			return err
		}
	}
	if _, local := r.store.(*store.Dir); local {
		return nil // the state directory's logs are its own files: nothing to give it
	}
	r.putLog = func(op string, attempt int, path string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return run.PutLog(ctx, op, attempt, path)
	}
	return nil
}

// resumeFrom tells the policy what the journal says succeeded, and how
// many attempts each operation had.
func (r *runner) resumeFrom(ctx context.Context) error {
	rc, err := r.store.Journal(ctx, r.plan.PlanDigest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	st, err := readJournal(rc, r.storeRun.Journal())
	if err != nil {
		return err
	}
	r.warnings = st.Warnings
	if r.opts.Dispatch != nil {
		if err := r.recoverTasks(ctx, st); err != nil {
			return err
		}
	}
	if r.outs != nil {
		succeeded := map[string]map[string]OutputValue{}
		for id, vals := range st.Outputs {
			if rec := st.Ops[id]; rec != nil && rec.Succeeded {
				succeeded[id] = vals
			}
		}
		r.outs.restore(succeeded)
	}
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
	return nil
}
