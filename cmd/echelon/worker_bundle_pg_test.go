package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/planner"
	"github.com/echelonhq/echelon/store"
	"github.com/echelonhq/echelon/store/pgtest"
)

// bundleSpec writes, in dir, a spec whose operations run scripts of the
// spec by relative path: ./scripts/ok.sh writes what it is (its first
// line) to the marker file, ./scripts/fail.sh prints the sensitive
// variable token and fails.
func bundleTestSpec(t *testing.T, dir, marker string) {
	t.Helper()
	spec := `deployment "bun" {}
variable "token" {
  type      = string
  sensitive = true
}
phase "main" {}
mode "m" {}
component "ok" {
  phase    = phase.main
  driver   = "command"
  duration = "1s"
  command { argv = ["./scripts/ok.sh", "` + marker + `"] }
}
component "fail" {
  phase    = phase.main
  driver   = "command"
  duration = "1s"
  command {
    argv = ["./scripts/fail.sh"]
    env  = { T = var.token }
  }
}
`
	files := map[string]string{
		"b.hcl":           spec,
		"scripts/ok.sh":   "#!/bin/sh\necho genuine > \"$1\"\necho ran ok\n",
		"scripts/fail.sh": "#!/bin/sh\necho \"the token is $T\"\necho \"stderr: $T\" >&2\nexit 4\n",
	}
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// applyWorkers runs the coordinator in dir, to its end; the plan has a
// failing operation, so it exits 1.
func applyWorkers(t *testing.T, dir, url, plan string) string {
	t.Helper()
	c := echelonCmd(t, dir, "apply", plan, "--store", url, "--workers", "--state", "coord")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Only against a hang (no worker able to run a step): killed, it fails.
	hang := time.AfterFunc(3*time.Minute, func() { _ = c.Process.Kill() })
	err := c.Wait()
	hang.Stop()
	if err == nil || !strings.Contains(out.String(), "fail: failed") {
		t.Fatalf("apply: %v (want the failed operation)\n%s", err, out.String())
	}
	return out.String()
}

const bundleSecret = "Sekr3tBundleVal"

// TestWorkerRunsFromBundle: a worker started in a directory with no
// checkout of the spec runs a plan whose command is a script of the spec
// (./scripts/ok.sh), from the spec bundle the coordinator stored; a second
// worker reuses the bundle unpacked in its state directory; a tampered one
// is refused and fetched again; a manifest that climbs out of the bundle
// is refused. The failed operation's log, from a worker, reads from
// another directory through the store (echelon logs, echelon report),
// masked: the sensitive variable (ECHELON_VAR_token) is in no log, no
// bundle file and nothing printed.
func TestWorkerRunsFromBundle(t *testing.T) {
	url := pgtest.URL(t)
	t.Setenv("ECHELON_VAR_token", bundleSecret) // the coordinator's and the workers' own
	specDir, empty, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	bundleTestSpec(t, specDir, marker)
	compilePlan(t, specDir, "b.hcl", "b.json")
	raw, err := os.ReadFile(filepath.Join(specDir, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planner.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	bundleDir := filepath.Join(empty, "st-w", "bundles", store.RunKey(plan.SpecDigest))

	// 1. Fetched: the worker has no checkout.
	w := startWorker(t, empty, url, "w")
	aout := applyWorkers(t, specDir, url, "b.json")
	if got, _ := os.ReadFile(marker); string(got) != "genuine\n" {
		t.Fatalf("ok.sh did not run from the bundle (marker %q)\napply:\n%s\nworker:\n%s", got, aout, w.output())
	}
	if !strings.Contains(w.output(), "the spec from the store's bundle, fetched into "+bundleDir) {
		t.Errorf("the worker does not say it used the bundle:\n%s", w.output())
	}
	stopWorker(w)

	// The failed operation's log, read where the worker's file is not.
	if err := os.RemoveAll(filepath.Join(empty, "st-w", "runs")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "b.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := echelonCmd(t, elsewhere, "logs", "b.json", "fail", "--store", url, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("echelon logs: %v\n%s", err, out)
	}
	var lj struct {
		From, Log string
		Attempt   int
	}
	if err := json.Unmarshal(out, &lj); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if lj.From != "store" || lj.Attempt != 1 || !strings.Contains(lj.Log, "the token is "+"(sensitive)") || !strings.Contains(lj.Log, "stderr: (sensitive)") {
		t.Errorf("the worker's log from the store: %+v", lj)
	}
	rout, err := echelonCmd(t, elsewhere, "report", "b.json", "--store", url).CombinedOutput()
	if !strings.Contains(string(rout), "| the token is (sensitive)") || !strings.Contains(string(rout), "(read from the store)") {
		t.Errorf("report does not show the failed log's tail from the store (%v):\n%s", err, rout)
	}

	// 2. Cached: a new worker of the same state directory reuses it.
	os.Remove(marker)
	w = startWorker(t, empty, url, "w")
	aout = applyWorkers(t, specDir, url, "b.json")
	if got, _ := os.ReadFile(marker); string(got) != "genuine\n" || !strings.Contains(w.output(), "the spec from the store's bundle, cached in "+bundleDir) {
		t.Errorf("the cached bundle: marker %q\nworker:\n%s\napply:\n%s", got, w.output(), aout)
	}
	stopWorker(w)

	// 3. Tampered: refused, fetched again; the genuine script runs.
	unpacked := filepath.Join(bundleDir, "files", filepath.Base(specDir), "scripts", "ok.sh")
	if err := os.WriteFile(unpacked, []byte("#!/bin/sh\necho evil > \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(marker)
	w = startWorker(t, empty, url, "w")
	aout = applyWorkers(t, specDir, url, "b.json")
	if got, _ := os.ReadFile(marker); string(got) != "genuine\n" {
		t.Errorf("a tampered bundle ran (marker %q)\nworker:\n%s\napply:\n%s", got, w.output(), aout)
	}
	if o := w.output(); !strings.Contains(o, "the bundle cached in "+bundleDir+" is refused") || !strings.Contains(o, "fetched into "+bundleDir) {
		t.Errorf("the worker does not say it refused the tampered bundle:\n%s", o)
	}
	stopWorker(w)

	// Nothing the store keeps, nor anything printed, holds the secret.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var kept int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM logs`).Scan(&kept); err != nil || kept == 0 {
		t.Fatalf("no logs kept: %d %v", kept, err)
	}
	for _, q := range []string{
		"SELECT count(*) FROM logs WHERE position($1::bytea IN data) > 0",
		"SELECT count(*) FROM bundle_files WHERE position($1::bytea IN data) > 0",
		"SELECT count(*) FROM bundles WHERE strpos(manifest::text, $1) > 0",
		"SELECT count(*) FROM journal WHERE strpos(rec, $1) > 0",
	} {
		var n int
		arg := any(bundleSecret)
		if strings.Contains(q, "bytea") {
			arg = []byte(bundleSecret)
		}
		if err := conn.QueryRow(context.Background(), q, arg).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows with the secret (%v)", q, n, err)
		}
	}
	if strings.Contains(string(out)+string(rout)+aout, bundleSecret) {
		t.Error("the secret was printed")
	}

	// 4. A manifest that climbs out of the bundle: refused, nothing written.
	if _, err := conn.Exec(context.Background(), `UPDATE bundles SET manifest = jsonb_set(manifest, '{files,0,path}', '"../../../../escaped.sh"')
		WHERE spec_digest = $1`, plan.SpecDigest); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(bundleDir); err != nil {
		t.Fatal(err)
	}
	os.Remove(marker)
	w = startWorker(t, empty, url, "w")
	aout = applyWorkers(t, specDir, url, "b.json")
	if !strings.Contains(w.output()+aout, "not a plain relative path") {
		t.Errorf("an unsafe manifest was not refused\nworker:\n%s\napply:\n%s", w.output(), aout)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a step ran from an unsafe bundle")
	}
	escaped, _ := filepath.Glob(filepath.Join(empty, "*", "escaped.sh"))
	escaped2, _ := filepath.Glob(filepath.Join(empty, "escaped.sh"))
	if len(escaped)+len(escaped2) > 0 {
		t.Errorf("the unsafe manifest wrote %v", append(escaped, escaped2...))
	}
}

// stopWorker ends a worker (its state directory stays, as after a restart).
func stopWorker(w *workerProc) {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// TestApplyStoreLogs: an apply with a database store that runs its steps
// itself stores their logs: another directory (another machine: the log
// file named by the journal is not there) reads the failed one through
// the store, masked.
func TestApplyStoreLogs(t *testing.T) {
	url := pgtest.URL(t)
	t.Setenv("ECHELON_VAR_token", bundleSecret)
	dir, elsewhere := t.TempDir(), t.TempDir()
	bundleTestSpec(t, dir, filepath.Join(t.TempDir(), "marker"))
	compilePlan(t, dir, "b.hcl", "b.json")
	if out, err := echelonCmd(t, dir, "apply", "b.json", "--store", url).CombinedOutput(); err == nil {
		t.Fatalf("apply succeeded:\n%s", out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "b.json"))
	if err := os.WriteFile(filepath.Join(elsewhere, "b.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := echelonCmd(t, elsewhere, "logs", "b.json", "fail", "--store", url).CombinedOutput()
	if err != nil || string(out) != "the token is (sensitive)\nstderr: (sensitive)\n" {
		t.Errorf("echelon logs from the store: %v\n%q", err, out)
	}
	// Without the store, this directory has no run of the plan.
	if out, err := echelonCmd(t, elsewhere, "logs", "b.json", "fail").CombinedOutput(); err == nil || !strings.Contains(string(out), "no run of this plan") {
		t.Errorf("echelon logs without the store: %v\n%s", err, out)
	}
}

// TestApplyWorkersVarFileNotBundled: a spec whose digest covers a
// variables file (a .tfvars the spec reads) is not bundled: the
// coordinator says so, nothing of it is in the store, and a worker with
// its own checkout runs the plan all the same.
func TestApplyWorkersVarFileNotBundled(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeSpec(t, filepath.Join(dir, "v.hcl"), [][2]string{{"v", "true"}}, false)
	spec, _ := os.ReadFile(filepath.Join(dir, "v.hcl"))
	spec = append(spec, "\nlocals {\n  seen = fileexists(\"prod.tfvars\")\n}\n"...)
	if err := os.WriteFile(filepath.Join(dir, "v.hcl"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prod.tfvars"), []byte("password = \""+bundleSecret+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	compilePlan(t, dir, "v.hcl", "v.json")
	startWorker(t, dir, url, "w")
	out, err := echelonCmd(t, dir, "apply", "v.json", "--store", url, "--workers", "--state", "coord").CombinedOutput()
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "the spec's files are not stored in") || !strings.Contains(string(out), "prod.tfvars is a variables file") {
		t.Errorf("apply does not say the spec was not bundled:\n%s", out)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM bundles) + (SELECT count(*) FROM bundle_files)").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d bundle rows kept (%v), want none", n, err)
	}
}

// TestWorkerMissingVariableTold: a worker whose environment lacks a
// sensitive variable the plan needs says so, to its own output and in the
// step's failure, instead of telling it to compile the plan again.
func TestWorkerMissingVariableTold(t *testing.T) {
	url := pgtest.URL(t)
	specDir := t.TempDir()
	bundleTestSpec(t, specDir, filepath.Join(t.TempDir(), "marker"))
	t.Setenv("ECHELON_VAR_token", bundleSecret) // restored after the test
	compilePlan(t, specDir, "b.hcl", "b.json")
	os.Unsetenv("ECHELON_VAR_token") // the worker starts without it
	w := startWorker(t, specDir, url, "novar")
	os.Setenv("ECHELON_VAR_token", bundleSecret) // the coordinator has it
	out, err := echelonCmd(t, specDir, "apply", "b.json", "--store", url, "--state", "st", "--workers").CombinedOutput()
	if err == nil {
		t.Fatalf("apply succeeded on a worker without the plan's variable:\n%s", out)
	}
	if !strings.Contains(string(out), "missing from this worker's environment as ECHELON_VAR_NAME") {
		t.Errorf("the step's failure does not point at the worker's environment:\n%s", out)
	}
	waitFor(t, "the worker's advice", func() bool { return strings.Contains(w.output(), "echelon worker: cannot run plan ") })
	if strings.Contains(w.output(), "echelon compile") || strings.Contains(w.output(), bundleSecret) {
		t.Errorf("the worker's output advises compiling again, or shows the secret:\n%s", w.output())
	}
}
