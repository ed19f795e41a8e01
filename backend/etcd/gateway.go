package etcd

// The client speaks etcd's v3 JSON gateway, which etcd 3.4 and later serve
// on their client URLs: each request is a POST of a JSON message to a path
// under /v3/ (/v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/watch, ...),
// bytes in base64 and 64-bit integers as strings, and an error is a JSON
// body {"error", "code", "message"} with the gRPC code and etcd's message.
// References: etcd's api/etcdserverpb/rpc.proto (the messages) and
// rpc.pb.gw.go (the paths), and etcd.io/docs/v3.4/dev-guide/api_grpc_gateway.
// Checked against Debian's etcd-server 3.4.23, which serves /v3/ (and the
// older /v3beta/; not /v3alpha/).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds the body of one answer, and one message of a
// watch: a fleet's reports and states, with base64's growth, fit many
// times over. A variable so that tests can lower it.
var maxResponseBytes int64 = 256 << 20

// maxErrorBytes bounds the body of an error answer.
const maxErrorBytes = 64 << 10

// gRPC status codes etcd's errors carry (google.golang.org/grpc/codes).
const (
	codeInvalidArgument  = 3
	codePermissionDenied = 7
	codeFailedPrecond    = 9
	codeOutOfRange       = 11
	codeUnavailable      = 14
	codeUnauthenticated  = 16
)

// gatewayError is etcd's refusal of a request: the gRPC code and etcd's
// message, as the gateway passes them on, and the HTTP status.
type gatewayError struct {
	Code    int
	Message string // "etcdserver: permission denied"
	Status  int    // HTTP status; 0 inside a stream
}

func (e *gatewayError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("etcd answered HTTP %d (gRPC code %d) without a message", e.Status, e.Code)
	}
	return e.Message
}

// Is matches etcd's errors by their message, as clientv3's rpctypes do.
func (e *gatewayError) Is(target error) bool {
	t, ok := target.(*gatewayError)
	return ok && t.Message == e.Message
}

// etcd's errors this package branches on, by their messages in etcd's
// api/v3rpc/rpctypes/error.go.
var (
	errPermissionDenied = &gatewayError{Code: codePermissionDenied, Message: "etcdserver: permission denied"}
	errAuthFailed       = &gatewayError{Code: codeInvalidArgument, Message: "etcdserver: authentication failed, invalid user ID or password"}
	errUserEmpty        = &gatewayError{Code: codeInvalidArgument, Message: "etcdserver: user name is empty"}
	errInvalidAuthToken = &gatewayError{Code: codeUnauthenticated, Message: "etcdserver: invalid auth token"}
	errAuthOldRevision  = &gatewayError{Code: codeInvalidArgument, Message: "etcdserver: revision of auth store is old"}
	errAuthNotEnabled   = &gatewayError{Code: codeFailedPrecond, Message: "etcdserver: authentication is not enabled"}
	errNoLeader         = &gatewayError{Code: codeUnavailable, Message: "etcdserver: no leader"}
	errTooManyRequests  = &gatewayError{Code: codeUnavailable, Message: "etcdserver: too many requests"}
	errNotCapable       = &gatewayError{Code: codeUnavailable, Message: "etcdserver: not capable"}
	errCompacted        = &gatewayError{Code: codeOutOfRange, Message: "etcdserver: mvcc: required revision has been compacted"}
)

// gatewayCutOff reports whether err is the gateway's own failure to reach
// etcd's gRPC service in the same process ("connection closed",
// "connection error: desc = ..."): Unavailable, and not etcd's message.
func gatewayCutOff(err error) bool {
	var ge *gatewayError
	return errors.As(err, &ge) && ge.Code == codeUnavailable && ge.Status != 0 && !strings.HasPrefix(ge.Message, "etcdserver:")
}

// knownErrors are the errors a watch's cancel reason is matched against.
var knownErrors = []*gatewayError{errPermissionDenied, errAuthFailed, errUserEmpty, errInvalidAuthToken,
	errAuthOldRevision, errNoLeader, errCompacted}

