//go:build !linux

package router

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/jackpal/gateway"
)

// gatewayTimeout bounds the route tool jackpal/gateway runs (route -n get
// on macOS, netstat -rn on FreeBSD, route print on Windows); the library
// takes no context.
const gatewayTimeout = 5 * time.Second

func init() {
	defaultGateway = func() (netip.Addr, error) {
		return discoverGateway(gateway.DiscoverGateway, gatewayTimeout)
	}
}

// discoverGateway runs discover with a deadline. A discover that hangs is
// left behind in its goroutine: the library offers no way to stop it.
func discoverGateway(discover func() (net.IP, error), timeout time.Duration) (netip.Addr, error) {
	type result struct {
		ip  net.IP
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ip, err := discover()
		ch <- result{ip, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return netip.Addr{}, fmt.Errorf("default gateway: %w", r.err)
		}
		a, ok := netip.AddrFromSlice(r.ip)
		if !ok || !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("default gateway: %v is not an IPv4 address (set the gateway in the config)", r.ip)
		}
		return a.Unmap(), nil
	case <-time.After(timeout):
		return netip.Addr{}, errors.New("default gateway: the route tool did not answer in " + timeout.String() + " (set the gateway in the config)")
	}
}
