package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/echelonhq/echelon/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backends runs f against each implementation. open gives another handle
// on the same store, standing for another process.
func backends(t *testing.T, f func(t *testing.T, open func() Store)) {
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		f(t, func() Store {
			s, err := Open(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		local := t.TempDir()
		f(t, func() Store {
			s, err := Open(context.Background(), url, Options{LocalDir: local})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func TestStoreLockSemantics(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		a, b := open(), open()
		relA, ok, err := a.TryAcquire("A", []string{"x"}, []string{"base"})
		if err != nil || !ok {
			t.Fatalf("first acquire: %v %v", ok, err)
		}
		for _, tc := range []struct {
			name      string
			excl, shr []string
			want      bool
		}{
			{"exclusive on an exclusive", []string{"x"}, nil, false},
			{"shared on an exclusive", nil, []string{"x"}, false},
			{"shared on a shared", []string{"y"}, []string{"base"}, true},
			{"exclusive on a shared", []string{"base"}, nil, false},
			{"all or nothing", []string{"z", "x"}, nil, false},
			{"unrelated", []string{"q"}, []string{"r"}, true},
		} {
			rel, ok, err := b.TryAcquire("B", tc.excl, tc.shr)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Errorf("%s: got %v, want %v", tc.name, ok, tc.want)
			}
			if ok {
				if err := rel(); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The refused "all or nothing" set left none of itself held.
		if rel, ok, err := a.TryAcquire("A", []string{"z"}, nil); err != nil || !ok {
			t.Errorf("z after a refused set: %v %v", ok, err)
		} else {
			rel()
		}
		if err := relA(); err != nil {
			t.Fatal(err)
		}
		if rel, ok, err := b.TryAcquire("B", []string{"x", "base"}, nil); err != nil || !ok {
			t.Errorf("after release: %v %v", ok, err)
		} else {
			rel()
		}
	})
}

// TestStoreAcquireWaits: Acquire returns once the holder releases, and
// gives up when its context ends.
func TestStoreAcquireWaits(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		a, b := open(), open()
		rel, err := a.Acquire(context.Background(), "A", []string{"x"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.Acquire(ctx, "B", []string{"x"}, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("acquire with a cancelled context: %v", err)
		}
		got := make(chan error, 1)
		go func() {
			r, err := b.Acquire(context.Background(), "B", []string{"x"}, nil)
			if err == nil {
				err = r()
			}
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("Acquire returned (%v) while A held x: it must wait", err)
		case <-time.After(100 * time.Millisecond):
		}
		if err := rel(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})
}

// TestStoreNoExclusiveOverlap: goroutines on two handles take the same
// EXCLUSIVE lock (and a SHARED one) over and over: never two at once.
func TestStoreNoExclusiveOverlap(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		stores := []Store{open(), open()}
		var in, overlaps atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					rel, err := stores[g%2].Acquire(context.Background(), fmt.Sprint("g", g), []string{"x"}, []string{"base"})
					if err != nil {
						t.Error(err)
						return
					}
					if in.Add(1) > 1 {
						overlaps.Add(1)
					}
					in.Add(-1)
					if err := rel(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if n := overlaps.Load(); n > 0 {
			t.Fatalf("%d overlapping EXCLUSIVE holds", n)
		}
	})
}

func readJournal(t *testing.T, s Store, digest string) string {
	t.Helper()
	rc, err := s.Journal(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStoreRuns: one process holds a plan's run at a time; the journal
// reads back as written; --resume continues it from another process, a
// fresh run starts an empty one; runs are live, stale or finished.
func TestStoreRuns(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		const d = "sha256:0123456789abcdef0123"
		if _, err := a.Journal(ctx, d); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("journal of a plan never run: %v", err)
		}
		ra, err := a.OpenRun(ctx, d, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.OpenRun(ctx, d, true); err == nil {
			t.Fatal("a second process opened a held run")
		}
		start := `{"time":"2026-01-02T03:04:05Z","kind":"run_start","plan_digest":"` + d + `"}` + "\n"
		op := `{"time":"2026-01-02T03:04:06Z","kind":"op_start","op":"x","attempt":1}` + "\n"
		if err := ra.Append(ctx, []byte(start+op)); err != nil {
			t.Fatal(err)
		}
		if got := readJournal(t, b, d); got != start+op {
			t.Fatalf("journal reads back\n%s\nwant\n%s", got, start+op)
		}
		if st := runState(t, b, d); st != RunLive {
			t.Errorf("held run is %q, want live", st)
		}
		if err := ra.Close(); err != nil {
			t.Fatal(err)
		}
		if st := runState(t, b, d); st != RunStale {
			t.Errorf("run let go without an end is %q, want stale", st)
		}
		// Another process resumes it: the journal goes on.
		rb, err := b.OpenRun(ctx, d, true)
		if err != nil {
			t.Fatal(err)
		}
		end := `{"time":"2026-01-02T03:04:07Z","kind":"run_end","outcome":"succeeded"}` + "\n"
		if err := rb.Append(ctx, []byte(end)); err != nil {
			t.Fatal(err)
		}
		if got := readJournal(t, a, d); got != start+op+end {
			t.Fatalf("resumed journal\n%s\nwant\n%s", got, start+op+end)
		}
		rb.Close()
		runs, err := a.Runs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].State != RunFinished || runs[0].Outcome != "succeeded" || runs[0].Digest != d {
			t.Errorf("runs: %+v, want one finished, succeeded", runs)
		}
		// A fresh run starts an empty journal.
		rc, err := a.OpenRun(ctx, d, false)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if got := readJournal(t, b, d); got != "" {
			t.Errorf("a fresh run's journal holds %q", got)
		}
	})
}

func runState(t *testing.T, s Store, digest string) string {
	t.Helper()
	runs, err := s.Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Digest == digest {
			return r.State
		}
	}
	return "(none)"
}

func TestStorePlans(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		if _, err := a.Plan(ctx, "sha256:aa"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing plan: %v", err)
		}
		if err := a.PutPlan(ctx, "sha256:aa", []byte(`{"plan":1}`)); err != nil {
			t.Fatal(err)
		}
		got, err := b.Plan(ctx, "sha256:aa")
		if err != nil || string(got) != `{"plan":1}` {
			t.Fatalf("plan: %q %v", got, err)
		}
	})
}

// TestStoreHoldersUnlock: holders are listed as live with their locks;
// unlocking an apply's owner removes its steps' holders.
func TestStoreHoldersUnlock(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		if _, ok, err := a.TryAcquire("host:1:sha256:d#op/a", []string{"d/op/a"}, []string{"d/base"}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, ok, err := a.TryAcquire("other", []string{"d/op/b"}, nil); err != nil || !ok {
			t.Fatal(ok, err)
		}
		hs, err := b.Holders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var owners []string
		for _, h := range hs {
			owners = append(owners, h.Owner)
			if !h.Live || h.PID != os.Getpid() || h.Since.IsZero() {
				t.Errorf("holder %+v: want live, this pid, a since", h)
			}
			if h.Owner == "other" && !slices.Equal(h.Exclusive, []string{"d/op/b"}) {
				t.Errorf("holder %+v: exclusive", h)
			}
		}
		slices.Sort(owners)
		if !slices.Equal(owners, []string{"host:1:sha256:d#op/a", "other"}) {
			t.Fatalf("owners %v", owners)
		}
		n, err := b.Unlock(ctx, "host:1:sha256:d")
		if err != nil || n != 1 {
			t.Fatalf("unlock: %d %v", n, err)
		}
		if rel, ok, err := b.TryAcquire("B", []string{"d/op/a"}, nil); err != nil || !ok {
			t.Fatalf("after unlock: %v %v", ok, err)
		} else {
			rel()
		}
		if _, ok, _ := b.TryAcquire("B", []string{"d/op/b"}, nil); ok {
			t.Fatal("unlock removed another owner's holder")
		}
	})
}

