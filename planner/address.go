package planner

import (
	"fmt"
	"net/netip"
)

// Address returns a resource's address: router_mapping.crashplan["tcp"].
func Address(kind Kind, service string, proto Protocol) string {
	return fmt.Sprintf("%s.%s[%q]", kind, service, proto)
}

// AddressClass says what kind of address a router's external address is;
// everything but Public means mappings are not reachable from the internet.
type AddressClass string

const (
	Public   AddressClass = "public"
	Shared   AddressClass = "shared"   // 100.64.0.0/10, carrier-grade NAT (RFC 6598)
	Private  AddressClass = "private"  // RFC 1918 / ULA: another router upstream
	Reserved AddressClass = "reserved" // documentation, benchmarking, loopback, link-local, ...
	Unknown  AddressClass = "unknown"  // not observed
)

var (
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
	reserved    = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
)

// Classify tells whether a router's external address can receive
// connections from the internet, and if not, why, in a sentence.
func Classify(a netip.Addr) (AddressClass, string) {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return Unknown, "the router's external address is not known"
	case sharedSpace.Contains(a):
		return Shared, fmt.Sprintf("the router's external address %s is in 100.64.0.0/10, the shared address space of carrier-grade NAT (RFC 6598): your ISP puts another NAT in front of your router, so mappings on your router cannot be reached from the internet; ask the ISP for a public IPv4 address, or use IPv6", a)
	case a.IsPrivate():
		return Private, fmt.Sprintf("the router's external address %s is private: the router sits behind another router (double NAT), so its mappings cannot be reached from the internet until the upstream router forwards the same ports to it, or runs in bridge mode", a)
	case a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast():
		return Reserved, fmt.Sprintf("the router's external address %s is not routable on the internet, so mappings cannot be reached from outside", a)
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return Reserved, fmt.Sprintf("the router's external address %s is in the reserved range %s, not routable on the internet, so mappings cannot be reached from outside", a, p)
		}
	}
	return Public, ""
}
