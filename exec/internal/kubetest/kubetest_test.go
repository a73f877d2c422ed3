package kubetest

import (
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestStart checks the harness's promises: a reachable apiserver that
// reports its version, a kubeconfig that only works with --context, and
// nothing left listening once the test is over.
func TestStart(t *testing.T) {
	var server string
	t.Run("cluster", func(t *testing.T) {
		c := Start(t)
		server = c.Server
		var v struct {
			ServerVersion struct{ GitVersion string } `json:"serverVersion"`
		}
		out := c.Run(t, "version", "-o", "json")
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("kubectl version: %v\n%s", err, out)
		}
		if !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.") {
			t.Errorf("server version %q, want v1.x", v.ServerVersion.GitVersion)
		}
		// The admin token is in system:masters, so RBAC lets it do anything.
		if out := strings.TrimSpace(string(c.Run(t, "auth", "can-i", "create", "namespaces"))); out != "yes" {
			t.Errorf("kubectl auth can-i create namespaces = %q, want yes", out)
		}
		// Without --context kubectl must not find the cluster.
		cmd := c.command("get", "namespaces")
		cmd.Args = append(cmd.Args[:1], cmd.Args[2:]...) // drop --context
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("kubectl without --context reached a cluster:\n%s", out)
		}
		t.Run("namespaces", func(t *testing.T) { testFinalizeNamespaces(t, c) })
	})
	if server == "" {
		return // skipped: no binaries
	}
	// The cleanups stopped the apiserver: its port no longer answers.
	addr := strings.TrimPrefix(server, "https://")
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections after the test ended", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Errorf("ports %v: want 5 distinct positive ports", ports)
		}
		seen[p] = true
	}
}

func TestTail(t *testing.T) {
	path := t.TempDir() + "/log"
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tail(path, 2); got != "c\nd" {
		t.Errorf("tail = %q, want %q", got, "c\nd")
	}
	if got := tail(path, 10); got != "a\nb\nc\nd" {
		t.Errorf("tail = %q, want all four lines", got)
	}
}

// testFinalizeNamespaces: a deleted namespace stays while something is in
// it and goes once it is empty, as with the real namespace controller.
func testFinalizeNamespaces(t *testing.T, c *Cluster) {
	c.FinalizeNamespaces(t)
	c.Run(t, "create", "namespace", "fin")
	c.Run(t, "create", "configmap", "left", "--namespace", "fin")
	c.Run(t, "delete", "namespace", "fin", "--wait=false")
	// Several of the finalizer's polls: it must not let a namespace with
	// a configmap in it go.
	time.Sleep(500 * time.Millisecond)
	out := c.Run(t, "get", "namespace", "fin", "-o", "jsonpath={.status.phase}")
	if string(out) != "Terminating" {
		t.Errorf("namespace with a configmap in it: phase %q, want Terminating", out)
	}
	c.Run(t, "delete", "configmap", "left", "--namespace", "fin")
	// kubectl waits for the namespace to go, as a destroy does.
	c.Run(t, "wait", "--for=delete", "namespace/fin", "--timeout=2m")
}
