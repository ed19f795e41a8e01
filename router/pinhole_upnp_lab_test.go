//go:build linux

package router

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// TestLabUPnPPinhole opens an IPv6 pinhole over UPnP
// (WANIPv6FirewallControl:1) on a dual-stack router with NAT-PMP and PCP
// off, and proves each step with traffic from the internet host to host
// 1's global address, with the router's own ip6tables chain and with the
// independent client upnpc -6: dropped before; through after AddPinhole,
// the pinhole read back by its ID; renewed with UpdatePinhole under the
// same ID; a delete from another host refused (and the pinhole still
// open); a port below 1024 refused with a hint; dropped again after our
// delete, which a second time is "already gone".
func TestLabUPnPPinhole(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, IPv6: true, NoNATPMP: true})
	ctx := context.Background()
	const port = 4242
	upnp := []schema.Via{schema.ViaUPnP}
	if err := l.ProveClosed6(ctx, 1, port, 3*time.Second); err != nil {
		t.Fatalf("before the pinhole: %v", err)
	}

	rep := do(t, l, 1, doRequest{Protocols: upnp, Ops: []doOp{{Op: "observe"}}})
	if rep.Protocol != schema.ViaUPnP {
		t.Fatalf("protocol %q, want upnp", rep.Protocol)
	}
	mustOK(t, "observe", rep.Results[0])
	v := rep.Results[0].View
	t.Logf("view: can %+v, address6 %s, notes %q", v.Can, v.InternalAddress6, v.Notes)
	if !v.Can.Pinholes || !v.Can.ReadsPinholes || v.InternalAddress6 != l.HostAddr6(1) {
		t.Fatalf("view %+v", v)
	}

	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: l.HostAddr6(1), InternalPort: port, LeaseSeconds: 600}
	rep = do(t, l, 1, doRequest{Protocols: upnp, Ops: []doOp{{Op: "addpinhole", Pinhole: p}}})
	mustOK(t, "add pinhole", rep.Results[0])
	g := rep.Results[0].Pinhole
	t.Logf("granted %s: ID %d, lease %d s", g, g.ID, g.LeaseSeconds)
	if g.ID == 0 || g.Nonce != "" || g.LeaseSeconds != 600 || g.Key() != p.Key() {
		t.Fatalf("grant %+v", g)
	}
	rules := pinholeRules(t, l)
	if len(rules) != 1 || rules[0].Internal != l.HostAddr6(1) || rules[0].Port != port || rules[0].Protocol != "tcp" || rules[0].Remote.IsValid() {
		t.Fatalf("router's MINIUPNPD chain: %+v", rules)
	}
	id := strconv.Itoa(int(g.ID))
	// upnpc -6: the ID is a pinhole of this host's that has seen no
	// traffic yet (709); re-adding the same pinhole returns our ID.
	out, err := l.UPnPC6(ctx, 1, "-C", id)
	t.Logf("upnpc -6 -C %s before traffic:\n%s", id, out)
	if err == nil && !strings.Contains(out, "709") {
		t.Errorf("upnpc -C before traffic: want 709 NoPacketSent")
	}
	out, err = l.UPnPC6(ctx, 1, "-A", "", "0", l.HostAddr6(1).String(), strconv.Itoa(port), "TCP", "600")
	t.Logf("upnpc -6 -A (the same pinhole):\n%s", out)
	if got := upnpcUniqueID(out); err != nil || got != int(g.ID) {
		t.Errorf("upnpc -A of the same pinhole: UniqueID %d (err %v), want %d", got, err, g.ID)
	}

	from, err := l.ProveReach6(ctx, 1, port)
	if err != nil {
		t.Fatal(err)
	}
	if from.Addr() != l.InternetAddr6() {
		t.Errorf("came from %s, want %s", from, l.InternetAddr6())
	}
	out, _ = l.UPnPC6(ctx, 1, "-K", id)
	t.Logf("upnpc -6 -K %s after traffic:\n%s", id, out)
	if n := upnpcPackets(out); n <= 0 {
		t.Errorf("upnpc -K after traffic: %d packets", n)
	}

	// Read back by ID, renewed with UpdatePinhole: same ID, new lease.
	renew := g
	renew.LeaseSeconds = 900
	rep = do(t, l, 1, doRequest{Protocols: upnp, Pinholes: []planner.Pinhole{g}, Ops: []doOp{{Op: "observe"}, {Op: "addpinhole", Pinhole: renew}}})
	mustOK(t, "observe", rep.Results[0])
	mustOK(t, "renew", rep.Results[1])
	if ps := rep.Results[0].View.Pinholes; len(ps) != 1 || ps[0].ID != g.ID {
		t.Errorf("read back: %+v, want ID %d", ps, g.ID)
	}
	rg := rep.Results[1].Pinhole
	t.Logf("renewed %s: ID %d, lease %d s", rg, rg.ID, rg.LeaseSeconds)
	if rg.ID != g.ID || rg.LeaseSeconds != 900 {
		t.Errorf("renewal %+v, want ID %d lease 900", rg, g.ID)
	}
	if lines := logLines(l.Log(), "Pinhole"); !strings.Contains(lines, "UpdatePinhole") {
		t.Errorf("no UpdatePinhole in miniupnpd's log:\n%s", lines)
	} else {
		t.Logf("miniupnpd:\n%s", lines)
	}
	if rules := pinholeRules(t, l); len(rules) != 1 {
		t.Errorf("after renewal: %+v", rules)
	}

	// Host 2 cannot delete host 1's pinhole: 606, nothing deleted.
	rep = do(t, l, 2, doRequest{Protocols: upnp, Ops: []doOp{{Op: "deletepinhole", Pinhole: g}}})
	if r := rep.Results[0]; !r.NotOurs || !strings.Contains(r.Err, "606") {
		t.Errorf("host 2 deleting host 1's pinhole: %+v", r)
	} else {
		t.Logf("host 2: %s", r.Err)
	}
	if _, err := l.ProveReach6(ctx, 1, port); err != nil {
		t.Fatalf("after host 2's refused delete: %v", err)
	}

	// Ports below 1024 are refused, with a hint.
	low := planner.Pinhole{Protocol: planner.TCP, InternalAddress: l.HostAddr6(1), InternalPort: 80, LeaseSeconds: 600}
	rep = do(t, l, 1, doRequest{Protocols: upnp, Ops: []doOp{{Op: "addpinhole", Pinhole: low}}})
	if r := rep.Results[0]; !strings.Contains(r.Err, "606") || !strings.Contains(r.Err, "ports 1024 and up") {
		t.Errorf("pinhole to port 80: %+v", r)
	} else {
		t.Logf("port 80: %s", r.Err)
	}

	rep = do(t, l, 1, doRequest{Protocols: upnp, Pinholes: []planner.Pinhole{g}, Ops: []doOp{
		{Op: "deletepinhole", Pinhole: g}, {Op: "observe"}, {Op: "deletepinhole", Pinhole: g}}})
	mustOK(t, "delete pinhole", rep.Results[0])
	mustOK(t, "observe after delete", rep.Results[1])
	mustOK(t, "delete again", rep.Results[2])
	if v := rep.Results[1].View; !v.Can.ReadsPinholes || len(v.Pinholes) != 0 {
		t.Errorf("read back after delete: %+v", v.Pinholes)
	}
	if rules := pinholeRules(t, l); len(rules) != 0 {
		t.Errorf("after delete: %+v", rules)
	}
	out, _ = l.UPnPC6(ctx, 1, "-C", id)
	t.Logf("upnpc -6 -C %s after delete:\n%s", id, out)
	if !strings.Contains(out, "704") {
		t.Errorf("upnpc -C after delete: want 704 NoSuchEntry")
	}
	if err := l.ProveClosed6(ctx, 1, port, 3*time.Second); err != nil {
		t.Fatalf("after the delete: %v", err)
	}
}

