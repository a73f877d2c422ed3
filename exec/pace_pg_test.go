package exec

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec/internal/throttleapi"
	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/store/pgtest"
)

// pacedSpec is a deployment of four operations at once, each making two
// calls of api cloud (the real token-bucket API, through curl), printing
// the HTTP status; a 429 is not a failure here, so every step is a first
// attempt and takes its tokens as it starts (no retry takes them late).
func pacedSpec(name string, rate float64, burst int) string {
	return fmt.Sprintf(`
deployment %q {}
variable "api" {
  type = string
}
phase "p" {}
api "cloud" {
  rate  = %g
  burst = %d
}
mode "m" {
  max_parallel = 0
}
component "work" {
  phase    = "p"
  replicas = 4
  duration = "1s"
  calls    = { cloud = 2 }
  command {
    argv = ["sh", "-c", "for i in 1 2; do curl -s -o /dev/null -w '%%%%{http_code}\\n' \"$0/call/cloud\"; done", var.api]
  }
}
`, name, rate, burst)
}

func openPGStore(t *testing.T, url, local string) *store.Postgres {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), url, store.Options{LocalDir: local})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serverNow is the database server's clock.
func serverNow(t *testing.T, st *store.Postgres) time.Time {
	t.Helper()
	// A take of nothing from a bucket of its own stamps the server's time.
	if _, err := st.TakeTokens(context.Background(), []store.BucketTake{{Name: "clock", Rate: 1, Burst: 1}}); err != nil {
		t.Fatal(err)
	}
	return bucket(t, st, "clock").Updated
}