// tokenRejected reports whether err says the auth token is no longer
// good: etcd's simple tokens expire (--auth-token-ttl, 300 s by default),
// and a change to users or roles makes every token old.
func tokenRejected(err error) bool {
	return errors.Is(err, errInvalidAuthToken) || errors.Is(err, errAuthOldRevision)
}

// retry says after which failures a request is sent again, to the next
// endpoint, until its context ends.
type retry int

const (
	// retryAlways: reads, and lease grants and keep-alives, which change
	// nothing when repeated (a second grant makes a lease that expires).
	retryAlways retry = iota
	// retryUnsent: writes, only when etcd did not receive them: the
	// connection was never made, or etcd refused before acting.
	retryUnsent
)

// retryable reports whether a request that failed with err may be sent
// again under policy r.
func retryable(err error, r retry) bool {
	var ge *gatewayError
	if errors.As(err, &ge) {
		if errors.Is(err, errNoLeader) || errors.Is(err, errTooManyRequests) || errors.Is(err, errNotCapable) {
			return true
		}
		return r == retryAlways && (ge.Code == codeUnavailable || ge.Status >= 500 && ge.Code == 0)
	}
	if !isTransport(err) {
		return false
	}
	return r == retryAlways || unsent(err)
}

// isTransport reports whether err is the connection's failure, not an
// answer's.
func isTransport(err error) bool {
	var ge *gatewayError
	var ae *answerError
	return !errors.As(err, &ge) && !errors.As(err, &ae)
}

// unsent reports whether a transport error happened before the request
// was sent: connecting failed.
func unsent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// answerError is an answer that could not be used: too large, or not the
// JSON it should be. Sending the request again would not help.
type answerError struct{ err error }

func (e *answerError) Error() string { return e.err.Error() }
func (e *answerError) Unwrap() error { return e.err }

// errTooLarge: an answer was larger than maxResponseBytes.
var errTooLarge = errors.New("answer too large")

// streamed is an answer of a streaming call (lease keep-alive, watch),
// whose error comes inside the 200 answer's body.
type streamed interface{ streamErr() error }

// streamError is an error inside a stream, in grpc-gateway's form.
type streamError struct {
	GRPCCode   int    `json:"grpc_code"`
	HTTPCode   int    `json:"http_code"`
	Message    string `json:"message"`
	HTTPStatus string `json:"http_status"`
}

func (e *streamError) err() error {
	if e == nil {
		return nil
	}
	return &gatewayError{Code: e.GRPCCode, Message: e.Message, Status: e.HTTPCode}
}

// call posts in as JSON to path on an endpoint and decodes the answer
// into out. Failures that r allows are retried on the next endpoint,
// with a growing pause, until ctx ends; a rejected auth token is renewed
// once. ctx bounds the whole call.
func (c *Client) call(ctx context.Context, path string, in, out any, r retry) error {
	body, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("etcd: encode %T: %v", in, err))
	}
	delay := 25 * time.Millisecond
	renewed := false
	var last error
	for {
		tok, err := c.authToken(ctx)
		if err != nil {
			return err
		}
		ep := c.endpoint()
		err = c.post(ctx, ep, path, body, tok, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return gaveUp(ctx, last, err)
		}
		if tokenRejected(err) && c.user != "" && !renewed {
			if err := c.renewToken(ctx, tok); err != nil {
				return err
			}
			renewed = true
			continue
		}
		if !retryable(err, r) {
			if isTransport(err) {
				err = fmt.Errorf("%w (the connection broke after the request was sent: etcd may have carried it out)", err)
			}
			return err
		}
		last = err
		if !c.backOff(ctx, ep, &delay) {
			return gaveUp(ctx, last, nil)
		}
	}
}

// gaveUp is the error of a call whose context ended: the context's
// error, and what the tries before got.
func gaveUp(ctx context.Context, last, err error) error {
	if last == nil && err != nil && !errors.Is(err, ctx.Err()) {
		last = err
	}
	if last == nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w, last try: %w", ctx.Err(), last)
}

// post sends one request to endpoint ep and decodes its answer.
func (c *Client) post(ctx context.Context, ep, path string, body []byte, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep+path, bytes.NewReader(body))
	if err != nil {
		return &answerError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return unwrapURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	if err := decodeBounded(resp.Body, out); err != nil {
		return err
	}
	if s, ok := out.(streamed); ok {
		return s.streamErr()
	}
	return nil
}

