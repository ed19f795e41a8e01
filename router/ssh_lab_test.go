//go:build linux

package router

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// sshLab is a lab router administered over SSH, one flavor's way.
type sshLab struct {
	l      *lab.Lab
	srv    *lab.SSHRouter
	flavor schema.SSHFlavor
	// foreign makes a forward by hand, as the router's admin would:
	// TCP 5555 to host 2.
	foreign func(t *testing.T)
	// snapshot returns what of the router's firewall is not netplan42's,
	// to compare before and after.
	snapshot func(t *testing.T) string
	// start makes another server on the same router with opt (and stops
	// the first).
	start func(t *testing.T, opt lab.SSHOptions) *lab.SSHRouter
}

func (s *sshLab) config(srv *lab.SSHRouter) Config {
	return Config{
		Protocols: []schema.Via{schema.ViaSSH},
		SSH: &SSHConfig{
			Host: lab.RouterLAN.String(), IdentityFile: srv.Identity, KnownHosts: srv.KnownHosts,
			Flavor: s.flavor, dial: s.l.Host(1).DialContext,
		},
	}
}

func linuxSSHLab(t *testing.T) *sshLab {
	lab.RequireSSH(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, NoDaemon: true})
	ctx := context.Background()
	if err := l.DropForward(ctx); err != nil {
		t.Fatal(err)
	}
	s := &sshLab{l: l, flavor: schema.FlavorLinux}
	s.srv = l.StartSSHDT(t, lab.SSHOptions{})
	s.start = func(t *testing.T, opt lab.SSHOptions) *lab.SSHRouter {
		s.srv.Stop()
		time.Sleep(300 * time.Millisecond)
		return l.StartSSHDT(t, opt)
	}
	s.foreign = func(t *testing.T) {
		if err := l.NFT(ctx, `table ip byhand {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wan0" tcp dport 5555 dnat to 192.0.2.11:5555 comment "made by hand"
	}
}
insert rule inet filter forward ip daddr 192.0.2.11 tcp dport 5555 accept comment "by hand too"
`); err != nil {
			t.Fatal(err)
		}
	}
	s.snapshot = func(t *testing.T) string {
		out := l.Router().MustRun(t, "nft", "list", "ruleset")
		// Everything but ours: our table, our chain in a foreign table
		// and the jump to it.
		if i := strings.Index(out, "table inet netplan42 {"); i >= 0 {
			end := strings.Index(out[i:], "\n}\n")
			out = out[:i] + out[i+end+3:]
		}
		if i := strings.Index(out, "\n\n\tchain netplan42 {"); i >= 0 {
			end := strings.Index(out[i:], "\n\t}\n")
			out = out[:i+1] + out[i+end+4:]
		}
		return strings.Replace(out, "\t\tjump netplan42 comment \"netplan42\"\n", "", 1)
	}
	return s
}

