package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ContextName is the kubeconfig context Start writes. The kubeconfig has no
// current-context, so a tool only reaches the cluster when told --context:
// a driver that forgets to pass it fails instead of passing by accident.
const ContextName = "echelon-test"

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	Server     string   // https://127.0.0.1:PORT
	Token      string   // bearer token of an admin in system:masters
	Kubeconfig string   // path of a kubeconfig with context ContextName
	Kubectl    string   // the kubectl binary to drive the cluster with
	Env        []string // os.Environ() plus KUBECONFIG=Kubeconfig
	Dir        string   // scratch directory (certs, logs, etcd data)
}

// startTimeout bounds the wait for /readyz: the apiserver takes 5-15 s on
// an idle machine, far longer under -race on a loaded one.
const startTimeout = 3 * time.Minute

// Start starts etcd and kube-apiserver with fresh ports and data, waits
// until the apiserver is ready, and stops both when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	etcdBin := binary(t, "ECHELON_ETCD", "")
	apiBin := binary(t, "ECHELON_KUBE_APISERVER", "")
	kubectl := binary(t, "ECHELON_KUBECTL", "kubectl")

	dir := t.TempDir()
	c := &Cluster{Dir: dir, Kubectl: kubectl}
	ports, err := freePorts(3)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])

	etcd := startProcess(t, filepath.Join(dir, "etcd.log"), etcdBin,
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--log-level=warn",
		// Test data need not survive a power cut; fsync dominates
		// etcd's latency on slow disks.
		"--unsafe-no-fsync",
	)
	if err := waitHTTP(etcd, etcdURL+"/health", "", 30*time.Second); err != nil {
		t.Fatalf("kubetest: etcd did not start: %v\n%s", err, tail(etcd.logPath, 30))
	}

	c.Token = randomHex(t, 16)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, c.Token+",echelon-admin,echelon-admin,system:masters\n")
	saKey := filepath.Join(dir, "sa.key")
	writeFile(t, saKey, string(rsaKeyPEM(t)))

	c.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	api := startProcess(t, filepath.Join(dir, "apiserver.log"), apiBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokens,
		"--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		// Without a controller manager no service account token would
		// ever exist for pods; nothing here runs pods.
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	)
	if err := waitHTTP(api, c.Server+"/readyz", c.Token, startTimeout); err != nil {
		t.Fatalf("kubetest: kube-apiserver did not become ready: %v\n%s", err, tail(api.logPath, 40))
	}

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	writeFile(t, c.Kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    insecure-skip-tls-verify: true
users:
- name: %[1]s-admin
  user:
    token: %[3]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[1]s-admin
`, ContextName, c.Server, c.Token))
	c.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	return c
}

// Run runs kubectl against the cluster (--context is added) and returns its
// stdout, failing the test on error.
func (c *Cluster) Run(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := c.Try(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try runs kubectl against the cluster and returns stdout, or an error
// carrying stderr.
func (c *Cluster) Try(args ...string) ([]byte, error) {
	cmd := c.command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// command is kubectl --context=ContextName ARGS with the cluster's env.
func (c *Cluster) command(args ...string) *osexec.Cmd {
	cmd := osexec.Command(c.Kubectl, append([]string{"--context=" + ContextName}, args...)...)
	cmd.Env = c.Env
	return cmd
}

// binary returns the tool named by env, else (when fallback is set) found on
// PATH; missing, it skips the test, or fails it under CI.
func binary(t testing.TB, env, fallback string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("kubetest: %s=%s: %v", env, p, err)
		}
		return p
	}
	if fallback != "" {
		if p, err := osexec.LookPath(fallback); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("kubetest: %s is not set; run `eval \"$(bash scripts/tools.sh --env)\"` to build the Kubernetes tools", env)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

type process struct {
	cmd     *osexec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, valid after done
}

// startProcess starts bin with its output in logPath and registers a
// cleanup that stops it (SIGTERM, then SIGKILL after a grace period).
func startProcess(t testing.TB, logPath, bin string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	cmd := osexec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("kubetest: start %s: %v", filepath.Base(bin), err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("kubetest: last lines of %s:\n%s", filepath.Base(logPath), tail(logPath, 20))
		}
	})
	return p
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func waitHTTP(p *process, url, token string, timeout time.Duration) error {
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The apiserver serves a self-signed certificate from --cert-dir.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := errors.New("no answer yet")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(body[:n]))
		} else {
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", filepath.Base(p.cmd.Path), p.err)
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: %w", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct ports that were free a moment ago. Holding
// all listeners until every port is chosen keeps them distinct; another
// process could still take one before the server binds it, which is rare
// enough on a test machine.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func rsaKeyPEM(t testing.TB) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("kubetest: service account key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
}

// tail returns the last n lines of a log file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