// unwrapURL drops net/http's "Post URL:" from an error: the messages
// name the endpoints already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readError turns an answer other than 200 into a gatewayError.
func readError(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	if err != nil {
		return err
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	if json.Unmarshal(b, &e) != nil || e.Message == "" && e.Error == "" {
		text := strings.TrimSpace(string(b))
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		return &gatewayError{Status: resp.StatusCode, Message: fmt.Sprintf("HTTP %s: %q", resp.Status, text)}
	}
	if e.Message == "" {
		e.Message = e.Error
	}
	return &gatewayError{Code: e.Code, Message: e.Message, Status: resp.StatusCode}
}

// capReader reads at most n bytes from r and fails with errTooLarge
// after them.
type capReader struct {
	r    io.Reader
	n    int64
	over bool
	err  error // r's error, other than EOF
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// decodeBounded decodes one JSON answer of at most maxResponseBytes from
// r into out.
func decodeBounded(r io.Reader, out any) error {
	cr := &capReader{r: r, n: maxResponseBytes}
	if err := json.NewDecoder(cr).Decode(out); err != nil {
		switch {
		case cr.over:
			return &answerError{fmt.Errorf("%w: more than %d MiB", errTooLarge, maxResponseBytes>>20)}
		case cr.err != nil:
			return cr.err // the connection failed
		}
		return &answerError{fmt.Errorf("undecodable answer: %w", err)}
	}
	return nil
}

// readLine reads one line of a stream, of at most maxResponseBytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if int64(len(line)+len(chunk)) > maxResponseBytes {
			return nil, &answerError{fmt.Errorf("%w: a message of more than %d MiB", errTooLarge, maxResponseBytes>>20)}
		}
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}

// endpoint returns the URL of the endpoint in use, without a trailing
// slash.
func (c *Client) endpoint() string { return c.urls[int(c.ep.Load())%len(c.urls)] }

// nextEndpoint moves on from ep to the next endpoint, unless another
// request moved on already.
// backOff moves on from endpoint ep and waits delay, doubled for next
// time up to 500 ms; false when ctx ended first.
func (c *Client) backOff(ctx context.Context, ep string, delay *time.Duration) bool {
	c.nextEndpoint(ep)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*delay):
	}
	*delay = min(2**delay, 500*time.Millisecond)
	return true
}

func (c *Client) nextEndpoint(ep string) {
	i := c.ep.Load()
	if c.urls[int(i)%len(c.urls)] == ep {
		c.ep.CompareAndSwap(i, (i+1)%uint32(len(c.urls)))
	}
}

// authToken returns the token requests carry: "" without a user name,
// and a new one when there is none yet.
func (c *Client) authToken(ctx context.Context) (string, error) {
	if c.user == "" {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.authed {
		if err := c.authenticate(ctx); err != nil {
			return "", err
		}
	}
	return c.token, nil
}

// renewToken gets a new token in place of old, unless another request
// renewed it already.
func (c *Client) renewToken(ctx context.Context, old string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authed && c.token != old {
		return nil
	}
	return c.authenticate(ctx)
}

// authenticate logs in with the user name and password; c.mu is held.
func (c *Client) authenticate(ctx context.Context) error {
	in := struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}{c.user, c.password}
	var out struct {
		Token string `json:"token"`
	}
	body, _ := json.Marshal(in)
	delay := 25 * time.Millisecond
	var last error
	for {
		ep := c.endpoint()
		err := c.post(ctx, ep, "/v3/auth/authenticate", body, "", &out)
		switch {
		case err == nil:
			c.token, c.authed = out.Token, true
			return nil
		case errors.Is(err, errAuthNotEnabled):
			// As clientv3: requests go without a token.
			c.token, c.authed = "", true
			return nil
		case ctx.Err() != nil:
			return gaveUp(ctx, last, err)
		case !retryable(err, retryAlways):
			return err
		}
		last = err
		if !c.backOff(ctx, ep, &delay) {
			return gaveUp(ctx, last, nil)
		}
	}
}
