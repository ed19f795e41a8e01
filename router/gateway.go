package router

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// defaultGateway returns the next hop of the IPv4 default route. It is a
// variable so tests can supply their own; gateway_linux.go and
// gateway_other.go set it.
var defaultGateway = func() (netip.Addr, error) {
	return netip.Addr{}, errors.New("finding the default gateway is not supported on this system; set the gateway in the config")
}

// parseProcNetRoute returns the gateway of the IPv4 default route with the
// lowest metric in /proc/net/route's text. Addresses there are hex in host
// byte order (little-endian on every Linux port netplan42 runs on).
func parseProcNetRoute(b []byte) (netip.Addr, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	best, bestMetric := netip.Addr{}, uint64(1<<63)
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if first {
			first = false
			if len(f) > 0 && f[0] == "Iface" {
				continue
			}
		}
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue // not a default route (destination and mask 0)
		}
		flags, err := strconv.ParseUint(f[3], 16, 16)
		if err != nil || flags&0x1 == 0 || flags&0x2 == 0 { // RTF_UP, RTF_GATEWAY
			continue
		}
		gw, err := hex.DecodeString(f[2])
		if err != nil || len(gw) != 4 {
			continue
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(gw))
		metric, err := strconv.ParseUint(f[6], 10, 32)
		if err != nil {
			continue
		}
		if metric < bestMetric {
			best, bestMetric = netip.AddrFrom4(a), metric
		}
	}
	if !best.IsValid() {
		return best, errors.New("no IPv4 default route")
	}
	return best, nil
}

// localAddr returns this host's source address towards gw: connecting a
// UDP socket picks the route and source without sending a packet.
func localAddr(gw netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 1900)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("source address towards %s: %v", gw, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
