package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/echelonhq/echelon/store"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// What a run does once before terraform applies: check each binary's
// version, and initialise each directory. Both are kept in the run's
// RunScope, so a resumed run (a new Run) checks and initialises again, and
// a directory initialised by an earlier run is only brought up to date by
// its init (terraform's own .terraform, the plugin cache).

// tfScope is one run's terraform: the binaries checked and the directories
// initialised, each done by the first step that needs it while the others
// wait for it.
type tfScope struct {
	mu          sync.Mutex
	once        map[string]*tfOnce
	pluginCache string // "" without a state directory
}

// tfOnce is one check or init: done when it ended, err its failure.
type tfOnce struct {
	done chan struct{}
	err  error
}

type tfScopeKey struct{}

// terraformScope is the step's run's tfScope (a fresh one for a step
// without a run: a driver called on its own).
func terraformScope(s Step) *tfScope {
	rs := s.Scope
	if rs == nil {
		rs = &RunScope{}
	}
	return rs.value(tfScopeKey{}, func() any {
		sc := &tfScope{once: map[string]*tfOnce{}}
		if rs.StateDir != "" {
			if abs, err := filepath.Abs(rs.StateDir); err == nil {
				sc.pluginCache = filepath.Join(abs, "terraform", "plugin-cache")
			}
		}
		return sc
	}).(*tfScope)
}

// do runs f once per key and run: the first caller runs it, later ones wait
// for its outcome. A failure is forgotten once told, so the next attempt
// (a retry) runs f again. ran says whether this caller ran f.
func (sc *tfScope) do(ctx context.Context, key string, f func() error) (ran bool, err error) {
	sc.mu.Lock()
	o, ok := sc.once[key]
	if !ok {
		o = &tfOnce{done: make(chan struct{})}
		sc.once[key] = o
		sc.mu.Unlock()
		o.err = f()
		if o.err != nil {
			sc.mu.Lock()
			delete(sc.once, key)
			sc.mu.Unlock()
		}
		close(o.done)
		return true, o.err
	}
	sc.mu.Unlock()
	select {
	case <-o.done:
		return false, o.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// tfDir is an initialised terraform directory of this run. tool is what
// messages call the program: "terraform" or "tofu".
type tfDir struct {
	tool, bin, dir string
	env            []string
}

// command is terraform in the directory, for workspace ws ("" and
// "default": the directory's current workspace, as terraform chooses it).
func (w *tfDir) command(ctx context.Context, ws string, args ...string) *osexec.Cmd {
	env := w.env
	if ws != "" && ws != "default" {
		env = append(env[:len(env):len(env)], "TF_WORKSPACE="+ws)
	}
	return tfCommand(ctx, w.bin, w.dir, env, args...)
}

// prepareTerraform makes sure, once per run, that bin is a terraform (or
// tofu: tool) this driver can run and that dir (relative to the spec
// directory) is initialised, and returns the directory to run it in.
func prepareTerraform(ctx context.Context, s Step, tool, bin, dir string) (*tfDir, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.SpecDir, dir)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	sc := terraformScope(s)
	w := &tfDir{tool: tool, bin: bin, dir: dir, env: tfEnv(s.Env, sc.pluginCache)}
	if _, err := sc.do(ctx, "version\x00"+bin, func() error { return checkTerraform(ctx, s, w) }); err != nil {
		return nil, err
	}
	ran, err := sc.do(ctx, "init\x00"+bin+"\x00"+dir, func() error { return sc.init(ctx, s, w) })
	if err != nil {
		return nil, err
	}
	if !ran {
		fmt.Fprintf(s.Log, "echelon: %s was initialised earlier in this run\n", dir)
	}
	return w, nil
}

// minTerraform is the oldest terraform with apply -json and destroy -json.
var minTerraform = [3]int{0, 15, 3}

// checkTerraform runs `terraform version -json` and refuses a terraform
// older than minTerraform.
func checkTerraform(ctx context.Context, s Step, w *tfDir) error {
	var out bytes.Buffer
	tail := &tailBuffer{max: 16 << 10}
	cmd := tfCommand(ctx, w.bin, w.dir, w.env, "version", "-json")
	cmd.Stdout, cmd.Stderr = &out, tail
	if err := runChild(s, cmd); err != nil {
		if last := lastLine(tail.Bytes()); last != "" {
			return fmt.Errorf("%s version: %w: %s", w.tool, err, last)
		}
		return fmt.Errorf("%s version: %w", w.tool, err)
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	pre, obj := splitJSONObject(out.Bytes())
	if len(bytes.TrimSpace(pre)) > 0 && s.Log != nil {
		// tofu's warnings (a TF_CLI_CONFIG_FILE that does not exist) come
		// before the JSON, on stdout.
		s.Log.Write(pre)
	}
	if err := json.NewDecoder(bytes.NewReader(obj)).Decode(&v); err != nil || v.Version == "" {
		return fmt.Errorf("%s version -json: not the answer of terraform or tofu (%q)", w.bin, firstN(out.String(), 100))
	}
	got, ok := parseVersion(v.Version)
	if !ok {
		return fmt.Errorf("%s: cannot read version %q", w.bin, v.Version)
	}
	if versionLess(got, minTerraform) {
		return fmt.Errorf("%s is version %s: echelon needs %d.%d.%d or later (apply -json)", w.bin, v.Version, minTerraform[0], minTerraform[1], minTerraform[2])
	}
	fmt.Fprintf(s.Log, "echelon: %s is version %s\n", w.bin, v.Version)
	return nil
}

// splitJSONObject splits the output of version -json or output -json at
// the line where its JSON object starts: what comes before (OpenTofu
// prints CLI configuration warnings there, terraform nothing) and the
// object.
func splitJSONObject(out []byte) (pre, obj []byte) {
	if bytes.HasPrefix(out, []byte("{")) {
		return nil, out
	}
	if i := bytes.Index(out, []byte("\n{")); i >= 0 {
		return out[:i+1], out[i+1:]
	}
	return out, nil
}

var versionRE = regexp.MustCompile(`^v?([0-9]+)\.([0-9]+)\.([0-9]+)`)

func parseVersion(s string) ([3]int, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return [3]int{}, false
	}
	var v [3]int
	for i := range v {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return [3]int{}, false
		}
		v[i] = n
	}
	return v, true
}

