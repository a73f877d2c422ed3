package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/echelonhq/echelon/exec/internal/kubetest"
	"github.com/echelonhq/echelon/planner"
	"github.com/google/go-cmp/cmp"
)

func TestKubectlArgs(t *testing.T) {
	k := &planner.Kubectl{
		Context:   "prod-eu",
		Namespace: "besu",
		Manifests: []string{"k8s/ns.yaml", "/abs/node.yaml", "https://example.com/crd.yaml"},
	}
	tests := []struct {
		action string
		want   []string
	}{
		{planner.ActionDeploy, []string{"apply", "--context", "prod-eu", "--namespace", "besu",
			"-f", "/spec/k8s/ns.yaml", "-f", "/abs/node.yaml", "-f", "https://example.com/crd.yaml"}},
		// Destroy deletes in reverse order: the namespace applied first goes last.
		{planner.ActionDestroy, []string{"delete", "--ignore-not-found", "--context", "prod-eu", "--namespace", "besu",
			"-f", "https://example.com/crd.yaml", "-f", "/abs/node.yaml", "-f", "/spec/k8s/ns.yaml"}},
	}
	for _, tt := range tests {
		got, err := kubectlArgs(tt.action, "/spec", k)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s args (-want +got):\n%s", tt.action, diff)
		}
	}
	// Unset context and namespace are left to the kubeconfig.
	got, err := kubectlArgs(planner.ActionDeploy, "/spec", &planner.Kubectl{Manifests: []string{"a.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"apply", "-f", "/spec/a.yaml"}, got); diff != "" {
		t.Errorf("minimal args (-want +got):\n%s", diff)
	}
	if _, err := kubectlArgs(planner.ActionDeploy, "/spec", &planner.Kubectl{}); err == nil {
		t.Error("no manifests: want an error")
	}
	if _, err := kubectlArgs("rollback", "/spec", k); err == nil {
		t.Error("unknown action: want an error")
	}
}

// TestKubeDrivers drives the kubectl and helm drivers against a real
// kube-apiserver, started once for both.
func TestKubeDrivers(t *testing.T) {
	c := kubetest.Start(t)
	t.Run("kubectl", func(t *testing.T) { testKubectlDriver(t, c) })
	t.Run("helm", func(t *testing.T) { testHelmDriver(t, c) })
}

func testKubectlDriver(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	c.Run(t, "create", "namespace", "region-eu")
	op := &planner.Operation{
		ID:     "nodes/eu-west-1",
		Driver: "kubectl",
		Kubectl: &planner.Kubectl{
			Context:   kubetest.ContextName,
			Namespace: "region-eu",
			Manifests: []string{"manifests/configmap.yaml", "manifests/deployment.yaml"},
		},
	}
	var log bytes.Buffer
	step := Step{
		Ops:     []*planner.Operation{op},
		Action:  planner.ActionDeploy,
		SpecDir: k8sTestdata(t),
		Log:     &log,
		Env:     append(c.Env, "ECHELON_KUBECTL="+c.Kubectl),
	}
	if err := kubectlRun(ctx, step); err != nil {
		t.Fatalf("deploy: %v\nlog:\n%s", err, log.String())
	}
	for _, want := range []string{"configmap/node-config created", "deployment.apps/node created"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("deploy log lacks %q:\n%s", want, log.String())
		}
	}

	var cm struct {
		Metadata struct{ Namespace string }
		Data     map[string]string
	}
	kubeGetJSON(t, c, &cm, "get", "configmap", "node-config", "--namespace", "region-eu", "-o", "json")
	if diff := cmp.Diff(map[string]string{"network": "besu-test", "peers": "4"}, cm.Data); diff != "" {
		t.Errorf("configmap data (-want +got):\n%s", diff)
	}
	var dep struct {
		Spec struct {
			Replicas int
			Template struct {
				Spec struct{ Containers []struct{ Image string } }
			}
		}
	}
	kubeGetJSON(t, c, &dep, "get", "deployment", "node", "--namespace", "region-eu", "-o", "json")
	if dep.Spec.Replicas != 2 || len(dep.Spec.Template.Spec.Containers) != 1 ||
		dep.Spec.Template.Spec.Containers[0].Image != "registry.example.invalid/besu:24.1" {
		t.Errorf("deployment = %+v, want 2 replicas of registry.example.invalid/besu:24.1", dep.Spec)
	}
	// Nothing landed in the default namespace: --namespace was honoured.
	if out, err := c.Try("get", "configmap", "node-config", "--namespace", "default"); err == nil {
		t.Errorf("configmap also in namespace default:\n%s", out)
	}

	// Applying again (a resumed run) is a no-op.
	log.Reset()
	if err := kubectlRun(ctx, step); err != nil {
		t.Fatalf("second deploy: %v\nlog:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "configmap/node-config unchanged") {
		t.Errorf("second deploy log lacks 'unchanged':\n%s", log.String())
	}

	step.Action = planner.ActionDestroy
	log.Reset()
	if err := kubectlRun(ctx, step); err != nil {
		t.Fatalf("destroy: %v\nlog:\n%s", err, log.String())
	}
	for _, kind := range []string{"configmap/node-config", "deployment/node"} {
		out, err := c.Try("get", kind, "--namespace", "region-eu", "-o", "name")
		if err == nil || !strings.Contains(err.Error(), "NotFound") {
			t.Errorf("after destroy, get %s = %q, %v; want NotFound", kind, out, err)
		}
	}
	// Destroying what is gone succeeds, so a resumed destroy can rerun it.
	if err := kubectlRun(ctx, step); err != nil {
		t.Errorf("second destroy: %v", err)
	}

	// A failure carries kubectl's own words and is not mistaken for throttling.
	step.Action = planner.ActionDeploy
	step.Ops = []*planner.Operation{{
		ID: "nodes/us-east-1", Driver: "kubectl",
		Kubectl: &planner.Kubectl{Context: kubetest.ContextName, Namespace: "no-such-namespace",
			Manifests: []string{"manifests/configmap.yaml"}},
	}}
	err := kubectlRun(ctx, step)
	if err == nil {
		t.Fatal("apply into a missing namespace succeeded")
	}
	if !strings.Contains(err.Error(), "nodes/us-east-1") || !strings.Contains(err.Error(), `namespaces "no-such-namespace" not found`) {
		t.Errorf("error lacks the operation or kubectl's message: %v", err)
	}
	var te *ThrottledError
	if errors.As(err, &te) {
		t.Errorf("missing namespace reported as throttling: %v", err)
	}
}

// TestKubectlThrottled points the real kubectl at an API server that answers
// every request 429 and checks the driver reports a ThrottledError (the
// scheduler backs off on those instead of failing the operation for good).
func TestKubectlThrottled(t *testing.T) {
	kubectl := requireKubeTool(t, "ECHELON_KUBECTL", "kubectl")
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		// The Status body a real apiserver sends with 429. No Retry-After
		// header: client-go would otherwise retry ten times before failing.
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure",` +
			`"message":"Too many requests, please try again later.","reason":"TooManyRequests","code":429}`))
	}))
	defer srv.Close()

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: busy
  cluster:
    server: `+srv.URL+`
