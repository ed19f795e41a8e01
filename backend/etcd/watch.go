package etcd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Watches (rpc.proto: WatchCreateRequest, WatchResponse). The gateway
// answers a POST to /v3/watch with a stream of JSON messages, one a line,
// each {"result": WatchResponse} or {"error": ...}; a watch etcd refuses
// (auth, compaction) comes as a result with "canceled" and a reason.

type watchCreateRequest struct {
	Key           []byte `json:"key"`
	RangeEnd      []byte `json:"range_end,omitempty"`
	StartRevision int64  `json:"start_revision,omitempty,string"`
}

type watchEvent struct {
	Type string   `json:"type"` // "PUT" is left out, "DELETE"
	Kv   keyValue `json:"kv"`
}

type watchResponse struct {
	Header          responseHeader `json:"header"`
	Created         bool           `json:"created"`
	Canceled        bool           `json:"canceled"`
	CompactRevision int64          `json:"compact_revision,string"`
	CancelReason    string         `json:"cancel_reason"`
	Events          []watchEvent   `json:"events"`
}

type watchMessage struct {
	Result *watchResponse `json:"result"`
	Error  *streamError   `json:"error"`
}

// errWatchLost: the watch's connection failed, and connecting again kept
// failing for OpTimeout.
var errWatchLost = errors.New("watch lost")

// watch calls fn with every change to the keys from key to end, from
// revision rev on, until ctx ends (it returns nil then) or the watch
// fails. A broken connection is made again, to the next endpoint, from
// the revision after the last change seen, as clientv3 does; when no
// watch could be made for OpTimeout it gives up with an error that
// wraps ErrUnavailable. As clientv3.WithRequireLeader, a member without
// a leader ends the watch.
func (c *Client) watch(ctx context.Context, key string, end []byte, rev int64, fn func([]watchEvent)) error {
	next := rev
	delay := 25 * time.Millisecond
	renewed := false
	var failing time.Time // since when no watch could be made
	for {
		tok, err := c.authToken(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		ep := c.endpoint()
		created, err := c.watchOnce(ctx, ep, tok, watchCreateRequest{Key: []byte(key), RangeEnd: end, StartRevision: next}, &next, fn)
		if ctx.Err() != nil {
			return nil
		}
		if tokenRejected(err) && c.user != "" && !renewed {
			if err := c.renewToken(ctx, tok); err != nil {
				return err
			}
			renewed = true
			continue
		}
		var ge *gatewayError
		var ae *answerError
		if errors.As(err, &ge) && !errors.Is(err, errNoLeader) && ge.Code != codeUnavailable || errors.As(err, &ae) {
			return err
		}
		if created {
			failing, delay, renewed = time.Time{}, 25*time.Millisecond, false
		}
		if failing.IsZero() {
			failing = time.Now()
		} else if time.Since(failing) > OpTimeout {
			return fmt.Errorf("%w: %w: %w", errWatchLost, err, ErrUnavailable)
		}
		c.nextEndpoint(ep)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// watchOnce makes one watch on endpoint ep and reads its stream until it
// fails; it reports whether etcd made the watch. *next follows the
// changes seen. etcd must make the watch within OpTimeout; after that,
// a quiet watch may wait as long as ctx lasts (TCP keep-alives find a
// dead peer).
func (c *Client) watchOnce(ctx context.Context, ep, token string, in watchCreateRequest, next *int64, fn func([]watchEvent)) (bool, error) {
	body, _ := json.Marshal(struct {
		Create watchCreateRequest `json:"create_request"`
	}{in})
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(OpTimeout, func() { cancel(context.DeadlineExceeded) })
	defer timer.Stop()
	late := func(err error) error {
		if context.Cause(wctx) == context.DeadlineExceeded && ctx.Err() == nil {
			return fmt.Errorf("no watch made in %s: %w", OpTimeout, context.DeadlineExceeded)
		}
		return err
	}
	req, err := http.NewRequestWithContext(wctx, http.MethodPost, ep+"/v3/watch", bytes.NewReader(body))
	if err != nil {
		return false, &answerError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	// The gateway passes Grpc-Metadata-* headers on as gRPC metadata:
	// this is clientv3.WithRequireLeader.
	req.Header.Set("Grpc-Metadata-Hasleader", "true")
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, late(unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, readError(resp)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	created := false
	for {
		line, err := readLine(br)
		if len(bytes.TrimSpace(line)) > 0 {
			var m watchMessage
			if jerr := json.Unmarshal(line, &m); jerr != nil {
				return created, &answerError{fmt.Errorf("undecodable watch message: %w", jerr)}
			}
			if m.Error != nil {
				return created, m.Error.err()
			}
			if r := m.Result; r != nil {
				if r.Canceled {
					return created, canceled(r)
				}
				if r.Created && !created {
					created = true
					timer.Stop()
				}
				for _, ev := range r.Events {
					*next = max(*next, ev.Kv.ModRevision+1)
				}
				if len(r.Events) > 0 {
					fn(r.Events)
				}
			}
		}
		if err != nil {
			var ae *answerError
			if errors.As(err, &ae) {
				return created, err
			}
			return created, late(fmt.Errorf("watch stream: %w", err))
		}
	}
}

// canceled is the error of a watch etcd canceled, as clientv3's
// WatchResponse.Err: compacted, or the reason etcd gave, matched to
// etcd's errors where it is one ("rpc error: code = Unauthenticated desc
// = etcdserver: invalid auth token").
func canceled(r *watchResponse) error {
	if r.CompactRevision != 0 {
		return fmt.Errorf("%w (compacted at revision %d)", errCompacted, r.CompactRevision)
	}
	reason := r.CancelReason
	if _, desc, ok := strings.Cut(reason, " desc = "); ok {
		reason = desc
	}
	for _, e := range knownErrors {
		if reason == e.Message {
			return &gatewayError{Code: e.Code, Message: e.Message}
		}
	}
	if reason == "" {
		reason = "etcd canceled the watch without a reason"
	}
	return &gatewayError{Code: codeFailedPrecond, Message: reason}
}
