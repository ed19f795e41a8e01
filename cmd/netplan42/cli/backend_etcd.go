//go:build !netplan42_noetcd

package cli

import (
	"github.com/netplan42/netplan42/backend/etcd"
	"github.com/netplan42/netplan42/schema"
)

// The etcd backend; build with -tags netplan42_noetcd to leave it, and
// its client's ~10 MB, out.
func init() {
	backendKinds[schema.BackendEtcd] = func(be *schema.Backend) (fleetBackend, error) {
		c, err := etcd.Dial(be)
		if err != nil {
			return nil, err
		}
		return etcdBackend{c}, nil
	}
}

type etcdBackend struct{ *etcd.Client }

func (b etcdBackend) Store(c *schema.Computer) targetStore { return b.ComputerStore(c.Tag()) }
