package exec

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec/internal/throttleapi"
	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

// terraformBin finds the real terraform: ECHELON_TERRAFORM, else PATH. In
// CI a missing terraform fails the test: scripts/tools.sh provides it.
func terraformBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ECHELON_TERRAFORM"); p != "" {
		return p
	}
	if p, err := osexec.LookPath("terraform"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("terraform not found (set ECHELON_TERRAFORM or put it on PATH; scripts/tools.sh builds it)")
	}
	t.Skip("terraform not found; outside CI this test is skipped")
	return ""
}

// tofuBin finds the real OpenTofu: ECHELON_TOFU, else tofu on PATH; in CI
// a missing tofu fails the test (scripts/tools.sh builds it).
func tofuBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ECHELON_TOFU"); p != "" {
		return p
	}
	if p, err := osexec.LookPath("tofu"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("tofu not found (set ECHELON_TOFU or put it on PATH; scripts/tools.sh builds it)")
	}
	t.Skip("tofu not found; outside CI this test is skipped")
	return ""
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			if fi.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// compileSpec loads and compiles a spec with the real lang and planner.
func compileSpec(t *testing.T, path string, vars []string, opts planner.Options) (*lang.Spec, *planner.Plan) {
	t.Helper()
	spec, diags := lang.Load(path, lang.LoadOptions{Vars: vars})
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	p, diags := planner.Compile(spec, opts)
	if diags.HasErrors() {
		t.Fatalf("compile: %v", diags)
	}
	// Through the plan file format, as apply sees it.
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err = planner.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return spec, p
}

const tfSpec = `
deployment "tf-regions" {}

variable "api" {
  type = string
}

locals {
  regions = ["r1", "r2", "r3", "r4", "r5", "r6"]
}

phase "main" {}

mode "m" {
  max_parallel          = 6
  terraform_parallelism = 8
}

component "region" {
  phase   = phase.main
  driver  = "terraform"
  regions = local.regions
  terraform {
    dir    = "tf"
    target = "module.region_deployment[\"${each.region}\"]"
    vars = {
      api     = var.api
      regions = local.regions
      calls   = 3
    }
  }
}
`

// TestTerraformThrottled applies six regions of one terraform state
// (coalesced into one apply with a -target each) against an API whose
// token bucket is far smaller than the burst: 429s with Retry-After come
// back through terraform's diagnostics, the executor halves its
// parallelism, waits, retries each region on its own, and finishes with
// nothing failed.
func TestTerraformThrottled(t *testing.T) {
	bin := terraformBin(t)
	api, err := throttleapi.Start("127.0.0.1:0", 4, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()

	dir := t.TempDir()
	copyDir(t, "testdata/tf-regions", filepath.Join(dir, "tf"))
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(tfSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), []string{"api=" + api.URL}, planner.Options{})

	var mu sync.Mutex
	var evs []Event
	res, err := Run(context.Background(), p, Options{
		StateDir:    filepath.Join(dir, ".echelon"),
		SpecDir:     spec.Dir,
		Env:         append(os.Environ(), "ECHELON_TERRAFORM="+bin, "CHECKPOINT_DISABLE=1"),
		QuietPeriod: 2 * time.Second,
		Backoff:     200 * time.Millisecond,
		OnEvent: func(e Event) {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failed {
		log, _ := os.ReadFile(f.Log)
		t.Errorf("%s failed: %s\n%s", f.Op, f.Error, log)
	}
	if !res.OK() || len(res.Succeeded) != 6 {
		t.Fatalf("result: %+v", res)
	}
	st := api.Stats()
	if st.Throttled == 0 {
		t.Fatalf("the API never throttled (%+v): the test shows nothing", st)
	}
	if st.OK < 18 {
		t.Errorf("API accepted %d calls, want at least 18 (6 regions x 3)", st.OK)
	}
	var throttles, downs int
	for _, e := range evs {
		switch {
		case e.Kind == EvThrottle:
			throttles++
		case e.Kind == EvAIMD && e.Parallel > 0 && e.Parallel < 6 && strings.HasPrefix(e.Message, "throttled"):
			downs++
		}
	}
	if throttles == 0 || downs == 0 {
		t.Errorf("throttle events %d, parallelism decreases %d: want both > 0", throttles, downs)
	}
	// The first attempt ran all six regions as one terraform process.
	first, err := os.ReadFile(filepath.Join(res.RunDir, "logs", "region_r1.1.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(first), "of 6 instance(s)") {
		t.Errorf("first attempt was not one coalesced apply of 6 instances:\n%s", first)
	}
	t.Logf("api: %+v; %d throttle events, %d decreases, %s", st, throttles, downs, fmt.Sprint(res.Duration))
}

// version -json's object is found after what tofu prints before it.
func TestSplitJSONObject(t *testing.T) {
	for _, tc := range []struct{ out, pre, obj string }{
		{`{"terraform_version": "1.11.4"}`, "", `{"terraform_version": "1.11.4"}`},
		{"\nWarning: Unable to open CLI configuration file\n\nThe file does not exist.\n{\n  \"terraform_version\": \"1.12.6\"\n}\n",
			"\nWarning: Unable to open CLI configuration file\n\nThe file does not exist.\n", "{\n  \"terraform_version\": \"1.12.6\"\n}\n"},
		{"Terraform v1.11.4\n", "Terraform v1.11.4\n", ""},
		{"", "", ""},
	} {
		pre, obj := splitJSONObject([]byte(tc.out))
		if string(pre) != tc.pre || string(obj) != tc.obj {
			t.Errorf("splitJSONObject(%q) = %q, %q; want %q, %q", tc.out, pre, obj, tc.pre, tc.obj)
		}
	}
}

// A plan's binary picks the program and its override; one echelon does not
// know is refused, not run as terraform.
func TestTerraformBinaryOf(t *testing.T) {
	env := []string{"ECHELON_TERRAFORM=/opt/tf", "ECHELON_TOFU=/opt/tofu"}
	for _, tc := range []struct{ binary, tool, bin string }{
		{"", "terraform", "/opt/tf"},
		{"terraform", "terraform", "/opt/tf"},
		{"tofu", "tofu", "/opt/tofu"},
	} {
		tool, bin, err := terraformBinary(env, tc.binary)
		if err != nil || tool != tc.tool || bin != tc.bin {
			t.Errorf("terraformBinary(%q) = %q, %q, %v; want %q, %q", tc.binary, tool, bin, err, tc.tool, tc.bin)
		}
	}
	if _, bin, err := terraformBinary(nil, "pulumi"); err == nil {
		t.Errorf("binary pulumi ran %q", bin)
	}
}