func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// init runs `terraform init` in the directory, its output in the step's
// log. Inits that would write into the shared plugin cache take turns
// (an flock in the cache): terraform's cache is not safe for concurrent
// installs (hashicorp/terraform#31964: a half-written provider, "text file
// busy"). An init whose lock file names only providers already in the
// cache just links them, and runs at once beside the others.
func (sc *tfScope) init(ctx context.Context, s Step, w *tfDir) error {
	fmt.Fprintf(s.Log, "echelon: %s init in %s\n", w.tool, w.dir)
	unlock, err := lockPluginCache(pluginCacheOf(w.env), w.dir)
	if err != nil {
		return fmt.Errorf("%s init in %s: plugin cache: %w", w.tool, w.dir, err)
	}
	defer unlock()
	tail := &tailBuffer{max: 64 << 10}
	cmd := tfCommand(ctx, w.bin, w.dir, w.env, "init", "-input=false", "-no-color")
	var out io.Writer = tail
	if s.Log != nil {
		out = io.MultiWriter(s.Log, tail)
	}
	cmd.Stdout, cmd.Stderr = out, out
	err = runChild(s, cmd)
	if err == nil {
		return nil
	}
	if te, ok := detectThrottle(tail.Bytes()); ok {
		return fmt.Errorf("%s init in %s: %w", w.tool, w.dir, te)
	}
	if msg := initError(tail.Bytes()); msg != "" {
		return fmt.Errorf("%s init in %s: %s", w.tool, w.dir, msg)
	}
	return fmt.Errorf("%s init in %s: %w", w.tool, w.dir, err)
}

// initError is the first "Error: ..." line of init's output, without the
// box drawing terraform puts around diagnostics.
func initError(out []byte) string {
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "│╷╵ "))
		if strings.HasPrefix(line, "Error: ") {
			return line
		}
	}
	return ""
}

// pluginCacheOf is the TF_PLUGIN_CACHE_DIR an environment sets ("" none).
func pluginCacheOf(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "TF_PLUGIN_CACHE_DIR="); ok {
			return v
		}
	}
	return ""
}

// lockPluginCache creates the plugin cache and, unless dir's providers are
// all in it already, takes its init lock (shared by every echelon using the
// cache). Without a cache it does nothing.
func lockPluginCache(cache, dir string) (unlock func(), err error) {
	nothing := func() {}
	if cache == "" {
		return nothing, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nothing, err
	}
	if cacheHolds(cache, dir) {
		return nothing, nil
	}
	f, err := os.OpenFile(filepath.Join(cache, ".echelon-init.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nothing, err
	}
	if err := store.Flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nothing, err
	}
	return func() { f.Close() }, nil // closing releases the flock
}

// lockProviderRE is a provider block of .terraform.lock.hcl, with its
// version (the block's other attributes hold no braces).
var lockProviderRE = regexp.MustCompile(`(?s)provider\s+"([^"]+)"\s*\{[^}]*?\bversion\s*=\s*"([^"]+)"`)

// cacheHolds reports whether dir's dependency lock file names providers
// and each of them is in the cache for this platform.
func cacheHolds(cache, dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ".terraform.lock.hcl"))
	if err != nil {
		return false
	}
	ms := lockProviderRE.FindAllSubmatch(b, -1)
	if len(ms) == 0 {
		return false
	}
	platform := runtime.GOOS + "_" + runtime.GOARCH
	for _, m := range ms {
		if _, err := os.Stat(filepath.Join(cache, string(m[1]), string(m[2]), platform)); err != nil {
			return false
		}
	}
	return true
}