var (
	upnpcIDRE      = regexp.MustCompile(`Pinhole ID = (\d+)`)
	upnpcPacketsRE = regexp.MustCompile(`PinholePackets = (\d+)`)
)

// upnpcUniqueID reads the pinhole ID `upnpc -6 -A` printed, or -1.
func upnpcUniqueID(out string) int { return firstInt(upnpcIDRE, out) }

// upnpcPackets reads the packet count `upnpc -6 -K` printed, or -1.
func upnpcPackets(out string) int { return firstInt(upnpcPacketsRE, out) }

func firstInt(re *regexp.Regexp, s string) int {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// logLines returns the lines of log that hold s.
func logLines(log, s string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestLabUPnPPinholeLinkLocal: most LANs route IPv6 through the router's
// link-local address (learnt from its router advertisements), so that is
// the gateway netplan42 finds. The IGD is reached there, on the zone of
// the host's interface, and the pinhole opened for the host's global
// address, proven by traffic.
func TestLabUPnPPinholeLinkLocal(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{IPv6: true, NoNATPMP: true})
	ctx := context.Background()
	const port = 4343
	out := l.Router().MustRun(t, "ip", "-6", "-o", "addr", "show", "dev", "br0", "scope", "link")
	m := regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/64`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("router br0 has no link-local address:\n%s", out)
	}
	l.Host(1).MustRun(t, "ip", "-6", "route", "replace", "default", "via", m[1], "dev", "eth0")
	t.Logf("host 1 routes IPv6 via %s%%eth0", m[1])

	upnp := []schema.Via{schema.ViaUPnP}
	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: l.HostAddr6(1), InternalPort: port, LeaseSeconds: 600}
	rep := do(t, l, 1, doRequest{Protocols: upnp, Ops: []doOp{{Op: "observe"}, {Op: "addpinhole", Pinhole: p}}})
	mustOK(t, "observe", rep.Results[0])
	mustOK(t, "add pinhole", rep.Results[1])
	if v := rep.Results[0].View; !v.Can.Pinholes || v.InternalAddress6 != l.HostAddr6(1) {
		t.Fatalf("view %+v", v)
	}
	g := rep.Results[1].Pinhole
	if rules := pinholeRules(t, l); len(rules) != 1 || rules[0].Internal != l.HostAddr6(1) || rules[0].Port != port {
		t.Fatalf("router's MINIUPNPD chain: %+v", rules)
	}
	if _, err := l.ProveReach6(ctx, 1, port); err != nil {
		t.Fatal(err)
	}
	if lines := logLines(l.Log(), "fe80"); lines != "" {
		t.Logf("miniupnpd:\n%s", lines)
	}
	rep = do(t, l, 1, doRequest{Protocols: upnp, Ops: []doOp{{Op: "deletepinhole", Pinhole: g}}})
	mustOK(t, "delete pinhole", rep.Results[0])
	if err := l.ProveClosed6(ctx, 1, port, 3*time.Second); err != nil {
		t.Fatalf("after the delete: %v", err)
	}
}
