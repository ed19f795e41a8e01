//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
)

// Central apply (issue 12), as an admin would run it: the built netplan42
// in LAN host 1 makes the router forward the ports of host 1 (a fixed
// port) and host 2 (port = "auto") over SSH, on a plain Linux router and
// on OpenWrt's firewall4, proven with traffic from the internet host.

type centralLab struct {
	l      *lab.Lab
	srv    *lab.SSHRouter
	flavor string
	// foreign makes a forward by hand: TCP 5555 to host 2.
	foreign func(t *testing.T)
	// snapshot is what of the router's firewall is not ours.
	snapshot func(t *testing.T) string
	// restart stops the SSH server and starts another with opt.
	restart func(t *testing.T, opt lab.SSHOptions) *lab.SSHRouter
}

func TestLabCentralApplyLinux(t *testing.T) {
	lab.RequireSSH(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, NoDaemon: true})
	ctx := context.Background()
	if err := l.DropForward(ctx); err != nil {
		t.Fatal(err)
	}
	c := &centralLab{l: l, srv: l.StartSSHDT(t, lab.SSHOptions{}), flavor: "linux"}
	c.restart = func(t *testing.T, opt lab.SSHOptions) *lab.SSHRouter {
		c.srv.Stop()
		time.Sleep(300 * time.Millisecond)
		return l.StartSSHDT(t, opt)
	}
	c.foreign = func(t *testing.T) {
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
	c.snapshot = func(t *testing.T) string {
		// Foreign tables only: ours and our hook are netplan42's.
		var keep []string
		for _, tb := range []string{"ip byhand", "inet filter"} {
			out := l.Router().MustRun(t, "nft", "list", "table", strings.Fields(tb)[0], strings.Fields(tb)[1])
			out = regexp.MustCompile(`(?s)\n\n\tchain netplan42 \{.*?\n\t\}`).ReplaceAllString(out, "")
			out = strings.Replace(out, "\t\tjump netplan42 comment \"netplan42\"\n", "", 1)
			keep = append(keep, out)
		}
		return strings.Join(keep, "")
	}
	testCentralApply(t, c)
}

