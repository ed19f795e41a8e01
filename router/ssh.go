// Routers administered over SSH: netplan42 logs in to the router and
// writes the port forwards into the router's own firewall configuration.
//
// References:
//   - RFC 4251-4254, the SSH protocol; golang.org/x/crypto/ssh speaks it.
//   - OpenSSH sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT", which
//     golang.org/x/crypto/ssh/knownhosts reads; ssh-keygen(1) -F, -R, -l.
//
// The transport is one SSH connection, dialed by the probe and reused for
// every command of a plan or apply (dialed again when the router dropped
// it). Each command runs in its own session with a deadline, and its
// output is read up to a limit: a router that talks for ever, or never
// answers, costs a bounded wait and memory. Commands are fixed strings
// netplan42 writes; what varies (rule sets, uci batches) goes on standard
// input, never through the router's shell. The flavors (sshlinux.go,
// sshopenwrt.go) parse what the router prints with strict parsers.

package router

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/netplan42/netplan42/schema"
)

// SSHConfig says how to log in to a router administered over SSH
// (schema.ViaSSH).
type SSHConfig struct {
	Host string // IP address or DNS name
	Port uint16 // 0 means 22
	User string // "" means root
	// IdentityFile is the private key to log in with; "" means the SSH
	// agent (SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
	// A leading "~/" is the home directory.
	IdentityFile string
	// KnownHosts is the known_hosts file the router's host key must be
	// in; "" means ~/.ssh/known_hosts.
	KnownHosts string
	// AcceptNewHostKey trusts a host key the known_hosts file holds none
	// for (trust on first use) and appends it there. A changed key is
	// refused all the same.
	AcceptNewHostKey bool
	Flavor           schema.SSHFlavor
	// DialTimeout bounds connecting and logging in; 0 means
	// DefaultSSHDialTimeout. CommandTimeout bounds each command; 0 means
	// DefaultSSHCommandTimeout.
	DialTimeout, CommandTimeout time.Duration

	// dial, when set, connects instead of a net.Dialer (tests: from a
	// lab namespace).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Timeouts and limits of the SSH transport. A reload of a router's
// firewall takes seconds on a small router; the dial covers the TCP
// connect, key exchange and login.
const (
	DefaultSSHDialTimeout    = 10 * time.Second
	DefaultSSHCommandTimeout = 60 * time.Second
	// sshMaxOutput bounds what one command may print: a router's whole
	// nftables rule set or firewall config is far less.
	sshMaxOutput = 8 << 20
	// sshMaxStderr bounds what is kept of a command's error output.
	sshMaxStderr = 64 << 10
)

// sshIdleTimeout closes a connection no command used for this long: a
// Router nobody closes holds no connection for ever, and the next
// command dials again. A variable for tests.
var sshIdleTimeout = 2 * time.Minute

func sshHost(c *SSHConfig) string {
	if c == nil {
		return ""
	}
	return c.Host
}

// addr returns host:port to dial.
func (c *SSHConfig) addr() string {
	port := c.Port
	if port == 0 {
		port = schema.DefaultSSHPort
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(int(port)))
}

func (c *SSHConfig) user() string {
	if c.User == "" {
		return schema.DefaultSSHUser
	}
	return c.User
}

func (c *SSHConfig) dialTimeout() time.Duration {
	if c.DialTimeout > 0 {
		return c.DialTimeout
	}
	return DefaultSSHDialTimeout
}

func (c *SSHConfig) commandTimeout() time.Duration {
	if c.CommandTimeout > 0 {
		return c.CommandTimeout
	}
	return DefaultSSHCommandTimeout
}

// expandHome turns a leading "~/" into the home directory.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return filepath.Join(home, p[1:]), nil
}

// knownHostsPath returns the known_hosts file c names, expanded.
func (c *SSHConfig) knownHostsPath() (string, error) {
	p := c.KnownHosts
	if p == "" {
		p = "~/.ssh/known_hosts"
	}
	return expandHome(p)
}

// HostKeyError says the router's host key is not the one known_hosts
// holds for it, or that known_hosts holds none. Nothing was sent to the
// router.
type HostKeyError struct {
	Addr        string // host:port dialed
	KnownHosts  string // the file
	Fingerprint string // SHA256 fingerprint of the key the router showed
	KeyType     string
	// Changed is set when known_hosts holds another key for the host, at
	// Line; otherwise it holds none.
	Changed bool
	Line    int
	Revoked bool
}

