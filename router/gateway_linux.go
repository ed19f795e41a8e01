package router

import (
	"fmt"
	"net/netip"
	"os"
)

func init() {
	defaultGateway = func() (netip.Addr, error) {
		b, err := os.ReadFile("/proc/net/route")
		if err != nil {
			return netip.Addr{}, fmt.Errorf("default gateway: %v", err)
		}
		return parseProcNetRoute(b)
	}
}
