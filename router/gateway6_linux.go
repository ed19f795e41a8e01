package router

import (
	"fmt"
	"net/netip"
	"os"
)

func init() {
	defaultGateway6 = func() (netip.Addr, error) {
		b, err := os.ReadFile("/proc/net/ipv6_route")
		if err != nil {
			return netip.Addr{}, fmt.Errorf("IPv6 default gateway: %v", err)
		}
		return parseProcNetIPv6Route(b)
	}
}
