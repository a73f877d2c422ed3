package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/echelonhq/echelon/planner"
)

func init() { RegisterDriver("helm", DriverFunc(helmRun)) }

// helmRun runs the helm operations of a step (usually one): deploy is
// `helm upgrade --install RELEASE CHART` with the spec's values in a
// temporary file, destroy `helm uninstall --ignore-not-found RELEASE`.
// Deploy does not --wait: the spec's dependencies order the operations, and
// waiting for pods is a readiness policy the chart's user did not ask for.
func helmRun(ctx context.Context, s Step) error {
	if len(s.Ops) == 0 {
		return fmt.Errorf("helm step without operations")
	}
	for _, op := range s.Ops {
		if err := helmOne(ctx, s, op); err != nil {
			return fmt.Errorf("%s: %w", op.ID, err)
		}
	}
	return nil
}

func helmOne(ctx context.Context, s Step, op *planner.Operation) error {
	h := op.Helm
	if h == nil {
		return fmt.Errorf("helm driver without helm settings")
	}
	valuesFile := ""
	if s.Action != planner.ActionDestroy && len(h.Values) > 0 {
		f, err := writeHelmValues(h.Values)
		if err != nil {
			return err
		}
		defer os.Remove(f)
		valuesFile = f
	}
	args, err := helmArgs(s.Action, s.SpecDir, h, valuesFile)
	if err != nil {
		return err
	}
	return runKubeTool(ctx, s, toolPath(s.Env, "ECHELON_HELM", "helm"), args)
}

// helmArgs builds helm's arguments for one operation.
func helmArgs(action, specDir string, h *planner.Helm, valuesFile string) ([]string, error) {
	if h.Release == "" {
		return nil, fmt.Errorf("helm operation without a release name")
	}
	var args []string
	switch action {
	case planner.ActionDeploy, "":
		if h.Chart == "" {
			return nil, fmt.Errorf("helm release %s without a chart", h.Release)
		}
		args = []string{"upgrade", "--install", h.Release, helmChart(specDir, h.Chart)}
		if h.Namespace != "" {
			args = append(args, "--create-namespace")
		}
		if valuesFile != "" {
			args = append(args, "--values", valuesFile)
		}
		args = append(args, "--wait=false")
	case planner.ActionDestroy:
		args = []string{"uninstall", h.Release, "--ignore-not-found"}
	default:
		return nil, fmt.Errorf("unknown action %q", action)
	}
	if h.Namespace != "" {
		args = append(args, "--namespace", h.Namespace)
	}
	if h.Context != "" {
		args = append(args, "--kube-context", h.Context)
	}
	return args, nil
}

// helmChart resolves a chart reference: a local chart (a path that starts
// with . or /, or that exists under the spec directory) is taken relative to
// the spec directory; anything else (repo/chart, oci://...) goes to helm
// unchanged.
func helmChart(specDir, chart string) string {
	if strings.Contains(chart, "://") || filepath.IsAbs(chart) {
		return chart
	}
	local := kubeSpecPath(specDir, chart)
	if strings.HasPrefix(chart, ".") {
		return local
	}
	if _, err := os.Stat(local); err == nil {
		return local
	}
	return chart
}

// writeHelmValues writes values as JSON (which is YAML) to a temporary file
// for --values: it keeps nested values and their types, where --set would
// re-type strings that look like numbers or booleans.
func writeHelmValues(values map[string]any) (string, error) {
	b, err := json.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("helm values: %w", err)
	}
	f, err := os.CreateTemp("", "echelon-helm-values-*.json")
	if err != nil {
		return "", fmt.Errorf("helm values: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("helm values: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("helm values: %w", err)
	}
	return f.Name(), nil
}
