package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/echelonhq/echelon/lang"
	"github.com/echelonhq/echelon/planner"
)

func init() { RegisterDriver("terraform", tfDriver{}) }

// tfDriver is the terraform driver: Run applies (terraformRun), Preview
// plans (terraform_preview.go).
type tfDriver struct{}

func (tfDriver) Run(ctx context.Context, s Step) error     { return terraformRun(ctx, s) }
func (tfDriver) Preview(ctx context.Context, s Step) error { return terraformPreview(ctx, s) }

// terraformRun applies (or destroys) a step's instances with one terraform
// process: a -target per instance, -parallelism from the step, the vars of
// the instances in a var file, the -json event stream turned into log lines
// and events. In a run with a preview (Step.pv) it applies the saved plan
// instead (applyPreviewed).
//
// Processes (docs/state-dir.md, "Terraform processes"): the binary's
// version is checked once per run, the directory is initialised once per
// run (terraform_prep.go), and the workspace is chosen with TF_WORKSPACE:
// no `workspace select` or `new` process, and every workspace of a
// directory shares its .terraform. A missing workspace is created by the
// apply itself (its backend's state manager makes it on the first write).
func terraformRun(ctx context.Context, s Step) error {
	op := s.Ops[0]
	if op.Terraform == nil {
		return fmt.Errorf("%s: terraform driver without settings", op.ID)
	}
	tool, bin, err := terraformBinary(s.Env, op.Terraform.Binary)
	if err != nil {
		return fmt.Errorf("%s: %w", op.ID, err)
	}
	w, err := prepareTerraform(ctx, s, tool, bin, op.Terraform.Dir)
	if err != nil {
		return err
	}
	if s.pv != nil && s.pv.applying {
		return applyPreviewed(ctx, s, w)
	}
	args := tfApplyArgs(s, "")
	// Never -var: a command line is readable by every local user, and a
	// var may be sensitive.
	varArgs, _, cleanup, err := varFileArg(s)
	defer cleanup()
	if err != nil {
		return err
	}
	args = append(args, varArgs...)
	ev, err := w.runJSON(ctx, s, s.Ops, args)
	if err == nil {
		return nil
	}
	return ev.stepError(err)
}

// tfApplyArgs are terraform's arguments to apply step s: `apply` (or
// `destroy`) with the step's -parallelism and -targets, or, given a saved
// plan, `apply` of that file (the targets are in the plan). Variables are
// added by the caller (varFileArg), never as -var.
func tfApplyArgs(s Step, saved string) []string {
	verb := "apply"
	if saved == "" && s.Action == planner.ActionDestroy {
		verb = "destroy"
	}
	args := []string{verb, "-auto-approve", "-input=false", "-json"}
	if saved == "" {
		return append(args, stepArgs(s)...)
	}
	if s.Parallelism > 0 {
		args = append(args, fmt.Sprintf("-parallelism=%d", s.Parallelism))
	}
	return append(args, saved)
}

// tfPlanArgs are terraform's arguments to plan step s into the file out.
func tfPlanArgs(s Step, out string) []string {
	args := []string{"plan", "-out=" + out, "-input=false", "-json"}
	if s.Action == planner.ActionDestroy {
		args = append(args, "-destroy")
	}
	return append(args, stepArgs(s)...)
}

// stepArgs are a step's -parallelism and its instances' -targets.
func stepArgs(s Step) []string {
	var args []string
	if s.Parallelism > 0 {
		args = append(args, fmt.Sprintf("-parallelism=%d", s.Parallelism))
	}
	for _, o := range s.Ops {
		if o.Terraform.Target != "" {
			args = append(args, "-target="+o.Terraform.Target)
		}
	}
	return args
}

// runJSON runs one terraform -json command (apply, destroy, plan) for ops
// in the workspace of ops[0], its event stream read by a tfEvents, and
// returns the stream's reading with the process's error. Variables never
// go on the command line (readable by every local user: ps,
// /proc/PID/cmdline), only in var files.
func (w *tfDir) runJSON(ctx context.Context, s Step, ops []*planner.Operation, args []string) (*tfEvents, error) {
	ev := &tfEvents{log: s.Log, emit: s.Events, ops: ops, started: map[string]time.Time{},
		planned: map[string]bool{}, completed: map[string]bool{}, errored: map[string]bool{}, opDiag: map[string]*opDiag{}}
	cmd := w.command(ctx, ops[0].Terraform.Workspace, args...)
	cmd.Stdout, cmd.Stderr = ev, ev.stderrWriter()
	start := time.Now()
	err := runChild(s, cmd)
	ev.flush()
	fmt.Fprintf(s.Log, "echelon: %s %s of %d instance(s) took %s\n", w.tool, args[0], len(ops), lang.FormatDuration(time.Since(start).Round(time.Millisecond)))
	return ev, err
}

// terraformBinary is the program a plan's binary names: terraform
// (ECHELON_TERRAFORM, else terraform on PATH) or, for "tofu", OpenTofu
// (ECHELON_TOFU, else tofu on PATH). Both run the same way: OpenTofu reads
// the same TF_* variables (TF_WORKSPACE, TF_PLUGIN_CACHE_DIR,
// TF_IN_AUTOMATION) and answers version -json with the same
// terraform_version.
func terraformBinary(env []string, binary string) (tool, bin string, err error) {
	switch binary {
	case "", "terraform":
		return "terraform", toolPath(env, "ECHELON_TERRAFORM", "terraform"), nil
	case lang.BinaryTofu:
		return lang.BinaryTofu, toolPath(env, "ECHELON_TOFU", "tofu"), nil
	}
	return "", "", fmt.Errorf("terraform binary %q is not terraform or tofu", binary)
}

