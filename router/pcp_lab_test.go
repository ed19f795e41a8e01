//go:build linux

package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// TestLabPCP drives a router with UPnP off, so only NAT-PMP and PCP
// answer, over PCP alone, and proves each step with traffic from the
// internet host: closed before, open after MAP, a delete carrying another
// nonce refused (and the port still open), closed after our delete; a
// second host asking for the taken port is refused (PREFER_FAILURE), not
// given another.
func TestLabPCP(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 2, NoUPnP: true})
	pcp := []schema.Via{schema.ViaPCP}
	ctx := context.Background()

	if from, err := l.ProveForward(ctx, 1, 4242, 4242); err == nil {
		t.Fatalf("port 4242 open before any mapping (from %s)", from)
	}

	m := ours(4242, 3600)
	rep := do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: m}}})
	if rep.Protocol != schema.ViaPCP {
		t.Fatalf("protocol %q, want pcp: %+v", rep.Protocol, rep.Results)
	}
	v := rep.Results[0].View
	mustOK(t, "observe", rep.Results[0])
	mustOK(t, "add", rep.Results[1])
	if !v.HasEpoch || v.Can.ReadsEntries || v.Listed {
		t.Errorf("view %+v", v)
	}
	g := rep.Results[1].Grant
	t.Logf("grant %+v nonce %s", g.Mapping, g.Mapping.Nonce)
	if len(g.Mapping.Nonce) != 24 || g.Mapping.ExternalPort != 4242 || g.Mapping.LeaseSeconds == 0 || !g.Undescribed {
		t.Fatalf("grant %+v", g)
	}
	from, err := l.ProveForward(ctx, 1, 4242, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if from.Addr() != l.InternetAddr() {
		t.Errorf("connection came from %s, want %s", from, l.InternetAddr())
	}

	// Another host asking for the taken port: refused, not moved.
	other := ours(4242, 3600)
	rep = do(t, l, 2, doRequest{Protocols: pcp, Ops: []doOp{{Op: "add", Mapping: other}}})
	if r := rep.Results[0]; !r.Conflict {
		t.Errorf("host2 asking for the taken port: want a conflict, got %+v", r)
	}

	// A delete with another nonce is refused; ours still forwards.
	forged := g.Mapping
	forged.Nonce = strings.Repeat("ab", 12)
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "delete", Mapping: forged}}})
	if r := rep.Results[0]; r.Err == "" || !strings.Contains(r.Err, "NOT_AUTHORIZED") {
		t.Errorf("delete with another nonce: want NOT_AUTHORIZED, got %+v", r)
	}
	if _, err := l.ProveForward(ctx, 1, 4242, 4242); err != nil {
		t.Fatalf("after a refused delete: %v", err)
	}

	// Renewing with the kept nonce keeps the same mapping; the router
	// clamps a short lifetime up.
	renew := g.Mapping
	renew.LeaseSeconds = 30
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "add", Mapping: renew}}})
	mustOK(t, "renew", rep.Results[0])
	rg := rep.Results[0].Grant
	t.Logf("renewed: lease %d s, note %q", rg.Mapping.LeaseSeconds, rg.Note)
	if rg.Mapping.Nonce != g.Mapping.Nonce || rg.Mapping.LeaseSeconds < 30 {
		t.Errorf("renewal grant %+v", rg.Mapping)
	}

	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "delete", Mapping: g.Mapping}}})
	mustOK(t, "delete", rep.Results[0])
	if from, err := l.ProveForward(ctx, 1, 4242, 4242); err == nil {
		t.Fatalf("port 4242 still open after delete (from %s)", from)
	}
	// Host 2 may have it now.
	rep = do(t, l, 2, doRequest{Protocols: pcp, Ops: []doOp{{Op: "add", Mapping: other}}})
	mustOK(t, "host2 add after delete", rep.Results[0])
}

// TestLabPCPDiscovery: with PCP listed first, a router that speaks both
// NAT-PMP and PCP is driven over PCP; with NAT-PMP first, over NAT-PMP.
func TestLabPCPDiscovery(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{NoUPnP: true})
	for _, order := range [][]schema.Via{{schema.ViaPCP, schema.ViaNATPMP}, {schema.ViaNATPMP, schema.ViaPCP}} {
		start := time.Now()
		rep := do(t, l, 1, doRequest{Protocols: order, Ops: []doOp{{Op: "observe"}}})
		t.Logf("%v: %s in %v (child ran %v)", order, rep.Protocol, time.Since(start), rep.OpenTime)
		if rep.Protocol != order[0] {
			t.Errorf("order %v: driven over %s", order, rep.Protocol)
		}
		if v := rep.Results[0].View; v.Protocol != order[0] || !v.HasEpoch {
			t.Errorf("order %v: view %+v", order, v)
		}
	}
}

