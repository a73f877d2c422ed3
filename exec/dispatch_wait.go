package exec

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// waitNoticeEvery is how often a step still unclaimed is told again.
const waitNoticeEvery = time.Minute

// awaitTask waits for a dispatched step's task to end, and returns the
// worker that claimed it ("" none, or not known). With a store that tells
// claims (store.ClaimWatcher) the step's claim is told when the
// coordinator reads it (EvClaimed). With one that can say why
// (store.WaitWatcher), a task still unclaimed after WaitNotice is told
// once, then at most every minute: which labels it waits for, how many
// workers are live and how many could claim it (EvWorkerWait). A step
// waiting for a worker that never comes otherwise said nothing.
func (r *runner) awaitTask(st *stepRun, h store.Held) (store.TaskEnd, string, error) {
	var mu sync.Mutex // held while telling: nothing is told after the end
	ended, worker := false, ""
	if cw, ok := r.opts.Dispatch.(store.ClaimWatcher); ok {
		stop := cw.OnClaim(h, func(w string) {
			mu.Lock()
			defer mu.Unlock()
			if ended {
				return
			}
			worker = w
			r.emit(Event{Kind: EvClaimed, Op: st.ops[0].op.ID, Ops: stepOpIDs(st), Attempt: st.attempts[0], Worker: w})
		})
		defer stop()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	if ww, ok := r.opts.Dispatch.(store.WaitWatcher); ok && ww.WaitNotice() > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.tellUnclaimed(ww, st, h, done, &mu, &ended)
		}()
	}
	if wd, ok := r.opts.Dispatch.(store.Withdrawer); ok && r.soft != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-done:
			case <-r.soft:
				// Nothing new starts: a task no worker has claimed is
				// taken back (its Await ends Cancelled); a claimed one
				// runs to its end.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = wd.Withdraw(ctx, h)
			}
		}()
	}
	end, err := r.opts.Dispatch.Await(r.opts.Hard, h)
	mu.Lock()
	ended = true
	if worker == "" {
		worker = end.Worker
	}
	mu.Unlock()
	close(done)
	wg.Wait()
	return end, worker, err
}

// tellUnclaimed tells the task's wait after WaitNotice, then every
// minute, until it is claimed or done is closed.
func (r *runner) tellUnclaimed(ww store.WaitWatcher, st *stepRun, h store.Held, done <-chan struct{}, mu *sync.Mutex, ended *bool) {
	t := time.NewTimer(ww.WaitNotice())
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.opts.Hard, 10*time.Second)
		w, ready, err := ww.Unclaimed(ctx, h)
		cancel()
		if err == nil && !ready {
			return // claimed (or ended): nothing more to tell
		}
		mu.Lock()
		if !*ended && err == nil {
			r.emit(Event{Kind: EvWorkerWait, Op: st.ops[0].op.ID, Ops: stepOpIDs(st),
				Duration: time.Since(st.started).Seconds(), Message: workerWaitMessage(r.opts.Labels, w)})
		}
		mu.Unlock()
		t.Reset(waitNoticeEvery)
	}
}

// stepOpIDs are a coalesced step's operations (nil for one operation).
func stepOpIDs(st *stepRun) []string {
	if len(st.ops) < 2 {
		return nil
	}
	ids := make([]string, len(st.ops))
	for i, s := range st.ops {
		ids[i] = s.op.ID
	}
	return ids
}

// workerWaitMessage says what an unclaimed task waits for: "a worker with
// region=mars: 2 workers are live, none has these labels".
func workerWaitMessage(labels map[string]string, w store.Workers) string {
	what := "a worker"
	if len(labels) > 0 {
		kv := make([]string, 0, len(labels))
		for k, v := range labels {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		what += " with " + strings.Join(kv, ",")
	}
	if w.Live == 0 {
		return what + ": no worker is live (start one: echelon worker --store URL)"
	}
	why := planner.Plural(w.Live, "worker") + " " + isAre(w.Live) + " live"
	switch {
	case len(labels) > 0 && w.Match == 0:
		return what + ": " + why + ", none has these labels"
	case len(labels) > 0:
		why += fmt.Sprintf(", %d with these labels", w.Match)
	}
	if w.Free == 0 {
		return what + ": " + why + ", every slot busy"
	}
	return what + ": " + why + fmt.Sprintf(", %d with a free slot", w.Free)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
