package main

import (
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/echelonhq/echelon/store/pgtest"
)

// Workers running terraform (the real binary) against a real PostgreSQL.

// needTerraform skips without terraform on PATH, outside CI.
func needTerraform(t *testing.T) {
	t.Helper()
	if _, err := osexec.LookPath("terraform"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("terraform not found (scripts/tools.sh provides it)")
		}
		t.Skip("terraform not found; outside CI this test is skipped")
	}
	t.Setenv("CHECKPOINT_DISABLE", "1")
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorkerTerraformResources: a worker runs a terraform step; the
// coordinator journals the step's resource records from the worker's
// result, and calibrate --store learns the component's resource time from
// them.
func TestWorkerTerraformResources(t *testing.T) {
	needTerraform(t)
	url := pgtest.URL(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"t.hcl": `deployment "tf" {}

phase "main" {}

mode "m" {}

component "net" {
  phase = phase.main
  terraform {
    dir = "tf"
  }
}
`,
		"tf/main.tf": `resource "terraform_data" "a" {
  input = "a"
}

resource "terraform_data" "b" {
  input = terraform_data.a.output
}

resource "terraform_data" "c" {
  input = "c"
}
`,
	})
	compilePlan(t, dir, "t.hcl", "t.json")
	startWorker(t, dir, url, "w")
	if out, err := guarded(echelonCmd(t, dir, "apply", "t.json", "--store", url, "--workers", "--state", "coord")); err != nil {
		t.Fatalf("apply on the worker: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tf", "terraform.tfstate")); err != nil {
		t.Fatalf("terraform did not apply in the worker's checkout: %v", err)
	}
	if n := countEvents(t, url, dir, "t.json", func(ev jEvent) bool { return ev.Kind == "resource" && ev.Op == "net" }); n != 3 {
		t.Errorf("%d resource records of net in the journal, want 3", n)
	}
	out, err := echelonCmd(t, dir, "calibrate", "t.json", "--store", url, "--json", "-o", filepath.Join(t.TempDir(), "cal.json")).Output()
	if err != nil {
		t.Fatalf("calibrate --store: %v\n%s", err, out)
	}
	var got struct {
		Calibration struct {
			Runs       int `json:"runs"`
			Components map[string]map[string]struct {
				Resource *struct {
					Samples int     `json:"samples"`
					P50     float64 `json:"p50"`
				} `json:"resource"`
			} `json:"components"`
		} `json:"calibration"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("calibrate's JSON: %v\n%s", err, out)
	}
	cal := got.Calibration
	res := cal.Components["net"]["deploy"].Resource
	if cal.Runs != 1 || res == nil || res.Samples != 3 || res.P50 <= 0 {
		t.Errorf("calibrate learned no resource time of net from the worker's step (want 3 samples):\n%s", out)
	}
}

// outputsSpec is a terraform producer (infra/eu: cluster_id, and the
// sensitive token) and a command consumer on a worker (report/eu) whose
// argv reads output.infra[each.region].READ.
func outputsSpec(t *testing.T, dir, read string) {
	t.Helper()
	writeFiles(t, dir, map[string]string{
		"o.hcl": `deployment "outputs" {}

phase "main" {}

mode "m" {}

component "infra" {
  phase        = phase.main
  regions      = ["eu"]
  mock_outputs = { cluster_id = "mock-cluster", token = "mock-token" }
  terraform {
    dir       = "tf-infra"
    workspace = each.region
  }
}

component "report" {
  phase    = phase.main
  regions  = ["eu"]
  duration = "1s"
  command {
    argv = ["sh", "-c", "printf '%s\n' \"$1\" >> got", "sh", output.infra[each.region].` + read + `]
  }
}
`,
		"tf-infra/main.tf": `resource "terraform_data" "cluster" {
  input = "cluster-${terraform.workspace}"
}

output "cluster_id" {
  value = terraform_data.cluster.output
}

output "token" {
  value     = "tok-${terraform.workspace}-Sekr3t"
  sensitive = true
}
`,
	})
	compilePlan(t, dir, "o.hcl", "o.json")
}

// storeHolds counts the store's journal records, tasks and plans holding
// s anywhere.
func storeHolds(t *testing.T, url, s string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM journal WHERE strpos(rec, $1) > 0)
		+ (SELECT count(*) FROM tasks WHERE strpos(step::text || coalesce(result::text, ''), $1) > 0)
		+ (SELECT count(*) FROM plans WHERE strpos(convert_from(data, 'UTF8'), $1) > 0)`, s).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// taskStep is the step of the (first) task of operation op, as stored.
