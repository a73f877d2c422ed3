package exec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec/internal/kubetest"
	"github.com/google/go-cmp/cmp"
)

// kubeE2ESpec is a besu-network-shaped spec for the test cluster: per
// region a namespace (kubectl), the region's configuration in it (kubectl,
// with a manifest chosen by each.region), two helm releases of the local
// chart (replicas = 2), and a command that reads what the last release
// wrote. %[1]s is the kubectl binary, %[2]s the kubeconfig context.
const kubeE2ESpec = `
deployment "kube-e2e" {}

locals {
  regions = ["eu", "us"]
}

phase "namespaces" {}
phase "apps" {}

mode "m" {
  max_parallel = 4
}

component "namespaces" {
  phase   = phase.namespaces
  driver  = "kubectl"
  regions = local.regions
  kubectl {
    context   = %[2]q
    manifests = ["namespaces/${each.region}.yaml"]
  }
}

component "config" {
  phase      = phase.apps
  driver     = "kubectl"
  regions    = local.regions
  depends_on = [component.namespaces]
  kubectl {
    context   = %[2]q
    namespace = "ns-${each.region}"
    manifests = ["k8s/configmap.yaml", "k8s/deployment.yaml", "k8s/region-${each.region}.yaml"]
  }
}

component "node" {
  phase      = phase.apps
  driver     = "helm"
  regions    = local.regions
  replicas   = 2
  depends_on = [component.config]
  helm {
    context   = %[2]q
    release   = "node-${each.region}-${each.replica}"
    chart     = "chart"
    namespace = "ns-${each.region}"
    values = {
      region   = each.region
      replicas = each.replica
      greeting = "hello ${each.region}/${each.replica}"
    }
  }
}

component "smoke" {
  phase      = phase.apps
  driver     = "command"
  depends_on = [component.config, component.node]
  command {
    argv = [%[1]q, "--context", %[2]q, "--namespace", "ns-us", "get", "configmap",
            "node-us-1-settings", "-o", "jsonpath={.data.greeting}"]
  }
}
`

var kubeE2ERegions = []string{"eu", "us"}

