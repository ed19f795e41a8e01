//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/lab"
)

// The lab scenarios of the status/check issue, run as a user would: the
// built netplan42 inside lab hosts and on the internet host.

// serveEnv makes this test binary, re-executed inside a lab host, a
// service that stays up: it accepts TCP connections on the named port and
// closes them, until killed. (The lab's "lab-listen" child takes one
// connection and exits; check makes several, and status must see a
// listener.)
const serveEnv = "NETPLAN42_TEST_SERVE"

func init() {
	port := os.Getenv(serveEnv)
	if port == "" {
		return
	}
	ln, err := net.Listen("tcp4", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv(serveEnv+"6") != "" {
		// Also on IPv6 (a second socket, IPV6_V6ONLY as Go sets it).
		ln6, err := net.Listen("tcp6", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			for {
				c, err := ln6.Accept()
				if err != nil {
					os.Exit(1)
				}
				c.Close()
			}
		}()
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	}
}

// serve starts a service on LAN host i's port until the test ends: this
// test binary, copied under the program name given (what status shows as
// the process holding the port).
func (r *labRun) serve(i int, port uint16, program string) {
	r.t.Helper()
	self, err := os.Executable()
	if err != nil {
		r.t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		r.t.Fatal(err)
	}
	exe := filepath.Join(r.t.TempDir(), program)
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := r.l.Host(i).Command(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", serveEnv, port))
	if r.l.Spec.IPv6 {
		cmd.Env = append(cmd.Env, serveEnv+"6=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cancel(); cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
		r.t.Fatalf("%s on host%d port %d did not start: %q %v", program, i, port, line, err)
	}
}

// crashPlan is the program name the lab's stand-in service runs under.
const crashPlan = "CrashPlanService"

// status runs netplan42 status on LAN host i as computer hI.
func (r *labRun) status(i int, args ...string) result {
	r.t.Helper()
	args = append([]string{"status", "--config", r.dir, "--computer", fmt.Sprintf("h%d", i), "--state", filepath.Join(r.state, fmt.Sprintf("h%d.json", i))}, args...)
	res := r.np(i, args...)
	r.t.Logf("h%d$ netplan42 %s\n%s%s", i, strings.Join(args[:1], " "), res.stdout, res.stderr)
	return res
}

// check runs netplan42 check on LAN host i as computer hI.
func (r *labRun) check(i int, args ...string) result {
	r.t.Helper()
	args = append([]string{"check", "--config", r.dir, "--computer", fmt.Sprintf("h%d", i)}, args...)
	res := r.np(i, args...)
	r.t.Logf("h%d$ netplan42 %s\n%s%s", i, strings.Join(args[:1], " "), res.stdout, res.stderr)
	return res
}

// checkFromInternet runs netplan42 check on the internet host, as
// computer "internet" of network "remote"; ok reports a zero exit.
func (r *labRun) checkFromInternet(args ...string) (out string, ok bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"check", "--config", r.dir, "--computer", "internet"}, args...)
	out, err := r.l.Internet().Run(ctx, binary, args...)
	r.t.Logf("internet$ netplan42 check\n%s%v", out, err)
	return out, err == nil
}

const remoteNetwork = `
network "remote" {
  router {
    protocols = ["manual"]
  }
}
computer "internet" {
  network  = "remote"
  firewall = "none"
}
`

// withPublic gives the lab network its public_address.
func withPublic(config string) string {
	return strings.Replace(config, "network \"lab\" {\n", "network \"lab\" {\n  public_address = \"11.0.0.1\"\n", 1)
}

// Scenario 1: from the internet host's point of view (a computer of
// another network), check fails before apply with "no mapping" as the
// cause, and passes after.
func TestLabCheckFromInternet(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 1}, withPublic(labConfig(`["upnp", "natpmp"]`, "none", computerBlock("h1", "4242")))+remoteNetwork)
	r.serve(1, 4242, crashPlan)

	out, ok := r.checkFromInternet()
	if ok || !strings.Contains(out, "FAIL") || !strings.Contains(out, "no mapping for 4242/tcp") || !strings.Contains(out, "via 11.0.0.1:4242") {
		t.Fatalf("before apply: want a failure naming no mapping, got ok=%v:\n%s", ok, out)
	}
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	out, ok = r.checkFromInternet()
	if !ok || !strings.Contains(out, "ok ") || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("after apply: want a pass, got ok=%v:\n%s", ok, out)
	}
	js, ok := r.checkFromInternet("--json")
	var rep diagnose.CheckReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil || !ok {
		t.Fatalf("check --json: %v\n%s", err, js)
	}
	if rep.FormatVersion != "1.0" || len(rep.Results) != 1 || rep.Results[0].Verdict != diagnose.OK || rep.Results[0].Address != "11.0.0.1:4242" || rep.Results[0].Path != diagnose.Public {
		t.Errorf("check --json: %+v", rep)
	}
}

// Scenario 2: from a second LAN host, check uses the internal address
// (from the router's mapping table) and passes; the router line says the
// port is forwarded to h1.
func TestLabCheckSameNetwork(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2}, withPublic(labConfig(`["upnp", "natpmp"]`, "none", computerBlock("h1", "4242"), computerBlock("h2", "4243"))))
	r.serve(1, 4242, crashPlan)

	// Before apply the router names no address for h1: check says how to
	// give it one, and that the mapping is missing.
	r.check(2, "h1").want(t, 1, "no address", "--address h1=IP", "no mapping for 4242/tcp on this network's router")
	r.check(2, "h1", "--address", "h1=192.0.2.10").want(t, 1, "via 192.0.2.10:4242 (LAN address from --address): connected", "no mapping")

	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	res := r.check(2, "h1")
	res.want(t, 0, `via 192.0.2.10:4242 (LAN address from the router's mapping "netplan42:h1/crashplan"): connected`,
		"on this network's router: the router forwards 4242/tcp to 192.0.2.10:4242", "2 passed, 0 failed")
	// The default targets are every other computer exposing something:
	// h1 passes, h2 (this computer) is not checked.
	r.check(2).want(t, 0, "2 checks to 1 computer: 2 passed")
}

