package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

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

// Client is a connection to the backend's etcd cluster.
type Client struct {
	cli       *clientv3.Client
	prefix    string
	endpoints []string
	// LockTTL is the lease of lock holders; DefaultLockTTL unless set.
	LockTTL time.Duration
}

// Dial connects to the backend's cluster. Username and password come from
// NETPLAN42_ETCD_USERNAME and NETPLAN42_ETCD_PASSWORD. Connecting is lazy:
// an unreachable cluster is reported by the first request.
func Dial(be *schema.Backend) (*Client, error) {
	if be == nil || be.Kind != schema.BackendEtcd {
		return nil, fmt.Errorf("etcd: no etcd backend configured")
	}
	cfg := clientv3.Config{
		Endpoints:            be.Endpoints,
		DialTimeout:          DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Username:             os.Getenv(schema.EnvEtcdUsername),
		Password:             os.Getenv(schema.EnvEtcdPassword),
		Logger:               zap.NewNop(),
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, fmt.Errorf("etcd: set both %s and %s, or neither", schema.EnvEtcdUsername, schema.EnvEtcdPassword)
	}
	if be.TLS != nil {
		t, err := tlsConfig(be.TLS)
		if err != nil {
			return nil, fmt.Errorf("etcd: %w", err)
		}
		cfg.TLS = t
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd at %s: %w: %w", strings.Join(be.Endpoints, ", "), err, ErrUnavailable)
	}
	return &Client{cli: cli, prefix: be.Prefix, endpoints: be.Endpoints, LockTTL: DefaultLockTTL}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.cli.Close() }

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
	if errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrAuthFailed) ||
		errors.Is(err, rpctypes.ErrUserEmpty) || errors.Is(err, rpctypes.ErrInvalidAuthToken) {
		// etcd answered: not unavailable, but not allowed.
		return fmt.Errorf("%s: %s: %w (netplan42 logs in as %s=%q; its role needs read and write on %s)",
			c, what, err, schema.EnvEtcdUsername, os.Getenv(schema.EnvEtcdUsername), c.prefix)
	}
	hint := ""
	if errors.Is(err, context.DeadlineExceeded) {
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
