package etcd

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// rawClient returns a clientv3 client to c's endpoints, for tests that set
// up or inspect etcd behind the package's back; it is closed when t ends.
// clientv3 is a test-only import: it does not reach the binary.
func rawClient(t testing.TB, c *Client) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: DialTimeout, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
