package exec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/echelonhq/echelon/planner"
)

func init() { RegisterDriver("kubectl", DriverFunc(kubectlRun)) }

// kubectlRun runs the kubectl operations of a step (usually one): deploy is
// `kubectl apply -f MANIFEST...`, destroy `kubectl delete --ignore-not-found
// -f MANIFEST...` with the manifests in reverse order, so what was applied
// first (a CRD, a namespace) goes last. --context and --namespace are passed
// when the spec sets them; KUBECONFIG and the rest come from s.Env.
func kubectlRun(ctx context.Context, s Step) error {
	if len(s.Ops) == 0 {
		return fmt.Errorf("kubectl step without operations")
	}
	for _, op := range s.Ops {
		if op.Kubectl == nil {
			return fmt.Errorf("%s: kubectl driver without kubectl settings", op.ID)
		}
		args, err := kubectlArgs(s.Action, s.SpecDir, op.Kubectl)
		if err != nil {
			return fmt.Errorf("%s: %w", op.ID, err)
		}
		bin := toolPath(s.Env, "ECHELON_KUBECTL", "kubectl")
		if err := runKubeTool(ctx, s, bin, args); err != nil {
			return fmt.Errorf("%s: %w", op.ID, err)
		}
	}
	return nil
}

// kubectlArgs builds kubectl's arguments for one operation.
func kubectlArgs(action, specDir string, k *planner.Kubectl) ([]string, error) {
	if len(k.Manifests) == 0 {
		return nil, fmt.Errorf("kubectl operation without manifests")
	}
	var args []string
	switch action {
	case planner.ActionDeploy, "":
		args = []string{"apply"}
	case planner.ActionDestroy:
		args = []string{"delete", "--ignore-not-found"}
	default:
		return nil, fmt.Errorf("unknown action %q", action)
	}
	if k.Context != "" {
		args = append(args, "--context", k.Context)
	}
	if k.Namespace != "" {
		args = append(args, "--namespace", k.Namespace)
	}
	manifests := slices.Clone(k.Manifests)
	if action == planner.ActionDestroy {
		slices.Reverse(manifests)
	}
	for _, m := range manifests {
		args = append(args, "-f", kubeSpecPath(specDir, m))
	}
	return args, nil
}

// kubeSpecPath resolves a path written in the spec against the spec
// directory; URLs (kubectl reads manifests over http) and absolute paths
// stay as they are.
func kubeSpecPath(specDir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") || specDir == "" {
		return p
	}
	return filepath.Join(specDir, p)
}

// runKubeTool runs kubectl or helm with the step's environment, its output
// going to the step log. A failure is an error that carries the output's
// last lines (the user sees why without opening the log) and wraps
// *ThrottledError when the output says the API throttled.
func runKubeTool(ctx context.Context, s Step, bin string, args []string) error {
	cmd := osexec.CommandContext(ctx, bin, args...)
	cmd.Dir = s.SpecDir
	if len(s.Env) > 0 {
		cmd.Env = s.Env
	}
	tail := &tailBuffer{max: 64 << 10}
	var out io.Writer = tail
	if s.Log != nil {
		fmt.Fprintf(s.Log, "$ %s %s\n", filepath.Base(bin), strings.Join(args, " "))
		out = io.MultiWriter(s.Log, tail)
	}
	// One writer for both streams: os/exec then copies them through a
	// single pipe, so the tail buffer sees no concurrent writes.
	cmd.Stdout, cmd.Stderr = out, out
	// Started like a command operation: the first Ctrl-C lets kubectl or
	// helm finish (killing helm mid-upgrade leaves a release stuck in
	// pending-upgrade), the second stops its whole process group.
	inOwnProcessGroup(cmd)
	err := runChild(s, cmd)
	if err == nil {
		return nil
	}
	name := filepath.Base(bin)
	if len(args) > 0 {
		name += " " + args[0]
	}
	output := tail.Bytes()
	last := kubeOutputTail(output, 10)
	if te, ok := detectThrottle(dropClientThrottling(output)); ok {
		return fmt.Errorf("%s: %w: %w\n%s", name, err, te, last)
	}
	if last == "" {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s: %w\n%s", name, err, last)
}

// dropClientThrottling removes client-go's notes about its own client-side
// rate limiter ("Waited for 1s due to client-side throttling, not priority
// and fairness"): they are not the server refusing work and would make any
// failure of a chatty kubectl look throttled.
func dropClientThrottling(out []byte) []byte {
	if !bytes.Contains(out, []byte("client-side throttling")) {
		return out
	}
	var kept []byte
	for line := range bytes.Lines(out) {
		if !bytes.Contains(line, []byte("client-side throttling")) {
			kept = append(kept, line...)
		}
	}
	return kept
}

// kubeOutputTail returns the last n non-empty lines of out, indented.
func kubeOutputTail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	var kept []string
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		if l := strings.TrimRight(lines[i], "\r "); l != "" {
			kept = append(kept, "    "+l)
		}
	}
	slices.Reverse(kept)
	return strings.Join(kept, "\n")
}
