//go:build linux

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
)

// TestLabPCPDualStack: on a dual-stack router with UPnP off, netplan42
// over PCP maps the IPv4 port and opens an IPv6 pinhole for the host's
// global address, and the host firewall admits both; the internet host
// reaches the service over IPv4 (11.0.0.1:4242) and over IPv6 (the
// host's own address), neither before apply nor after destroy. The
// router's own ip6tables chain confirms the pinhole.
func TestLabPCPDualStack(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 1, NoUPnP: true, IPv6: true}, labConfig(`["pcp"]`, "iptables", computerBlock("h1", "4242")))
	h := r.l.Host(1)
	dropInbound(t, h)
	ctx := context.Background()

	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `+ router_mapping.crashplan["tcp"]`, `+ router_pinhole.crashplan["tcp"]`, `+ firewall_rule.crashplan["tcp"]`,
		"PCP at 192.0.2.1:5351", "this computer 192.0.2.10 and 2001:db8:1::10", "Plan: 3 to add")
	if !r.unreachable(1, 4242) {
		t.Fatal("IPv4 reachable before apply: the test proves nothing")
	}
	if err := r.l.ProveClosed6(ctx, 1, 4242, 2*time.Second); err != nil {
		t.Fatalf("IPv6 before apply: %v", err)
	}

	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 3 added")
	if err := r.reachable(1, 4242); err != nil {
		t.Fatalf("IPv4 after apply: %v", err)
	}
	from, err := r.l.ProveReach6(ctx, 1, 4242)
	if err != nil {
		t.Fatalf("IPv6 after apply: %v", err)
	}
	if from.Addr() != r.l.InternetAddr6() {
		t.Errorf("IPv6 connection came from %s, want %s", from, r.l.InternetAddr6())
	}
	out, err := r.l.Pinholes6(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rules, _ := lab.ParsePinholes(out); len(rules) != 1 || rules[0].Internal != r.l.HostAddr6(1) || rules[0].Port != 4242 {
		t.Fatalf("router's MINIUPNPD chain after apply:\n%s", out)
	}
	show := r.np(1, "show")
	show.want(t, 0, "router_pinhole.crashplan")
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")

	r.np(1, "destroy", "--auto-approve").want(t, 0, "Destroy complete! Resources: 0 added, 0 changed, 3 destroyed")
	out, _ = r.l.Pinholes6(ctx)
	if rules, _ := lab.ParsePinholes(out); len(rules) != 0 {
		t.Errorf("pinholes left after destroy:\n%s", out)
	}
	if !r.unreachable(1, 4242) {
		t.Error("IPv4 still reachable after destroy")
	}
	if err := r.l.ProveClosed6(ctx, 1, 4242, 2*time.Second); err != nil {
		t.Errorf("IPv6 after destroy: %v", err)
	}
	if s := h.MustRun(t, "ip6tables-save"); strings.Contains(s, "netplan42") {
		t.Errorf("host IPv6 firewall objects left after destroy:\n%s", s)
	}
}

