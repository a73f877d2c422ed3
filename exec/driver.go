package exec

import (
	"context"
	"fmt"
	"github.com/echelonhq/echelon/lang"
	"io"
	"os"
	osexec "os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/echelonhq/echelon/planner"
)

// Step is one unit the scheduler starts: a single operation, or several
// terraform instances that share a state, coalesced into one process.
type Step struct {
	Ops         []*planner.Operation
	Action      string    // planner.ActionDeploy or planner.ActionDestroy
	SpecDir     string    // driver paths are relative to it
	Parallelism int       // terraform -parallelism for this step (after AIMD adjustment)
	Log         io.Writer // the operation/attempt log file
	Env         []string  // os.Environ() plus extras
	RunDir      string    // the run's directory: private files a step needs while it runs

	// Vars are the terraform variable values of each op (by op ID), with
	// sensitive values re-evaluated from the spec; nil means use the plan's.
	Vars map[string]map[string]any
	// Events, when set, receives driver progress (terraform resource
	// events); drivers may ignore it.
	Events func(e Event)
	// Started, when set, is told the process group of each tool process
	// the driver starts (see runChild), so the lock store can keep the
	// step's locks while that group outlives a killed apply.
	Started func(pgid int)
	// Scope is the run's: what drivers keep between its steps (nil: a
	// driver called on its own keeps nothing).
	Scope *RunScope

	pv *previewState // a preview's, or the saved plans an apply applies
}

// Driver runs one kind of operation (the plan's Operation.Driver). A new
// driver is its own file (its Run, how it reads its tool's output for
// throttling and progress) and one RegisterDriver call in that file; lang
// decodes its block and planner carries its settings.
type Driver interface {
	// Run applies the step, or destroys it when s.Action is
	// planner.ActionDestroy, to completion. A throttled failure comes back
	// as an error wrapping *ThrottledError (see detectThrottle); a step of
	// several operations that fails for some of them returns *StepError.
	// Progress goes to s.Events, the tool's output to s.Log.
	Run(ctx context.Context, s Step) error
}

// Previewer is a driver that can say what it would change without
// changing it (`echelon plan`): Preview plans the step, keeps what it
// found in the run's preview, and returns as Run would.
type Previewer interface {
	Preview(ctx context.Context, s Step) error
}

// RunScope is what drivers keep for the length of one run (one Run call,
// so a resumed run starts afresh): terraform's checked binaries and
// initialised directories. Steps of one run share it; it is safe for
// concurrent use.
type RunScope struct {
	// StateDir is the run's state directory (a driver's files that outlive
	// the run, such as terraform's plugin cache, go under it).
	StateDir string
	values   sync.Map
}

// value is the scope's value under key, made by mk the first time.
func (rs *RunScope) value(key any, mk func() any) any {
	if v, ok := rs.values.Load(key); ok {
		return v
	}
	v, _ := rs.values.LoadOrStore(key, mk())
	return v
}

// DriverFunc adapts a function to Driver.
type DriverFunc func(ctx context.Context, s Step) error

// Run calls f.
func (f DriverFunc) Run(ctx context.Context, s Step) error { return f(ctx, s) }

var drivers = map[string]Driver{}

// RegisterDriver makes a driver available under name; drivers register in
// their file's init. Registering a name twice panics (a programming error).
func RegisterDriver(name string, d Driver) {
	if _, dup := drivers[name]; dup {
		panic("exec: driver " + name + " registered twice")
	}
	drivers[name] = d
}

// LookupDriver is the driver registered under name.
func LookupDriver(name string) (Driver, bool) {
	d, ok := drivers[name]
	return d, ok
}

// ThrottledError is a step failure the tool or API reported as throttling
// (an HTTP 429 status, TooManyRequests, ThrottlingException, "Rate
// exceeded"...). RetryAfter is the server's Retry-After when it gave one,
// else 0.
type ThrottledError struct {
	RetryAfter time.Duration
	Msg        string
}

func (e *ThrottledError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("throttled (retry after %s): %s", e.RetryAfter, e.Msg)
	}
	return "throttled: " + e.Msg
}