func taskStep(t *testing.T, url, op string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var step string
	if err := conn.QueryRow(ctx, "SELECT step::text FROM tasks WHERE step -> 'ops' -> 0 = to_jsonb($1::text) ORDER BY id LIMIT 1", op).Scan(&step); err != nil {
		t.Fatal(err)
	}
	return step
}

// TestWorkerOutputs: a terraform producer and a command consumer of its
// output, both run by a worker. The producer's result carries its
// outputs (the sensitive one masked), the coordinator journals them and
// the consumer's task carries the value it reads; the consumer ran with
// it. The sensitive value is nowhere in the store.
func TestWorkerOutputs(t *testing.T) {
	needTerraform(t)
	url := pgtest.URL(t)
	dir := t.TempDir()
	outputsSpec(t, dir, "cluster_id")
	startWorker(t, dir, url, "w")
	if out, err := guarded(echelonCmd(t, dir, "apply", "o.json", "--store", url, "--workers", "--state", "coord")); err != nil {
		t.Fatalf("apply on the worker: %v\n%s", err, out)
	}
	if got := readLines(t, filepath.Join(dir, "got")); strings.Join(got, " ") != "cluster-eu" {
		t.Errorf("the consumer got %q, want cluster-eu (the producer's output)", got)
	}
	if records := countEvents(t, url, dir, "o.json", func(ev jEvent) bool { return ev.Kind == "outputs" && ev.Op == "infra/eu" }); records != 1 {
		t.Errorf("%d outputs records of infra/eu in the journal, want 1", records)
	}
	if step := taskStep(t, url, "report/eu"); !strings.Contains(step, `"outputs": {"infra/eu": {"cluster_id": {"type": "string", "value": "cluster-eu"}}}`) {
		t.Errorf("the consumer's task does not carry the value it reads: %s", step)
	}
	if n := storeHolds(t, url, "(sensitive)"); n < 2 {
		t.Errorf("the masked token is in %d rows of the store, want at least 2 (result, record)", n)
	}
	if n := storeHolds(t, url, "Sekr3t"); n != 0 {
		t.Errorf("the sensitive output is in the store in clear (%d rows)", n)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "st-w", "runs", "*", "logs", "report_eu.*.log"))
	if len(logs) != 1 {
		t.Fatalf("the consumer's log files on the worker: %v, want one", logs)
	}
	if b, _ := os.ReadFile(logs[0]); !strings.Contains(string(b), "outputs of infra/eu from the coordinator") {
		t.Errorf("the consumer's log does not say its outputs came from the coordinator:\n%s", b)
	}
}

// TestWorkerSensitiveOutputRefused: a consumer of a sensitive output
// cannot run on a worker (the value is never in the store in clear): the
// run stops naming the output, the consumer never ran, and the value is
// nowhere in the store.
func TestWorkerSensitiveOutputRefused(t *testing.T) {
	needTerraform(t)
	url := pgtest.URL(t)
	dir := t.TempDir()
	outputsSpec(t, dir, "token")
	startWorker(t, dir, url, "w")
	out, err := guarded(echelonCmd(t, dir, "apply", "o.json", "--store", url, "--workers", "--state", "coord"))
	if err == nil {
		t.Fatalf("the consumer of a sensitive output ran on a worker:\n%s", out)
	}
	if !strings.Contains(string(out), "report/eu reads the sensitive output token of infra/eu") {
		t.Errorf("the refusal does not name the output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "got")); err == nil {
		t.Error("the consumer ran")
	}
	if n := storeHolds(t, url, "Sekr3t"); n != 0 {
		t.Errorf("the sensitive output is in the store in clear (%d rows)", n)
	}
	if strings.Contains(string(out), "Sekr3t") {
		t.Errorf("the sensitive output is in apply's output:\n%s", out)
	}
}
