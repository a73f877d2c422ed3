package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/store/pgtest"
)

// writeLog writes an attempt's log file where a run writes it.
func writeLog(t *testing.T, r Run, op string, attempt int, data []byte) string {
	t.Helper()
	p := filepath.Join(r.Dir(), "logs", LogName(op, attempt))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStoreLogs: an attempt's log, once put, reads back from another
// process (the last one by default, a given one, only its last MaxLog
// bytes with the cut counted); none of another host, of an unknown
// operation or of a fresh run.
func TestStoreLogs(t *testing.T) {
	backends(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		const d = "sha256:10910910910910910910"
		r, err := a.OpenRun(ctx, d, false)
		if err != nil {
			t.Fatal(err)
		}
		first := []byte("attempt one\nfailed\n")
		if err := r.PutLog(ctx, "web/eu", 1, writeLog(t, r, "web/eu", 1, first)); err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("0123456789abcdef"), MaxLog/16+10) // MaxLog + 160 bytes
		big = append(big, "the end\n"...)
		if err := r.PutLog(ctx, "web/eu", 2, writeLog(t, r, "web/eu", 2, big)); err != nil {
			t.Fatal(err)
		}
		me, _ := os.Hostname()
		l, err := b.Log(ctx, d, "web/eu", 1, "")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l.Data, first) || l.Truncated != 0 || l.Attempt != 1 || l.Op != "web/eu" || l.Host != me {
			t.Errorf("attempt 1: %+v %q", l, l.Data)
		}
		l, err = b.Log(ctx, d, "web/eu", 0, me)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attempt != 2 || len(l.Data) != MaxLog || l.Truncated != int64(len(big)-MaxLog) || !bytes.Equal(l.Data, big[len(big)-MaxLog:]) {
			t.Errorf("the last attempt: attempt %d, %d bytes, %d cut; want 2, %d, %d", l.Attempt, len(l.Data), l.Truncated, MaxLog, len(big)-MaxLog)
		}
		for _, c := range []struct {
			op      string
			attempt int
			host    string
		}{{"web/us", 0, ""}, {"web/eu", 3, ""}, {"web/eu", 1, "elsewhere"}} {
			if _, err := b.Log(ctx, d, c.op, c.attempt, c.host); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%+v: %v, want fs.ErrNotExist", c, err)
			}
		}
		r.Close()
		// A fresh run starts without logs.
		r2, err := b.OpenRun(ctx, d, false)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		if _, err := a.Log(ctx, d, "web/eu", 0, ""); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a fresh run has the last run's log: %v", err)
		}
	})
}

// TestPostgresLogFenced: a log is put under the run's epoch: the old
// owner of a run another process took over cannot, nor a worker under a
// claim that is not its.
func TestPostgresLogFenced(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openPG(t, url), openPG(t, url)
	runA, err := a.OpenRun(ctx, "sha256:ab", false)
	if err != nil {
		t.Fatal(err)
	}
	p := writeLog(t, runA, "x", 1, []byte("late\n"))
	runA.Close()
	if _, err := b.OpenRun(ctx, "sha256:ab", true); err != nil {
		t.Fatal(err)
	}
	if err := runA.PutLog(ctx, "x", 1, p); !errors.Is(err, ErrFenced) {
		t.Errorf("old owner's log after a takeover: %v, want ErrFenced", err)
	}
	if err := a.PutTaskLog(ctx, Claimed{ID: 1, Claim: 1}, "x", 1, p); !errors.Is(err, ErrFenced) {
		t.Errorf("a log under a claim that is not this worker's: %v, want ErrFenced", err)
	}
	if _, err := b.Log(ctx, "sha256:ab", "x", 0, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused log was kept: %v", err)
	}
	expire(t, a)
	if err := a.PutTaskLog(ctx, Claimed{ID: 1, Claim: 1}, "x", 1, p); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "lease") {
		t.Errorf("a log after the lease ran out: %v, want ErrFenced", err)
	}
}

func TestLogName(t *testing.T) {
	if got := LogName("region/r1", 2); got != "region_r1.2.log" {
		t.Errorf("LogName(region/r1) = %q", got)
	}
	dir := t.TempDir()
	for _, n := range []string{LogName("a", 1), LogName("a", 12), LogName("a.b", 30), LogName("ab", 40), "a.x.log"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	if got := lastAttempt(dir, "a"); got != 12 {
		t.Errorf("last attempt of a: %d, want 12", got)
	}
}
