// Command etcd is the etcd server, built from the Go module proxy by
// scripts/tools.sh for the Kubernetes test harness (exec/internal/kubetest).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
