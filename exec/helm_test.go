package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echelonhq/echelon/exec/internal/kubetest"
	"github.com/echelonhq/echelon/planner"
	"github.com/google/go-cmp/cmp"
)

func TestHelmArgs(t *testing.T) {
	spec := t.TempDir()
	if err := os.MkdirAll(filepath.Join(spec, "charts", "node"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &planner.Helm{Context: "prod-eu", Release: "node-eu", Chart: "charts/node", Namespace: "besu"}
	got, err := helmArgs(planner.ActionDeploy, spec, h, "/tmp/values.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"upgrade", "--install", "node-eu", filepath.Join(spec, "charts", "node"),
		"--create-namespace", "--values", "/tmp/values.json", "--wait=false",
		"--namespace", "besu", "--kube-context", "prod-eu"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deploy args (-want +got):\n%s", diff)
	}
	got, err = helmArgs(planner.ActionDestroy, spec, h, "")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"uninstall", "node-eu", "--ignore-not-found", "--namespace", "besu", "--kube-context", "prod-eu"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("destroy args (-want +got):\n%s", diff)
	}

	// Charts that are not local paths reach helm unchanged.
	for chart, want := range map[string]string{
		"bitnami/nginx":                "bitnami/nginx",
		"oci://registry.example/chart": "oci://registry.example/chart",
		"./charts/node":                filepath.Join(spec, "charts", "node"),
		"../shared/chart":              filepath.Join(filepath.Dir(spec), "shared", "chart"),
	} {
		if got := helmChart(spec, chart); got != want {
			t.Errorf("helmChart(%q) = %q, want %q", chart, got, want)
		}
	}
	if _, err := helmArgs(planner.ActionDeploy, spec, &planner.Helm{Chart: "x"}, ""); err == nil {
		t.Error("no release: want an error")
	}
}

func TestWriteHelmValues(t *testing.T) {
	values := map[string]any{"region": "eu-west-1", "replicas": 3, "version": "1.10", "nested": map[string]any{"on": true}}
	path, err := writeHelmValues(values)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// "1.10" stays a string: --set would have made it the number 1.1.
	want := map[string]any{"region": "eu-west-1", "replicas": 3.0, "version": "1.10", "nested": map[string]any{"on": true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values file (-want +got):\n%s", diff)
	}
}

// testHelmDriver installs, upgrades and uninstalls the tiny local chart in
// testdata/k8s/chart with the real helm against the test apiserver.
func testHelmDriver(t *testing.T, c *kubetest.Cluster) {
	helm := requireKubeTool(t, "ECHELON_HELM", "helm")
	ctx := context.Background()
	home := t.TempDir()
	op := &planner.Operation{
		ID:     "node/eu-west-1",
		Driver: "helm",
		Helm: &planner.Helm{
			Context:   kubetest.ContextName,
			Release:   "node-eu",
			Chart:     "chart",
			Namespace: "region-helm", // does not exist yet: --create-namespace
			Values:    map[string]any{"region": "eu-west-1", "replicas": 3},
		},
	}
	var log bytes.Buffer
	step := Step{
		Ops:     []*planner.Operation{op},
		Action:  planner.ActionDeploy,
		SpecDir: k8sTestdata(t),
		Log:     &log,
		// helm keeps caches and repository config under these; keep the
		// test from reading or writing the user's.
		Env: append(c.Env, "ECHELON_HELM="+helm,
			"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
			"HELM_DATA_HOME="+filepath.Join(home, "data")),
	}
	settings := func() map[string]string {
		t.Helper()
		var cm struct{ Data map[string]string }
		kubeGetJSON(t, c, &cm, "get", "configmap", "node-eu-settings", "--namespace", "region-helm", "-o", "json")
		return cm.Data
	}

	if err := helmRun(ctx, step); err != nil {
		t.Fatalf("install: %v\nlog:\n%s", err, log.String())
	}
	want := map[string]string{"region": "eu-west-1", "replicas": "3", "greeting": "hello"}
	if diff := cmp.Diff(want, settings()); diff != "" {
		t.Errorf("configmap after install (-want +got):\n%s", diff)
	}
	c.Run(t, "get", "service", "node-eu", "--namespace", "region-helm")
	c.Run(t, "get", "secret", "sh.helm.release.v1.node-eu.v1", "--namespace", "region-helm")

	// The same operation with new values upgrades the release in place.
	op.Helm.Values = map[string]any{"region": "eu-west-1", "replicas": 5, "greeting": "hi"}
	log.Reset()
	if err := helmRun(ctx, step); err != nil {
		t.Fatalf("upgrade: %v\nlog:\n%s", err, log.String())
	}
	want = map[string]string{"region": "eu-west-1", "replicas": "5", "greeting": "hi"}
	if diff := cmp.Diff(want, settings()); diff != "" {
		t.Errorf("configmap after upgrade (-want +got):\n%s", diff)
	}
	c.Run(t, "get", "secret", "sh.helm.release.v1.node-eu.v2", "--namespace", "region-helm")

	step.Action = planner.ActionDestroy
	log.Reset()
	if err := helmRun(ctx, step); err != nil {
		t.Fatalf("uninstall: %v\nlog:\n%s", err, log.String())
	}
	out := c.Run(t, "get", "configmaps,services,secrets", "--namespace", "region-helm", "-o", "name")
	for _, gone := range []string{"configmap/node-eu-settings", "service/node-eu", "sh.helm.release"} {
		if strings.Contains(string(out), gone) {
			t.Errorf("after uninstall %s is still there:\n%s", gone, out)
		}
	}
	// Uninstalling a release that is gone succeeds (a resumed destroy).
	if err := helmRun(ctx, step); err != nil {
		t.Errorf("second uninstall: %v\nlog:\n%s", err, log.String())
	}

	// A broken chart fails with helm's message.
	step.Action = planner.ActionDeploy
	step.Ops = []*planner.Operation{{ID: "node/us-east-1", Driver: "helm", Helm: &planner.Helm{
		Context: kubetest.ContextName, Release: "node-us", Chart: "./no-such-chart", Namespace: "region-helm"}}}
	err := helmRun(ctx, step)
	if err == nil || !strings.Contains(err.Error(), "node/us-east-1") || !strings.Contains(err.Error(), "no-such-chart") {
		t.Errorf("install of a missing chart: err = %v, want helm's complaint about no-such-chart", err)
	}
}
