package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Reports: each computer's last pass, written by apply and the agent.
//
//	PREFIX/computers/NAME/report       under a lease of report_ttl: gone when the computer falls silent
//	PREFIX/computers/NAME/last-report  the same, without a lease: what it said last, and when

// ReportRecord is what etcd holds of one computer's reports.
type ReportRecord struct {
	// Live is the report while its lease lasts; nil once it expired.
	Live []byte
	// Last is the last report written; nil when the computer never
	// reported.
	Last []byte
}

func (c *Client) computersPrefix() string { return c.prefix + "/computers/" }

// PutReport stores report (JSON) as computer name's report, under a new
// lease of ttl, and as its last report.
func (c *Client) PutReport(ctx context.Context, name string, report []byte, ttl time.Duration) error {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	lease, err := c.cli.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return c.unavailable("grant the lease of "+name+"'s report", err)
	}
	base := c.computersPrefix() + name + "/"
	_, err = c.cli.Txn(ctx).Then(
		clientv3.OpPut(base+"report", string(report), clientv3.WithLease(lease.ID)),
		clientv3.OpPut(base+"last-report", string(report)),
	).Commit()
	if err != nil {
		return c.unavailable("write "+base+"report", err)
	}
	return nil
}

// Reports returns every computer's reports, by name, and the revision
// they were read at.
func (c *Client) Reports(ctx context.Context) (map[string]ReportRecord, int64, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(ctx, c.computersPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, c.unavailable("read reports under "+c.computersPrefix(), err)
	}
	out := map[string]ReportRecord{}
	for _, kv := range resp.Kvs {
		name, leaf, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), c.computersPrefix()), "/")
		if !ok {
			continue
		}
		r := out[name]
		switch leaf {
		case "report":
			r.Live = kv.Value
		case "last-report":
			r.Last = kv.Value
		default:
			continue
		}
		out[name] = r
	}
	return out, resp.Header.Revision, nil
}

// WatchReports calls changed after every change to a report, a lease's
// expiry included, from revision rev+1 on, until ctx ends or the watch
// fails.
func (c *Client) WatchReports(ctx context.Context, rev int64, changed func()) error {
	wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), c.computersPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("%s: watch %s: %w", c, c.computersPrefix(), err)
		}
		for _, ev := range resp.Events {
			if strings.HasSuffix(string(ev.Kv.Key), "/report") {
				changed()
				break
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%s: watch %s ended: %w", c, c.computersPrefix(), ErrUnavailable)
}
