package router

import (
	"fmt"
	"net/netip"
	"os"
)

// On Linux the gateway comes from our /proc/net/route parser, not
// jackpal/gateway: both read the same table, but the library (v1.0.6)
// takes the first row whatever its destination and flags, where
// parseProcNetRoute takes the up default route with the lowest metric (the
// kernel's choice when wired and Wi-Fi both have one); the lab proves it.
func init() {
	defaultGateway = func() (netip.Addr, error) {
		b, err := os.ReadFile("/proc/net/route")
		if err != nil {
			return netip.Addr{}, fmt.Errorf("default gateway: %v", err)
		}
		return parseProcNetRoute(b)
	}
}