func (e *HostKeyError) Error() string {
	host, _, _ := net.SplitHostPort(e.Addr)
	switch {
	case e.Revoked:
		return fmt.Sprintf("ssh %s: the router's host key %s %s is marked revoked in %s; not logging in", e.Addr, e.KeyType, e.Fingerprint, e.KnownHosts)
	case e.Changed:
		return fmt.Sprintf("ssh %s: HOST KEY CHANGED: the router showed %s %s, but %s line %d holds another key for it; not logging in. "+
			"Either the router was reinstalled or its keys regenerated, or someone is between you and it. "+
			"Check the fingerprint on the router's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, or on OpenWrt dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key); "+
			"only when it matches, remove the old key with ssh-keygen -R %s -f %s and log in once with ssh to add the new one",
			e.Addr, e.KeyType, e.Fingerprint, e.KnownHosts, e.Line, host, e.KnownHosts)
	}
	return fmt.Sprintf("ssh %s: the router's host key %s %s is not in %s; not logging in. "+
		"Check the fingerprint on the router's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, or on OpenWrt dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key), "+
		"then add the key by logging in once with ssh %s@%s, or set known_hosts to a file that holds it",
		e.Addr, e.KeyType, e.Fingerprint, e.KnownHosts, schema.DefaultSSHUser, host)
}

// hostKeyCheck returns the callback that checks the router's host key
// against c's known_hosts file, and the key algorithms that file holds
// for the router (the client asks for those, so a router with several
// keys shows one that can be checked).
func hostKeyCheck(c *SSHConfig) (ssh.HostKeyCallback, []string, error) {
	path, err := c.knownHostsPath()
	if err != nil {
		return nil, nil, err
	}
	if c.AcceptNewHostKey {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, nil, err
		}
		f.Close()
	}
	kh, err := knownhosts.New(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("ssh %s: known_hosts file %s does not exist: log in to the router once with ssh to record its host key (after checking its fingerprint), or set known_hosts", c.addr(), path)
		}
		return nil, nil, fmt.Errorf("ssh %s: reading known_hosts: %w", c.addr(), err)
	}
	var mu sync.Mutex
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := kh(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		hk := &HostKeyError{Addr: c.addr(), KnownHosts: path, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type()}
		switch {
		case errors.As(err, &re):
			hk.Revoked = true
			return hk
		case errors.As(err, &ke) && len(ke.Want) > 0:
			hk.Changed, hk.Line = true, ke.Want[0].Line
			return hk
		case errors.As(err, &ke) && c.AcceptNewHostKey:
			mu.Lock()
			defer mu.Unlock()
			line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, werr := fmt.Fprintln(f, line)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			return werr
		case errors.As(err, &ke):
			return hk
		}
		return err
	}
	return cb, knownAlgorithms(kh, c.addr()), nil
}

// preferredHostKeyAlgorithms are asked for when known_hosts holds no key
// of the router (its key is new: refused, or trusted with
// AcceptNewHostKey): Ed25519 first. Dropbear 2022.83 with only an Ed25519
// host key still takes an RSA algorithm offered first and then fails an
// assertion (seen in the lab: "Failed assertion (rsa.c:164)").
var preferredHostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// knownAlgorithms returns the host key algorithms kh holds keys of for
// addr, by showing it a throwaway key: its KeyError lists them.
func knownAlgorithms(kh ssh.HostKeyCallback, addr string) []string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	remote := &net.TCPAddr{}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			p, _ := strconv.Atoi(port)
			remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(p)))
		}
	}
	var ke *knownhosts.KeyError
	if !errors.As(kh(addr, remote, k), &ke) || len(ke.Want) == 0 {
		return preferredHostKeyAlgorithms
	}
	var algos []string
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// authMethods returns how to log in: the identity file when c names one,
// the agent's keys, then the default key files that are not encrypted.
// done closes the agent connection.
func authMethods(c *SSHConfig) (methods []ssh.AuthMethod, done func(), err error) {
	done = func() {}
	var signers []ssh.Signer
	if c.IdentityFile != "" {
		p, err := expandHome(c.IdentityFile)
		if err != nil {
			return nil, done, err
		}
		s, err := readSigner(p)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				return nil, done, fmt.Errorf("ssh: identity_file %s is protected by a passphrase: load it into the SSH agent (ssh-add %s) and leave identity_file out", p, p)
			}
			return nil, done, fmt.Errorf("ssh: identity_file: %w", err)
		}
		signers = append(signers, s)
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
			done = func() { conn.Close() }
			if ss, err := agent.NewClient(conn).Signers(); err == nil {
				signers = append(signers, ss...)
			}
		}
	}
	if c.IdentityFile == "" {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p, err := expandHome("~/.ssh/" + name)
			if err != nil {
				break
			}
			if s, err := readSigner(p); err == nil {
				signers = append(signers, s)
			}
		}
	}
	if len(signers) == 0 {
		done()
		return nil, func() {}, errors.New("ssh: no key to log in with: set identity_file, or run an SSH agent holding the router's key (SSH_AUTH_SOCK), or create ~/.ssh/id_ed25519")
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, done, nil
}

