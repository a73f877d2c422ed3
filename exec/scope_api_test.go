package exec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec/internal/throttleapi"
	"github.com/echelonhq/echelon/planner"
)

// A region-scoped api throttled in one region slows that region only:
// commands call the real token-bucket API (a bucket per region), region a
// (four operations at once against a bucket of two) drains its bucket and is throttled (429 with Retry-After), and the
// executor backs off and lowers the parallelism of api cloud in region a
// alone; region b's operations run their first attempt untouched.
func TestThrottlePerScopeOnRealAPI(t *testing.T) {
	scopedThrottle(t, commandScopeSpec, nil, nil)
}

// The same with terraform: each region's workspaces apply a
// terraform_data whose local-exec calls the api; terraform reports the 429
// in its diagnostics.
func TestTerraformThrottlePerScope(t *testing.T) {
	bin := terraformBin(t)
	scopedThrottle(t, terraformScopeSpec, []string{"ECHELON_TERRAFORM=" + bin, "CHECKPOINT_DISABLE=1"}, func(dir string) {
		if err := os.MkdirAll(filepath.Join(dir, "tf"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tf", "main.tf"), []byte(scopeModule), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

const scopeModule = `
variable "url" {
  type = string
}

resource "terraform_data" "call" {
  input = var.url

  provisioner "local-exec" {
    command = "out=$(curl -s -w ' %%{http_code}' '${var.url}'); case \"$out\" in *' 200') ;; *) echo \"$out\" >&2; exit 1 ;; esac"
  }
}
`

const terraformScopeSpec = `
deployment "scoped" {}
variable "api" {
  type = string
}
phase "p" {}
api "cloud" {
  rate  = 1
  burst = 2
  scope = "region"
}
mode "m" {
  max_parallel = 0
}
component "busy" {
  phase    = "p"
  regions  = ["a"]
  replicas = 4
  calls    = { cloud = 1 }
  terraform {
    dir       = "tf"
    workspace = "busy-${each.replica}"
    vars      = { url = "${var.api}/call/cloud?scope=region&region=a" }
  }
}
component "calm" {
  phase    = "p"
  regions  = ["b"]
  replicas = 2
  calls    = { cloud = 1 }
  terraform {
    dir       = "tf"
    workspace = "calm-${each.replica}"
    vars      = { url = "${var.api}/call/cloud?scope=region&region=b" }
  }
}
`

const commandScopeSpec = `
deployment "scoped" {}
variable "api" {
  type = string
}
phase "p" {}
api "cloud" {
  rate  = 1
  burst = 2
  scope = "region"
}
mode "m" {
  max_parallel = 0
}
component "busy" {
  phase    = "p"
  regions  = ["a"]
  replicas = 4
  duration = "1s"
  calls    = { cloud = 1 }
  command {
    argv = ["sh", "-c", "out=$(curl -s -w ' %%{http_code}' \"$0/call/cloud?scope=region&region=a\"); case \"$out\" in *' 200') ;; *) echo \"$out\" >&2; exit 1 ;; esac", var.api]
  }
}
component "calm" {
  phase    = "p"
  regions  = ["b"]
  replicas = 2
  duration = "1s"
  calls    = { cloud = 1 }
  command {
    argv = ["sh", "-c", "out=$(curl -s -w ' %%{http_code}' \"$0/call/cloud?scope=region&region=b\"); case \"$out\" in *' 200') ;; *) echo \"$out\" >&2; exit 1 ;; esac; sleep 0.5", var.api]
  }
}
`

func scopedThrottle(t *testing.T, spec string, env []string, setup func(dir string)) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/curl"); err != nil {
		t.Skip("needs curl")
	}
	api, err := throttleapi.Start("127.0.0.1:0", 1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	dir := t.TempDir()
	if setup != nil {
		setup(dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, p := compileSpec(t, filepath.Join(dir, "spec.hcl"), []string{"api=" + api.URL}, planner.Options{})
	var mu sync.Mutex
	var evs []Event
	res, err := Run(context.Background(), p, Options{
		StateDir: filepath.Join(dir, ".echelon"), SpecDir: s.Dir, Env: append(os.Environ(), env...),
		QuietPeriod: time.Hour, Backoff: 50 * time.Millisecond,
		OnEvent: func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		for _, f := range res.Failed {
			b, _ := os.ReadFile(f.Log)
			t.Logf("%s log:\n%s", f.Op, b)
		}
		t.Fatalf("result: %+v", res.Failed)
	}
	if st := api.Stats(); st.Throttled == 0 {
		t.Fatalf("the API never throttled (%+v): the test shows nothing", st)
	}
	var throttledA, downsA int
	attempts := map[string]int{}
	for _, e := range evs {
		switch e.Kind {
		case EvThrottle:
			for _, op := range append([]string{e.Op}, e.Ops...) {
				if strings.HasPrefix(op, "calm/") {
					t.Errorf("region b's %s was throttled: %+v", op, e)
				}
				if strings.HasPrefix(op, "busy/") {
					throttledA++
				}
			}
		case EvAIMD:
			if !strings.HasPrefix(e.Message, "cloud/a: ") {
				t.Errorf("parallelism changed outside api cloud in region a: %q", e.Message)
			} else if strings.Contains(e.Message, "down to") {
				downsA++
			}
		case EvOpStart:
			attempts[e.Op] = max(attempts[e.Op], e.Attempt)
		}
	}
	if throttledA == 0 || downsA == 0 {
		t.Errorf("region a: %d throttles, %d decreases; want both > 0", throttledA, downsA)
	}
	for _, op := range []string{"calm/b/0", "calm/b/1"} {
		if attempts[op] != 1 {
			t.Errorf("%s ran %d attempts, want 1: region b is another bucket", op, attempts[op])
		}
	}
}