// TestSharedBucketsPace: two applies of two plans (deployments alpha and
// beta) that call one api run at once, each with a store of its own on one
// database, against the real token-bucket API: their steps reserve from
// the one bucket "cloud", so the waits journaled (op_end's paced, once per
// step) sum to at least what 16 calls beyond a burst of 2 at 4 per second
// need, (16 - 2) / 4 s, less the refill over the takes' span by the
// server's clock (nothing measured by sleeps). The same two applies
// without a store record no waits at all.
func TestSharedBucketsPace(t *testing.T) {
	if _, err := os.Stat("/usr/bin/curl"); err != nil {
		t.Skip("needs curl")
	}
	const rate, burst = 4.0, 2
	api, err := throttleapi.Start("127.0.0.1:0", rate, burst, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	url := pgtest.URL(t)
	dir := t.TempDir()
	type app struct {
		p     *planner.Plan
		spec  string
		state string
		st    *store.Postgres
	}
	var apps []*app
	for _, name := range []string{"alpha", "beta"} {
		path := filepath.Join(dir, name+".hcl")
		if err := os.WriteFile(path, []byte(pacedSpec(name, rate, burst)), 0o644); err != nil {
			t.Fatal(err)
		}
		s, p := compileSpec(t, path, []string{"api=" + api.URL}, planner.Options{})
		state := filepath.Join(dir, name+".state")
		apps = append(apps, &app{p: p, spec: s.Dir, state: state, st: openPGStore(t, url, state)})
	}
	calls := 0
	for _, a := range apps {
		for _, op := range a.p.Operations {
			calls += op.Calls["cloud"]
		}
	}
	runBoth := func(withStore bool) []*Result {
		t.Helper()
		res := make([]*Result, len(apps))
		errs := make([]error, len(apps))
		var wg sync.WaitGroup
		for i, a := range apps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := Options{StateDir: a.state, SpecDir: a.spec, QuietPeriod: time.Hour, Backoff: 50 * time.Millisecond}
				if withStore {
					o.Store, o.Pacer = a.st, a.st
				}
				res[i], errs[i] = Run(context.Background(), a.p, o)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
			if !res[i].OK() {
				t.Fatalf("%s: %+v", apps[i].p.Deployment, res[i].Failed)
			}
		}
		return res
	}

	t0 := serverNow(t, apps[0].st)
	res := runBoth(true)
	var cloud store.Bucket
	bs, err := apps[0].st.Buckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Name == "cloud" {
			cloud = b
		}
	}
	if cloud.Name == "" || cloud.Rate != rate || cloud.Burst != burst {
		t.Fatalf("buckets %+v: want one named cloud, rate %g, burst %d", bs, rate, burst)
	}
	span := cloud.Updated.Sub(t0).Seconds()
	need := float64(calls-burst)/rate - span
	var journaled float64
	for i, a := range apps {
		rc, err := a.st.Journal(context.Background(), a.p.PlanDigest)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := ReadRunFrom(rc, "store")
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(rec.Paced-res[i].Paced) > 1e-6 || rec.PacedSteps != res[i].PacedSteps {
			t.Errorf("%s: the journal says %d steps waited %.3fs, the result %d and %.3fs",
				a.p.Deployment, rec.PacedSteps, rec.Paced, res[i].PacedSteps, res[i].Paced)
		}
		journaled += rec.Paced
	}
	t.Logf("%d calls, burst %d, rate %g: waits journaled %.3fs, at least %.3fs needed (takes over %.3fs of the server's clock); API %+v",
		calls, burst, rate, journaled, need, span, api.Stats())
	if need <= 0.5 {
		t.Skipf("the takes spread over %.1fs: too slow a machine for the bucket to run dry", span)
	}
	if journaled < need-1e-3 {
		t.Errorf("waits journaled %.3fs, want at least %.3fs: the two applies did not share the bucket", journaled, need)
	}

	// Without a store: no pacer, no waits.
	for _, r := range runBoth(false) {
		if r.Paced != 0 || r.PacedSteps != 0 {
			t.Errorf("without a store: %d steps waited %.3fs", r.PacedSteps, r.Paced)
		}
	}
	for _, a := range apps {
		if err := ReadEvents(filepath.Join(RunDir(a.state, a.p), "journal.jsonl"), func(e Event) {
			if e.Paced != 0 {
				t.Errorf("without a store, %s's journal has a wait: %+v", a.p.Deployment, e)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunTaskPaced: a worker's step paces through its own store, as
// apply's do: it waits out the bucket's deficit before its driver runs
// and says so (StepOutcome.Paced, its log); a wait cut short (ctx) runs
// no driver and gives its tokens back.
func TestRunTaskPaced(t *testing.T) {
	st := openPGStore(t, pgtest.URL(t), t.TempDir())
	dir := t.TempDir()
	p := &planner.Plan{PlanDigest: "sha256:paced", APIs: []planner.API{{Name: "cloud", Rate: 4, Burst: 2, Scope: "region"}},
		Operations: []planner.Operation{{ID: "w/eu", Region: "eu", Driver: "command", Calls: map[string]int{"cloud": 5},
			Command: &planner.Command{Argv: []string{"sh", "-c", "touch ran"}}}}}
	ctx := context.Background()
	// Another runner reserved 5 tokens ahead: 2 for w/eu's burst-capped 5
	// calls on top wait (5 + 2 - 2) / 4 = 1.25s, less the refill since.
	if _, err := st.TakeTokens(ctx, []store.BucketTake{{Name: "cloud@eu", Rate: 4, Burst: 2, N: 5}}); err != nil {
		t.Fatal(err)
	}
	o := TaskOptions{StateDir: t.TempDir(), SpecDir: dir, Pacer: st}
	out, err := RunTask(ctx, p, StepTask{Ops: []string{"w/eu"}, Attempts: []int{1}, Step: 1}, o)
	if err != nil {
		t.Fatal(err)
	}
	if out.Ops[0].Error != "" || out.Paced <= 0 || out.Paced > 1.25 {
		t.Fatalf("outcome %+v: want success after a wait of at most 1.25s", out)
	}
	log, _ := strings.CutPrefix(out.Ops[0].Log, hostname()+":")
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), "waiting") || !strings.Contains(string(b), "cloud@eu (2 tokens)") {
		t.Errorf("log %s: %q, want the wait for cloud@eu's 2 tokens", log, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err != nil {
		t.Errorf("the driver did not run: %v", err)
	}
	os.Remove(filepath.Join(dir, "ran"))

	// A long deficit, cut short: nothing runs, the 2 tokens go back.
	if _, err := st.TakeTokens(ctx, []store.BucketTake{{Name: "cloud@eu", Rate: 4, Burst: 2, N: 200}}); err != nil {
		t.Fatal(err)
	}
	before := bucket(t, st, "cloud@eu")
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	out, err = RunTask(cctx, p, StepTask{Ops: []string{"w/eu"}, Attempts: []int{2}, Step: 2}, o)
	if err != nil {
		t.Fatal(err)
	}
	after := bucket(t, st, "cloud@eu")
	if out.Ops[0].Error == "" {
		t.Errorf("a cut-short wait succeeded: %+v", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the driver ran after its wait was cut short")
	}
	refill := 4 * after.Updated.Sub(before.Updated).Seconds()
	if math.Abs(after.Tokens-(before.Tokens+refill)) > 1e-6 {
		t.Errorf("tokens %.6f then %.6f with %.6f refilled: want the 2 taken given back", before.Tokens, after.Tokens, refill)
	}
}

func bucket(t *testing.T, st *store.Postgres, name string) store.Bucket {
	t.Helper()
	bs, err := st.Buckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no bucket %s", name)
	return store.Bucket{}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
