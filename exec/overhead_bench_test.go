package exec

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/echelonhq/echelon/exec/internal/kubetest"
	"github.com/echelonhq/echelon/planner"
)

// The drivers' overhead per process, the figures of sim.DefaultOverhead
// (docs/simulator.md, "Tool overhead"): scripts/measure-overhead.sh runs
//
//	go test ./exec -run '^$' -bench Overhead -benchtime 20x
//
// and prints each as seconds a step. kubectl and helm run against a real
// kube-apiserver and etcd (exec/internal/kubetest), applying objects that
// already exist: the process, its discovery and one round trip per object.

func benchStep(b *testing.B, run func(context.Context, Step) error, s Step) {
	b.Helper()
	ctx := context.Background()
	if err := run(ctx, s); err != nil { // warm: caches, the first object
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := run(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/step")
}

func BenchmarkOverheadCommand(b *testing.B) {
	op := &planner.Operation{ID: "c", Driver: "command", Command: &planner.Command{Argv: []string{"true"}}}
	benchStep(b, commandRun, Step{Ops: []*planner.Operation{op}, Action: planner.ActionDeploy,
		SpecDir: b.TempDir(), RunDir: b.TempDir(), Log: io.Discard, Env: os.Environ()})
}

func BenchmarkOverheadKube(b *testing.B) {
	if os.Getenv("ECHELON_KUBECTL") == "" || os.Getenv("ECHELON_HELM") == "" {
		b.Skip("needs ECHELON_KUBECTL and ECHELON_HELM (eval \"$(bash scripts/tools.sh --env)\")")
	}
	c := kubetest.Start(b)
	spec, err := filepath.Abs(filepath.Join("testdata", "k8s"))
	if err != nil {
		b.Fatal(err)
	}
	c.Run(b, "create", "namespace", "bench")
	b.Run("kubectl", func(b *testing.B) {
		op := &planner.Operation{ID: "k", Driver: "kubectl", Kubectl: &planner.Kubectl{Context: kubetest.ContextName,
			Namespace: "bench", Manifests: []string{"manifests/configmap.yaml", "manifests/deployment.yaml"}}}
		benchStep(b, kubectlRun, Step{Ops: []*planner.Operation{op}, Action: planner.ActionDeploy, SpecDir: spec,
			Log: io.Discard, Env: append(c.Env, "ECHELON_KUBECTL="+c.Kubectl)})
	})
	b.Run("helm", func(b *testing.B) {
		home := b.TempDir()
		op := &planner.Operation{ID: "h", Driver: "helm", Helm: &planner.Helm{Context: kubetest.ContextName,
			Release: "bench", Chart: "chart", Namespace: "bench", Values: map[string]any{"region": "eu", "replicas": 1}}}
		benchStep(b, helmRun, Step{Ops: []*planner.Operation{op}, Action: planner.ActionDeploy, SpecDir: spec,
			RunDir: b.TempDir(), Log: io.Discard, Env: append(c.Env, "ECHELON_HELM="+os.Getenv("ECHELON_HELM"),
				"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
				"HELM_DATA_HOME="+filepath.Join(home, "data"))})
	})
}

// BenchmarkOverheadGuard is the group guard's part of a tool process's
// overhead (guard_linux.go): registering a started process's group and
// letting it go (a read of /proc and two writes to the guard's pipe).
func BenchmarkOverheadGuard(b *testing.B) {
	pid := os.Getpid() // a process that runs, as a tool's leader does
	guard.watch(pid)   // starts the guard
	guard.unwatch(pid)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		guard.watch(pid)
		guard.unwatch(pid)
	}
}

// BenchmarkOverheadGuardStart is the guard's start, paid once per echelon
// process that runs a tool (a fork and exec of echelon's own binary).
func BenchmarkOverheadGuardStart(b *testing.B) {
	for i := 0; i < b.N; i++ {
		guard.mu.Lock()
		if guard.w != nil {
			guard.dropLocked()
		}
		guard.startLocked()
		ok := guard.w != nil
		guard.mu.Unlock()
		if !ok {
			b.Fatal("the guard did not start")
		}
	}
	b.StopTimer()
	guard.mu.Lock()
	guard.dropLocked()
	guard.mu.Unlock()
}
