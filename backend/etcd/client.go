package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netplan42/netplan42/schema"
)

// Timeouts of the client; every call to etcd has one.
const (
	DialTimeout = 5 * time.Second
	// OpTimeout bounds each request: a read, a transaction, a lease grant.
	OpTimeout = 10 * time.Second
	// DefaultLockTTL is the lease of a lock holder: a holder that crashed
	// frees its lock this long after its last keep-alive.
	DefaultLockTTL = 15 * time.Second
)

// ErrUnavailable: etcd could not be reached or answered with an error, so
// nothing was read or written. Match it with errors.Is.
var ErrUnavailable = errors.New("etcd unavailable")

// Client is a connection to the backend's etcd cluster, through etcd's
// v3 JSON gateway (see gateway.go). It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	urls      []string // the endpoints without a trailing slash
	ep        atomic.Uint32
	prefix    string
	endpoints []string
	// LockTTL is the lease of lock holders; DefaultLockTTL unless set.
	LockTTL time.Duration

	user, password string
	mu             sync.Mutex // guards token and authed
	token          string
	authed         bool

	ctx    context.Context // ends at Close: lease keep-alives
	cancel context.CancelFunc
}

// Dial connects to the backend's cluster. Username and password come from
// NETPLAN42_ETCD_USERNAME and NETPLAN42_ETCD_PASSWORD. Connecting is lazy:
// an unreachable cluster is reported by the first request.
func Dial(be *schema.Backend) (*Client, error) {
	if be == nil || be.Kind != schema.BackendEtcd {
		return nil, fmt.Errorf("etcd: no etcd backend configured")
	}
	user, password := os.Getenv(schema.EnvEtcdUsername), os.Getenv(schema.EnvEtcdPassword)
	if (user == "") != (password == "") {
		return nil, fmt.Errorf("etcd: set both %s and %s, or neither", schema.EnvEtcdUsername, schema.EnvEtcdPassword)
	}
	var urls []string
	for _, e := range be.Endpoints {
		u, err := url.Parse(e)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("etcd at %s: endpoint %q is not an http:// or https:// URL: %w", strings.Join(be.Endpoints, ", "), e, ErrUnavailable)
		}
		urls = append(urls, strings.TrimRight(e, "/"))
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("etcd: no endpoints: %w", ErrUnavailable)
	}
	tr := &http.Transport{
		// The members directly, whatever HTTP_PROXY says: they are the
		// fleet's own servers.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout: DialTimeout,
			// As clientv3's keep-alive pings (10 s, then 5 s): a member
			// that vanished ends a quiet watch.
			KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3},
		}).DialContext,
		TLSHandshakeTimeout: DialTimeout,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	if be.TLS != nil {
		t, err := tlsConfig(be.TLS)
		if err != nil {
			return nil, fmt.Errorf("etcd: %w", err)
		}
		tr.TLSClientConfig = t
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		hc:   &http.Client{Transport: tr},
		urls: urls, prefix: be.Prefix, endpoints: be.Endpoints, LockTTL: DefaultLockTTL,
		user: user, password: password,
		ctx: ctx, cancel: cancel,
	}, nil
}

// Close closes the connections and stops the keep-alives of locks still
// held (their leases then expire).
func (c *Client) Close() error {
	c.cancel()
	c.hc.CloseIdleConnections()
	return nil
}

// Prefix returns the key prefix.
func (c *Client) Prefix() string { return c.prefix }

// String names the cluster in messages: "etcd at http://127.0.0.1:2379".
func (c *Client) String() string { return "etcd at " + strings.Join(c.endpoints, ", ") }

// opCtx returns a context for one request.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, OpTimeout)
}

// unavailable wraps an error from a request: what was being done, the
// endpoints, and ErrUnavailable; a refusal for lack of rights says so
// instead.
func (c *Client) unavailable(what string, err error) error {
	if errors.Is(err, errPermissionDenied) || errors.Is(err, errAuthFailed) ||
		errors.Is(err, errUserEmpty) || errors.Is(err, errInvalidAuthToken) {
		// etcd answered: not unavailable, but not allowed.
		return fmt.Errorf("%s: %s: %w (netplan42 logs in as %s=%q; its role needs read and write on %s)",
			c, what, err, schema.EnvEtcdUsername, os.Getenv(schema.EnvEtcdUsername), c.prefix)
	}
	hint := ""
	switch {
	case gatewayCutOff(err) && strings.HasPrefix(c.urls[0], "https:"):
		hint = " (etcd's JSON gateway could not reach etcd's own gRPC service: with --client-cert-auth, etcd 3.4 presents its" +
			" server certificate to itself as a client certificate, so that certificate needs the clientAuth extended key usage" +
			" as well as serverAuth)"
	case errors.Is(err, context.DeadlineExceeded):
		hint = " (no answer in time: is etcd running, reachable from here, and does it have a quorum?)"
	}
	return fmt.Errorf("%s: %s: %w%s: %w", c, what, err, hint, ErrUnavailable)
}

func tlsConfig(t *schema.BackendTLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
