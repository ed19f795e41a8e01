package diagnose

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/schema"
)

func TestJudgeIPv6(t *testing.T) {
	cfg := fleet()
	target := cfg.Computer("friend-pc")
	svc := target.Services[0]
	a6 := netip.MustParseAddr("2001:db8:7::10")
	for _, tc := range []struct {
		name     string
		versions []string
		e        Evidence
		want     Verdict
		says     string
	}{
		{"connected", nil, Evidence{Addr: a6, AddrSource: "from --address", Outcome: Connected}, OK, "connected"},
		{"timeout", nil, Evidence{Addr: a6, Outcome: TimedOut}, VTimeout, "no pinhole for 4242/tcp on its router"},
		{"refused", nil, Evidence{Addr: a6, Outcome: Refused}, VRefused, "nothing listens on 4242/tcp"},
		{"no route from here", nil, Evidence{Addr: a6, Outcome: Unreachable}, VUnknown, "no IPv6 route from here"},
		// By default IPv6 is optional: no address is no failure...
		{"no address, default", nil, Evidence{AddrError: `"friend" has no AAAA record`}, VUnknown, "no AAAA record"},
		// ...unless the service asks for IPv6 by name.
		{"no address, asked for", []string{schema.IPv6}, Evidence{AddrError: `"friend" has no AAAA record`}, NoAddress, "global IPv6 address is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *svc
			s.IPVersions = tc.versions
			r := Judge(Check{Target: target, Network: cfg.Networks[target.Network], Service: &s, Protocol: "tcp", Path: IPv6Path, Port: s.Port}, tc.e)
			if r.Verdict != tc.want || !strings.Contains(r.Detail+r.Cause, tc.says) {
				t.Errorf("verdict %s, detail %q, cause %q; want %s with %q", r.Verdict, r.Detail, r.Cause, tc.want, tc.says)
			}
			if tc.want.Failed() != !r.OK && r.Verdict != VUnknown {
				t.Errorf("OK %v for %s", r.OK, r.Verdict)
			}
		})
	}
}

func TestWithIPv6(t *testing.T) {
	cfg := fleet()
	from := cfg.Computer("desk")
	targets, _ := Targets(cfg, from, nil)
	checks, _ := PlanChecks(cfg, from, targets)
	friend := cfg.Computer("friend-pc")
	got := WithIPv6(checks, func(c *schema.Computer) bool { return c == friend })
	var six []string
	for _, c := range got {
		if c.Path == IPv6Path {
			six = append(six, c.Target.Name()+" "+c.Service.Name+" "+string(c.Protocol))
		}
	}
	// friend-pc's internet services, each protocol, at the service's own
	// port (a pinhole has no external port).
	if strings.Join(six, ", ") != "friend-pc crashplan tcp, friend-pc game tcp, friend-pc game udp" {
		t.Errorf("IPv6 checks: %q", six)
	}
	for _, c := range got {
		if c.Path == IPv6Path && c.Port != c.Service.Port {
			t.Errorf("%s: port %d, want the service's %d", c.Service.Name, c.Port, c.Service.Port)
		}
	}
	if len(WithIPv6(checks, func(*schema.Computer) bool { return false })) != len(checks) {
		t.Error("IPv6 checks without a known address")
	}
}
