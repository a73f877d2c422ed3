// Package kubetest starts a real Kubernetes control plane for tests: etcd
// and kube-apiserver on 127.0.0.1, no kubelet, no controllers. That is
// enough for kubectl and helm to create, read and delete objects, which is
// what echelon's drivers do. Cluster.FinalizeNamespaces stands in for the
// one controller a destroy needs: the one that lets a deleted, emptied
// namespace go.
//
// The binaries come from ECHELON_ETCD and ECHELON_KUBE_APISERVER (set by
// `eval "$(scripts/tools.sh --env)"`, which builds them from the Go module
// proxy); kubectl from ECHELON_KUBECTL, else PATH. When they are missing the
// test is skipped, unless CI is set, where a skipped real-tool test would
// hide a broken build, so it fails instead.
package kubetest