// TestLabAgentPCPRenewals: the agent keeps a 2-minute PCP mapping and an
// IPv6 pinhole alive over three lease periods, reachable over both
// families throughout, and repairs both after the router restarts (its
// epoch goes back).
func TestLabAgentPCPRenewals(t *testing.T) {
	cfg := strings.Replace(labConfig(`["pcp"]`, "none", computerBlock("h1", "4242")), `lease     = "1h"`, `lease     = "2m"`, 1)
	r := newLab(t, lab.Spec{IPv6: true}, cfg)
	ctx := context.Background()
	a := r.startAgent(t, "--interval", "1h") // renewals come from the leases
	// PCP's IPv4 mappings show in the router's UPnP listing, with the
	// lease left: the independent view of our renewals.
	leaseRE := regexp.MustCompile(`4242->192\.0\.2\.10:4242\s+'PCP MAP [0-9a-f]+' '' (\d+)`)
	lease := func() int {
		out := r.l.Host(1).MustRun(t, "upnpc", "-u", r.l.RootDescURL(), "-l")
		m := leaseRE.FindStringSubmatch(out)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	eventually(t, 20*time.Second, "the agent maps the port over PCP", func() bool { return lease() > 0 })
	both := func(when string) {
		t.Helper()
		if err := r.reachable(1, 4242); err != nil {
			t.Fatalf("%s: IPv4: %v", when, err)
		}
		if _, err := r.l.ProveReach6(ctx, 1, 4242); err != nil {
			t.Fatalf("%s: IPv6: %v", when, err)
		}
	}
	const periods = 3
	end := time.Now().Add(periods*2*time.Minute + 15*time.Second)
	renewals, last, lowest := 0, lease(), 120
	for time.Now().Before(end) {
		time.Sleep(10 * time.Second)
		l := lease()
		if l < 0 {
			t.Fatalf("the mapping vanished from the router (renewals so far: %d)\n%s", renewals, a.logs.String())
		}
		if l > last+5 {
			renewals++
		}
		last, lowest = l, min(lowest, l)
		both(fmt.Sprintf("after %d renewals", renewals))
	}
	t.Logf("over %d periods of a 120 s lifetime: %d renewals seen by upnpc, lowest lease left %d s", periods, renewals, lowest)
	if renewals < periods {
		t.Errorf("%d renewals in %d lease periods", renewals, periods)
	}
	if n := r.metrics(t)["netplan42_renewals_total"]; n < 2*periods {
		t.Errorf("renewals metric %v, want at least %d (mapping and pinhole each period)", n, 2*periods)
	}

	if err := r.l.RestartRouter(ctx, true); err != nil {
		t.Fatal(err)
	}
	if lease() >= 0 {
		t.Fatal("the restart kept the mapping: the test proves nothing")
	}
	restarted := time.Now()
	// The agent wakes at the next half-life (60 s at most), sees the
	// epoch went back, and makes both again.
	eventually(t, 90*time.Second, "the mapping is back after the router restart", func() bool { return lease() > 0 })
	both("after the restart")
	t.Logf("repaired %s after the restart", time.Since(restarted).Round(time.Second))
	if !strings.Contains(a.logs.String(), "router restart detected") {
		t.Errorf("no log line for the restart:\n%s", a.logs.String())
	}
	a.stop(t, syscall.SIGTERM)
}

// TestLabPCPForeignLeftAlone: another host's mappings and pinholes are
// untouched by our apply and destroy over PCP, still on the router and
// still forwarding: a NAT-PMP mapping and a UPnP pinhole made with the
// independent natpmpc and upnpc, and a PCP mapping and pinhole made by
// another user's netplan42 (a config and state h1 knows nothing of).
func TestLabPCPForeignLeftAlone(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2, IPv6: true}, labConfig(`["pcp"]`, "none", computerBlock("h1", "4242")))
	ctx := context.Background()
	r.l.Host(2).MustRun(t, "natpmpc", "-g", lab.RouterLAN.String(), "-a", "5000", "5000", "tcp", "3600")
	if out, err := r.l.UPnPC6(ctx, 2, "-A", "", "0", r.l.HostAddr6(2).String(), "5000", "TCP", "3600"); err != nil {
		t.Fatalf("upnpc -6 -A: %v\n%s", err, out)
	}
	other := writeConfig(t, labConfig(`["pcp"]`, "none", computerBlock("h2", "5001")))
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := r.l.Host(2).Command(cctx, binary, "apply", "--auto-approve", "--config", other, "--computer", "h2", "--state", filepath.Join(t.TempDir(), "h2.json"))
	runCmd(t, cmd, "").want(t, 0, "2 added")
	foreign := func(when string) {
		t.Helper()
		if from, err := r.l.ProveForward(ctx, 2, 5001, 5001); err != nil || from.Addr() != r.l.InternetAddr() {
			t.Errorf("%s: host2's PCP mapping: %v %v", when, from, err)
		}
		if _, err := r.l.ProveReach6(ctx, 2, 5001); err != nil {
			t.Errorf("%s: host2's PCP pinhole: %v", when, err)
		}
		if got := grepLines(r.upnpcLines(1), "5000->192.0.2.11:5000"); len(got) != 1 {
			t.Errorf("%s: host2's mapping: %q", when, got)
		}
		if from, err := r.l.ProveForward(ctx, 2, 5000, 5000); err != nil || from.Addr() != r.l.InternetAddr() {
			t.Errorf("%s: host2 over IPv4: %v %v", when, from, err)
		}
		if _, err := r.l.ProveReach6(ctx, 2, 5000); err != nil {
			t.Errorf("%s: host2 over IPv6: %v", when, err)
		}
	}
	foreign("before")
	r.np(1, "apply", "--auto-approve").want(t, 0, "2 added")
	foreign("after apply")
	out, _ := r.l.Pinholes6(ctx)
	if rules, _ := lab.ParsePinholes(out); len(rules) != 3 {
		t.Errorf("want host2's two pinholes and ours:\n%s", out)
	}
	r.np(1, "destroy", "--auto-approve").want(t, 0, "2 destroyed")
	foreign("after destroy")
	out, _ = r.l.Pinholes6(ctx)
	if rules, _ := lab.ParsePinholes(out); len(rules) != 2 || rules[0].Internal != r.l.HostAddr6(2) || rules[1].Internal != r.l.HostAddr6(2) {
		t.Errorf("want host2's pinholes alone:\n%s", out)
	}
}

// TestLabCheckIPv6: from the internet host (a computer of another
// network), check connects over IPv4 to the public address and over IPv6
// to h1's global address (given with --address): before apply the IPv6
// check fails naming the missing pinhole; after apply both pass.
func TestLabCheckIPv6(t *testing.T) {
	cfg := withPublic(labConfig(`["pcp"]`, "none", computerBlock("h1", "4242"))) + remoteNetwork
	r := newLab(t, lab.Spec{Hosts: 1, NoUPnP: true, IPv6: true}, cfg)
	r.serve(1, 4242, crashPlan)
	addr := "--address=h1=" + r.l.HostAddr6(1).String()
	out, ok := r.checkFromInternet("--timeout", "2s", addr)
	if ok || !strings.Contains(out, "no pinhole for 4242/tcp") || !strings.Contains(out, "[2001:db8:1::10]:4242") {
		t.Fatalf("before apply: want an IPv6 failure naming the pinhole, got ok=%v:\n%s", ok, out)
	}
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 2 added")
	out, ok = r.checkFromInternet("--timeout", "2s", addr)
	if !ok || !strings.Contains(out, "2 passed, 0 failed") {
		t.Fatalf("after apply: want both paths to pass, got ok=%v:\n%s", ok, out)
	}
}

// dropInbound makes lab host h drop inbound traffic it was not told about,
// in both families, like a hardened machine: only netplan42's rule can
// let a service's port through.
func dropInbound(t *testing.T, h *lab.Namespace) {
	t.Helper()
	for _, ipt := range []string{"iptables", "ip6tables"} {
		h.MustRun(t, ipt, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
		h.MustRun(t, ipt, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		if ipt == "ip6tables" {
			// Neighbour discovery, or nothing reaches the host at all.
			h.MustRun(t, ipt, "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT")
		}
		h.MustRun(t, ipt, "-P", "INPUT", "DROP")
	}
}