func readSigner(path string) (ssh.Signer, error) {
	b, err := readBounded(path, 1<<20)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, err
}

// errSSHDropped is what a command's error wraps when the connection
// ended before the command's exit status came: it may or may not have
// run. It is also planner.ErrNoAnswer.
var errSSHDropped = fmt.Errorf("ssh connection dropped: %w", ErrTimeout)

// sshConn is one SSH connection to a router, reused for every command
// and dialed again after the router dropped it. Its methods are safe
// for concurrent use.
type sshConn struct {
	cfg SSHConfig

	mu     sync.Mutex
	client *ssh.Client
	idle   *time.Timer // closes client after sshIdleTimeout unused
	dials  int         // how many times it connected, for tests
}

// used restarts the idle timer of client.
func (c *sshConn) used(client *ssh.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != client {
		return
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	c.idle = time.AfterFunc(sshIdleTimeout, func() { c.drop(client) })
}

// dialSSH connects and logs in to the router c names, checking its host
// key first.
func dialSSH(ctx context.Context, c SSHConfig) (*sshConn, error) {
	conn := &sshConn{cfg: c}
	if _, err := conn.get(ctx); err != nil {
		return nil, err
	}
	return conn, nil
}

// get returns the connection, dialing it when there is none.
func (c *sshConn) get(ctx context.Context) (*ssh.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	cb, algos, err := hostKeyCheck(&c.cfg)
	if err != nil {
		return nil, err
	}
	auth, done, err := authMethods(&c.cfg)
	if err != nil {
		return nil, err
	}
	defer done()
	addr := c.cfg.addr()
	dctx, cancel := context.WithTimeout(ctx, c.cfg.dialTimeout())
	defer cancel()
	dial := (&net.Dialer{}).DialContext
	if c.cfg.dial != nil {
		dial = c.cfg.dial
	}
	tcp, err := dial(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	// The handshake and login are bounded by the same deadline.
	stop := context.AfterFunc(dctx, func() { tcp.SetDeadline(time.Now()) })
	cc, chans, reqs, err := ssh.NewClientConn(tcp, addr, &ssh.ClientConfig{
		User:              c.cfg.user(),
		Auth:              auth,
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
		Timeout:           c.cfg.dialTimeout(),
	})
	if !stop() || err != nil {
		tcp.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if err == nil || dctx.Err() != nil {
			return nil, fmt.Errorf("ssh %s: no login within %s: %w", addr, c.cfg.dialTimeout(), ErrTimeout)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh %s: the router refused the key(s) for user %s: add the public key to the router's authorized keys (OpenWrt: /etc/dropbear/authorized_keys), or set identity_file: %w", addr, c.cfg.user(), err)
		}
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	tcp.SetDeadline(time.Time{})
	c.client = ssh.NewClient(cc, chans, reqs)
	c.dials++
	return c.client, nil
}

// drop forgets client (when it is still the connection) and closes it.
func (c *sshConn) drop(client *ssh.Client) {
	c.mu.Lock()
	if c.client == client {
		c.client = nil
	}
	c.mu.Unlock()
	client.Close()
}

// Close closes the connection.
func (c *sshConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return nil
	}
	err := c.client.Close()
	c.client = nil
	return err
}

// CommandError is a router command that ran and failed.
type CommandError struct {
	Command string
	Status  int
	Stderr  string // what it printed on standard error, cleaned for display
}

func (e *CommandError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("router command %q exited with status %d", e.Command, e.Status)
	}
	return fmt.Sprintf("router command %q exited with status %d: %s", e.Command, e.Status, e.Stderr)
}

// run runs cmd on the router with stdin (nil: none) and returns its
// standard output. A command that fails is a *CommandError; one whose
// connection dropped wraps errSSHDropped (and the connection is dialed
// again next time); one that outlives the command timeout or ctx wraps
// ErrTimeout; output beyond sshMaxOutput is an error.
func (c *sshConn) run(ctx context.Context, cmd string, stdin []byte) ([]byte, error) {
	client, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	defer c.used(client)
	sess, err := client.NewSession()
	if err != nil {
		c.drop(client)
		return nil, fmt.Errorf("ssh %s: %q: %w (%v)", c.cfg.addr(), cmd, errSSHDropped, err)
	}
	defer sess.Close()
	stdout := &capWriter{max: sshMaxOutput, over: make(chan struct{})}
	stderr := &capWriter{max: sshMaxStderr, quiet: true, over: make(chan struct{})}
	sess.Stdout, sess.Stderr = stdout, stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	if err := sess.Start(cmd); err != nil {
		c.drop(client)
		return nil, fmt.Errorf("ssh %s: %q: %w (%v)", c.cfg.addr(), cmd, errSSHDropped, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	timer := time.NewTimer(c.cfg.commandTimeout())
	defer timer.Stop()
	select {
	case err = <-done:
	case <-stdout.over:
		sess.Close()
		return nil, fmt.Errorf("ssh %s: %q printed more than %d bytes; not reading on", c.cfg.addr(), cmd, sshMaxOutput)
	case <-timer.C:
		// A command that hangs may hold the connection up too: start over.
		c.drop(client)
		return nil, fmt.Errorf("ssh %s: %q did not finish within %s: %w", c.cfg.addr(), cmd, c.cfg.commandTimeout(), ErrTimeout)
	case <-ctx.Done():
		c.drop(client)
		return nil, fmt.Errorf("ssh %s: %q: %w", c.cfg.addr(), cmd, ctx.Err())
	}
	if stdout.exceeded() {
		return nil, fmt.Errorf("ssh %s: %q printed more than %d bytes; not reading on", c.cfg.addr(), cmd, sshMaxOutput)
	}
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return stdout.buf.Bytes(), nil
	case errors.As(err, &exit) && exit.Signal() == "":
		return stdout.buf.Bytes(), &CommandError{Command: cmd, Status: exit.ExitStatus(), Stderr: cleanText(stderr.buf.Bytes(), 600)}
	case errors.As(err, &exit):
		return nil, &CommandError{Command: cmd, Status: -1, Stderr: "killed by signal " + cleanText([]byte(exit.Signal()), 20)}
	}
	// No exit status: the connection ended under the command.
	c.drop(client)
	return nil, fmt.Errorf("ssh %s: %q: %w (%v)", c.cfg.addr(), cmd, errSSHDropped, err)
}

// capWriter keeps up to max bytes; beyond that it keeps nothing more,
// and, unless quiet, signals over and fails the write so the session
// stops.
type capWriter struct {
	max   int
	quiet bool
	buf   bytes.Buffer
	once  sync.Once
	over  chan struct{}
	mu    sync.Mutex
	full  bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - w.buf.Len()
	if len(p) <= room {
		w.buf.Write(p)
		return len(p), nil
	}
	w.buf.Write(p[:max(room, 0)])
	if w.quiet {
		return len(p), nil
	}
	w.full = true
	w.once.Do(func() { close(w.over) })
	return 0, errors.New("output limit reached")
}

func (w *capWriter) exceeded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.full
}

// cleanText makes router output safe to show: printable characters only,
// one line, at most n bytes.
func cleanText(b []byte, n int) string {
	var sb strings.Builder
	for _, r := range strings.TrimSpace(string(b)) {
		if sb.Len() >= n {
			sb.WriteString("…")
			break
		}
		switch {
		case r == '\n' || r == '\t':
			sb.WriteByte(' ')
		case r < 0x20 || r == 0x7f || r == 0xfffd:
			sb.WriteByte('?')
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}
