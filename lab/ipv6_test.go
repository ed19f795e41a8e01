//go:build linux

package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHostAddr6(t *testing.T) {
	for i, want := range map[int]string{1: "2001:db8:1::10", 2: "2001:db8:1::11", 17: "2001:db8:1::20"} {
		if got := HostAddr6(i).String(); got != want {
			t.Errorf("HostAddr6(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestParsePinholes(t *testing.T) {
	// ip6tables-legacy -S MINIUPNPD in the lab after `upnpc -6 -A` for
	// 2001:db8:1::10 TCP 5000 and a PCP MAP over IPv6 for UDP 6000.
	out := "-N MINIUPNPD\n" +
		"-A MINIUPNPD -d 2001:db8:1::10/128 -p tcp -m tcp --dport 5000 -j ACCEPT\n" +
		"-A MINIUPNPD -d 2001:db8:1::10/128 -p udp -m udp --dport 6000 -j ACCEPT\n" +
		"-A MINIUPNPD -j DROP\n"
	rules, other := ParsePinholes(out)
	if len(rules) != 2 || len(other) != 1 || other[0] != "-A MINIUPNPD -j DROP" {
		t.Fatalf("ParsePinholes = %+v, %q", rules, other)
	}
	if r := rules[1]; r.Internal != HostAddr6(1) || r.Protocol != "udp" || r.Port != 6000 || r.Remote.IsValid() {
		t.Errorf("rule 2 = %+v", r)
	}
}

// The dual-stack lab: the router forwards inbound IPv6 only through a
// pinhole. Before one, a connection from the internet host to a LAN
// host's global address is dropped; after `upnpc -6 -A` it arrives from
// the internet host's own address (no NAT); after `upnpc -6 -D` it is
// dropped again. The pinhole is the router's ip6tables rule.
func TestDualStackPinhole(t *testing.T) {
	Require(t)
	ctx := context.Background()
	l := StartT(t, Spec{Hosts: 2, IPv6: true})
	for _, ns := range l.Hosts() {
		ns.MustRun(t, "ping", "-6", "-c1", "-W2", RouterLAN6.String())
	}
	l.Internet().MustRun(t, "ping", "-6", "-c1", "-W2", WAN6.Addr().String())
	// IPv4 is as before.
	if _, err := l.ProveForward(ctx, 1, 4000, 4000); err == nil {
		t.Fatal("IPv4 forward without a mapping connected")
	}
	if !strings.HasPrefix(l.RootDescURL6(), "http://[2001:db8:1::1]:") {
		t.Fatalf("RootDescURL6 = %q; log:\n%s", l.RootDescURL6(), l.Log())
	}

	if err := l.ProveClosed6(ctx, 1, 5000, 2*time.Second); err != nil {
		t.Fatalf("before any pinhole: %v", err)
	}
	out, err := l.UPnPC6(ctx, 1, "-A", "", "0", HostAddr6(1).String(), "5000", "TCP", "3600")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Pinhole ID = (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("upnpc -6 -A:\n%s", out)
	}
	rules, err := l.Pinholes6(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ip6tables-legacy -S MINIUPNPD:\n%s", rules)
	if r, other := ParsePinholes(rules); len(r) != 1 || len(other) != 0 || r[0].Internal != HostAddr6(1) || r[0].Protocol != "tcp" || r[0].Port != 5000 {
		t.Fatalf("pinholes %+v, other %q", r, other)
	}
	from, err := l.ProveReach6(ctx, 1, 5000)
	if err != nil {
		t.Fatalf("with a pinhole: %v", err)
	}
	if from.Addr() != Internet6 {
		t.Errorf("arrived from %s, want %s", from, Internet6)
	}
	// The pinhole is host1's only.
	if err := l.ProveClosed6(ctx, 2, 5000, 2*time.Second); err != nil {
		t.Errorf("host2 through host1's pinhole: %v", err)
	}
	if out, err := l.UPnPC6(ctx, 1, "-D", m[1]); err != nil {
		t.Fatalf("upnpc -6 -D %s: %v\n%s", m[1], err, out)
	}
	if err := l.ProveClosed6(ctx, 1, 5000, 2*time.Second); err != nil {
		t.Fatalf("after the pinhole is deleted: %v", err)
	}
}

// What answers in each protocol mode of a dual-stack lab, checked with a
// PCP ANNOUNCE over IPv4 and IPv6 and the IGD over IPv6.
func TestDualStackModes(t *testing.T) {
	Require(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		spec       Spec
		pcp4, pcp6 bool
		upnp       bool
	}{
		{"both", Spec{IPv6: true}, true, true, true},
		{"no upnp", Spec{IPv6: true, NoUPnP: true}, true, true, false},
		// With enable_natpmp=no miniupnpd 2.3.1 closes 5351 on IPv4 (port
		// unreachable) but still answers PCP over IPv6, epoch 0, and
		// makes pinholes (below).
		{"no natpmp", Spec{IPv6: true, NoNATPMP: true}, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := StartT(t, tc.spec)
			for _, c := range []struct {
				family string
				server string
				want   bool
				client func() []byte
			}{
				{"ipv4", RouterLAN.String(), tc.pcp4, func() []byte { return PCPAnnounce(HostAddr(1)) }},
				{"ipv6", RouterLAN6.String(), tc.pcp6, func() []byte { return PCPAnnounce(HostAddr6(1)) }},
			} {
				server := RouterLAN
				if c.family == "ipv6" {
					server = RouterLAN6
				}
				resp, err := l.PCPExchange(ctx, l.Host(1), server, c.client())
				switch {
				case c.want && err != nil:
					t.Errorf("PCP ANNOUNCE over %s: %v", c.family, err)
				case c.want && (len(resp) < 24 || resp[0] != 2 || resp[1] != 0x80 || resp[3] != 0):
					t.Errorf("PCP ANNOUNCE over %s: reply %x", c.family, resp)
				case !c.want && !errors.Is(err, ErrNoAnswer):
					t.Errorf("PCP ANNOUNCE over %s: want no answer, got %x, %v", c.family, resp, err)
				}
			}
			if got := l.RootDescURL6() != ""; got != tc.upnp {
				t.Fatalf("RootDescURL6 = %q", l.RootDescURL6())
			}
			if tc.spec.NoNATPMP {
				// PCP MAP TCP 5000 over IPv6 for host1, PREFER_FAILURE
				// (router/testdata/pcp/map-tcp-5000-v6.hex).
				req, _ := hex.DecodeString("020100000000025820010db80001000000000000000000100102030405060708090a0b0c06000000138813880000000000000000000000000000000002000000")
				resp, err := l.PCPExchange(ctx, l.Host(1), RouterLAN6, req)
				if err != nil || len(resp) < 60 || resp[3] != 0 {
					t.Fatalf("PCP MAP over IPv6 with NAT-PMP off: %x, %v", resp, err)
				}
				rules, _ := l.Pinholes6(ctx)
				if r, _ := ParsePinholes(rules); len(r) != 1 || r[0].Port != 5000 {
					t.Fatalf("after PCP MAP over IPv6 with NAT-PMP off: %s", rules)
				}
				t.Logf("NAT-PMP off: PCP over IPv6 answered %x and made %s", resp, strings.TrimSpace(rules))
			}
			if tc.upnp {
				out, err := l.UPnPC6(ctx, 1, "-S")
				if err != nil || !strings.Contains(out, "FirewallEnabled: 1") {
					t.Errorf("upnpc -6 -S: %v\n%s", err, out)
				}
			}
		})
	}
}
