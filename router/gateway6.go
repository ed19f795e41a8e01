package router

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// defaultGateway6 returns the next hop of the default IPv6 route, with its
// interface as the zone when it is link-local; set per OS (Linux reads
// /proc/net/ipv6_route), else it says pinholes need Linux for now.
var defaultGateway6 = func() (netip.Addr, error) {
	return netip.Addr{}, fmt.Errorf("the IPv6 default route is read on Linux only")
}

// parseProcNetIPv6Route returns the up default route's next hop with the
// lowest metric from /proc/net/ipv6_route: per line, destination and its
// length, source and its length, next hop, metric, refcount, use, flags
// (all hex) and the interface.
func parseProcNetIPv6Route(b []byte) (netip.Addr, error) {
	const rtfUp, rtfGateway = 0x1, 0x2
	var best netip.Addr
	bestMetric := uint64(1<<64 - 1)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != strings.Repeat("0", 32) || f[1] != "00" {
			continue
		}
		flags, err1 := strconv.ParseUint(f[8], 16, 32)
		metric, err2 := strconv.ParseUint(f[5], 16, 32)
		nh, err3 := hex.DecodeString(f[4])
		if err1 != nil || err2 != nil || err3 != nil || len(nh) != 16 || flags&rtfUp == 0 || flags&rtfGateway == 0 {
			continue
		}
		a := netip.AddrFrom16([16]byte(nh))
		if a.IsLinkLocalUnicast() {
			a = a.WithZone(f[9])
		}
		if metric < bestMetric {
			best, bestMetric = a, metric
		}
	}
	if !best.IsValid() {
		return best, fmt.Errorf("no IPv6 default route")
	}
	return best, nil
}

// globalAddr6 returns this host's global IPv6 address: the source the
// kernel picks towards a global destination via the default route. No
// packet is sent. A link-local, unique local (fc00::/7) or missing
// address is an error: no pinhole can reach it from the internet.
func globalAddr6() (netip.Addr, error) {
	// 2001:db8::1 (documentation prefix, RFC 3849) is routed like any
	// global address, by the default route, and never answers.
	c, err := net.DialUDP("udp6", nil, &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 9})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no IPv6 route to the internet: %v", err)
	}
	defer c.Close()
	a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("this host's IPv6 source address %s is not global", a)
	}
	return a, nil
}
