package etcd

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientStaysOut keeps etcd's gRPC client (grpc, protobuf, zap: about
// 7 MB of a stripped binary and 6 ms of start-up on every run) out of the
// binary: this package speaks etcd's JSON gateway with the standard
// library. clientv3 is for this package's tests only.
func TestClientStaysOut(t *testing.T) {
	if testing.Short() {
		t.Skip("go list: skipped with -short")
	}
	deps := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-deps"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	check := func(deps []string, what string, banned ...string) {
		t.Helper()
		for _, d := range deps {
			for _, b := range banned {
				if strings.HasPrefix(d, b) {
					t.Errorf("%s depends on %s", what, d)
					return
				}
			}
		}
	}
	etcdClient := []string{"go.etcd.io/", "google.golang.org/grpc", "go.uber.org/zap"}
	const cmd = "github.com/netplan42/netplan42/cmd/netplan42"
	check(deps(cmd), "the default build of "+cmd, etcdClient...)
	check(deps("-tags", "netplan42_noetcd", cmd), "the netplan42_noetcd build", etcdClient...)
	// protobuf too, for this package: the rest of the binary still has
	// it through the agent's prometheus/client_golang.
	check(deps("github.com/netplan42/netplan42/backend/etcd"), "backend/etcd", append(etcdClient, "google.golang.org/protobuf")...)
}
