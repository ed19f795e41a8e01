//go:build linux

package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SSHPackages are the Debian packages an SSH router of the lab needs:
// OpenSSH's server (never started in the root namespace; installing it on
// a machine without systemd starts no daemon) and ssh-keygen.
var SSHPackages = []string{"openssh-server", "openssh-client"}

// SSHRouter is an SSH server in the lab's router namespace, on
// RouterLAN:22, that lets root log in with a key made for it. Its host
// key and the client key are made afresh for each SSHRouter.
type SSHRouter struct {
	Dir string
	// Identity is the client's private key file; Identity+".pub" is its
	// public key.
	Identity string
	// KnownHosts holds the router's host key for RouterLAN, as an
	// OpenSSH client would have recorded it.
	KnownHosts string
	// HostKey is the router's public host key (OpenSSH format).
	HostKey string

	proc       *exec.Cmd
	exited     chan struct{} // closed when proc has exited
	state, kit string        // an OpenWrt router's STATEDIR and kit
}

// SSHOptions change how an SSH router lets the client in.
type SSHOptions struct {
	// KeyOptions go before the client's key in authorized_keys, like
	// `command="/path/wrapper"`: OpenSSH and dropbear both read them.
	KeyOptions string
}

// SSHAvailable reports why an SSH router cannot run here, or "".
func SSHAvailable() string {
	if why := Available(); why != "" {
		return why
	}
	for _, t := range []string{"/usr/sbin/sshd", "ssh-keygen"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Sprintf("%s missing (apt-get install %s)", t, strings.Join(SSHPackages, " "))
		}
	}
	return ""
}

// RequireSSH is Require for tests that need an SSH router.
func RequireSSH(t testing.TB) {
	t.Helper()
	Require(t)
	if why := SSHAvailable(); why != "" {
		if Mode() == "required" {
			t.Fatalf("lab test cannot run and NETPLAN42_LAB=required: %s", why)
		}
		t.Skipf("lab test skipped: %s (set NETPLAN42_LAB=required to fail instead)", why)
	}
}

// NewSSHKeys makes a client key pair in dir: dir/id_ed25519(.pub).
func NewSSHKeys(ctx context.Context, dir string) (identity string, err error) {
	identity = filepath.Join(dir, "id_ed25519")
	if out, err := combined(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netplan42-lab", "-f", identity); err != nil {
		return "", fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	return identity, nil
}

// StartSSHD starts Debian's OpenSSH server in the lab's router namespace
// on RouterLAN:22 with a host key and an authorized client key made for
// it, and returns when it listens. Close of the lab (or Stop) ends it.
func (l *Lab) StartSSHD(ctx context.Context, opt SSHOptions) (*SSHRouter, error) {
	dir, err := os.MkdirTemp(l.dir, "sshd")
	if err != nil {
		return nil, err
	}
	s := &SSHRouter{Dir: dir}
	if s.Identity, err = NewSSHKeys(ctx, dir); err != nil {
		return nil, err
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := combined(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-router", "-f", hostKey); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	if err := s.authorize(opt); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	s.HostKey = strings.TrimSpace(string(pub))
	if err := s.writeKnownHosts(s.HostKey); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`ListenAddress %s:22
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
`, RouterLAN, hostKey, filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	// OpenSSH insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.proc = l.router.Command(context.Background(), "/usr/sbin/sshd", "-D", "-e", "-f", cfg)
	s.proc.Stdout, s.proc.Stderr = logf, logf
	if err := s.proc.Start(); err != nil {
		return nil, fmt.Errorf("sshd in %s: %v", l.router.Name, err)
	}
	s.exited = make(chan struct{})
	go func() { s.proc.Wait(); close(s.exited) }()
	if err := waitListening(ctx, l.router, 22); err != nil {
		s.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
		return nil, fmt.Errorf("sshd: %v; log: %s", err, log)
	}
	return s, nil
}

// StartSSHDT is StartSSHD for tests: it fails t on error and stops the
// server when the test ends.
func (l *Lab) StartSSHDT(t testing.TB, opt SSHOptions) *SSHRouter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := l.StartSSHD(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// authorize writes authorized_keys: the client's key with opt's options.
func (s *SSHRouter) authorize(opt SSHOptions) error {
	pub, err := os.ReadFile(s.Identity + ".pub")
	if err != nil {
		return err
	}
	line := strings.TrimSpace(string(pub))
	if opt.KeyOptions != "" {
		line = opt.KeyOptions + " " + line
	}
	return os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), []byte(line+"\n"), 0o600)
}

func (s *SSHRouter) writeKnownHosts(hostKey string) error {
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	return os.WriteFile(s.KnownHosts, []byte(RouterLAN.String()+" "+hostKey+"\n"), 0o600)
}

// Stop ends the server and waits until it has ended.
func (s *SSHRouter) Stop() {
	if s.proc != nil && s.proc.Process != nil {
		// router.sh stops dropbear and the router on SIGTERM.
		s.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.proc.Process.Kill()
			<-s.exited
		}
	}
}

// waitListening waits until something in ns listens on TCP port.
func waitListening(ctx context.Context, ns *Namespace, port int) error {
	for {
		out, err := ns.Run(ctx, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on port %d in %s: %w", port, ns.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DropForward gives the router an nftables firewall that drops every
// forwarded flow it does not know (table inet filter, forward policy
// drop, replies accepted), as a Linux router's own firewall does.
func (l *Lab) DropForward(ctx context.Context) error {
	return l.NFT(ctx, `table inet filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "br0" accept
	}
}
`)
}

// NFT runs an nft script in the router namespace.
func (l *Lab) NFT(ctx context.Context, script string) error {
	f, err := os.CreateTemp(l.dir, "nft-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return err
	}
	f.Close()
	_, err = l.router.Run(ctx, "nft", "-f", f.Name())
	return err
}

// DialContext connects to addr from inside the namespace, for a client
// running in this process (a test) that must reach a lab address: the
// socket is made on a thread switched into the namespace, and keeps to
// it after the thread switches back.
func (ns *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread is left locked (and so discarded when the goroutine
		// ends) when it cannot be switched back.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{nil, fmt.Errorf("setns %s: %w", ns.Name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
