package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
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
	lease, err := c.grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return c.unavailable("grant the lease of "+name+"'s report", err)
	}
	base := c.computersPrefix() + name + "/"
	_, err = c.txn(ctx, txnRequest{Success: []requestOp{
		opPut(base+"report", string(report), lease),
		opPut(base+"last-report", string(report), 0),
	}})
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
	resp, err := c.get(ctx, getPrefix(c.computersPrefix()))
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
// fails. A connection that breaks is made again from where it was; a
// watch that cannot be made again for OpTimeout fails with
// ErrUnavailable.
func (c *Client) WatchReports(ctx context.Context, rev int64, changed func()) error {
	p := c.computersPrefix()
	err := c.watch(ctx, p, prefixEnd(p), rev+1, func(evs []watchEvent) {
		for _, ev := range evs {
			if strings.HasSuffix(string(ev.Kv.Key), "/report") {
				changed()
				return
			}
		}
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%s: watch %s ended: %w", c, p, err)
	}
	return fmt.Errorf("%s: watch %s: %w", c, p, err)
}
