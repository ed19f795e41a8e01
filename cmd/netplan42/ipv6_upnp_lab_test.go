//go:build linux

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
)

// TestLabUPnPDualStack: on a dual-stack router with NAT-PMP and PCP off,
// netplan42 over UPnP alone maps the IPv4 port and opens an IPv6 pinhole
// (WANIPv6FirewallControl:1) for the host's global address, and the host
// firewall admits both; the internet host reaches the service over IPv4
// (11.0.0.1:4242) and over IPv6 (the host's own address), neither before
// apply nor after destroy. The router's own ip6tables chain and the
// independent upnpc -6, asked about the pinhole ID state keeps, confirm
// the pinhole; a second plan reads it back by that ID and has nothing to
// do.
func TestLabUPnPDualStack(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 1, NoNATPMP: true, IPv6: true}, labConfig(`["upnp"]`, "iptables", computerBlock("h1", "4242")))
	h := r.l.Host(1)
	dropInbound(t, h)
	ctx := context.Background()

	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `+ router_mapping.crashplan["tcp"]`, `+ router_pinhole.crashplan["tcp"]`, `+ firewall_rule.crashplan["tcp"]`,
		"UPnP IGD v2", "this computer 192.0.2.10 and 2001:db8:1::10", "Plan: 3 to add")
	t.Logf("plan:\n%s", p.stdout)
	if !r.unreachable(1, 4242) {
		t.Fatal("IPv4 reachable before apply: the test proves nothing")
	}
	if err := r.l.ProveClosed6(ctx, 1, 4242, 2*time.Second); err != nil {
		t.Fatalf("IPv6 before apply: %v", err)
	}

	a := r.np(1, "apply", "--auto-approve")
	a.want(t, 0, "Apply complete! Resources: 3 added")
	t.Logf("apply:\n%s", a.stdout)
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
	if rules, _ := lab.ParsePinholes(out); len(rules) != 1 || rules[0].Internal != r.l.HostAddr6(1) || rules[0].Port != 4242 || rules[0].Protocol != "tcp" {
		t.Fatalf("router's MINIUPNPD chain after apply:\n%s", out)
	}
	ph := r.statePinhole(t, 1)
	if ph.ID == 0 || ph.Nonce != "" || ph.InternalAddress != r.l.HostAddr6(1) || ph.InternalPort != 4242 {
		t.Fatalf("state's pinhole %+v: want a UPnP pinhole ID for %s", ph, r.l.HostAddr6(1))
	}
	// The ID state keeps is the router's: upnpc -6 counts the packets
	// the connections above sent through it.
	id := strconv.Itoa(int(ph.ID))
	out, err = r.l.UPnPC6(ctx, 1, "-K", id)
	t.Logf("upnpc -6 -K %s: %v\n%s", id, err, out)
	m := regexp.MustCompile(`Pinhole ID = (\d+) / PinholePackets = (\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] != id || m[2] == "0" {
		t.Errorf("upnpc -6 -K %s: want packets through our pinhole", id)
	}
	show := r.np(1, "show")
	show.want(t, 0, "router_pinhole.crashplan", "via upnp (id "+id+")")
	t.Logf("show:\n%s", show.stdout)
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")

	r.np(1, "destroy", "--auto-approve").want(t, 0, "Destroy complete! Resources: 0 added, 0 changed, 3 destroyed")
	out, _ = r.l.Pinholes6(ctx)
	if rules, _ := lab.ParsePinholes(out); len(rules) != 0 {
		t.Errorf("pinholes left after destroy:\n%s", out)
	}
	out, _ = r.l.UPnPC6(ctx, 1, "-C", id)
	if !strings.Contains(out, "704") {
		t.Errorf("upnpc -6 -C %s after destroy: want 704 NoSuchEntry:\n%s", id, out)
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

// statePinhole returns the one pinhole host i's state file holds.
func (r *labRun) statePinhole(t *testing.T, i int) planner.Pinhole {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.state, "h"+strconv.Itoa(i)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var st planner.Prior
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var found []planner.Pinhole
	for _, m := range st.Resources {
		if m.Kind == planner.KindPinhole && m.Pinhole != nil {
			found = append(found, *m.Pinhole)
		}
	}
	if len(found) != 1 {
		t.Fatalf("state holds %d pinholes, want 1:\n%s", len(found), b)
	}
	return found[0]
}

// TestLabUPnPPinholeDriftAndRenew: a pinhole deleted behind netplan42's
// back (upnpc -6 -D on the ID state keeps) is read back as missing by
// its ID and made again; a 2-minute lease past its half is renewed with
// UpdatePinhole under the same ID, and the service stays reachable over
// IPv6 throughout.
func TestLabUPnPPinholeDriftAndRenew(t *testing.T) {
	cfg := strings.Replace(labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")), `lease     = "1h"`, `lease     = "2m"`, 1)
	r := newLab(t, lab.Spec{Hosts: 1, NoNATPMP: true, IPv6: true}, cfg)
	ctx := context.Background()
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 2 added")
	first := r.statePinhole(t, 1)
	if first.ID == 0 || first.LeaseSeconds != 120 {
		t.Fatalf("state's pinhole %+v", first)
	}
	id := strconv.Itoa(int(first.ID))
	if out, err := r.l.UPnPC6(ctx, 1, "-D", id); err != nil {
		t.Fatalf("upnpc -6 -D %s: %v\n%s", id, err, out)
	}
	if err := r.l.ProveClosed6(ctx, 1, 4242, 2*time.Second); err != nil {
		t.Fatalf("after upnpc deleted the pinhole: %v", err)
	}
	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `+ router_pinhole.crashplan["tcp"]`, "missing on the router since the last apply", "Plan: 1 to add, 0 to change, 0 to destroy, 0 to renew.")
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 1 added")
	again := r.statePinhole(t, 1)
	t.Logf("pinhole ID %d deleted by upnpc, made again as ID %d", first.ID, again.ID)
	if again.ID == 0 {
		t.Fatalf("state's pinhole %+v", again)
	}
	if _, err := r.l.ProveReach6(ctx, 1, 4242); err != nil {
		t.Fatalf("after the repair: %v", err)
	}

	// Past half of the 2-minute lease, plan renews mapping and pinhole.
	time.Sleep(65 * time.Second)
	p = r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `router_pinhole.crashplan["tcp"]`, "0 to add, 0 to change, 0 to destroy, 2 to renew.")
	a := r.np(1, "apply", "--auto-approve")
	a.want(t, 0, `router_pinhole.crashplan["tcp"]: Renewal complete`, "2 renewed")
	renewed := r.statePinhole(t, 1)
	if renewed.ID != again.ID || renewed.LeaseSeconds != 120 {
		t.Errorf("renewed pinhole %+v, want ID %d", renewed, again.ID)
	}
	if !strings.Contains(r.l.Log(), "updating lease duration to 120 for pinhole with ID: "+strconv.Itoa(int(again.ID))) {
		t.Errorf("miniupnpd's log shows no UpdatePinhole of ID %d", again.ID)
	}
	if _, err := r.l.ProveReach6(ctx, 1, 4242); err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	r.np(1, "destroy", "--auto-approve").want(t, 0, "2 destroyed")
	if err := r.l.ProveClosed6(ctx, 1, 4242, 2*time.Second); err != nil {
		t.Errorf("after destroy: %v", err)
	}
}
