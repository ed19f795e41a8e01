//go:build !netplan42_noetcd

package cli

import (
	"context"
	"time"

	"github.com/netplan42/netplan42/backend/etcd"
	"github.com/netplan42/netplan42/schema"
)

// The etcd backend; -tags netplan42_noetcd leaves it out (about 0.2 MB
// since it speaks etcd's JSON gateway with the standard library).
func init() {
	backendKinds[schema.BackendEtcd] = func(be *schema.Backend) (fleetBackend, error) {
		c, err := etcd.Dial(be)
		if err != nil {
			return nil, err
		}
		return etcdBackend{c, be}, nil
	}
}

type etcdBackend struct {
	*etcd.Client
	be *schema.Backend
}

func (b etcdBackend) Store(c *schema.Computer) targetStore { return b.ComputerStore(c.Tag()) }

func (b etcdBackend) NetworkStore(name string) targetStore {
	return b.Client.NetworkStore(networkStateName(name))
}

func (b etcdBackend) ReportTTL() time.Duration { return b.be.ReportTTL }

func (b etcdBackend) Reports(ctx context.Context) (map[string]reportRecord, int64, error) {
	recs, rev, err := b.Client.Reports(ctx)
	out := make(map[string]reportRecord, len(recs))
	for k, r := range recs {
		out[k] = reportRecord{Live: r.Live, Last: r.Last}
	}
	return out, rev, err
}

var (
	_ reportBackend       = etcdBackend{}
	_ fleetBackendReports = etcdBackend{}
)
