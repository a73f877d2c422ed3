package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// namespacedKinds are the collections FinalizeNamespaces waits to see empty
// before it lets a namespace go: what kubectl manifests and helm charts in
// these tests create, and where helm keeps its release records (secrets).
var namespacedKinds = []string{
	"/api/v1/namespaces/%s/configmaps",
	"/api/v1/namespaces/%s/secrets",
	"/api/v1/namespaces/%s/services",
	"/apis/apps/v1/namespaces/%s/deployments",
}

// FinalizeNamespaces stands in for the namespace controller of
// kube-controller-manager, which this control plane does not run: without
// it a deleted namespace stays Terminating for ever and `kubectl delete
// namespace` (which waits) never returns. Until the test ends it polls for
// terminating namespaces and, once nothing of namespacedKinds is left in
// one, clears its "kubernetes" finalizer so the apiserver removes it.
// Unlike the real controller it deletes no contents: a destroy that
// removes a namespace before what is in it hangs instead of passing.
func (c *Cluster) FinalizeNamespaces(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if err := c.finalizeOnce(ctx, client); err != nil && ctx.Err() == nil {
				t.Logf("kubetest: namespace finalizer: %v", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		client.CloseIdleConnections()
	})
}

// finalizeOnce finalizes every terminating namespace that is empty.
func (c *Cluster) finalizeOnce(ctx context.Context, client *http.Client) error {
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := c.api(ctx, client, http.MethodGet, "/api/v1/namespaces", nil, &list); err != nil {
		return err
	}
	for _, ns := range list.Items {
		meta, _ := ns["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if meta["deletionTimestamp"] == nil || name == "" {
			continue
		}
		empty, err := c.namespaceEmpty(ctx, client, name)
		if err != nil {
			return err
		}
		if !empty {
			continue
		}
		if spec, ok := ns["spec"].(map[string]any); ok {
			spec["finalizers"] = []string{}
		}
		body, err := json.Marshal(ns)
		if err != nil {
			return err
		}
		if err := c.api(ctx, client, http.MethodPut, "/api/v1/namespaces/"+name+"/finalize", body, nil); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) namespaceEmpty(ctx context.Context, client *http.Client, ns string) (bool, error) {
	for _, kind := range namespacedKinds {
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := c.api(ctx, client, http.MethodGet, fmt.Sprintf(kind, ns), nil, &list); err != nil {
			return false, err
		}
		if len(list.Items) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// api makes one request to the apiserver as the admin and decodes the
// answer into out (when not nil).
func (c *Cluster) api(ctx context.Context, client *http.Client, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(buf.Bytes()))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}