var (
	// throttleRE wants evidence shaped like an API's answer: a 429 next to
	// the words an HTTP client, SDK or API puts around a status, or a
	// cloud's throttling error code. Never a bare 429 (an echoed script's
	// `[ $code = 429 ]`, a count), nor "throttl"/"rate limit" anywhere (a
	// resource named throttling-policy): an ordinary failure taken for
	// throttling is retried for ever and cuts everyone's parallelism.
	throttleRE = regexp.MustCompile(`(?im)` + strings.Join([]string{
		`\b429 too many requests\b`,
		`\bhttp(?:/[0-9.]+)?[ :]+429\b`, // HTTP 429, HTTP/1.1 429, HTTP: 429
		// status 429, StatusCode=429, "status":429, Error 429, code: 429,
		// "code":429; not a script's `[ $code = 429 ]`.
		`\b(?:error|status|code)(?:[ _-]?code)?(?:["']?\s*:\s*|=|\s+)429\b`,
		`\(429\)`,
		`\btoomanyrequests\b`,
		// The Kubernetes API's TooManyRequests message (kubectl prints it
		// without the reason, e.g. when the openapi download is refused).
		`\bthe server has received too many requests\b`,
		`\bthrottling:`,
		`\bthrottlingexception\b`,
		`\brate exceeded\b`,
		`\brequestlimitexceeded\b`,
		`\brate[ -]?limit exceeded\b`,
		`^\s*retry-after\s*:\s*[0-9]`, // a Retry-After header line
	}, "|"))
	retryAfterRE = regexp.MustCompile(`(?i)retry[- _]after["']?\s*[:=]?\s*"?([0-9]+(?:\.[0-9]+)?)\s*(ms|s|sec|secs|seconds)?`)
)

// detectThrottle reports whether a tool's output says it was throttled, with
// the Retry-After it gave (seconds unless a unit says ms). The message is the
// line that matched, trimmed, so the user sees what the API said.
func detectThrottle(output []byte) (*ThrottledError, bool) {
	loc := throttleRE.FindIndex(output)
	if loc == nil {
		return nil, false
	}
	start, end := loc[0], loc[1]
	for start > 0 && output[start-1] != '\n' {
		start--
	}
	for end < len(output) && output[end] != '\n' {
		end++
	}
	te := &ThrottledError{Msg: strings.TrimSpace(string(output[start:end]))}
	if len(te.Msg) > 300 {
		te.Msg = te.Msg[:300]
	}
	// The largest Retry-After in the output wins: several requests may have
	// been refused and the slowest bucket decides.
	for _, m := range retryAfterRE.FindAllSubmatch(output, -1) {
		f, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			continue
		}
		d := time.Duration(f * float64(time.Second))
		if strings.EqualFold(string(m[2]), "ms") {
			d = time.Duration(f * float64(time.Millisecond))
		}
		if d > te.RetryAfter {
			te.RetryAfter = d
		}
	}
	return te, true
}

// toolPath returns the binary for a tool: the env override (e.g.
// ECHELON_TERRAFORM), else the name looked up on PATH by os/exec.
func toolPath(env []string, key, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok && v != "" {
			return v
		}
	}
	if v := os.Getenv(key); v != "" {
		return v
	}
	return name
}

// CheckTools finds the program of every tool the plan's operations run
// (terraform or tofu, kubectl, helm; a command's own argv is the command's
// business) and says which cannot be found, with where echelon looked:
// one error before the run rather than one failed operation each.
func CheckTools(p *planner.Plan, env []string) error {
	type tool struct{ bin, key string }
	need := map[tool][]string{}
	var order []tool
	add := func(t tool, op string) {
		if _, ok := need[t]; !ok {
			order = append(order, t)
		}
		need[t] = append(need[t], op)
	}
	for i := range p.Operations {
		o := &p.Operations[i]
		switch {
		case o.Terraform != nil:
			name, bin, err := terraformBinary(env, o.Terraform.Binary)
			if err != nil {
				return fmt.Errorf("%s: %w", o.ID, err)
			}
			key := "ECHELON_TERRAFORM"
			if name == lang.BinaryTofu {
				key = "ECHELON_TOFU"
			}
			add(tool{bin, key}, o.ID)
		case o.Kubectl != nil:
			add(tool{toolPath(env, "ECHELON_KUBECTL", "kubectl"), "ECHELON_KUBECTL"}, o.ID)
		case o.Helm != nil:
			add(tool{toolPath(env, "ECHELON_HELM", "helm"), "ECHELON_HELM"}, o.ID)
		}
	}
	var missing []string
	for _, t := range order {
		if _, err := osexec.LookPath(t.bin); err != nil {
			ops := need[t]
			more := ""
			if len(ops) > 1 {
				more = fmt.Sprintf(" and %d more", len(ops)-1)
			}
			missing = append(missing, fmt.Sprintf("%s (for %s%s): install it on PATH or set %s to its path",
				t.bin, ops[0], more, t.key))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not found: %s", strings.Join(missing, "; "))
	}
	return nil
}
