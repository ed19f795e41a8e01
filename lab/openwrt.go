//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The OpenWrt kit (../shared/openwrt next to the repository, see its
// README.md) builds OpenWrt's uci, ucode and firewall4 from source and
// runs them, with dropbear, in a router namespace. A plain clone of the
// repository lacks it: tests that need it skip saying so, except under
// NETPLAN42_LAB=required, where they fail.

// OpenWrtKitEnv names the kit's directory when it is not ../shared/openwrt
// of the module root.
const OpenWrtKitEnv = "NETPLAN42_OPENWRT_KIT"

// OpenWrtKit returns the kit's directory, or why there is none.
func OpenWrtKit() (dir, why string) {
	if d := os.Getenv(OpenWrtKitEnv); d != "" {
		return d, ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err.Error()
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			kit := filepath.Join(filepath.Dir(d), "shared", "openwrt")
			if _, err := os.Stat(filepath.Join(kit, "router.sh")); err != nil {
				return "", fmt.Sprintf("the OpenWrt kit is not at %s (a plain clone has none; set %s)", kit, OpenWrtKitEnv)
			}
			return kit, ""
		}
		if filepath.Dir(d) == d {
			return "", "no go.mod above " + wd
		}
	}
}

// RequireOpenWrt is Require for tests that need the OpenWrt kit: it
// returns the kit's directory, and builds the kit into a cached prefix
// once per process (OpenWrtPrefix).
func RequireOpenWrt(t testing.TB) (kit, prefix string) {
	t.Helper()
	Require(t)
	kit, why := OpenWrtKit()
	if why != "" {
		if Mode() == "required" {
			t.Fatalf("lab test cannot run and NETPLAN42_LAB=required: %s", why)
		}
		t.Skipf("lab test skipped: %s", why)
	}
	prefix, err := BuildOpenWrt(kit)
	if err != nil {
		t.Fatal(err)
	}
	return kit, prefix
}

var buildOnce struct {
	sync.Mutex
	prefix string
}

// OpenWrtPrefix is where the kit is built: $XDG_CACHE_HOME (or
// /var/cache) /netplan42-openwrt/prefix, outside the repository, kept
// between runs; build.sh leaves an up-to-date prefix alone.
func OpenWrtPrefix() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		base = "/var/cache"
	}
	return filepath.Join(base, "netplan42-openwrt", "prefix")
}

// BuildOpenWrt runs the kit's build.sh into OpenWrtPrefix once per
// process (a no-op when the prefix is up to date; build.sh serializes
// concurrent builds) and returns the prefix.
func BuildOpenWrt(kit string) (string, error) {
	buildOnce.Lock()
	defer buildOnce.Unlock()
	if buildOnce.prefix != "" {
		return buildOnce.prefix, nil
	}
	prefix := OpenWrtPrefix()
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(kit, "build.sh"), prefix)
	bounded(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the OpenWrt kit into %s: %v\n%s", prefix, err, tail(out, 2000))
	}
	buildOnce.prefix = prefix
	return prefix, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// StartOpenWrt starts the kit's router (fw4 and dropbear on RouterLAN:22)
// in the lab's router namespace, with a client key made for it, and
// returns when dropbear listens. The lab must have been started with
// NoDaemon. Stop, or Close of the lab, ends it.
func (l *Lab) StartOpenWrt(ctx context.Context, kit, prefix string, opt SSHOptions) (*SSHRouter, error) {
	dir, err := os.MkdirTemp(l.dir, "openwrt")
	if err != nil {
		return nil, err
	}
	s := &SSHRouter{Dir: dir}
	if s.Identity, err = NewSSHKeys(ctx, dir); err != nil {
		return nil, err
	}
	if err := s.authorize(opt); err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "router")
	logf, err := os.Create(filepath.Join(dir, "router.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.proc = l.router.Command(context.Background(), filepath.Join(kit, "router.sh"), "start",
		"-s", state, "-p", prefix, "-k", filepath.Join(dir, "authorized_keys"))
	s.proc.Stdout, s.proc.Stderr = logf, logf
	if err := s.proc.Start(); err != nil {
		return nil, fmt.Errorf("router.sh in %s: %v", l.router.Name, err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() { s.proc.Wait(); close(exited) }()
	for {
		if _, err := os.Stat(filepath.Join(state, "ready")); err == nil {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "router.log"))
			return nil, fmt.Errorf("router.sh exited: %s", tail(log, 2000))
		case <-ctx.Done():
			s.Stop()
			return nil, errors.New("router.sh not ready: " + ctx.Err().Error())
		case <-time.After(100 * time.Millisecond):
		}
	}
	pub, err := os.ReadFile(filepath.Join(state, "host_ed25519.pub"))
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.HostKey = strings.TrimSpace(string(pub))
	if err := s.writeKnownHosts(s.HostKey); err != nil {
		s.Stop()
		return nil, err
	}
	s.state = state
	s.kit = kit
	return s, nil
}

// StartOpenWrtT is StartOpenWrt for tests.
func (l *Lab) StartOpenWrtT(t testing.TB, kit, prefix string, opt SSHOptions) *SSHRouter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := l.StartOpenWrt(ctx, kit, prefix, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Exec runs cmd in an OpenWrt router's namespaces as an SSH login sees
// them (uci, fw4, /etc/config), and returns its output.
func (s *SSHRouter) Exec(ctx context.Context, l *Lab, cmd ...string) (string, error) {
	if s.state == "" {
		return l.router.Run(ctx, cmd[0], cmd[1:]...)
	}
	return l.router.Run(ctx, filepath.Join(s.kit, "router.sh"), append([]string{"exec", s.state}, cmd...)...)
}
