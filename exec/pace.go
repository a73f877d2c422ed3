package exec

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
)

// Pacing against shared api buckets (docs/store.md, "Shared api buckets"):
// with a Pacer (the PostgreSQL store), a step reserves its calls' tokens
// from a bucket per api (and region) that every runner using the store
// shares, and waits out its deficit before its driver starts: two applies
// calling one api then pace each other rather than each learning the
// limit alone from 429s. Without one (the state directory) nothing waits.

// Pacer reserves tokens from shared api buckets (store.Postgres): it
// returns how long the caller must wait before making the calls.
type Pacer interface {
	TakeTokens(ctx context.Context, takes []store.BucketTake) (time.Duration, error)
}

// BucketName is the shared bucket an operation in region calls api a
// through: the api's name, and "NAME@REGION" for a region-scoped api
// (operations without a region share "NAME@").
func BucketName(a *planner.API, region string) string {
	if a.Scope == "region" {
		return a.Name + "@" + region
	}
	return a.Name
}

// stepTakes are a step's reservations: for each operation and api it
// calls, min(calls, burst) tokens (an operation's calls are spread over
// its run; at most a burst of them can be due at once), summed per bucket,
// with the rate and burst of this plan's api.
func stepTakes(p *planner.Plan, ops []*planner.Operation) []store.BucketTake {
	if len(p.APIs) == 0 {
		return nil
	}
	apis := make(map[string]*planner.API, len(p.APIs))
	for i := range p.APIs {
		apis[p.APIs[i].Name] = &p.APIs[i]
	}
	at := map[string]int{}
	var takes []store.BucketTake
	for _, op := range ops {
		for name, n := range op.Calls {
			a := apis[name]
			if a == nil || n <= 0 || !(a.Rate > 0) {
				continue
			}
			burst := max(a.Burst, 1)
			b := BucketName(a, op.Region)
			i, ok := at[b]
			if !ok {
				i = len(takes)
				at[b] = i
				takes = append(takes, store.BucketTake{Name: b, Rate: a.Rate, Burst: float64(burst)})
			}
			takes[i].N += float64(min(n, burst))
		}
	}
	sort.Slice(takes, func(i, j int) bool { return takes[i].Name < takes[j].Name })
	return takes
}

// pace reserves a started step's tokens and waits out the deficit,
// telling the log and the view; it returns how long it waited. ctx ending
// (the second Ctrl-C, a lost lease) ends the wait with ctx's error, and
// the tokens go back to their buckets (the driver never ran). A store that
// cannot be reached does not hold the step up: it runs unpaced, with a
// warning (throttling still backs it off).
func (r *runner) pace(ctx context.Context, ops []*planner.Operation, log io.Writer) (time.Duration, error) {
	if r.opts.Pacer == nil || r.previewing() {
		return 0, nil
	}
	takes := stepTakes(r.plan, ops)
	if len(takes) == 0 {
		return 0, nil
	}
	wait, err := r.opts.Pacer.TakeTokens(ctx, takes)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		msg := fmt.Sprintf("%s: not paced: %v", ops[0].ID, err)
		fmt.Fprintf(log, "echelon: %s\n", msg)
		r.emit(Event{Time: time.Now(), Kind: EvWarning, Message: msg})
		return 0, nil
	}
	if wait <= 0 {
		return 0, nil
	}
	names := make([]string, len(takes))
	for i, t := range takes {
		names[i] = fmt.Sprintf("%s (%s)", t.Name, planner.Plural(int(t.N), "token"))
	}
	fmt.Fprintf(log, "echelon: waiting %s for tokens of the shared api buckets %s\n",
		wait.Round(time.Millisecond), strings.Join(names, ", "))
	ev := Event{Time: time.Now(), Kind: EvPaced, Op: ops[0].ID, Duration: wait.Seconds(), Message: strings.Join(names, ", ")}
	if len(ops) > 1 {
		for _, o := range ops {
			ev.Ops = append(ev.Ops, o.ID)
		}
	}
	r.emit(ev)
	start := time.Now()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return wait, nil
	case <-ctx.Done():
		back := make([]store.BucketTake, len(takes))
		for i, tk := range takes {
			tk.N = -tk.N
			back[i] = tk
		}
		gctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = r.opts.Pacer.TakeTokens(gctx, back)
		return time.Since(start), ctx.Err()
	}
}
