package router

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fakeSSHRouter is an in-process SSH server for what a real router does
// not do on request: print without end, hang, drop the connection under a
// command. Commands it knows: ok, fail, big, hang, drop.
type fakeSSHRouter struct {
	addr     string
	hostKey  ssh.Signer
	identity string // the client's private key file
}

func newFakeSSHRouter(t *testing.T) *fakeSSHRouter {
	t.Helper()
	_, hk, _ := ed25519.GenerateKey(rand.Reader)
	host, err := ssh.NewSignerFromKey(hk)
	if err != nil {
		t.Fatal(err)
	}
	cpub, ck, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(ck, "")
	if err != nil {
		t.Fatal(err)
	}
	id := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(id, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ssh.NewPublicKey(cpub)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(k.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFakeSSH(c, cfg)
		}
	}()
	return &fakeSSHRouter{addr: ln.Addr().String(), hostKey: host, identity: id}
}

func serveFakeSSH(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range creqs {
				if req.Type != "exec" {
					req.Reply(false, nil)
					continue
				}
				var p struct{ Command string }
				ssh.Unmarshal(req.Payload, &p)
				req.Reply(true, nil)
				status := uint32(0)
				switch p.Command {
				case "ok":
					ch.Write([]byte("hello\n"))
				case "fail":
					ch.Stderr().Write([]byte("boom \x1b[31mred\nsecond line"))
					status = 3
				case "big":
					chunk := bytes.Repeat([]byte("x"), 64<<10)
					for range (sshMaxOutput / len(chunk)) + 2 {
						if _, err := ch.Write(chunk); err != nil {
							break
						}
					}
				case "hang":
					time.Sleep(5 * time.Second)
				case "drop":
					sc.Close()
					return
				}
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				ch.Close()
			}
		}()
	}
}

func (f *fakeSSHRouter) config(t *testing.T, knownHosts string) SSHConfig {
	host, port, _ := net.SplitHostPort(f.addr)
	var p uint16
	for _, c := range port {
		p = p*10 + uint16(c-'0')
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	return SSHConfig{Host: host, Port: p, IdentityFile: f.identity, KnownHosts: knownHosts,
		DialTimeout: 5 * time.Second, CommandTimeout: 2 * time.Second}
}

func (f *fakeSSHRouter) knownHosts(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(f.addr)}, f.hostKey.PublicKey())
	if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSSHTransport(t *testing.T) {
	f := newFakeSSHRouter(t)
	ctx := context.Background()
	c, err := dialSSH(ctx, f.config(t, f.knownHosts(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if out, err := c.run(ctx, "ok", nil); err != nil || string(out) != "hello\n" {
		t.Errorf("ok: %q %v", out, err)
	}
	var ce *CommandError
	if _, err := c.run(ctx, "fail", nil); !errors.As(err, &ce) || ce.Status != 3 || ce.Stderr != "boom ?[31mred second line" {
		t.Errorf("fail: %v", err)
	}
	// A router that prints without end is cut off at the limit.
	if _, err := c.run(ctx, "big", nil); err == nil || !strings.Contains(err.Error(), "printed more than") {
		t.Errorf("big: %v", err)
	}
	// One that does not finish is given up on after the command timeout.
	start := time.Now()
	if _, err := c.run(ctx, "hang", nil); !errors.Is(err, ErrTimeout) || time.Since(start) > 4*time.Second {
		t.Errorf("hang: %v after %s", err, time.Since(start))
	}
	// A dropped connection: the command's fate is unknown (ErrTimeout,
	// so apply reads back), and the next command logs in again.
	if _, err := c.run(ctx, "drop", nil); !errors.Is(err, errSSHDropped) || !errors.Is(err, ErrTimeout) {
		t.Errorf("drop: %v", err)
	}
	if out, err := c.run(ctx, "ok", nil); err != nil || string(out) != "hello\n" {
		t.Errorf("ok after drop: %q %v", out, err)
	}
	if c.dials < 3 {
		t.Errorf("%d dials, want a new one after the hang and after the drop", c.dials)
	}
}

func TestSSHHostKeys(t *testing.T) {
	f := newFakeSSHRouter(t)
	ctx := context.Background()
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var hk *HostKeyError
	_, err := dialSSH(ctx, f.config(t, empty))
	if !errors.As(err, &hk) || hk.Changed || !strings.Contains(err.Error(), "is not in "+empty) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(f.hostKey.PublicKey())) {
		t.Errorf("unknown key: %v", err)
	}

	// Trust on first use only when asked, and the key is recorded.
	cfg := f.config(t, empty)
	cfg.AcceptNewHostKey = true
	c, err := dialSSH(ctx, cfg)
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	c.Close()
	cfg.AcceptNewHostKey = false
	if c, err = dialSSH(ctx, cfg); err != nil {
		t.Fatalf("after accept-new: %v", err)
	}
	c.Close()

	// A changed key is refused, also with AcceptNewHostKey.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	os2, _ := ssh.NewSignerFromKey(other)
	changed := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(changed, []byte(knownhosts.Line([]string{knownhosts.Normalize(f.addr)}, os2.PublicKey())+"\n"), 0o600)
	cfg = f.config(t, changed)
	cfg.AcceptNewHostKey = true
	_, err = dialSSH(ctx, cfg)
	if !errors.As(err, &hk) || !hk.Changed || hk.Line != 1 || !strings.Contains(err.Error(), "HOST KEY CHANGED") || !strings.Contains(err.Error(), "ssh-keygen -R 127.0.0.1") {
		t.Errorf("changed key: %v", err)
	}

	// No known_hosts file at all.
	_, err = dialSSH(ctx, f.config(t, filepath.Join(t.TempDir(), "none")))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("no known_hosts: %v", err)
	}

	// The wrong client key: the router refuses it, and the error says where keys go.
	cfg = f.config(t, f.knownHosts(t))
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(k, "")
	cfg.IdentityFile = filepath.Join(t.TempDir(), "id")
	os.WriteFile(cfg.IdentityFile, pem.EncodeToMemory(block), 0o600)
	if _, err := dialSSH(ctx, cfg); err == nil || !strings.Contains(err.Error(), "authorized keys") {
		t.Errorf("wrong key: %v", err)
	}
}

func TestSSHIdleClose(t *testing.T) {
	old := sshIdleTimeout
	sshIdleTimeout = 100 * time.Millisecond
	defer func() { sshIdleTimeout = old }()
	f := newFakeSSHRouter(t)
	ctx := context.Background()
	c, err := dialSSH(ctx, f.config(t, f.knownHosts(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.run(ctx, "ok", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	c.mu.Lock()
	idle := c.client == nil
	c.mu.Unlock()
	if !idle {
		t.Error("connection still open after the idle timeout")
	}
	if out, err := c.run(ctx, "ok", nil); err != nil || string(out) != "hello\n" || c.dials != 2 {
		t.Errorf("after idle: %q %v, %d dials", out, err, c.dials)
	}
}