// Scenario 3: another process holds the assigned port: status names it.
func TestLabStatusPortConflict(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 1}, labConfig(`["upnp", "natpmp"]`, "none", computerBlock("h1", `"auto"`)))
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	st := r.status(1, "--json")
	var rep diagnose.StatusReport
	if err := json.Unmarshal([]byte(st.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	port := rep.Services[0].Port
	if port == 0 || rep.Services[0].Listening != diagnose.No {
		t.Fatalf("service before the conflict: %+v", rep.Services[0])
	}
	r.serve(1, port, "nc") // another program took crashplan's port
	r.status(1).want(t, 0, fmt.Sprintf("port conflict: port %d/tcp of service \"crashplan\" is held by nc (pid ", port),
		"listening: nc (pid", "mapping present")
}

// Scenario 4: the host firewall drops what it does not admit, and our
// rule is gone: check from another LAN host fails with the firewall as
// the cause, and status on the host points at the firewall.
func TestLabFirewallDrop(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2}, labConfig(`["upnp", "natpmp"]`, "iptables", computerBlock("h1", "4242"), computerBlock("h2", "4243")))
	h := r.l.Host(1)
	h.MustRun(t, "iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-P", "INPUT", "DROP")
	r.serve(1, 4242, crashPlan)
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	r.check(2, "h1").want(t, 0, "connected")

	// Someone removes our rules, leaving the jump and the DROP policy.
	h.MustRun(t, "iptables", "-F", "NETPLAN42")
	h.MustRun(t, "ip6tables", "-F", "NETPLAN42")
	r.check(2, "h1", "--timeout", "1s").want(t, 1, "timed out: computer.h1 (192.0.2.10) is up (it answers ARP) but not on 4242/tcp: a firewall there drops the connection (DROP)",
		"fix: on h1: netplan42 apply adds the rule")
	r.status(1).want(t, 0, `Error: the firewall (iptables (nf_tables)) has no netplan42 rule admitting 4242/tcp: missing from the firewall since the last apply`,
		"firewall rule missing", "netplan42 apply --computer h1 adds it")
}

// Scenario 5: a WAN address in carrier-grade NAT space: status explains
// double NAT.
func TestLabStatusCGNAT(t *testing.T) {
	r := newLab(t, lab.Spec{WAN: lab.CGNATWAN}, labConfig(`["upnp", "natpmp"]`, "none", computerBlock("h1", "4242")))
	r.serve(1, 4242, crashPlan)
	r.status(1).want(t, 0, "double NAT", "carrier-grade NAT", "external address unknown (the router reports none)")
}

// Without root, status shows what the OS lets it see and says what it
// could not: the router answers anyone, the firewall and other users'
// processes do not.
func TestLabStatusWithoutRoot(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 1}, labConfig(`["upnp", "natpmp"]`, "iptables", computerBlock("h1", "4242")))
	r.serve(1, 4242, crashPlan)
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")

	// nobody must reach the binary and the config.
	bin := filepath.Join(t.TempDir(), "netplan42")
	b, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), r.dir, filepath.Dir(r.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := r.l.Host(1).Run(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "status", "--config", r.dir, "--computer", "h1", "--state", filepath.Join(r.state, "h1.json"))
	t.Logf("h1 (nobody)$ netplan42 status\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"not as root: some details are hidden",
		"UPnP IGD v2 (WANIPConnection:2)", "external address 11.0.0.1 (public)",
		`router_mapping.crashplan["tcp"]  TCP 4242 -> 192.0.2.10:4242  present`,
		"firewall: not readable without root (run as root for rule details)",
		"listening: a process of user root (not visible) on 0.0.0.0:4242",
		"other users' processes cannot be inspected without root",
		"state: read state:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status without root lacks %q", want)
		}
	}
}

// examples/lab runs as its header says: status on host1, check from host2
// and from the internet host.
func TestLabExampleTroubleshooting(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2})
	r := &labRun{t: t, l: l, dir: copyDir(t, filepath.Join("..", "..", "examples", "lab")), state: t.TempDir()}
	r.serve(1, 4242, crashPlan)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := func(ns *lab.Namespace, args ...string) string {
		t.Helper()
		out, err := ns.Run(ctx, binary, args...)
		t.Logf("%s$ netplan42 %s\n%s%v", ns.Name, strings.Join(args, " "), out, err)
		return out
	}
	host1 := []string{"--config", r.dir, "--computer", "host1", "--state", filepath.Join(r.state, "host1.json")}
	in(l.Host(1), append([]string{"apply", "--auto-approve"}, host1...)...)
	if out := in(l.Host(1), append([]string{"status"}, host1...)...); !strings.Contains(out, `router_mapping.crashplan["tcp"]  TCP 4242 -> 192.0.2.10:4242  present`) ||
		!strings.Contains(out, `public_address "11.0.0.1"`) {
		t.Errorf("status on host1: mapping not present")
	}
	if out := in(l.Host(2), "check", "host1", "--config", r.dir, "--computer", "host2"); !strings.Contains(out, "2 checks to 1 computer: 2 passed, 0 failed") {
		t.Errorf("check from host2 did not pass")
	}
	if out := in(l.Internet(), "check", "--config", r.dir, "--computer", "internet"); !strings.Contains(out, "ok    host1 crashplan 4242/tcp via 11.0.0.1:4242") {
		t.Errorf("check from the internet host did not reach host1")
	}
}
