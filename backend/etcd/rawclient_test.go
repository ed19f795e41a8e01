package etcd

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// rawClient returns a clientv3 client to c's endpoints, for tests that set
// up or inspect etcd behind the package's back; it is closed when t ends.
// clientv3 is a test-only import: it does not reach the binary.
func rawClient(t testing.TB, c *Client) *clientv3.Client {
	t.Helper()
	return rawClientAt(t, c.endpoints)
}

func rawClientAt(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: DialTimeout, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// enableAuth turns authentication on at endpoint, with a user root
// (password rootpw) and a user fleet (password s3cret) whose role may
// read and write under /np only.
func enableAuth(t testing.TB, endpoint string) {
	t.Helper()
	admin := rawClientAt(t, []string{endpoint})
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "netplan42"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "netplan42", "/np", clientv3.GetPrefixRangeEnd("/np"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "fleet", "s3cret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "fleet", "netplan42"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}

// errConcurrencyLocked is concurrency.Mutex's TryLock refusal.
var errConcurrencyLocked = concurrency.ErrLocked

// newConcurrencyMutex returns etcd's own mutex on pfx, in a session of
// its own that ends with t.
func newConcurrencyMutex(t testing.TB, cli *clientv3.Client, pfx string) *concurrency.Mutex {
	t.Helper()
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(15))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return concurrency.NewMutex(sess, pfx)
}
