package store

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/echelonhq/echelon/store/pgtest"
)

// bucketRow reads a bucket's row as the server has it.
func bucketRow(t *testing.T, p *Postgres, name string) Bucket {
	t.Helper()
	bs, err := p.Buckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no bucket %s in %+v", name, bs)
	return Bucket{}
}

func take(t *testing.T, p *Postgres, name string, rate, burst, n float64) time.Duration {
	t.Helper()
	w, err := p.TakeTokens(context.Background(), []BucketTake{{Name: name, Rate: rate, Burst: burst, N: n}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

const eps = 1e-6

// TestTakeTokens: echelon_take_tokens's semantics, checked against the
// rows the server wrote (its own clock), never against sleeps: the first
// use is a full bucket; the refill is rate times the server's elapsed time,
// capped at burst; a take beyond the tokens leaves them negative and
// returns the deficit / rate; a negative take gives tokens back up to
// burst; every take uses its own rate and burst; names are buckets apart;
// bad rates are refused.
func TestTakeTokens(t *testing.T) {
	p := openPG(t, pgtest.URL(t))
	ctx := context.Background()
	if w := take(t, p, "cloud", 2, 4, 0); w != 0 {
		t.Fatalf("taking nothing waits %v", w)
	}
	b0 := bucketRow(t, p, "cloud")
	if b0.Tokens != 4 || b0.Rate != 2 || b0.Burst != 4 {
		t.Fatalf("a new bucket %+v, want full: 4 tokens, rate 2, burst 4", b0)
	}
	if w := take(t, p, "cloud", 2, 4, 3); w != 0 {
		t.Errorf("3 of 4 tokens: waits %v", w)
	}
	if b := bucketRow(t, p, "cloud"); math.Abs(b.Tokens-1) > eps {
		t.Errorf("after 3 of a full 4: %v tokens, want 1 (a full bucket refills no further)", b.Tokens)
	}

	// The refill by the server's clock: move the bucket's time back 0.5s.
	if _, err := p.pool.Exec(ctx, "UPDATE api_buckets SET updated = updated - interval '0.5 s' WHERE name = 'cloud'"); err != nil {
		t.Fatal(err)
	}
	before := bucketRow(t, p, "cloud")
	w := take(t, p, "cloud", 2, 4, 5)
	after := bucketRow(t, p, "cloud")
	dt := after.Updated.Sub(before.Updated).Seconds()
	want := min(4, before.Tokens+2*dt) - 5
	if dt < 0.5 || math.Abs(after.Tokens-want) > eps {
		t.Errorf("refilled over %.6fs of the server's clock: %v tokens, want %v", dt, after.Tokens, want)
	}
	if after.Tokens >= 0 || math.Abs(w.Seconds()-(-after.Tokens/2)) > eps {
		t.Errorf("5 tokens beyond the bucket: wait %v, tokens %v; want negative tokens and their deficit / rate", w, after.Tokens)
	}

	// Capped at burst: an hour ago is a full bucket, no more.
	if _, err := p.pool.Exec(ctx, "UPDATE api_buckets SET updated = updated - interval '1 hour' WHERE name = 'cloud'"); err != nil {
		t.Fatal(err)
	}
	if w := take(t, p, "cloud", 2, 4, 1); w != 0 {
		t.Errorf("a refilled bucket: waits %v", w)
	}
	if b := bucketRow(t, p, "cloud"); math.Abs(b.Tokens-3) > eps {
		t.Errorf("refilled for an hour, then 1 taken: %v tokens, want 3 (burst 4)", b.Tokens)
	}
	// Given back, never above burst.
	take(t, p, "cloud", 2, 4, -10)
	if b := bucketRow(t, p, "cloud"); math.Abs(b.Tokens-4) > eps {
		t.Errorf("10 given back: %v tokens, want the burst, 4", b.Tokens)
	}

	// Another plan's numbers: its own burst caps its take, and stay.
	w = take(t, p, "cloud", 1, 2, 3)
	b := bucketRow(t, p, "cloud")
	if b.Rate != 1 || b.Burst != 2 || math.Abs(b.Tokens-(-1)) > eps || math.Abs(w.Seconds()-1) > eps {
		t.Errorf("a take at rate 1, burst 2: bucket %+v, wait %v; want tokens -1, wait 1s", b, w)
	}

	// Another name (a region) is another bucket; a multi-bucket take
	// waits for the longest, and a name twice is its sum.
	w, err := p.TakeTokens(ctx, []BucketTake{
		{Name: "cloud@eu", Rate: 2, Burst: 4, N: 3}, {Name: "cloud@eu", Rate: 2, Burst: 4, N: 3},
		{Name: "cloud@us", Rate: 2, Burst: 4, N: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	eu, us := bucketRow(t, p, "cloud@eu"), bucketRow(t, p, "cloud@us")
	if math.Abs(eu.Tokens-(-2)) > eps || math.Abs(us.Tokens-3) > eps || math.Abs(w.Seconds()-1) > eps {
		t.Errorf("eu %v tokens, us %v, wait %v; want -2, 3 and 1s", eu.Tokens, us.Tokens, w)
	}

	for _, bad := range []BucketTake{{Name: "x", Rate: 0, Burst: 1, N: 1}, {Name: "x", Rate: 1, Burst: 0.5, N: 1},
		{Name: "", Rate: 1, Burst: 1, N: 1}, {Name: "x", Rate: 1, Burst: 1, N: math.NaN()}} {
		if _, err := p.TakeTokens(ctx, []BucketTake{bad}); err == nil {
			t.Errorf("%+v was taken", bad)
		}
	}
	// The check is the database's too, not only the client's.
	if _, err := p.pool.Exec(ctx, "SELECT echelon_take_tokens('x', 0, 1, 1)"); err == nil {
		t.Error("the database took tokens at rate 0")
	}
}

// TestTakeTokensConcurrent: 24 takers of one token each, on two
// sessions at once, from a bucket emptied at the server's time t0. The row
// lock serialises them: no take is lost (the tokens left are exactly the
// refill over the server's span of takes less 24), the longest wait is the
// deficit that leaves over the rate, and each taker gets its own slot
// (sorted, the waits step by 1/rate less the refill between two takes).
// The sum of the waits is 1/rate * (1 + 2 + ... + 24) less at most 24 times
// the server's span. No wall-clock time is measured.
func TestTakeTokensConcurrent(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	const rate, burst, n = 0.5, 4.0, 24
	take(t, a, "api", rate, burst, burst) // empty at t0
	t0 := bucketRow(t, a, "api").Updated
	waits := make([]float64, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := p.TakeTokens(context.Background(), []BucketTake{{Name: "api", Rate: rate, Burst: burst, N: 1}})
			if err != nil {
				errs <- err
				return
			}
			waits[i] = w.Seconds()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	end := bucketRow(t, a, "api")
	span := end.Updated.Sub(t0).Seconds()
	if span*rate >= burst {
		t.Skipf("the takes spread over %.1fs of the server's clock: the bucket could have filled, the count is not exact", span)
	}
	if want := rate*span - n; math.Abs(end.Tokens-want) > eps {
		t.Errorf("%v tokens left, want %v (-%d + the refill over %.6fs): a take was lost", end.Tokens, want, n, span)
	}
	slices.Sort(waits)
	if last := waits[n-1]; math.Abs(last-(-end.Tokens/rate)) > eps {
		t.Errorf("the longest wait %.6fs, want the deficit left / rate = %.6fs", last, -end.Tokens/rate)
	}
	for i := 1; i < n; i++ {
		if d := waits[i] - waits[i-1]; d > 1/rate+eps || d < 1/rate-span-eps {
			t.Errorf("waits %d and %d %.6fs apart, want 1/rate (%.1fs) less at most the span %.6fs: %v", i-1, i, d, 1/rate, span, waits)
			break
		}
	}
	sum, ideal := 0.0, 0.0
	for i, w := range waits {
		sum += w
		ideal += float64(i+1) / rate
	}
	if sum > ideal+eps || sum < ideal-n*span-eps {
		t.Errorf("the waits sum to %.6fs, want %.1fs less at most %d x %.6fs", sum, ideal, n, span)
	}
}

// TestStoredPreviews: a preview's summary by plan digest; an older one
// does not replace a newer one; an apply removes only the one it used.
func TestStoredPreviews(t *testing.T) {
	p := openPG(t, pgtest.URL(t))
	ctx := context.Background()
	if _, err := p.Preview(ctx, "sha256:none"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no preview: %v, want fs.ErrNotExist", err)
	}
	t1 := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	put := func(host string, at time.Time) {
		t.Helper()
		sum, _ := json.Marshal(map[string]any{"host": host})
		if err := p.PutPreview(ctx, StoredPreview{Digest: "sha256:p", Host: host, Dir: "/s/" + host, Created: at, Summary: sum}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() StoredPreview {
		t.Helper()
		sp, err := p.Preview(ctx, "sha256:p")
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	put("a", t1)
	put("b", t2)
	put("c", t1) // older: dropped
	sp := get()
	if sp.Host != "b" || sp.Dir != "/s/b" || !sp.Created.Equal(t2) || string(sp.Summary) != `{"host": "b"}` {
		t.Errorf("kept %+v (%s), want b's of %v", sp, sp.Summary, t2)
	}
	if l, err := p.Previews(ctx); err != nil || len(l) != 1 || l[0].Host != "b" {
		t.Errorf("Previews: %+v %v", l, err)
	}
	if err := p.DeletePreview(ctx, "sha256:p", t1); err != nil {
		t.Fatal(err)
	}
	if get().Host != "b" {
		t.Error("deleting the preview of t1 removed t2's")
	}
	if err := p.DeletePreview(ctx, "sha256:p", t2); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Preview(ctx, "sha256:p"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after its delete: %v", err)
	}
}