// TestStoreCommit: a run's group commit takes lock sets with their
// records (a busy set writes none of its records), releases sets with
// theirs, in order; the sets really are held in between; several commits
// at once over overlapping sets never hold one EXCLUSIVE name twice.
func TestStoreCommit(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		const d = "sha256:c0mm17"
		run, err := a.OpenRun(ctx, d, false)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		relB, ok, err := b.TryAcquire("B", []string{"busy"}, nil)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		held, err := run.Commit(ctx, []Entry{
			{Lines: []byte(`{"n":1}` + "\n")},
			{Take: &LockSet{Owner: "A#x", Exclusive: []string{"x"}, Shared: []string{"base"}}, Lines: []byte(`{"n":2}` + "\n")},
			{Take: &LockSet{Owner: "A#y", Exclusive: []string{"busy"}}, Lines: []byte(`{"n":"never"}` + "\n")},
			{Lines: []byte(`{"n":3}` + "\n"), Async: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != 4 || held[0].Ok() || !held[1].Ok() || held[2].Ok() || held[3].Ok() {
			t.Fatalf("held %+v: want only the second entry's set", held)
		}
		if _, ok, _ := b.TryAcquire("B", []string{"x"}, nil); ok {
			t.Fatal("x was free while the commit's set held it")
		}
		if _, err := run.Commit(ctx, []Entry{{Lines: []byte(`{"n":4}` + "\n"), Release: held[1], Async: true}}); err != nil {
			t.Fatal(err)
		}
		rel, ok, err := b.TryAcquire("B", []string{"x"}, nil)
		if err != nil || !ok {
			t.Fatalf("x after its release: %v %v", ok, err)
		}
		rel()
		relB()
		// In one commit a release comes before a later take of its name.
		h1, err := run.Commit(ctx, []Entry{{Take: &LockSet{Owner: "A#1", Exclusive: []string{"seq"}}}})
		if err != nil || !h1[0].Ok() {
			t.Fatal(h1, err)
		}
		h2, err := run.Commit(ctx, []Entry{{Release: h1[0], Async: true}, {Take: &LockSet{Owner: "A#2", Shared: []string{"seq"}}}})
		if err != nil || !h2[1].Ok() {
			t.Fatalf("a take after a release of its name in one commit: %v %v", h2, err)
		}
		if _, err := run.Commit(ctx, []Entry{{Release: h2[1]}}); err != nil {
			t.Fatal(err)
		}
		if got, want := readJournal(t, a, d), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n"; got != want {
			t.Errorf("journal %q, want %q", got, want)
		}

		var in, overlaps atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					held, err := run.Commit(ctx, []Entry{
						{Take: &LockSet{Owner: fmt.Sprint("g", g), Exclusive: []string{"hot"}, Shared: []string{"base"}}},
						{Take: &LockSet{Owner: fmt.Sprint("g", g, "b"), Exclusive: []string{fmt.Sprint("own", g)}, Shared: []string{"hot2"}}},
					})
					if err != nil {
						t.Error(err)
						return
					}
					if held[0].Ok() {
						if in.Add(1) > 1 {
							overlaps.Add(1)
						}
						in.Add(-1)
					}
					var ents []Entry
					for _, h := range held {
						if h.Ok() {
							ents = append(ents, Entry{Release: h, Async: true})
						}
					}
					if len(ents) > 0 {
						if _, err := run.Commit(ctx, ents); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		if n := overlaps.Load(); n > 0 {
			t.Fatalf("%d overlapping EXCLUSIVE holds", n)
		}
	})
}
