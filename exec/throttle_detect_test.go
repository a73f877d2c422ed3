package exec

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// TestDetectThrottleEvidence: only status-shaped evidence is throttling;
// a bare 429 or a name that mentions throttling is not.
func TestDetectThrottleEvidence(t *testing.T) {
	for _, tc := range []struct {
		out string
		ok  bool
	}{
		{"HTTP/1.1 429 Too Many Requests", true},
		{"Error: HTTP 429 from api", true},
		{"request failed with status 429", true},
		{"azure: StatusCode=429 -- Original Error", true},
		{"googleapi: Error 429: Quota exceeded", true},
		{`{"kind":"Status","reason":"TooManyRequests","code":429}`, true},
		{"code: 429", true},
		{"failed to download openapi: the server has received too many requests and has asked us to try again later", true},
		{"Error from server (429)", true},
		{"Throttling: Rate exceeded", true},
		{"RequestLimitExceeded: Request limit exceeded.", true},
		{"Error: Rate limit exceeded for this token", true},
		{"Retry-After: 2", true},
		{`code=500; if [ $code = 429 ]; then sleep 5; fi; echo permission denied`, false},
		{"429", false},
		{"created 429 objects", false},
		{"aws_iam_policy.throttling-policy: permission denied", false},
		{"configure the rate limit of the gateway: invalid value", false},
		{"throttled_requests metric missing", false},
		{"echo Retry-After is $RA", false},
	} {
		if _, ok := detectThrottle([]byte(tc.out)); ok != tc.ok {
			t.Errorf("%q: throttled = %v, want %v", tc.out, ok, tc.ok)
		}
	}
}

// TestTerraformEventsIgnoreCommandEcho: terraform echoes a local-exec
// command ("Executing: [...]" and "Error running command '...'"); a 429 in
// the command's text is not the API's answer, a 429 in its output is.
func TestTerraformEventsIgnoreCommandEcho(t *testing.T) {
	const addr = `module.region_deployment[\"us\"].terraform_data.r`
	cmd := `curl -f $API || { [ $? = 22 ] && echo HTTP 429 seen >&2; }; echo permission denied >&2; exit 1`
	progress := func(out string) string {
		return `{"type":"provision_progress","hook":{"resource":{"addr":"` + addr + `"},"output":` + jsonString(t, out) + `}}`
	}
	diag := func(output string) string {
		return `{"type":"diagnostic","diagnostic":{"severity":"error","summary":"local-exec provisioner error","address":"` + addr +
			`","detail":` + jsonString(t, "Error running command '"+cmd+"': exit status 1. Output: "+output) + `}}`
	}
	for _, tc := range []struct {
		name   string
		stream []string
		want   bool
	}{
		{"echo only", []string{progress("Executing: [\"/bin/sh\" \"-c\" " + jsonString(t, cmd) + "]"), progress("permission denied"), diag("permission denied\n")}, false},
		{"api answered 429", []string{progress("Executing: [\"/bin/sh\" \"-c\" \"curl\"]"), progress("HTTP/1.1 429 Too Many Requests"), progress("Retry-After: 3"),
			diag("HTTP/1.1 429 Too Many Requests\nRetry-After: 3\n")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := []*planner.Operation{{ID: "c/us", Driver: "terraform", Terraform: &planner.Terraform{Target: `module.region_deployment["us"]`}}}
			var log strings.Builder
			ev := &tfEvents{log: &log, ops: ops, started: map[string]time.Time{},
				planned: map[string]bool{}, completed: map[string]bool{}, errored: map[string]bool{}, opDiag: map[string]*opDiag{}}
			for _, l := range tc.stream {
				if _, err := ev.Write([]byte(l + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			te, got := detectThrottle(ev.diag.Bytes())
			if got != tc.want {
				t.Fatalf("throttled = %v (%v), want %v; text searched:\n%s", got, te, tc.want, ev.diag.String())
			}
			if od := ev.opDiag["c/us"]; od == nil {
				t.Fatal("no diagnostic kept for c/us")
			} else if _, got := detectThrottle(od.text.Bytes()); got != tc.want {
				t.Errorf("per-instance text: throttled = %v, want %v:\n%s", got, tc.want, od.text.String())
			}
			if tc.want && te.RetryAfter != 3*time.Second {
				t.Errorf("retry after %v, want 3s", te.RetryAfter)
			}
		})
	}
}

const tfNotThrottledSpec = `
deployment "fp" { default_mode = "m" }
phase "p" {}
mode "m" { max_parallel = 0 }
component "infra" {
  phase   = phase.p
  driver  = "terraform"
  regions = ["r1", "r2", "r3"]
  retries = 0
  terraform {
    dir    = "tf"
    target = "module.region_deployment[\"${each.region}\"]"
    vars   = { regions = ["r1", "r2", "r3"] }
  }
}
`

// TestTerraformFailureNotThrottled is the reviewer's repro with the real
// terraform: a local-exec whose script mentions 429 fails with "permission
// denied". It is an ordinary failure: one attempt each (retries = 0), no
// throttle event, parallelism left alone.
func TestTerraformFailureNotThrottled(t *testing.T) {
	bin := terraformBin(t)
	dir := t.TempDir()
	files := map[string]string{
		"spec.hcl": tfNotThrottledSpec,
		"tf/main.tf": `variable "regions" { type = list(string) }
module "region_deployment" {
  source   = "./modules/region"
  for_each = toset(var.regions)
  region   = each.key
}
`,
		"tf/modules/region/main.tf": `variable "region" { type = string }
resource "terraform_data" "r" {
  input = var.region
  provisioner "local-exec" {
    command = "code=500; if [ $code = 429 ]; then sleep 5; fi; echo permission denied >&2; exit 1"
  }
}
`,
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), nil, planner.Options{})
	var evs []Event
	res, err := Run(context.Background(), p, Options{
		StateDir: filepath.Join(dir, ".echelon"),
		SpecDir:  s.Dir,
		Env:      append(os.Environ(), "ECHELON_TERRAFORM="+bin, "CHECKPOINT_DISABLE=1"),
		Backoff:  10 * time.Millisecond,
		OnEvent:  func(e Event) { evs = append(evs, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == EvThrottle || e.Kind == EvAIMD {
			t.Errorf("ordinary failure reported as throttling: %+v", e)
		}
	}
	if res.Throttled != 0 || len(res.Failed) != 3 {
		t.Errorf("result: throttled %d, failed %+v", res.Throttled, res.Failed)
	}
	ends := journalEnds(t, res.Journal)
	for _, id := range []string{"infra/r1", "infra/r2", "infra/r3"} {
		got := ends[id]
		if len(got) != 1 || got[0].outcome != OutcomeFailed {
			t.Errorf("%s op_end records %+v, want one failed attempt (retries = 0)", id, got)
			continue
		}
		if !strings.Contains(got[0].err, "permission denied") || strings.Contains(got[0].err, "throttled") {
			t.Errorf("%s error %q: want terraform's error, not throttling", id, got[0].err)
		}
	}
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
