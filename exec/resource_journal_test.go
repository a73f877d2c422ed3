package exec

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/echelonhq/echelon/planner"
)

const tfSleepSpec = `
deployment "tf-sleep" {}

phase "main" {}

mode "m" {
  max_parallel = 2
}

component "store" {
  phase             = phase.main
  driver            = "terraform"
  resources         = 2
  resource_duration = "1s"
  terraform {
    dir = "tf"
  }
}
`

const tfSleepMain = `
resource "terraform_data" "a" {
  count = 2
  provisioner "local-exec" {
    command = "sleep 0.4"
  }
}
`

// TestResourceRecordsJournaled applies and destroys a terraform
// configuration of two resources with the real terraform: each resource's
// completion is a durable journal record (op, address, action, its time
// to the microsecond from terraform's own timestamps), which calibrate
// fits resource times from.
func TestResourceRecordsJournaled(t *testing.T) {
	bin := terraformBin(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tf", "main.tf"), []byte(tfSleepMain), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(tfSleepSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, destroy := range []bool{false, true} {
		spec, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{Destroy: destroy})
		res, err := Run(context.Background(), p, Options{
			StateDir: filepath.Join(dir, ".echelon"),
			SpecDir:  spec.Dir,
			Env:      append(os.Environ(), "ECHELON_TERRAFORM="+bin, "CHECKPOINT_DISABLE=1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Fatalf("%s: %+v", p.Action, res.Failed)
		}
		want := map[bool]string{false: "create", true: "delete"}[destroy]
		var recs []Event
		var start *Event
		err = ReadEvents(filepath.Join(res.RunDir, "journal.jsonl"), func(ev Event) {
			switch ev.Kind {
			case EvResource:
				recs = append(recs, ev)
			case EvRunStart:
				start = &ev
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if start == nil || start.Action != p.Action {
			t.Errorf("run_start %+v: want action %s", start, p.Action)
		}
		if len(recs) != 2 {
			t.Fatalf("%s: %d resource records, want 2: %+v", p.Action, len(recs), recs)
		}
		for _, r := range recs {
			if r.Op != "store" || r.Action != want || r.Resource == "" {
				t.Errorf("%s: record %+v: want op store, action %s, an address", p.Action, r, want)
			}
			// Deleting runs no provisioner: only a create sleeps.
			if !destroy && (r.Duration < 0.4 || r.Duration > res.Duration) {
				t.Errorf("create of %s took %.3fs: want at least the provisioner's 0.4s and under the run's %.3fs", r.Resource, r.Duration, res.Duration)
			}
			// Terraform's elapsed_seconds is whole seconds: 0.4s would read 0.
			if r.Duration <= 0 && !destroy {
				t.Errorf("duration %v: want terraform's timestamps' difference, not whole seconds", r.Duration)
			}
		}
	}
}
