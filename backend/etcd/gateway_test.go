package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// fakeGateway answers the paths of handlers as a misbehaving etcd
// gateway would; etcd 3.4.23 never produces these answers on its own,
// or only under conditions a test cannot set up (a member without a
// leader, a proxy in front of it).
func fakeGateway(t *testing.T, handlers map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := handlers[r.URL.Path]
		if !ok {
			http.Error(w, `{"error":"no such path","code":12,"message":"no such path"}`, http.StatusNotImplemented)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// answer writes status and body as the gateway does.
func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/np/networks/", "/np/networks0"},
		{"a", "b"},
		{"a\xff", "b"},
		{"a\xfe\xff", "a\xff"},
		{"\xff\xff", "\x00"},
		{"", "\x00"},
	} {
		if got := string(prefixEnd(c.in)); got != c.want {
			t.Errorf("prefixEnd(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// TestRequestJSON pins the JSON of a transaction as the gateway reads
// it: base64 keys, int64 as strings, compares with an explicit 0.
func TestRequestJSON(t *testing.T) {
	b, err := json.Marshal(txnRequest{
		Compare: []compare{createRevisionIs("k", 0), modRevisionIs("m", 7)},
		Success: []requestOp{opPut("k", "v", 0x1f), opDelete("d")},
		Failure: []requestOp{opGet(firstCreated("p/"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"compare":[{"result":"EQUAL","target":"CREATE","key":"aw==","create_revision":"0"},{"result":"EQUAL","target":"MOD","key":"bQ==","mod_revision":"7"}],` +
		`"success":[{"request_put":{"key":"aw==","value":"dg==","lease":"31"}},{"request_delete_range":{"key":"ZA=="}}],` +
		`"failure":[{"request_range":{"key":"cC8=","range_end":"cDA=","limit":"1","sort_order":"ASCEND","sort_target":"CREATE"}}]}`
	if string(b) != want {
		t.Errorf("txn JSON\n got %s\nwant %s", b, want)
	}
}

// TestGatewayErrors: what each kind of refusal becomes, and which are
// tried again.
func TestGatewayErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		status    int
		body      string
		write     bool   // a transaction, else a read
		wantIn    string // in the error
		wantIs    error
		wantTries int // 0: tried until the deadline
		denied    bool
	}{
		{name: "permission denied", status: 403, body: `{"error":"etcdserver: permission denied","message":"etcdserver: permission denied","code":7}`,
			wantIn: "etcdserver: permission denied (netplan42 logs in as", wantIs: errPermissionDenied, wantTries: 1, denied: true},
		{name: "user name empty", status: 400, body: `{"error":"etcdserver: user name is empty","message":"etcdserver: user name is empty","code":3}`,
			wantIn: "its role needs read and write on /np", wantIs: errUserEmpty, wantTries: 1, denied: true},
		{name: "too many operations", status: 400, write: true, body: `{"error":"etcdserver: too many operations in txn request","message":"etcdserver: too many operations in txn request","code":3}`,
			wantIn: "too many operations in txn request", wantIs: ErrUnavailable, wantTries: 1},
		{name: "proxy error on a write", status: 502, write: true, body: `<html>bad gateway</html>`,
			wantIn: `HTTP 502 Bad Gateway: "<html>bad gateway</html>"`, wantIs: ErrUnavailable, wantTries: 1},
		{name: "proxy error on a read", status: 502, body: `<html>bad gateway</html>`,
			wantIn: "context deadline exceeded, last try: HTTP 502", wantIs: context.DeadlineExceeded},
		{name: "timed out write", status: 503, write: true, body: `{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}`,
			wantIn: "etcdserver: request timed out", wantIs: ErrUnavailable, wantTries: 1},
		{name: "undecodable", status: 200, body: `{"header":`,
			wantIn: "undecodable answer", wantIs: ErrUnavailable, wantTries: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tries atomic.Int32
			h := func(w http.ResponseWriter, r *http.Request) {
				tries.Add(1)
				answer(w, c.status, c.body)
			}
			srv := fakeGateway(t, map[string]http.HandlerFunc{"/v3/kv/range": h, "/v3/kv/txn": h})
			cl := dial(t, []string{srv.URL}, "/np")
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			var err error
			if c.write {
				_, err = cl.txn(ctx, txnRequest{Success: []requestOp{opPut("/np/k", "v", 0)}})
			} else {
				_, err = cl.get(ctx, getKey("/np/k"))
			}
			err = cl.unavailable("do it", err)
			if !strings.Contains(err.Error(), c.wantIn) || !errors.Is(err, c.wantIs) {
				t.Fatalf("error %q; want it to hold %q and match %v", err, c.wantIn, c.wantIs)
			}
			if c.denied == errors.Is(err, ErrUnavailable) {
				t.Errorf("error %q: ErrUnavailable %v; want %v", err, errors.Is(err, ErrUnavailable), !c.denied)
			}
			if n := tries.Load(); c.wantTries > 0 && int(n) != c.wantTries || c.wantTries == 0 && n < 2 {
				t.Errorf("%d tries; want %d (0: until the deadline)", n, c.wantTries)
			}
			t.Log(err)
		})
	}
}

// TestNoLeaderRetried: a write etcd refused for want of a leader is sent
// again, and succeeds once there is one.
func TestNoLeaderRetried(t *testing.T) {
	var tries atomic.Int32
	srv := fakeGateway(t, map[string]http.HandlerFunc{"/v3/kv/txn": func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) < 3 {
			answer(w, 503, `{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}`)
			return
		}
		answer(w, 200, `{"header":{"revision":"9"},"succeeded":true}`)
	}})
	c := dial(t, []string{srv.URL}, "/np")
	resp, err := c.txn(context.Background(), txnRequest{Success: []requestOp{opPut("/np/k", "v", 0)}})
	if err != nil || !resp.Succeeded || resp.Header.Revision != 9 || tries.Load() != 3 {
		t.Fatalf("txn = %+v, %v after %d tries; want success at revision 9 on the third", resp, err, tries.Load())
	}
}

// TestWriteNotRepeated: a write whose connection broke after it was sent
// may have been made; it is not sent again.
func TestWriteNotRepeated(t *testing.T) {
	var tries atomic.Int32
	srv := fakeGateway(t, map[string]http.HandlerFunc{"/v3/kv/txn": func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}})
	c := dial(t, []string{srv.URL}, "/np")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.txn(ctx, txnRequest{Success: []requestOp{opPut("/np/k", "v", 0)}})
	if err == nil || tries.Load() != 1 || !strings.Contains(err.Error(), "etcd may have carried it out") {
		t.Fatalf("txn over a broken connection = %v after %d tries; want an error after one", err, tries.Load())
	}
	t.Log(err)
}

// TestOversizedAnswer: an answer that does not end is cut at
// maxResponseBytes, and so is a watch message; neither is tried again.
func TestOversizedAnswer(t *testing.T) {
	defer func(n int64) { maxResponseBytes = n }(maxResponseBytes)
	maxResponseBytes = 1 << 20
	var sent atomic.Int64
	endless := func(start string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, start)
			chunk := bytes.Repeat([]byte("QUFB"), 16<<10)
			for r.Context().Err() == nil {
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		}
	}
	srv := fakeGateway(t, map[string]http.HandlerFunc{
		"/v3/kv/range": endless(`{"header":{"revision":"1"},"kvs":[{"key":"`),
		"/v3/watch":    endless(`{"result":{"created":true}}` + "\n" + `{"result":{"events":[{"kv":{"key":"`),
	})
	c := dial(t, []string{srv.URL}, "/np")
	start := time.Now()
	_, err := c.get(context.Background(), getKey("/np/k"))
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("endless answer = %v; want errTooLarge", err)
	}
	t.Logf("%v after %s (server wrote %d KiB)", err, time.Since(start).Round(time.Millisecond), sent.Load()>>10)
	err = c.WatchReports(context.Background(), 0, func() {})
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("endless watch message = %v; want errTooLarge", err)
	}
	t.Log(err)
}

// TestSilentServer: a server that accepts and never answers costs a
// request its deadline, no more.
func TestSilentServer(t *testing.T) {
	release := make(chan struct{})
	srv := fakeGateway(t, map[string]http.HandlerFunc{"/v3/kv/range": func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}})
	defer close(release)
	c := dial(t, []string{srv.URL}, "/np")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ReadClaims(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer in time") || time.Since(start) > 2*time.Second {
		t.Fatalf("read from a silent server = %v after %s", err, time.Since(start))
	}
}

// TestTokenRenewedByFake: a token etcd rejects is renewed once and the
// request sent again; a user whose password is wrong gets the
// permission message.
func TestTokenRenewedByFake(t *testing.T) {
	var logins atomic.Int32
	var mu sync.Mutex
	valid := ""
	srv := fakeGateway(t, map[string]http.HandlerFunc{
		"/v3/auth/authenticate": func(w http.ResponseWriter, r *http.Request) {
			var in struct{ Name, Password string }
			json.NewDecoder(r.Body).Decode(&in)
			if in.Password != "s3cret" {
				answer(w, 400, `{"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3}`)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			valid = fmt.Sprintf("tok.%d", logins.Add(1))
			answer(w, 200, fmt.Sprintf(`{"header":{},"token":%q}`, valid))
		},
		"/v3/kv/range": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ok := r.Header.Get("Authorization") == valid
			mu.Unlock()
			if !ok {
				answer(w, 401, `{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}`)
				return
			}
			answer(w, 200, `{"header":{"revision":"3"}}`)
		},
	})
	t.Setenv(schema.EnvEtcdUsername, "fleet")
	t.Setenv(schema.EnvEtcdPassword, "s3cret")
	c := dial(t, []string{srv.URL}, "/np")
	if _, err := c.ReadClaims(context.Background()); err != nil || logins.Load() != 1 {
		t.Fatalf("first read = %v after %d logins; want success after one", err, logins.Load())
	}
	mu.Lock()
	valid = "expired meanwhile"
	mu.Unlock()
	if _, err := c.ReadClaims(context.Background()); err != nil || logins.Load() != 2 {
		t.Fatalf("read with an expired token = %v after %d logins; want success after a second", err, logins.Load())
	}
	t.Setenv(schema.EnvEtcdPassword, "wrong")
	bad := dial(t, []string{srv.URL}, "/np")
	_, err := bad.ReadClaims(context.Background())
	if !errors.Is(err, errAuthFailed) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), `logs in as NETPLAN42_ETCD_USERNAME="fleet"`) {
		t.Fatalf("read with a wrong password = %v; want the permission message", err)
	}
	t.Log(err)
}

// TestTokenExpires: against etcd with tokens of 1 s, a client idle for
// longer than that goes on working: it logs in again.
func TestTokenExpires(t *testing.T) {
	cl := etcdtest.StartWith(t, 1, etcdtest.Options{Args: []string{"--auth-token-ttl", "1"}})
	m := cl.Members[0]
	enableAuth(t, m.ClientURL)
	t.Setenv(schema.EnvEtcdUsername, "fleet")
	t.Setenv(schema.EnvEtcdPassword, "s3cret")
	c := dial(t, []string{m.ClientURL}, "/np")
	s := c.ComputerStore("nas")
	st := state.New("computer.nas")
	if err := s.Write(st); err != nil {
		t.Fatal(err)
	}
	first := c.token
	time.Sleep(2500 * time.Millisecond) // the token expires
	if err := s.Write(st); err != nil {
		t.Fatalf("write after the token expired: %v", err)
	}
	if c.token == first {
		t.Errorf("token %q not renewed", first)
	}
	// The watch logs in again too.
	time.Sleep(2500 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.WatchReports(ctx, 0, func() {
			select {
			case seen <- struct{}{}:
			default:
			}
		})
	}()
	if err := c.PutReport(context.Background(), "nas", []byte(`{}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("watch with an expired token ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch saw no report in 10s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v; want nil when its context ends", err)
	}
}

// TestWatchStream: the watch reads the gateway's stream of JSON lines,
// calls back for reports only, makes a broken stream again from the
// revision after the last change, and ends on compaction.
func TestWatchStream(t *testing.T) {
	var mu sync.Mutex
	var starts []string
	srv := fakeGateway(t, map[string]http.HandlerFunc{"/v3/watch": func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Create struct {
				Key           []byte `json:"key"`
				StartRevision string `json:"start_revision"`
			} `json:"create_request"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		starts = append(starts, in.Create.StartRevision)
		n := len(starts)
		mu.Unlock()
		if r.Header.Get("Grpc-Metadata-Hasleader") != "true" {
			t.Errorf("watch without the require-leader header")
		}
		w.Header().Set("Content-Type", "application/json")
		line := func(s string) {
			io.WriteString(w, s+"\n")
			w.(http.Flusher).Flush()
		}
		line(`{"result":{"header":{"revision":"10"},"created":true}}`)
		if n == 1 {
			line(`{"result":{"header":{"revision":"11"},"events":[{"kv":{"key":"L25wL2NvbXB1dGVycy9uYXMvc3RhdGU=","mod_revision":"11"}}]}}`)                 // /np/computers/nas/state
			line(`{"result":{"header":{"revision":"12"},"events":[{"type":"DELETE","kv":{"key":"L25wL2NvbXB1dGVycy9uYXMvcmVwb3J0","mod_revision":"12"}}]}}`) // /np/computers/nas/report
			return                                                                                                                                           // the connection ends: made again from 13
		}
		line(`{"result":{"header":{"revision":"14"},"canceled":true,"compact_revision":"13"}}`)
	}})
	c := dial(t, []string{srv.URL}, "/np")
	var changes atomic.Int32
	err := c.WatchReports(context.Background(), 4, func() { changes.Add(1) })
	if !errors.Is(err, errCompacted) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("watch = %v; want the compaction error", err)
	}
	t.Log(err)
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 2 || starts[0] != "5" || starts[1] != "13" {
		t.Errorf("watches started at revisions %q; want 5, then 13", starts)
	}
	if changes.Load() != 1 {
		t.Errorf("%d changes reported; want 1 (the report, not the state)", changes.Load())
	}
}

// TestWatchGivesUp: a watch whose endpoint is gone is made again until
// OpTimeout has passed without one, then ends with ErrUnavailable.
func TestWatchGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits OpTimeout: skipped with -short")
	}
	c := dial(t, []string{"http://127.0.0.1:1"}, "/np")
	start := time.Now()
	err := c.WatchReports(context.Background(), 0, func() {})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("watch of no etcd = %v; want ErrUnavailable naming the endpoint", err)
	}
	if d := time.Since(start); d < OpTimeout || d > OpTimeout+3*time.Second {
		t.Errorf("gave up after %s; want about %s", d, OpTimeout)
	}
	t.Log(err)
}