func openwrtSSHLab(t *testing.T) *sshLab {
	kit, prefix := lab.RequireOpenWrt(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, NoDaemon: true})
	s := &sshLab{l: l, flavor: schema.FlavorOpenWrt}
	s.srv = l.StartOpenWrtT(t, kit, prefix, lab.SSHOptions{})
	s.start = func(t *testing.T, opt lab.SSHOptions) *lab.SSHRouter {
		// router.sh keeps its state (and the firewall config) in its
		// STATEDIR; a new one starts from the stock config, so a second
		// server is started only for tests that need nothing before.
		s.srv.Stop()
		time.Sleep(time.Second)
		return l.StartOpenWrtT(t, kit, prefix, opt)
	}
	exec := func(t *testing.T, cmd ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := s.srv.Exec(ctx, l, cmd...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	s.foreign = func(t *testing.T) {
		exec(t, "sh", "-c", `set -e
s=$(uci add firewall redirect)
uci set firewall.$s.name='made by hand'
uci set firewall.$s.target=DNAT
uci set firewall.$s.src=wan
uci set firewall.$s.dest=lan
uci set firewall.$s.proto=tcp
uci set firewall.$s.src_dport=5555
uci set firewall.$s.dest_ip=192.0.2.11
uci set firewall.$s.dest_port=5555
uci commit firewall
fw4 reload`)
	}
	s.snapshot = func(t *testing.T) string {
		var keep []string
		for line := range strings.SplitSeq(exec(t, "uci", "-X", "show", "firewall"), "\n") {
			if !strings.HasPrefix(line, "firewall."+uciOurPrefix) {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
	return s
}

func TestSSHLinuxLab(t *testing.T)   { testSSHRouterLab(t, linuxSSHLab(t)) }
func TestOpenWrtSSHLab(t *testing.T) { testSSHRouterLab(t, openwrtSSHLab(t)) }

// testSSHRouterLab proves a flavor with real traffic from the lab's
// internet host: two forwards to two hosts (one to another internal
// port), a hand-made forward left as it was, a conflict refused, deletes
// that close exactly ours, a changed host key refused, and a connection
// dropped by the router right after a change read back after logging in
// again.
func testSSHRouterLab(t *testing.T, s *sshLab) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := s.l
	s.foreign(t)
	before := s.snapshot(t)
	if _, err := l.ProveForward(ctx, 2, 5555, 5555); err != nil {
		t.Fatalf("the hand-made forward does not work: %v", err)
	}

	r, err := Open(ctx, s.config(s.srv))
	if err != nil {
		t.Fatal(err)
	}
	if r.Protocol() != schema.ViaSSH {
		v, _ := r.Observe(ctx, nil)
		t.Fatalf("protocol %q, notes %v", r.Protocol(), v.Notes)
	}
	v, err := r.Observe(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("detail: %s", v.Detail)
	if !v.Listed || !v.Can.ReadsEntries || !v.Can.Describes {
		t.Errorf("view: listed %v, can %+v", v.Listed, v.Can)
	}
	if i := slices.IndexFunc(v.Mappings, func(m planner.Mapping) bool { return m.ExternalPort == 5555 }); i < 0 || v.Mappings[i].InternalAddress != lab.HostAddr(2) {
		t.Errorf("the hand-made forward is not listed: %v", v.Mappings)
	}

	m1 := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4300, InternalAddress: lab.HostAddr(1), InternalPort: 4300, Description: planner.Tag("alpha", "web"), LeaseSeconds: 7200}
	m2 := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4301, InternalAddress: lab.HostAddr(2), InternalPort: 4400, Description: planner.Tag("beta", "game")}
	for _, m := range []planner.Mapping{m1, m2} {
		g, err := r.Add(ctx, m)
		if err != nil {
			t.Fatalf("add %s: %v", m, err)
		}
		if g.Mapping.LeaseSeconds != 0 || g.Mapping.Description != m.Description {
			t.Errorf("grant %+v", g)
		}
	}
	for _, c := range []struct{ host, in, ext uint16 }{{1, 4300, 4300}, {2, 4400, 4301}, {2, 5555, 5555}} {
		from, err := l.ProveForward(ctx, int(c.host), c.in, c.ext)
		if err != nil {
			t.Fatalf("internet -> %d -> host %d:%d: %v", c.ext, c.host, c.in, err)
		}
		t.Logf("internet -> %d reached host %d:%d from %s", c.ext, c.host, c.in, from)
	}
	if got := s.snapshot(t); got != before {
		t.Errorf("foreign config changed by apply:\nbefore:\n%s\nafter:\n%s", before, got)
	}

	// Adding again is a no-op; the hand-made port is not ours to take.
	if _, err := r.Add(ctx, m1); err != nil {
		t.Errorf("add again: %v", err)
	}
	var ce *ConflictError
	if _, err := r.Add(ctx, planner.Mapping{Protocol: planner.TCP, ExternalPort: 5555, InternalAddress: lab.HostAddr(1), InternalPort: 5555, Description: planner.Tag("alpha", "x")}); !errors.As(err, &ce) {
		t.Errorf("add on the hand-made port: %v, want a conflict", err)
	}
	if err := r.Delete(ctx, planner.Mapping{Protocol: planner.TCP, ExternalPort: 5555, InternalAddress: lab.HostAddr(2), InternalPort: 5555, Description: planner.Tag("x", "y")}); !errors.Is(err, planner.ErrNotOurs) {
		t.Errorf("delete of the hand-made forward: %v, want not ours", err)
	}
	v, err = r.Observe(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []planner.Mapping{m1, m2} {
		if got, ok := find(v.Mappings, m.Key()); !ok || got != permanent(m) {
			t.Errorf("observe %s: %v %v", m.Key(), got, ok)
		}
	}

	if s.flavor == schema.FlavorOpenWrt {
		// A redirect of ours committed but not loaded (fw4 reload failed,
		// or someone committed without reloading) is no forward: observe
		// says so, and add writes and reloads it again.
		if _, err := s.srv.Exec(ctx, l, "sh", "-c", "uci set firewall.netplan42_tcp_4300.dest_port=4399 && uci commit firewall"); err != nil {
			t.Fatal(err)
		}
		v, err := r.Observe(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := find(v.Mappings, m1.Key()); ok || !slices.ContainsFunc(v.Notes, func(n string) bool { return strings.Contains(n, "not in fw4's live rules") }) {
			t.Errorf("committed, not loaded: mappings %v, notes %q", v.Mappings, v.Notes)
		}
		if _, err := r.Add(ctx, m1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ProveForward(ctx, 1, 4300, 4300); err != nil {
			t.Errorf("after writing it again: %v", err)
		}
	}

	for _, m := range []planner.Mapping{m1, m2} {
		if err := r.Delete(ctx, m); err != nil {
			t.Fatalf("delete %s: %v", m, err)
		}
	}
	// A working forward answers in milliseconds.
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	if _, err := l.ProveForward(short, 1, 4300, 4300); err == nil {
		t.Error("4300 still forwarded after delete")
	}
	if _, err := l.ProveForward(ctx, 2, 5555, 5555); err != nil {
		t.Errorf("the hand-made forward broke: %v", err)
	}
	if got := s.snapshot(t); got != before {
		t.Errorf("foreign config changed by apply and delete:\nbefore:\n%s\nafter:\n%s", before, got)
	}

	// A changed host key is refused, saying what to check.
	other := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(other, []byte(lab.RouterLAN.String()+" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFvF8OOIaXh1yU0V5Z1G8cXyO0gZxQW0H0cOV3aZx6Y1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(s.srv)
	cfg.SSH.KnownHosts = other
	_, err = sshProtocol{}.probe(ctx, endpoint{ssh: cfg.SSH}, nil)
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Changed || !strings.Contains(err.Error(), "ssh-keygen -R") || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("changed host key: %v", err)
	} else {
		t.Logf("changed host key: %v", err)
	}

	// The router drops the connection right after it made a change: the
	// driver logs in again and reads back what the router holds.
	dir := t.TempDir()
	flag := filepath.Join(dir, "drop")
	wrap := filepath.Join(dir, "wrap.sh")
	if err := os.WriteFile(wrap, fmt.Appendf(nil, `#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
"nft -f -"|*"fw4 reload")
	if [ -e %[1]s ]; then
		rm -f %[1]s
		sh -c "$SSH_ORIGINAL_COMMAND"
		kill -9 $PPID
		exit 0
	fi;;
esac
exec sh -c "$SSH_ORIGINAL_COMMAND"
`, flag), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := s.start(t, lab.SSHOptions{KeyOptions: fmt.Sprintf(`command="%s"`, wrap)})
	r2, err := Open(ctx, s.config(srv))
	if err != nil || r2.Protocol() != schema.ViaSSH {
		t.Fatalf("open: %v %v", err, r2.Protocol())
	}
	g, err := r2.Add(ctx, m1)
	if err != nil {
		t.Fatalf("add with a dropped connection: %v", err)
	}
	if _, err := os.Stat(flag); err == nil {
		t.Fatal("the router did not drop the connection")
	}
	if !strings.Contains(g.Note, "dropped") {
		t.Errorf("grant note %q", g.Note)
	}
	t.Logf("dropped mid-apply: %s", g.Note)
	if sess := r2.sess.(*sshSession); sess.c.dials != 2 {
		t.Errorf("connected %d times, want 2", sess.c.dials)
	}
	if _, err := l.ProveForward(ctx, 1, 4300, 4300); err != nil {
		t.Errorf("after the dropped connection: %v", err)
	}
	// And a delete cut off the same way.
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r2.Delete(ctx, m1); err != nil {
		t.Errorf("delete with a dropped connection: %v", err)
	}
	if _, present, err := r2.Lookup(ctx, m1.Key()); err != nil || present {
		t.Errorf("after delete: present %v, %v", present, err)
	}
}

func find(ms []planner.Mapping, k planner.MappingKey) (planner.Mapping, bool) {
	for _, m := range ms {
		if m.Key() == k {
			return m, true
		}
	}
	return planner.Mapping{}, false
}
