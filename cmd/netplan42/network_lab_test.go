//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
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
	testCentralApply(t, linuxCentral(t))
}

// linuxCentral is the lab with a plain Linux router (nftables, forward
// policy drop) administered over SSH, and two LAN hosts.
func linuxCentral(t *testing.T) *centralLab {
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
	return c
}

func TestLabCentralApplyOpenWrt(t *testing.T) {
	testCentralApply(t, openwrtCentral(t))
}

// openwrtCentral is the lab with OpenWrt's firewall4 on the router,
// administered over SSH (dropbear), and two LAN hosts.
func openwrtCentral(t *testing.T) *centralLab {
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
	return c
}

// centralConfig is the office network on the lab's SSH router: alpha
// (host 1) with a fixed port and a LAN-only one, beta (host 2) with
// port = "auto".
func centralConfig(srv *lab.SSHRouter, flavor string) string {
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
`, srv.Identity, srv.KnownHosts, flavor)
}

func testCentralApply(t *testing.T, c *centralLab) {
	l := c.l
	config := func(srv *lab.SSHRouter) string { return centralConfig(srv, c.flavor) }
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
	run("check", "beta").want(t, 1, fmt.Sprintf("no forward for %d/tcp on this network's router", auto), "netplan42 apply --network office creates it (or on beta: netplan42 apply)", "LAN address from its address in the config")
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

// --computer on a network whose router netplan42 administers keeps that
// computer's router part in the network's state, as --network does, under
// the same lock: each sees the other's forwards as its own record, not as
// foreign or untracked ones (issue 12).

func TestLabNetworkSharedStateLinux(t *testing.T) {
	testSharedState(t, linuxCentral(t), "")
}

func TestLabNetworkSharedStateOpenWrt(t *testing.T) {
	testSharedState(t, openwrtCentral(t), "")
}

// The same with the etcd backend: the network state is PREFIX's
// computers/network-office/state, the computers' states beside it.
func TestLabNetworkSharedStateEtcd(t *testing.T) {
	etcdtest.Require(t)
	c := linuxCentral(t)
	h := c.l.Host(1)
	cl := etcdtest.StartWith(t, 1, etcdtest.Options{Command: h.Command, DialContext: h.DialContext})
	testSharedState(t, c, fmt.Sprintf("backend \"etcd\" {\n  endpoints = [%q]\n  prefix    = \"/lab\"\n}\n", cl.Members[0].ClientURL))
}

// section returns what a --network plan says of one computer: from its
// header to the next computer's.
func section(out, computer string) string {
	i := strings.Index(out, "\n"+computer+" (network ")
	if i < 0 {
		return ""
	}
	rest := out[i+1:]
	if j := regexp.MustCompile(`\ncomputer\.[a-z]+ \(network `).FindStringIndex(rest[1:]); j != nil {
		rest = rest[:j[0]+1]
	}
	return rest
}

func testSharedState(t *testing.T, c *centralLab, backend string) {
	l := c.l
	dir := writeConfig(t, backend+centralConfig(c.srv, c.flavor))
	// File state: the network's and alpha's in one directory, as their
	// default paths are.
	stateDir := t.TempDir()
	netState, alphaState := filepath.Join(stateDir, "network-office.json"), filepath.Join(stateDir, "alpha.json")
	exec := func(stdin string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := l.Host(1).Command(ctx, binary, append(args, "--config", dir)...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "NETPLAN42_COMPUTER=")
		res := runCmd(t, cmd, stdin)
		t.Logf("$ netplan42 %s\n%s%s", strings.Join(args, " "), res.stdout, res.stderr)
		return res
	}
	np := func(args ...string) result {
		t.Helper()
		args = append(args, "--network", "office")
		if backend == "" {
			args = append(args, "--state", netState)
		}
		return exec("", args...)
	}
	alpha := func(args ...string) result {
		t.Helper()
		args = append(args, "--computer", "alpha")
		if backend == "" {
			args = append(args, "--state", alphaState)
		}
		return exec("", args...)
	}
	stateOf := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	l.Router().MustRun(t, "ip", "route", "add", "default", "via", l.InternetAddr().String())
	ctx := context.Background()
	const alphaWeb = `computer.alpha.router_mapping.web[\"tcp\"]`

	// apply --computer alpha: its forward and its firewall rule.
	alpha("apply", "--auto-approve").want(t, 0, "Apply complete!", `router_mapping.web["tcp"]: Creation complete (TCP 4300 -> 192.0.2.10:4300, lease permanent)`)
	if _, err := l.ProveForward(ctx, 1, 4300, 4300); err != nil {
		t.Fatalf("after apply --computer alpha: %v", err)
	}
	if backend == "" {
		if s := stateOf(netState); !strings.Contains(s, alphaWeb) {
			t.Errorf("the network state lacks alpha's forward:\n%s", s)
		}
		if s := stateOf(alphaState); strings.Contains(s, "router_mapping") || !strings.Contains(s, "firewall_rule") {
			t.Errorf("alpha's own state should hold its firewall rule only:\n%s", s)
		}
	}
	// status and show see alpha's forward, which the network state
	// records; so does the fleet view apply reported to (etcd).
	alpha("status").want(t, 0, `router_mapping.web["tcp"]  TCP 4300 -> 192.0.2.10:4300  present`, "router forwards in ")
	alpha("status", "--json").want(t, 0, `"state": "present"`, `"state_found": true`, `"network_state_path": "`)
	alpha("show").want(t, 0, `router forwards, in network "office"'s state`, `router_mapping.web["tcp"]  TCP 4300 -> 192.0.2.10:4300`)
	if backend != "" {
		exec("", "fleet", "status").want(t, 0, "computer.alpha  reporting", "mappings 1 of 1 open, firewall ok")
	}
	// plan --network: alpha's forward is recorded, not adopted anew;
	// beta's is to add.
	p := np("plan", "--detailed-exitcode")
	p.want(t, 2, `+ router_mapping.game["tcp"]`)
	if a := section(p.stdout, "computer.alpha"); !strings.Contains(a, "No changes.") || strings.Contains(a, "recording it in state") {
		t.Errorf("plan --network after apply --computer alpha, alpha's part:\n%s", a)
	}
	// The network's lock is the one --computer takes for its router part.
	held, release := holdAtPrompt(t, l, dir, append([]string{"apply", "--network", "office"}, stateFlag(backend, netState)...))
	locked := alpha("apply", "--auto-approve")
	locked.want(t, 1, "the router part of computer.alpha is kept with network \"office\"'s", "is locked by apply --network office", fmt.Sprintf("pid %d", held))
	release()

	np("apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed")
	// plan --computer alpha: no router change after --network applied.
	alpha("plan", "--detailed-exitcode").want(t, 0, "No changes.")
	// plan --network --json: both computers, nothing to do.
	j := np("plan", "--json", "--detailed-exitcode")
	j.want(t, 0)
	var doc struct {
		Network string `json:"network"`
		Plans   []struct {
			Computer string `json:"computer"`
			Changes  []struct {
				Address string `json:"address"`
				Action  string `json:"action"`
			} `json:"changes"`
		} `json:"plans"`
	}
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil {
		t.Fatalf("plan --network --json: %v\n%s", err, j.stdout)
	}
	if doc.Network != "office" || len(doc.Plans) != 2 || doc.Plans[0].Computer != "computer.alpha" || doc.Plans[1].Computer != "computer.beta" {
		t.Errorf("plan --network --json: %+v", doc)
	}
	for _, pl := range doc.Plans {
		for _, ch := range pl.Changes {
			if ch.Action != "no-op" {
				t.Errorf("plan --network --json after apply: %s %s %s", pl.Computer, ch.Action, ch.Address)
			}
		}
	}

	// destroy --computer alpha removes alpha's forward and rule, and
	// leaves beta's forward and its record.
	alpha("destroy", "--auto-approve").want(t, 0, "Destroy complete!", `router_mapping.web["tcp"]: Destruction complete`)
	ctx2, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := l.ProveForward(ctx2, 1, 4300, 4300); err == nil {
		t.Error("4300 still forwarded after destroy --computer alpha")
	}
	// status, check and the fleet view know it is gone, for certain.
	alpha("status").want(t, 0, `router_mapping.web["tcp"]  TCP 4300  missing`, "netplan42 apply --computer alpha (or netplan42 apply --network office)")
	exec("", "check", "alpha", "--computer", "beta").want(t, 1, "no forward for 4300/tcp on this network's router", "netplan42 apply --network office creates it (or on alpha: netplan42 apply)")
	if backend != "" {
		exec("", "fleet", "status").want(t, 0, "computer.alpha  reporting", "mappings 0 of 1 open (missing TCP 4300)")
	}
	p = np("plan", "--detailed-exitcode")
	p.want(t, 2, `+ router_mapping.web["tcp"]`)
	if b := section(p.stdout, "computer.beta"); !strings.Contains(b, "No changes.") || strings.Contains(b, "recording it in state") {
		t.Errorf("plan --network after destroy --computer alpha, beta's part:\n%s", b)
	}
	if backend == "" {
		if s := stateOf(netState); strings.Contains(s, alphaWeb) || !strings.Contains(s, `computer.beta.router_mapping.game[\"tcp\"]`) {
			t.Errorf("the network state after destroy --computer alpha:\n%s", s)
		}
	}

	alpha("apply", "--auto-approve").want(t, 0, "Apply complete!")
	if backend == "" {
		// A state of the old layout: alpha's forward in its own state.
		// Reading merges it; the next apply moves it to the network state.
		moveToOwn(t, netState, alphaState, "computer.alpha.")
		alpha("plan", "--detailed-exitcode").want(t, 0, "No changes.")
		alpha("apply", "--auto-approve").want(t, 0, "The record of this computer's router forwards moved from state file "+alphaState+" to state file "+netState)
		if s := stateOf(alphaState); strings.Contains(s, "router_mapping") {
			t.Errorf("apply left alpha's forward in its own state:\n%s", s)
		}
		if s := stateOf(netState); !strings.Contains(s, alphaWeb) {
			t.Errorf("apply did not move alpha's forward to the network state:\n%s", s)
		}
		np("plan", "--detailed-exitcode").want(t, 0, "No changes.")
		if _, err := l.ProveForward(ctx, 1, 4300, 4300); err != nil {
			t.Errorf("after the move: %v", err)
		}
	}

	// --accept-new-host-key works with --computer too.
	if err := os.WriteFile(c.srv.KnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	alpha("plan").want(t, 1, `network "office": could not log in to the router`, "is not in "+c.srv.KnownHosts)
	alpha("plan", "--accept-new-host-key", "--detailed-exitcode").want(t, 0, "No changes.")
	if kh, _ := os.ReadFile(c.srv.KnownHosts); !strings.Contains(string(kh), strings.Fields(c.srv.HostKey)[1]) {
		t.Errorf("known_hosts after plan --computer --accept-new-host-key: %q", kh)
	}

	np("destroy", "--auto-approve").want(t, 0, "Destroy complete!")
	alpha("destroy", "--auto-approve").want(t, 0)
}

func stateFlag(backend, path string) []string {
	if backend != "" {
		return nil
	}
	return []string{"--state", path}
}

// holdAtPrompt starts netplan42 args in LAN host 1 and waits until it asks
// for "yes", holding its lock; release answers no and waits for it.
func holdAtPrompt(t *testing.T, l *lab.Lab, dir string, args []string) (pid int, release func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := l.Host(1).Command(ctx, binary, append(args, "--config", dir)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "NETPLAN42_COMPUTER=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		io.WriteString(stdin, "no\n")
		stdin.Close()
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		cancel()
	}
	t.Cleanup(release)
	buf := make([]byte, 64*1024)
	seen := ""
	for !strings.Contains(seen, "Enter a value") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("%s ended before its prompt: %v\n%s", strings.Join(args, " "), err, seen)
		}
		seen += string(buf[:n])
	}
	return cmd.Process.Pid, release
}

// moveToOwn rewrites two state files as netplan42 before the network
// state held a computer's router part wrote them: the resources of
// prefix (computer.alpha.) go from the network state to the computer's.
func moveToOwn(t *testing.T, netPath, ownPath, prefix string) {
	t.Helper()
	read := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	write := func(path string, m map[string]any) {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, o := read(netPath), read(ownPath)
	var keep []any
	moved := 0
	for _, r := range n["resources"].([]any) {
		rm := r.(map[string]any)
		if a := rm["address"].(string); strings.HasPrefix(a, prefix) {
			rm["address"] = strings.TrimPrefix(a, prefix)
			o["resources"] = append(o["resources"].([]any), rm)
			moved++
			continue
		}
		keep = append(keep, r)
	}
	if moved == 0 {
		t.Fatalf("nothing of %s in %s", prefix, netPath)
	}
	if keep == nil {
		keep = []any{}
	}
	n["resources"] = keep
	write(netPath, n)
	write(ownPath, o)
}