users:
- name: busy
  user:
    token: x
contexts:
- name: busy
  context:
    cluster: busy
    user: busy
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	err := kubectlRun(context.Background(), Step{
		Ops: []*planner.Operation{{ID: "nodes/eu-west-1", Driver: "kubectl", Kubectl: &planner.Kubectl{
			Context: "busy", Manifests: []string{"manifests/configmap.yaml"}}}},
		Action:  planner.ActionDeploy,
		SpecDir: k8sTestdata(t),
		Log:     &log,
		Env:     append(os.Environ(), "KUBECONFIG="+kubeconfig, "ECHELON_KUBECTL="+kubectl),
	})
	var te *ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a ThrottledError\nlog:\n%s", err, log.String())
	}
	if hits.Load() == 0 {
		t.Error("kubectl never reached the server")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "too many requests") {
		t.Errorf("error does not carry the server's words: %v", err)
	}
	t.Logf("driver error: %v", err)
}

// k8sTestdata is the spec directory of the kubernetes test fixtures.
func k8sTestdata(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("testdata", "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// kubeGetJSON runs kubectl against the cluster and decodes its JSON output.
func kubeGetJSON(t *testing.T, c *kubetest.Cluster, v any, args ...string) {
	t.Helper()
	out := c.Run(t, args...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// requireKubeTool returns the binary named by env, else name on PATH; missing,
// it skips the test, or fails it under CI where real tools are required.
func requireKubeTool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := osexec.LookPath(name); err == nil {
		return p
	}
	msg := env + " is not set and " + name + " is not on PATH; run `eval \"$(bash scripts/tools.sh --env)\"`"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