// stepError is what a failed terraform apply or destroy returns: per
// instance when the stream tells them apart, else throttling when the
// output says so, else terraform's first error.
func (e *tfEvents) stepError(err error) error {
	if len(e.ops) > 1 {
		if se := e.attribute(); se != nil {
			return se
		}
	}
	if te, ok := detectThrottle(e.diag.Bytes()); ok {
		return fmt.Errorf("terraform: %w", te)
	}
	if msg := strings.TrimSpace(e.firstError); msg != "" {
		return fmt.Errorf("terraform: %s", msg)
	}
	if last := lastLine(e.diag.Bytes()); last != "" {
		return fmt.Errorf("terraform: %w: %s", err, last)
	}
	return fmt.Errorf("terraform: %w", err)
}

// lastLine is the last non-blank line of b, trimmed.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tfCommand is terraform started the way every terraform process of a run
// is: in dir, in a process group of its own (a Ctrl-C, then cancel, sends
// terraform an interrupt so it stops its providers and saves its state;
// a minute later it is killed), with the step's environment less what would
// change terraform's output or prompt (tfProhibited), and TF_WORKSPACE
// when a named workspace is wanted.
func tfCommand(ctx context.Context, bin, dir string, env []string, args ...string) *osexec.Cmd {
	cmd := osexec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	inOwnProcessGroup(cmd)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = time.Minute
	return cmd
}

// tfEnv is the environment of the run's terraform processes: the step's,
// less what would change terraform's output or prompt (tfProhibited), with
// TF_IN_AUTOMATION, the plugin cache (unless the environment names one) and
// no checkpoint calls (unless the environment decides).
func tfEnv(base []string, pluginCache string) []string {
	env := make([]string, 0, len(base)+4)
	var cache, checkpoint bool
	for _, kv := range base {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || tfProhibited(k) {
			continue
		}
		switch k {
		case "TF_PLUGIN_CACHE_DIR":
			cache = true
		case "CHECKPOINT_DISABLE":
			checkpoint = true
		}
		env = append(env, kv)
	}
	env = append(env, "TF_IN_AUTOMATION=1")
	if !cache && pluginCache != "" {
		env = append(env, "TF_PLUGIN_CACHE_DIR="+pluginCache)
	}
	if !checkpoint {
		env = append(env, "CHECKPOINT_DISABLE=1")
	}
	return env
}

func tfProhibited(k string) bool {
	switch k {
	case "TF_CLI_ARGS", "TF_INPUT", "TF_IN_AUTOMATION", "TF_LOG", "TF_LOG_CORE", "TF_LOG_PATH",
		"TF_LOG_PROVIDER", "TF_REATTACH_PROVIDERS", "TF_APPEND_USER_AGENT", "TF_WORKSPACE",
		"TF_DISABLE_PLUGIN_TLS", "TF_SKIP_PROVIDER_VERIFY":
		return true
	}
	return strings.HasPrefix(k, "TF_VAR_") || strings.HasPrefix(k, "TF_CLI_ARGS_")
}

// tfVars merges the step's variables (JSON values). Instances of one step
// share a state and a configuration, so their vars must agree; a conflict
// is an error rather than a silent pick.
func tfVars(s Step) (map[string]any, error) {
	merged := map[string]any{}
	for _, o := range s.Ops {
		vars := o.Terraform.Vars
		if v, ok := s.Vars[o.ID]; ok {
			vars = v
		}
		for k, v := range vars {
			// A compiled plan may hold raw JSON; a read one decoded values.
			v, err := normalizeJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%s: terraform var %q: %w", o.ID, k, err)
			}
			if s, ok := v.(string); ok && s == "(sensitive)" {
				return nil, fmt.Errorf("%s: terraform var %q is sensitive and was not given (--var or ECHELON_VAR_x)", o.ID, k)
			}
			if prev, ok := merged[k]; ok {
				a, _ := json.Marshal(prev)
				b, _ := json.Marshal(v)
				if !bytes.Equal(a, b) {
					return nil, fmt.Errorf("instances sharing a terraform state disagree on var %q (%s and %s)", k, a, b)
				}
			}
			merged[k] = v
		}
	}
	return merged, nil
}

// writeVarFile writes a step's variables as a .tfvars.json file of mode
// 0600 in dir (the run directory; the system's temporary directory when
// empty) and returns its path; the caller removes it when the step ends.
// Values keep their JSON types (a string stays a string).
func writeVarFile(dir string, vars map[string]any) (string, error) {
	b, err := json.Marshal(vars) // sorted keys: deterministic
	if err != nil {
		return "", fmt.Errorf("terraform vars: %w", err)
	}
	f, err := os.CreateTemp(dir, "vars-*.tfvars.json") // O_EXCL, mode 0600
	if err != nil {
		return "", fmt.Errorf("terraform var file: %w", err)
	}
	path := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// terraform runs in its own directory: a relative run directory
		// (the default .echelon beside a relative plan path) must not
		// become a path it cannot find.
		var abs string
		if abs, err = filepath.Abs(path); err == nil {
			return abs, nil
		}
	}
	os.Remove(path)
	return "", fmt.Errorf("terraform var file: %w", err)
}
