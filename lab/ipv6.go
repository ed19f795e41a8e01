//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// The dual-stack lab (Spec.IPv6). Addresses come from 2001:db8::/32
// (RFC 3849); miniupnpd 2.3.1 does not check IPv6 for reserved ranges.
var (
	// LANPrefix6 is the LAN's prefix on br0; hosts route via RouterLAN6.
	LANPrefix6 = netip.MustParsePrefix("2001:db8:1::/64")
	// RouterLAN6 is the router's global address on br0.
	RouterLAN6 = netip.MustParseAddr("2001:db8:1::1")
	// WAN6 is the router's WAN address and prefix on wan0.
	WAN6 = netip.MustParsePrefix("2001:db8:ff::1/64")
	// Internet6 is the internet host's address; it routes LANPrefix6 via
	// WAN6's address.
	Internet6 = netip.MustParseAddr("2001:db8:ff::fe")
)

// HostAddr6 returns the global address of LAN host i (1-based) in a
// dual-stack lab: 2001:db8:1::10 for host 1, ::11 for host 2, …
func HostAddr6(i int) netip.Addr {
	a := LANPrefix6.Addr().As16()
	n := 0x0f + i
	a[14], a[15] = byte(n>>8), byte(n)
	return netip.AddrFrom16(a)
}

// noDAD switches IPv6 duplicate address detection off in every namespace
// before its links exist: a tentative address cannot be used for a second
// or more (bind fails, the kernel picks another source), which made
// start-up racy. Addresses are also added with nodad.
func (l *Lab) noDAD(ctx context.Context) error {
	for _, ns := range append([]*Namespace{l.router, l.internet}, l.hosts...) {
		if err := runAll(ctx, ns, [][]string{{"sysctl", "-qw",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}}); err != nil {
			return err
		}
	}
	return nil
}