// TestKubeApplyEndToEnd compiles a spec of kubectl, helm and command
// components with the real CLI, applies it to a real kube-apiserver with
// the real kubectl and helm, checks every object with kubectl, applies the
// plan again (--resume: nothing runs; a fresh state: kubectl reports
// unchanged, helm upgrades), then compiles and applies the destroy plan
// and checks that nothing is left.
func TestKubeApplyEndToEnd(t *testing.T) {
	helm := requireKubeTool(t, "ECHELON_HELM", "helm")
	c := kubetest.Start(t)
	c.FinalizeNamespaces(t) // no controller-manager: see its doc
	bin := buildEchelon(t)

	dir := t.TempDir()
	spec := writeKubeE2ESpec(t, dir, c.Kubectl)
	home := t.TempDir()
	env := append(c.Env, "ECHELON_KUBECTL="+c.Kubectl, "ECHELON_HELM="+helm,
		// helm's caches and repository config: not the user's.
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	echelon := func(args ...string) (string, error) {
		t.Helper()
		// A hung kubectl (a namespace that never goes) fails the test
		// with its output instead of running into the package timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := osexec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("echelon %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), err
	}

	deploy := filepath.Join(dir, "deploy.json")
	if _, err := echelon("compile", spec, "-o", deploy); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	out, err := echelon("apply", deploy, "--state", state, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	run := parseKubeRun(t, out)
	wantOps := []string{
		"config/eu", "config/us", "namespaces/eu", "namespaces/us",
		"node/eu/0", "node/eu/1", "node/us/0", "node/us/1", "smoke",
	}
	if diff := cmp.Diff(wantOps, run.succeeded()); diff != "" {
		t.Fatalf("succeeded operations (-want +got):\n%s\n%s", diff, out)
	}
	// The order the dependencies ask for, as the executor ran it.
	for _, r := range kubeE2ERegions {
		run.before(t, "namespaces/"+r, "config/"+r)
		for i := range 2 {
			run.before(t, "config/"+r, fmt.Sprintf("node/%s/%d", r, i))
			run.before(t, fmt.Sprintf("node/%s/%d", r, i), "smoke")
		}
	}
	if got := run.logText(t, "smoke"); !strings.Contains(got, "hello us/1") {
		t.Errorf("smoke (kubectl through the command driver) did not read node-us-1's greeting:\n%s", got)
	}
	checkKubeDeployed(t, c, 1)

	// --resume of a finished run: every operation was done, none runs.
	out, err = echelon("apply", deploy, "--state", state, "--resume", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rerun := parseKubeRun(t, out); len(rerun.starts) != 0 || !cmp.Equal(wantOps, rerun.summary.Resumed) {
		t.Errorf("resume of a finished run started %v, resumed %v; want nothing started, all resumed",
			rerun.succeeded(), rerun.summary.Resumed)
	}

	// A fresh state runs it all again: kubectl finds nothing to change,
	// helm upgrades each release to revision 2 with the same values.
	out, err = echelon("apply", deploy, "--state", filepath.Join(dir, "state2"), "--json")
	if err != nil {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
	run = parseKubeRun(t, out)
	if diff := cmp.Diff(wantOps, run.succeeded()); diff != "" {
		t.Fatalf("second apply: succeeded operations (-want +got):\n%s", diff)
	}
	for _, r := range kubeE2ERegions {
		for _, want := range []string{"configmap/node-config unchanged", "deployment.apps/node unchanged", "configmap/region-info unchanged"} {
			if got := run.logText(t, "config/"+r); !strings.Contains(got, want) {
				t.Errorf("second apply of config/%s: log lacks %q:\n%s", r, want, got)
			}
		}
		if got := run.logText(t, "namespaces/"+r); !strings.Contains(got, "namespace/ns-"+r+" unchanged") {
			t.Errorf("second apply of namespaces/%s: not unchanged:\n%s", r, got)
		}
	}
	checkKubeDeployed(t, c, 2)

	destroy := filepath.Join(dir, "destroy.json")
	if _, err := echelon("compile", spec, "--destroy", "-o", destroy); err != nil {
		t.Fatal(err)
	}
	out, err = echelon("apply", destroy, "--state", state, "--json")
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	run = parseKubeRun(t, out)
	if diff := cmp.Diff(wantOps, run.succeeded()); diff != "" {
		t.Fatalf("destroy: succeeded operations (-want +got):\n%s\n%s", diff, out)
	}
	// Reverse order: what depends on a thing goes before it.
	for _, r := range kubeE2ERegions {
		for i := range 2 {
			run.before(t, "smoke", fmt.Sprintf("node/%s/%d", r, i))
			run.before(t, fmt.Sprintf("node/%s/%d", r, i), "config/"+r)
		}
		run.before(t, "config/"+r, "namespaces/"+r)
	}
	for _, r := range kubeE2ERegions {
		if out, err := c.Try("get", "namespace", "ns-"+r, "-o", "name"); err == nil || !strings.Contains(err.Error(), "NotFound") {
			t.Errorf("after destroy, namespace ns-%s: %q, %v; want NotFound", r, out, err)
		}
	}
	// Nothing of ours anywhere: namespaced objects outlive a deleted
	// namespace in etcd, so look in all of them.
	left := c.Run(t, "get", "configmaps,secrets,services,deployments", "--all-namespaces", "-o", "name")
	for _, l := range strings.Fields(string(left)) {
		if strings.Contains(l, "node") || strings.Contains(l, "region-info") || strings.Contains(l, "sh.helm.release") {
			t.Errorf("after destroy %s is still there", l)
		}
	}
}

// writeKubeE2ESpec writes the spec, a namespace manifest and a
// configuration manifest per region, and copies the shared manifests and
// the chart from testdata/k8s. It returns the spec's path.
func writeKubeE2ESpec(t *testing.T, dir, kubectl string) string {
	t.Helper()
	copyDir(t, filepath.Join(k8sTestdata(t), "manifests"), filepath.Join(dir, "k8s"))
	copyDir(t, filepath.Join(k8sTestdata(t), "chart"), filepath.Join(dir, "chart"))
	if err := os.MkdirAll(filepath.Join(dir, "namespaces"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"spec.hcl": fmt.Sprintf(kubeE2ESpec, kubectl, kubetest.ContextName),
	}
	for _, r := range kubeE2ERegions {
		files["namespaces/"+r+".yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-" + r + "\n"
		files["k8s/region-"+r+".yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: region-info\ndata:\n  region: " + r + "\n"
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "spec.hcl")
}

// checkKubeDeployed checks with kubectl what the deploy plan made: per
// region the namespace, the configuration (the shared manifests and the
// region's own), and two helm releases at revision rev whose values are
// the region and replica index.
func checkKubeDeployed(t *testing.T, c *kubetest.Cluster, rev int) {
	t.Helper()
	for _, r := range kubeE2ERegions {
		ns := "ns-" + r
		var cm struct{ Data map[string]string }
		kubeGetJSON(t, c, &cm, "get", "configmap", "region-info", "--namespace", ns, "-o", "json")
		if diff := cmp.Diff(map[string]string{"region": r}, cm.Data); diff != "" {
			t.Errorf("%s: region-info (-want +got):\n%s", ns, diff)
		}
		kubeGetJSON(t, c, &cm, "get", "configmap", "node-config", "--namespace", ns, "-o", "json")
		if cm.Data["network"] != "besu-test" {
			t.Errorf("%s: node-config data = %v", ns, cm.Data)
		}
		var dep struct{ Spec struct{ Replicas int } }
		kubeGetJSON(t, c, &dep, "get", "deployment", "node", "--namespace", ns, "-o", "json")
		if dep.Spec.Replicas != 2 {
			t.Errorf("%s: deployment node has %d replicas, want 2", ns, dep.Spec.Replicas)
		}
		for i := range 2 {
			release := fmt.Sprintf("node-%s-%d", r, i)
			var settings struct{ Data map[string]string }
			kubeGetJSON(t, c, &settings, "get", "configmap", release+"-settings", "--namespace", ns, "-o", "json")
			want := map[string]string{"region": r, "replicas": fmt.Sprint(i), "greeting": fmt.Sprintf("hello %s/%d", r, i)}
			if diff := cmp.Diff(want, settings.Data); diff != "" {
				t.Errorf("%s: %s values (-want +got):\n%s", ns, release, diff)
			}
			c.Run(t, "get", "service", release, "--namespace", ns)
			// helm's release record: one secret per revision.
			secrets := c.Run(t, "get", "secrets", "--namespace", ns, "-l", "owner=helm,name="+release, "-o", "name")
			var revs []string
			for _, s := range strings.Fields(string(secrets)) {
				revs = append(revs, s[strings.LastIndex(s, ".")+1:])
			}
			sort.Strings(revs)
			var wantRevs []string
			for v := 1; v <= rev; v++ {
				wantRevs = append(wantRevs, fmt.Sprintf("v%d", v))
			}
			if !cmp.Equal(wantRevs, revs) {
				t.Errorf("%s: release %s revisions %v, want %v", ns, release, revs, wantRevs)
			}
		}
	}
}

// kubeRun is an apply's --json output: op starts and ends, the summary.
type kubeRun struct {
	starts, ends map[string]Event
	summary      Result
}

func parseKubeRun(t *testing.T, out string) *kubeRun {
	t.Helper()
	r := &kubeRun{starts: map[string]Event{}, ends: map[string]Event{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	sawSummary := false
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("apply --json line %q: %v", sc.Text(), err)
		}
		switch e.Kind {
		case EvOpStart:
			r.starts[e.Op] = e
		case EvOpEnd:
			r.ends[e.Op] = e
		case "summary":
			if err := json.Unmarshal(sc.Bytes(), &r.summary); err != nil {
				t.Fatal(err)
			}
			sawSummary = true
		}
	}
	if !sawSummary {
		t.Fatalf("apply --json printed no summary:\n%s", out)
	}
	t.Logf("apply: %d operations ran, %d resumed, %.1fs", len(r.ends), len(r.summary.Resumed), r.summary.Duration)
	return r
}

// succeeded lists the operations that ran and succeeded, sorted, after
// checking that the summary says the same.
func (r *kubeRun) succeeded() []string {
	var ids []string
	for id, e := range r.ends {
		if e.Outcome == OutcomeSucceeded {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if !cmp.Equal(ids, r.summary.Succeeded) || len(r.summary.Failed) > 0 {
		return append(ids, fmt.Sprintf("(summary: succeeded %v, failed %v)", r.summary.Succeeded, r.summary.Failed))
	}
	return ids
}

// before checks that a ended before b started.
func (r *kubeRun) before(t *testing.T, a, b string) {
	t.Helper()
	end, ok1 := r.ends[a]
	start, ok2 := r.starts[b]
	if !ok1 || !ok2 {
		t.Errorf("no end of %s or no start of %s", a, b)
		return
	}
	if start.Time.Before(end.Time) {
		t.Errorf("%s started at %s, before %s ended at %s", b, start.Time.Format(time.RFC3339Nano), a, end.Time.Format(time.RFC3339Nano))
	}
}

// logText returns the log of an operation's last attempt.
func (r *kubeRun) logText(t *testing.T, op string) string {
	t.Helper()
	e, ok := r.ends[op]
	if !ok || e.Log == "" {
		t.Fatalf("no log for %s", op)
	}
	b, err := os.ReadFile(e.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKubeToolProcessGroup: kubectl and helm run like command operations,
// in a process group of their own, so the terminal's first Ctrl-C (sent to
// the foreground group, echelon's) does not reach them; cancelling (the
// second Ctrl-C) stops the whole group, the tool's own children included.
func TestKubeToolProcessGroup(t *testing.T) {
	sh, err := osexec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The "tool" records its pid and that of a child it waits for; the
	// child holds the output pipe, as a helm plugin would.
	script := fmt.Sprintf(`echo $$ > %[1]s.tmp; sleep 60 & echo $! >> %[1]s.tmp; mv %[1]s.tmp %[1]s; wait`, pids)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runKubeTool(ctx, Step{SpecDir: dir, Log: &log}, sh, []string{"-c", script})
	}()
	var tool, child int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(pids)
		if err == nil {
			if _, err := fmt.Sscan(string(b), &tool, &child); err != nil {
				t.Fatalf("pids file %q: %v", b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tool never started")
		}
	}
	pgid, err := syscall.Getpgid(tool)
	if err != nil {
		t.Fatal(err)
	}
	if pgid == syscall.Getpgrp() || pgid != tool {
		t.Errorf("tool's process group %d: want its own (%d), not the executor's (%d)", pgid, tool, syscall.Getpgrp())
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("cancelled tool: no error")
	}
	// The child got the group's SIGTERM: it is gone or a zombie waiting
	// for its new parent to reap it.
	for deadline := time.Now().Add(5 * time.Second); processAlive(child); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("the tool's child %d outlived the cancel", child)
		}
	}
}

// processAlive reports whether pid runs (exists and is not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// pid (comm) STATE ...: comm may hold spaces, so read after the last ')'.
	s := string(b)
	rest := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	return len(rest) > 0 && rest[0] != "Z"
}