// TestLabPCPPinhole opens an IPv6 pinhole over PCP on a dual-stack router
// with UPnP off, proven by traffic from the internet host to host 1's
// global address and by the router's own ip6tables chain: dropped before,
// through after, dropped again after the delete; a delete with another
// nonce is refused.
func TestLabPCPPinhole(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{NoUPnP: true, IPv6: true})
	ctx := context.Background()
	const port = 5042
	if err := l.ProveClosed6(ctx, 1, port, 3*time.Second); err != nil {
		t.Fatalf("before the pinhole: %v", err)
	}
	pcp := []schema.Via{schema.ViaPCP}
	rep := do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "observe"}}})
	mustOK(t, "observe", rep.Results[0])
	v := rep.Results[0].View
	t.Logf("view: can %+v, address6 %s, notes %q", v.Can, v.InternalAddress6, v.Notes)
	if !v.Can.Pinholes || v.InternalAddress6 != l.HostAddr6(1) {
		t.Fatalf("view %+v", v)
	}
	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: l.HostAddr6(1), InternalPort: port, LeaseSeconds: 600}
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "addpinhole", Pinhole: p}}})
	mustOK(t, "add pinhole", rep.Results[0])
	g := rep.Results[0].Pinhole
	t.Logf("granted %+v", g)
	if len(g.Nonce) != 24 || g.LeaseSeconds == 0 {
		t.Fatalf("grant %+v", g)
	}
	rules := pinholeRules(t, l)
	if len(rules) != 1 || rules[0].Internal != l.HostAddr6(1) || rules[0].Port != port || rules[0].Protocol != "tcp" {
		t.Fatalf("router's MINIUPNPD chain: %+v", rules)
	}
	from, err := l.ProveReach6(ctx, 1, port)
	if err != nil {
		t.Fatal(err)
	}
	if from.Addr() != l.InternetAddr6() {
		t.Errorf("came from %s, want %s", from, l.InternetAddr6())
	}

	forged := g
	forged.Nonce = strings.Repeat("cd", 12)
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "deletepinhole", Pinhole: forged}}})
	if r := rep.Results[0]; !strings.Contains(r.Err, "NOT_AUTHORIZED") {
		t.Errorf("delete with another nonce: %+v", r)
	}
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "deletepinhole", Pinhole: g}}})
	mustOK(t, "delete pinhole", rep.Results[0])
	if rules := pinholeRules(t, l); len(rules) != 0 {
		t.Errorf("after delete: %+v", rules)
	}
	if err := l.ProveClosed6(ctx, 1, port, 3*time.Second); err != nil {
		t.Fatalf("after the delete: %v", err)
	}
}

func pinholeRules(t *testing.T, l *lab.Lab) []lab.PinholeRule {
	t.Helper()
	out, err := l.Pinholes6(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rules, other := lab.ParsePinholes(out)
	if len(other) > 0 {
		t.Logf("other lines in MINIUPNPD: %q", other)
	}
	return rules
}

// TestLabPCPRestartWithoutLeases: miniupnpd restarted without its lease
// file keeps the rules of our PCP mapping, described "miniupnpd", and its
// epoch (system uptime) does not go back. A renewal with our nonce must
// still work, or the agent could never repair it.
func TestLabPCPRestartWithoutLeases(t *testing.T) {
	lab.Require(t)
	l := lab.StartT(t, lab.Spec{})
	pcp := []schema.Via{schema.ViaPCP}
	m := ours(4242, 600)
	rep := do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "add", Mapping: m}, {Op: "observe"}}})
	mustOK(t, "add", rep.Results[0])
	g, e1 := rep.Results[0].Grant, rep.Results[1].View.Epoch
	if err := l.RestartRouterLosingLeases(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := upnpcList(t, l, 1)
	t.Logf("after the restart, upnpc -l: %q", list)
	if len(list) != 1 || !strings.Contains(list[0], "'miniupnpd'") {
		t.Fatalf("want our rule restored as 'miniupnpd': %q", list)
	}
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "observe"}, {Op: "add", Mapping: g.Mapping}}})
	t.Logf("epoch %d -> %d; renew: %+v", e1, rep.Results[0].View.Epoch, rep.Results[1])
	mustOK(t, "renew after restart", rep.Results[1])
	if _, err := l.ProveForward(context.Background(), 1, 4242, 4242); err != nil {
		t.Fatalf("not forwarded after the renewal: %v", err)
	}
	rep = do(t, l, 1, doRequest{Protocols: pcp, Ops: []doOp{{Op: "delete", Mapping: g.Mapping}}})
	mustOK(t, "delete after restart", rep.Results[0])
	if list := upnpcList(t, l, 1); len(list) != 0 {
		t.Errorf("after delete, upnpc -l: %q", list)
	}
}