// wire6 gives the lab's links their IPv6 addresses and routes and turns on
// forwarding in the router. IPv4 wiring (wire) has made the links.
func (l *Lab) wire6(ctx context.Context) error {
	r := l.router
	if err := runAll(ctx, r, [][]string{
		{"ip", "-6", "addr", "add", netip.PrefixFrom(RouterLAN6, LANPrefix6.Bits()).String(), "dev", "br0", "nodad"},
		{"ip", "-6", "addr", "add", WAN6.String(), "dev", "wan0", "nodad"},
		{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
	}); err != nil {
		return err
	}
	for i, h := range l.hosts {
		if err := runAll(ctx, h, [][]string{
			{"ip", "-6", "addr", "add", netip.PrefixFrom(HostAddr6(i+1), LANPrefix6.Bits()).String(), "dev", "eth0", "nodad"},
			{"ip", "-6", "route", "add", "default", "via", RouterLAN6.String()},
		}); err != nil {
			return err
		}
	}
	return runAll(ctx, l.internet, [][]string{
		{"ip", "-6", "addr", "add", netip.PrefixFrom(Internet6, WAN6.Bits()).String(), "dev", "eth0", "nodad"},
		{"ip", "-6", "route", "add", LANPrefix6.String(), "via", WAN6.Addr().String()},
	})
}

// createChains6 builds the router's IPv6 forward firewall in
// ip6tables-legacy (miniupnpd uses libip6tc): inbound from wan0 goes
// through miniupnpd's MINIUPNPD chain, where its pinholes are; replies and
// LAN-out are accepted; the policy drops the rest. It runs once, on a new
// router namespace.
func (l *Lab) createChains6(ctx context.Context) error {
	return runAll(ctx, l.router, [][]string{
		{"ip6tables-legacy", "-N", "MINIUPNPD"},
		{"ip6tables-legacy", "-A", "FORWARD", "-i", "wan0", "!", "-o", "wan0", "-j", "MINIUPNPD"},
		{"ip6tables-legacy", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"ip6tables-legacy", "-A", "FORWARD", "-i", "br0", "-o", "wan0", "-j", "ACCEPT"},
		{"ip6tables-legacy", "-P", "FORWARD", "DROP"},
	})
}

// RouterLAN6 returns the router's global LAN address; invalid when the
// lab is not dual-stack.
func (l *Lab) RouterLAN6() netip.Addr {
	if !l.Spec.IPv6 {
		return netip.Addr{}
	}
	return RouterLAN6
}

// RouterWAN6 returns the router's WAN address; invalid when the lab is not
// dual-stack.
func (l *Lab) RouterWAN6() netip.Addr {
	if !l.Spec.IPv6 {
		return netip.Addr{}
	}
	return WAN6.Addr()
}

// InternetAddr6 returns the internet host's IPv6 address; invalid when
// the lab is not dual-stack.
func (l *Lab) InternetAddr6() netip.Addr {
	if !l.Spec.IPv6 {
		return netip.Addr{}
	}
	return Internet6
}

// HostAddr6 returns LAN host i's global address (1-based); invalid when
// the lab is not dual-stack.
func (l *Lab) HostAddr6(i int) netip.Addr {
	if !l.Spec.IPv6 {
		return netip.Addr{}
	}
	return HostAddr6(i)
}

// RootDescURL6 returns the URL of miniupnpd's device description over
// IPv6, "http://[2001:db8:1::1]:PORT/rootDesc.xml": miniupnpd accepts
// pinhole actions (WANIPv6FirewallControl) only over IPv6. It is "" when
// UPnP is off or the lab is not dual-stack.
func (l *Lab) RootDescURL6() string {
	m := httpPortRE.FindAllStringSubmatch(l.Log(), -1)
	if len(m) == 0 || l.Spec.NoUPnP || !l.Spec.IPv6 {
		return ""
	}
	return fmt.Sprintf("http://[%s]:%s/rootDesc.xml", RouterLAN6, m[len(m)-1][1])
}

// Pinholes6 returns `ip6tables-legacy -S MINIUPNPD` in the router: the
// chain's own "-N MINIUPNPD" line, then one "-A MINIUPNPD …" line per
// pinhole rule miniupnpd made.
func (l *Lab) Pinholes6(ctx context.Context) (string, error) {
	if !l.Spec.IPv6 {
		return "", fmt.Errorf("lab: not dual-stack (Spec.IPv6)")
	}
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	return l.router.Run(ctx, "ip6tables-legacy", "-S", "MINIUPNPD")
}

// PinholeRule is one ACCEPT rule of miniupnpd's ip6tables MINIUPNPD chain.
type PinholeRule struct {
	Remote   netip.Prefix // -s; invalid when any remote host may connect
	Internal netip.Addr   // -d: the LAN host
	Protocol string       // "tcp" or "udp"
	Port     uint16       // --dport: the LAN host's port
	Rule     string       // the rule as ip6tables -S printed it
}

var pinholeRE = regexp.MustCompile(`^-A MINIUPNPD (?:-s (\S+) )?-d (\S+) -(?:i \S+ )?p (tcp|udp) -m (?:tcp|udp) --dport (\d+) -j ACCEPT$`)

// ParsePinholes decodes Pinholes6's output into its pinhole rules; lines
// it does not know come back in other.
func ParsePinholes(out string) (rules []PinholeRule, other []string) {
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "-N MINIUPNPD" {
			continue
		}
		m := pinholeRE.FindStringSubmatch(line)
		if m == nil {
			other = append(other, line)
			continue
		}
		r := PinholeRule{Protocol: m[3], Rule: line}
		if m[1] != "" {
			p, err := netip.ParsePrefix(m[1])
			if err != nil {
				other = append(other, line)
				continue
			}
			r.Remote = p
		}
		d, err := netip.ParsePrefix(m[2])
		if err != nil {
			other = append(other, line)
			continue
		}
		r.Internal = d.Addr()
		var port int
		fmt.Sscanf(m[4], "%d", &port)
		r.Port = uint16(port)
		rules = append(rules, r)
	}
	return rules, other
}
