package store

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/echelonhq/echelon/store/pgtest"
)

func openPG(t *testing.T, url string) *Postgres {
	t.Helper()
	p, err := OpenPostgres(context.Background(), url, Options{LocalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// expire ends p's lease by the server's clock, as a process paused past
// its lease would find it.
func expire(t *testing.T, p *Postgres) {
	t.Helper()
	if _, err := p.pool.Exec(context.Background(), "UPDATE sessions SET lease_until = now() WHERE id = $1", p.session); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresLeaseFencing: once a holder's lease has run out, another
// process takes its locks and its run; its late journal write, lock
// release and renewal are refused, and it learns it lost.
func TestPostgresLeaseFencing(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	relA, ok, err := a.TryAcquire("A", []string{"d/x"}, nil)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	const d = "sha256:feed"
	runA, err := a.OpenRun(ctx, d, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.TryAcquire("B", []string{"d/x"}, nil); ok {
		t.Fatal("B took a live holder's lock")
	}
	expire(t, a)
	relB, ok, err := b.TryAcquire("B", []string{"d/x"}, nil)
	if err != nil || !ok {
		t.Fatalf("B after A's lease ran out: %v %v", ok, err)
	}
	runB, err := b.OpenRun(ctx, d, true)
	if err != nil {
		t.Fatalf("B resuming A's run: %v", err)
	}
	if err := runA.Append(ctx, []byte(`{"kind":"op_end","op":"x"}`+"\n")); !errors.Is(err, ErrFenced) {
		t.Errorf("A's late journal write: %v, want ErrFenced", err)
	}
	if err := relA(); !errors.Is(err, ErrFenced) {
		t.Errorf("A's late release: %v, want ErrFenced", err)
	}
	if ok, err := a.renew(); ok || err != nil {
		t.Errorf("A's lease was renewed after it ran out (%v)", err)
	}
	select {
	case <-a.Lost():
	default:
		t.Error("A was not told it lost its lease")
	}
	if err := runB.Append(ctx, []byte(`{"kind":"op_end","op":"x"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	if got := readJournal(t, b, d); got != `{"kind":"op_end","op":"x"}`+"\n" {
		t.Errorf("journal %q: A's late record must not be in it", got)
	}
	// B still holds x: A's refused release did not free it.
	if _, ok, _ := a.TryAcquire("A", []string{"d/x"}, nil); ok {
		t.Error("A took x back")
	}
	if err := relB(); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresTakeoverFencesOldRunOwner: a run another process took over
// (--resume) refuses the old owner's writes, though the old owner's own
// lease still holds: the run's epoch is no longer its.
func TestPostgresTakeoverFencesOldRunOwner(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	runA, err := a.OpenRun(ctx, "sha256:ab", false)
	if err != nil {
		t.Fatal(err)
	}
	runA.Close() // lets the run go, as if A's lease had lapsed and A came back
	if _, err := b.OpenRun(ctx, "sha256:ab", true); err != nil {
		t.Fatal(err)
	}
	if err := runA.Append(ctx, []byte("{}\n")); !errors.Is(err, ErrFenced) {
		t.Errorf("old owner's write after a takeover: %v, want ErrFenced", err)
	}
}

// TestPostgresMigrateConcurrently: processes opening a new database at
// once apply the schema once, under the advisory lock.
func TestPostgresMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := OpenPostgres(context.Background(), url, Options{LocalDir: t.TempDir()})
			if err == nil {
				p.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p := openPG(t, url)
	var n, max int
	if err := p.pool.QueryRow(context.Background(), "SELECT count(*), max(version) FROM echelon_schema").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	names, _ := migrations.ReadDir("migrations")
	if n != len(names) || max != len(names) {
		t.Errorf("schema versions: %d rows, max %d; want %d", n, max, len(names))
	}
}

// TestPostgresURLRedacted: the password of a store URL is never in a
// message.
func TestPostgresURLRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:hunter2@db.example/echelon":                            "postgres://u:xxxxx@db.example/echelon",
		"postgres:///echelon?host=/run/pg&user=u&password=hunter2":           "postgres:///echelon?host=%2Frun%2Fpg&password=xxxxx&user=u",
		"postgresql://u@db.example/echelon?sslmode=require&password=hunter2": "postgresql://u@db.example/echelon?password=xxxxx&sslmode=require",
	} {
		if got := redactURL(in); got != want || strings.Contains(got, "hunter2") {
			t.Errorf("redactURL(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestCheckWhere: a mistyped scheme or the keyword form is refused, never
// taken for a directory of that name, and the error does not repeat the
// value (it may hold a password).
func TestCheckWhere(t *testing.T) {
	for _, ok := range []string{"", "st", ".echelon", "/var/lib/echelon", "postgres://u@h/db", "POSTGRES://u@h/db", "postgresql://h/db", "dir with=equals"} {
		if err := CheckWhere(ok); err != nil {
			t.Errorf("CheckWhere(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"postgress://u:hunter2@h/db", "mysql://u:hunter2@h/db", "host=/tmp user=u password=hunter2", "password=hunter2 host=h"} {
		err := CheckWhere(bad)
		if err == nil {
			t.Errorf("CheckWhere(%q) accepted it", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CheckWhere(%q) repeats the password: %v", bad, err)
		}
	}
	if !IsURL("PostgreSQL://h/db") {
		t.Error("IsURL is case-sensitive about the scheme")
	}
}

// BenchmarkPostgresLockCycle: one lock set (one EXCLUSIVE, one SHARED)
// acquired and released; scripts/bench-store.sh reports it per second.
func BenchmarkPostgresLockCycle(b *testing.B) {
	p, err := OpenPostgres(context.Background(), pgtest.URL(b), Options{LocalDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for i := 0; b.Loop(); i++ {
		rel, ok, err := p.TryAcquire("bench", []string{"bench/op/" + strconv.Itoa(i)}, []string{"bench/base"})
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		if err := rel(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPostgresLockCycleParallel: lock cycles from 8 goroutines at
// once (apply's steps in flight), each its own EXCLUSIVE name and one
// SHARED name in common: the store's throughput.
func BenchmarkPostgresLockCycleParallel(b *testing.B) {
	p, err := OpenPostgres(context.Background(), pgtest.URL(b), Options{LocalDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var n atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			rel, ok, err := p.TryAcquire("bench", []string{"bench/op/" + strconv.FormatInt(i, 10)}, []string{"bench/base"})
			if err != nil || !ok {
				b.Error(ok, err)
				return
			}
			if err := rel(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPostgresStepCycle: what apply writes per operation on the
// store: its lock set with its op_start record in one commit, then its
// op_end record with the release in another.
func BenchmarkPostgresStepCycle(b *testing.B) {
	ctx := context.Background()
	p, err := OpenPostgres(ctx, pgtest.URL(b), Options{LocalDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	run, err := p.OpenRun(ctx, "sha256:bench", false)
	if err != nil {
		b.Fatal(err)
	}
	defer run.Close()
	start := []byte(`{"time":"2025-01-01T00:00:00Z","kind":"op_start","op":"noop","attempt":1}` + "\n")
	end := []byte(`{"time":"2025-01-01T00:00:00Z","kind":"op_end","op":"noop","attempt":1,"outcome":"succeeded"}` + "\n")
	for i := 0; b.Loop(); i++ {
		held, err := run.Commit(ctx, []Entry{{Take: &LockSet{Owner: "bench", Exclusive: []string{"bench/op/" + strconv.Itoa(i)}, Shared: []string{"bench/base"}}, Lines: start}})
		if err != nil || !held[0].Ok() {
			b.Fatal(held, err)
		}
		if _, err := run.Commit(ctx, []Entry{{Lines: end, Release: held[0], Async: true}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPostgresSchemeCase: POSTGRES:// opens the database too (pgx knows
// the scheme in lower case only).
func TestPostgresSchemeCase(t *testing.T) {
	url := pgtest.URL(t)
	i := strings.Index(url, "://")
	st, err := Open(context.Background(), strings.ToUpper(url[:i])+url[i:], Options{LocalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*Postgres); !ok {
		t.Fatalf("opened %T, want the database", st)
	}
}