func TestLabCentralApplyOpenWrt(t *testing.T) {
	kit, prefix := lab.RequireOpenWrt(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, NoDaemon: true})
	c := &centralLab{l: l, srv: l.StartOpenWrtT(t, kit, prefix, lab.SSHOptions{}), flavor: "openwrt"}
	c.restart = func(t *testing.T, opt lab.SSHOptions) *lab.SSHRouter {
		c.srv.Stop()
		time.Sleep(time.Second)
		return l.StartOpenWrtT(t, kit, prefix, opt)
	}
	exec := func(t *testing.T, cmd ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := c.srv.Exec(ctx, l, cmd...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	c.foreign = func(t *testing.T) {
		exec(t, "sh", "-c", `set -e
s=$(uci add firewall redirect)
uci set firewall.$s.name='made by hand'
uci set firewall.$s.target=DNAT
uci set firewall.$s.src=wan
uci set firewall.$s.dest=lan
uci set firewall.$s.proto=tcp
uci set firewall.$s.src_dport=5555
uci set firewall.$s.dest_ip=192.0.2.11
uci commit firewall
fw4 reload`)
	}
	c.snapshot = func(t *testing.T) string {
		var keep []string
		for line := range strings.SplitSeq(exec(t, "uci", "-X", "show", "firewall"), "\n") {
			if !strings.HasPrefix(line, "firewall.netplan42_") {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
	testCentralApply(t, c)
}

func testCentralApply(t *testing.T, c *centralLab) {
	l := c.l
	config := func(srv *lab.SSHRouter) string {
		return fmt.Sprintf(`network "office" {
  listen_ports = "4500-4510"
  router {
    protocols = ["ssh"]
    ssh {
      host          = "192.0.2.1"
      identity_file = %q
      known_hosts   = %q
      flavor        = %q
    }
  }
}

computer "alpha" {
  network = "office"
  address = "192.0.2.10"
  service "web" {
    port   = 4300
    expose = "internet"
  }
  service "admin" {
    port   = 8080
    expose = "lan"
  }
}

computer "beta" {
  network = "office"
  address = "192.0.2.11"
  service "game" {
    port   = "auto"
    expose = "internet"
  }
}
`, srv.Identity, srv.KnownHosts, c.flavor)
	}
	dir := writeConfig(t, config(c.srv))
	statePath := filepath.Join(t.TempDir(), "office.json")
	np := func(args ...string) result {
		t.Helper()
		args = append(args, "--config", dir, "--network", "office", "--state", statePath)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := l.Host(1).Command(ctx, binary, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "NETPLAN42_COMPUTER=")
		return runCmd(t, cmd, "")
	}
	// The router's way to the internet: its external address.
	l.Router().MustRun(t, "ip", "route", "add", "default", "via", l.InternetAddr().String())
	c.foreign(t)
	before := c.snapshot(t)

	p := np("plan", "--detailed-exitcode")
	p.want(t, 2, `network "office": the forwards of 2 computers on the router`, "over SSH", `+ router_mapping.web["tcp"]`, `+ router_mapping.game["tcp"]`)
	t.Logf("plan:\n%s%s", p.stdout, p.stderr)
	m := regexp.MustCompile(`assigned port (45\d\d) to computer.beta service "game"`).FindStringSubmatch(p.stderr)
	if m == nil {
		t.Fatalf("no auto port for beta in the plan:\n%s", p.stdout)
	}
	auto, _ := strconv.Atoi(m[1])

	a := np("apply", "--auto-approve")
	a.want(t, 0, "Apply complete! Resources: 2 added")
	t.Logf("apply:\n%s", a.stdout)
	ctx := context.Background()
	for _, f := range []struct {
		host int
		port uint16
	}{{1, 4300}, {2, uint16(auto)}, {2, 5555}} {
		from, err := l.ProveForward(ctx, f.host, f.port, f.port)
		if err != nil {
			t.Fatalf("internet -> %d -> host %d: %v", f.port, f.host, err)
		}
		t.Logf("internet %s -> router:%d reached host %d", from.Addr(), f.port, f.host)
	}
	if got := c.snapshot(t); got != before {
		t.Errorf("foreign forwards changed by apply:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	// status and check read the SSH router: it lists its forwards, so
	// check can say for certain which one there is.
	run := func(args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := l.Host(1).Command(ctx, binary, append(args, "--config", dir, "--computer", "alpha")...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "NETPLAN42_COMPUTER=")
		res := runCmd(t, cmd, "")
		t.Logf("$ netplan42 %s\n%s%s", strings.Join(args, " "), res.stdout, res.stderr)
		return res
	}
	st := run("status", "--state", filepath.Join(t.TempDir(), "alpha.json"))
	st.want(t, st.code, "over SSH")
	chk := run("check", "beta")
	chk.want(t, chk.code, fmt.Sprintf("the router forwards %d/tcp to 192.0.2.11:%d", auto, auto))

	second := np("plan", "--detailed-exitcode")
	second.want(t, 0, "No changes.")
	t.Logf("second plan:\n%s", second.stdout)

	d := np("destroy", "--auto-approve")
	d.want(t, 0, "Destroy complete! Resources: 0 added, 0 changed, 2 destroyed")
	t.Logf("destroy:\n%s", d.stdout)
	ctx2, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := l.ProveForward(ctx2, 1, 4300, 4300); err == nil {
		t.Error("4300 still forwarded after destroy")
	}
	if _, err := l.ProveForward(ctx, 2, 5555, 5555); err != nil {
		t.Errorf("the hand-made forward broke: %v", err)
	}
	run("check", "beta").want(t, 1, fmt.Sprintf("no mapping for %d/tcp on this network's router", auto), "LAN address from its address in the config")
	if got := c.snapshot(t); got != before {
		t.Errorf("foreign forwards changed by apply and destroy:\nbefore:\n%s\nafter:\n%s", before, got)
	}

	// A changed host key: nothing is done, and the message says what to check.
	if err := os.WriteFile(c.srv.KnownHosts, []byte("192.0.2.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFvF8OOIaXh1yU0V5Z1G8cXyO0gZxQW0H0cOV3aZx6Y1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hk := np("apply", "--auto-approve")
	hk.want(t, 1, "HOST KEY CHANGED", "ssh-keygen -R 192.0.2.1", "fingerprint")
	t.Logf("changed host key:\n%s", hk.stderr)

	// The router drops the SSH connection right after it made the first
	// change, and its host key is new to known_hosts, trusted with
	// --accept-new-host-key: the apply logs in again, reads back, and
	// state holds exactly what the router holds.
	wdir := t.TempDir()
	flag := filepath.Join(wdir, "drop")
	wrap := filepath.Join(wdir, "wrap.sh")
	os.WriteFile(wrap, fmt.Appendf(nil, `#!/bin/sh
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
`, flag), 0o755)
	os.WriteFile(flag, nil, 0o600)
	srv := c.restart(t, lab.SSHOptions{KeyOptions: fmt.Sprintf(`command="%s"`, wrap)})
	os.WriteFile(srv.KnownHosts, nil, 0o600)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(config(srv)), 0o644)
	np("apply", "--auto-approve").want(t, 1, "is not in "+srv.KnownHosts)
	dropped := np("apply", "--auto-approve", "--accept-new-host-key")
	dropped.want(t, 0, "the SSH connection dropped during the change; logged in again, the router holds it", "Apply complete! Resources: 2 added")
	t.Logf("apply with a dropped connection:\n%s", dropped.stdout)
	if _, err := os.Stat(flag); err == nil {
		t.Fatal("the router did not drop the connection")
	}
	if kh, _ := os.ReadFile(srv.KnownHosts); !strings.Contains(string(kh), strings.Fields(srv.HostKey)[1]) {
		t.Errorf("known_hosts after --accept-new-host-key: %q", kh)
	}
	stateJSON, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{`computer.alpha.router_mapping.web[\"tcp\"]`, `computer.beta.router_mapping.game[\"tcp\"]`} {
		if !strings.Contains(string(stateJSON), a) {
			t.Errorf("state lacks %s:\n%s", a, stateJSON)
		}
	}
	np("plan", "--detailed-exitcode").want(t, 0, "No changes.")
	if _, err := l.ProveForward(ctx, 1, 4300, 4300); err != nil {
		t.Errorf("after the dropped connection: %v", err)
	}
	np("destroy", "--auto-approve").want(t, 0, "2 destroyed")

	// --computer keeps working with an SSH router: alpha applies its own
	// forward (to its own address) and its own firewall rule.
	own := filepath.Join(t.TempDir(), "alpha.json")
	run("apply", "--auto-approve", "--state", own).want(t, 0, "Apply complete!", "over SSH", "router_mapping.web[\"tcp\"]: Creation complete (TCP 4300 -> 192.0.2.10:4300, lease permanent)")
	if _, err := l.ProveForward(ctx, 1, 4300, 4300); err != nil {
		t.Errorf("apply --computer alpha: %v", err)
	}
	run("destroy", "--auto-approve", "--state", own).want(t, 0, "Destroy complete!")
}
