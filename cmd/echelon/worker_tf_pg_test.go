package main

import (
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"

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
	n := 0
	for _, ev := range journalEvents(t, url, dir, "t.json") {
		if ev.Kind == "resource" && ev.Op == "net" {
			n++
		}
	}
	if n != 3 {
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
