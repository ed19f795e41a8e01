//go:build linux

package main

import (
	"context"
	"strings"
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
	for _, ipt := range []string{"iptables", "ip6tables"} {
		h.MustRun(t, ipt, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
		h.MustRun(t, ipt, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		if ipt == "ip6tables" {
			// Neighbour discovery, or nothing reaches the host at all.
			h.MustRun(t, ipt, "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT")
		}
		h.MustRun(t, ipt, "-P", "INPUT", "DROP")
	}
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
