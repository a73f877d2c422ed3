// Package pgtest gives tests a real PostgreSQL: one throwaway server per
// test binary (scripts/postgres.sh, started on first use and stopped by
// Main), and a fresh database per test.
//
// When no server can be started, URL skips the test with the reason; with
// ECHELON_REQUIRE_POSTGRES=1 (scripts/test.sh sets it, so CI really runs
// these tests) it fails instead. ECHELON_STORE_TEST_URL, when set, names a
// running server to use instead of starting one.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	once     sync.Once
	server   string // the server's URL (database postgres)
	dir      string // the server's directory, when this binary started it
	startErr error
	seq      atomic.Int64
)

// Main runs the tests, then stops the server if one was started. Call it
// from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the server this binary started (no-op otherwise).
func Stop() {
	if dir != "" {
		_ = exec.Command("bash", filepath.Join(root(), "scripts", "postgres.sh"), "stop", dir).Run()
		dir = ""
	}
}

// root is the module's directory: the first parent holding go.mod.
func root() string {
	d, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			return "."
		}
		d = p
	}
}

func start() {
	if u := os.Getenv("ECHELON_STORE_TEST_URL"); u != "" {
		server = u
		return
	}
	d, err := os.MkdirTemp("", "echelon-pg-")
	if err != nil {
		startErr = err
		return
	}
	cmd := exec.Command("bash", filepath.Join(root(), "scripts", "postgres.sh"), "start", d)
	cmd.Env = append(os.Environ(), "PGFSYNC=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		os.RemoveAll(d)
		startErr = fmt.Errorf("scripts/postgres.sh start: %w: %s", err, strings.TrimSpace(stderr.String()))
		return
	}
	dir, server = d, strings.TrimSpace(string(out))
}

// Server returns the URL of the test binary's server (database
// "postgres"), starting it on first use.
func Server(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		if os.Getenv("ECHELON_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (ECHELON_REQUIRE_POSTGRES=1) and could not be started: %v", startErr)
		}
		t.Skipf("no PostgreSQL (set ECHELON_REQUIRE_POSTGRES=1 to fail instead): %v", startErr)
	}
	return server
}

// URL returns the URL of a new, empty database for t, dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	u, drop, err := NewDatabase(Server(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(drop)
	return u
}

// NewDatabase makes a new, empty database on the server srv (from Server)
// and returns its URL and a function that drops it.
func NewDatabase(srv string) (string, func(), error) {
	name := fmt.Sprintf("echelon_test_%d_%d", os.Getpid(), seq.Add(1))
	u, err := withDatabase(srv, name)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, srv); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	}
	return u, drop, nil
}

// withDatabase is srv with its database replaced by name.
func withDatabase(srv, name string) (string, error) {
	u, err := url.Parse(srv)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", errors.New("server URL: not postgres://")
	}
	u.Path = "/" + name
	return u.String(), nil
}
