package etcd

import (
	"context"
	"encoding/json"
	"time"
)

// Leases (rpc.proto: LeaseGrantRequest, LeaseRevokeRequest,
// LeaseKeepAliveRequest). The gateway's keep-alive is a stream of one
// request and one answer per POST.

type leaseID struct {
	ID int64 `json:"ID,string"`
}

type leaseGrantRequest struct {
	TTL int64 `json:"TTL,string"`
}

type leaseGrantResponse struct {
	ID  int64 `json:"ID,string"`
	TTL int64 `json:"TTL,string"`
}

type keepAliveResponse struct {
	Result *struct {
		ID  int64 `json:"ID,string"`
		TTL int64 `json:"TTL,string"` // 0: the lease is gone
	} `json:"result"`
	Error *streamError `json:"error"`
}

func (r *keepAliveResponse) streamErr() error {
	if r.Error != nil {
		return r.Error.err()
	}
	return nil
}

// grant makes a lease of ttl seconds and returns its ID.
func (c *Client) grant(ctx context.Context, ttl int64) (int64, error) {
	var out leaseGrantResponse
	if err := c.call(ctx, "/v3/lease/grant", leaseGrantRequest{TTL: ttl}, &out, retryAlways); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// revoke ends a lease, deleting its keys.
func (c *Client) revoke(ctx context.Context, id int64) error {
	var out json.RawMessage
	return c.call(ctx, "/v3/lease/revoke", leaseID{id}, &out, retryUnsent)
}

// keepAliveOnce renews a lease and returns the seconds it has left, 0
// when it is gone.
func (c *Client) keepAliveOnce(ctx context.Context, id int64) (int64, error) {
	var out keepAliveResponse
	if err := c.call(ctx, "/v3/lease/keepalive", leaseID{id}, &out, retryAlways); err != nil {
		return 0, err
	}
	if out.Result == nil {
		return 0, nil
	}
	return out.Result.TTL, nil
}

// keepAlive renews lease id, of ttl, every third of ttl as clientv3
// does, until the lease is gone, the client is closed, or stop is
// called; stop returns once the renewals have stopped. A renewal that
// fails is tried again at the next one.
func (c *Client) keepAlive(id int64, ttl time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(ttl/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			kctx, kcancel := context.WithTimeout(ctx, OpTimeout)
			left, err := c.keepAliveOnce(kctx, id)
			kcancel()
			if err == nil && left <= 0 {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
