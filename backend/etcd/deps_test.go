package etcd

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientStaysOut keeps the etcd client (grpc, protobuf, zap: about 7
// MB of a stripped binary, 7 ms of start-up) out of every package but
// this one and the CLI file that registers it, and out of a build with
// -tags netplan42_noetcd.
func TestClientStaysOut(t *testing.T) {
	if testing.Short() {
		t.Skip("go list: skipped with -short")
	}
	pkgs := []string{"state", "schema", "planner", "apply", "agent", "router", "firewall"}
	for i, p := range pkgs {
		pkgs[i] = "github.com/netplan42/netplan42/" + p
	}
	check := func(args ...string) {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-deps"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", args, err)
		}
		for _, d := range strings.Fields(string(out)) {
			if strings.HasPrefix(d, "go.etcd.io/") || strings.HasPrefix(d, "google.golang.org/grpc") {
				t.Errorf("%v depends on %s", args, d)
				return
			}
		}
	}
	check(pkgs...)
	check("-tags", "netplan42_noetcd", "github.com/netplan42/netplan42/cmd/netplan42")
}
