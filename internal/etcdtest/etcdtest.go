package etcdtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is the etcd server the tests run; Debian's etcd-server installs
// it as /usr/bin/etcd.
const Binary = "etcd"

// Package is the Debian package that ships Binary.
const Package = "etcd-server"

// HealthTimeout bounds how long Start waits for a member to be healthy.
const HealthTimeout = 20 * time.Second

// Available reports why etcd tests cannot run here, or "" when they can.
func Available() string {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Sprintf("%s not found on PATH (apt-get install %s)", Binary, Package)
	}
	return ""
}

// Require skips t when etcd cannot run here, or fails it when
// NETPLAN42_LAB=required; with NETPLAN42_LAB=off it always skips.
func Require(t testing.TB) {
	t.Helper()
	switch os.Getenv("NETPLAN42_LAB") {
	case "off":
		t.Skip("etcd test: NETPLAN42_LAB=off")
	case "required":
		if why := Available(); why != "" {
			t.Fatalf("etcd test cannot run and NETPLAN42_LAB=required: %s", why)
		}
	default:
		if why := Available(); why != "" {
			t.Skipf("etcd test skipped: %s (set NETPLAN42_LAB=required to fail instead)", why)
		}
	}
}

// Member is one etcd server process.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:PORT
	PeerURL   string
	Dir       string // data directory

	cluster string // --initial-cluster
	state   string // --initial-cluster-state
	log     string
	opts    Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a set of members started together.
type Cluster struct {
	Members []*Member
	// StartupTime is how long the cluster took from the first start to
	// all members healthy.
	StartupTime time.Duration
}

// Endpoints returns the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Start starts a one-member etcd on loopback for t, waits until it is
// healthy, and returns it; it is stopped and its data removed when t ends.
func Start(t testing.TB) *Member {
	t.Helper()
	return StartCluster(t, 1).Members[0]
}

// Options say where the members run.
type Options struct {
	// Command returns the command that runs etcd with args, for running
	// it inside a network namespace on that namespace's loopback; nil runs
	// it here.
	Command func(ctx context.Context, name string, args ...string) *exec.Cmd
	// DialContext reaches a member's client port for the health check,
	// from where Command runs it; nil dials from here.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// ClientTLS, when set, serves the client port over TLS: Args give
	// etcd its certificate flags, and this is the health check's client
	// configuration.
	ClientTLS *tls.Config
	// Args are more etcd flags, for every member.
	Args []string
}

// StartCluster starts an n-member etcd cluster on loopback for t.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, Options{})
}

// StartWith is StartCluster with options.
func StartWith(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	Require(t)
	var lastErr error
	// A port found free can be taken by someone else before etcd binds
	// it; a cluster that fails to start is tried again on new ports.
	for try := 0; try < 3; try++ {
		c, err := startCluster(t, n, opts)
		if err == nil {
			return c
		}
		lastErr = err
	}
	t.Fatalf("etcd: %v", lastErr)
	return nil
}

func startCluster(t testing.TB, n int, opts Options) (*Cluster, error) {
	base := t.TempDir()
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	scheme := "http"
	if opts.ClientTLS != nil {
		scheme = "https"
	}
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			state:     "new",
			opts:      opts,
		}
		m.Dir = filepath.Join(base, m.Name)
		m.log = filepath.Join(base, m.Name+".log")
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	start := time.Now()
	for _, m := range c.Members {
		m.cluster = strings.Join(initial, ",")
		t.Cleanup(func() { m.Stop() })
		if err := m.spawn(); err != nil {
			c.stopAll()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), HealthTimeout)
	defer cancel()
	for _, m := range c.Members {
		if err := m.waitHealthy(ctx); err != nil {
			c.stopAll()
			return nil, err
		}
	}
	c.StartupTime = time.Since(start)
	t.Logf("etcd: %d member(s) healthy in %s at %s", n, c.StartupTime.Round(time.Millisecond), strings.Join(c.Endpoints(), ","))
	return c, nil
}

func (c *Cluster) stopAll() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// spawn starts the member's process.
func (m *Member) spawn() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return fmt.Errorf("etcd member %s already running", m.Name)
	}
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	command := m.opts.Command
	if command == nil {
		command = func(_ context.Context, name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	}
	cmd := command(context.Background(), Binary, append([]string{
		"--name", m.Name,
		"--data-dir", m.Dir,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", m.cluster,
		"--initial-cluster-state", m.state,
		"--initial-cluster-token", "netplan42-test",
		// No metrics or debug endpoints beyond the client port.
		"--log-level", "warn",
	}, m.opts.Args...)...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	m.cmd, m.done = cmd, done
	return nil
}

// waitHealthy polls the member's /health until it says true, ctx ends or
// the process exits.
func (m *Member) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	if m.opts.DialContext != nil || m.opts.ClientTLS != nil {
		client.Transport = &http.Transport{DialContext: m.opts.DialContext, TLSClientConfig: m.opts.ClientTLS}
	}
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", m.ClientURL+"/health", nil)
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), `"true"`) {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("member %s exited before it was healthy: %s", m.Name, m.tail())
		case <-ctx.Done():
			return fmt.Errorf("member %s not healthy at %s within %s: %s", m.Name, m.ClientURL, HealthTimeout, m.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail returns the end of the member's log, for errors.
func (m *Member) tail() string {
	b, _ := os.ReadFile(m.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop stops the member (SIGTERM, then SIGKILL after 5 s) and waits for it
// to exit. Its data directory stays, for Restart; t.TempDir removes it.
// Stopping a stopped member does nothing.
func (m *Member) Stop() {
	m.signal(false, 5*time.Second)
}

// Kill kills the member at once, as a crash would.
func (m *Member) Kill() {
	m.signal(true, 5*time.Second)
}

func (m *Member) signal(kill bool, grace time.Duration) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	stopProc(cmd, kill)
	select {
	case <-done:
	case <-time.After(grace):
		stopProc(cmd, true)
		<-done
	}
}

// Restart starts a stopped member again on its ports and data directory
// and waits until it is healthy.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	m.state = "existing"
	if err := m.spawn(); err != nil {
		t.Fatalf("etcd restart: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), HealthTimeout)
	defer cancel()
	if err := m.waitHealthy(ctx); err != nil {
		t.Fatalf("etcd restart: %v", err)
	}
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