// TestEndpointFailover: an endpoint that refuses connections is passed
// over, for reads and writes alike.
func TestEndpointFailover(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{"http://127.0.0.1:1", m.ClientURL}, "/np")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s := c.ComputerStore("nas")
	s.ctx = ctx
	if err := s.Write(state.New("computer.nas")); err != nil {
		t.Fatalf("write with the first endpoint down: %v", err)
	}
	if _, err := c.ReadClaims(ctx); err != nil {
		t.Fatalf("read with the first endpoint down: %v", err)
	}
}

// TestLockCompatibleWithConcurrency: a lock taken through etcd's own
// concurrency.Mutex on the documented key keeps this package's holders
// out, and the other way round.
func TestLockCompatibleWithConcurrency(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	s := c.ComputerStore("nas")
	ctx := context.Background()
	theirs := newConcurrencyMutex(t, rawClient(t, c), "/np/computers/nas/lock")
	if err := theirs.TryLock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true}); !errors.As(err, new(*state.LockedError)) {
		t.Fatalf("lock while concurrency.Mutex holds it = %v; want LockedError", err)
	}
	if _, err := s.Lock(ctx, state.LockInfo{Operation: "plan"}); !errors.As(err, new(*state.LockedError)) {
		t.Fatalf("shared lock while concurrency.Mutex holds it = %v; want LockedError", err)
	}
	if err := theirs.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	again := newConcurrencyMutex(t, rawClient(t, c), "/np/computers/nas/lock")
	if err := again.TryLock(ctx); !errors.Is(err, errConcurrencyLocked) {
		t.Fatalf("concurrency.Mutex TryLock while this package holds the lock = %v; want ErrLocked", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := again.TryLock(ctx); err != nil {
		t.Fatalf("concurrency.Mutex TryLock after unlock: %v", err)
	}
}

// TestLockKeptAlive: a lock held for several times its lease stays held,
// and frees at once on unlock.
func TestLockKeptAlive(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	c.LockTTL = time.Second
	ctx := context.Background()
	unlock, err := c.ComputerStore("nas").Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	other := dial(t, []string{m.ClientURL}, "/np").ComputerStore("nas")
	if _, err := other.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true}); !errors.As(err, new(*state.LockedError)) {
		t.Fatalf("lock after 3.5 leases of 1s = %v; want still held", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	u2, err := other.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	u2()
}
