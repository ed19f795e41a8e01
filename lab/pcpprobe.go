//go:build linux

package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// PCPPort is the router's PCP and NAT-PMP port (RFC 6887 section 19.1).
const PCPPort = 5351

// PCPAnnounce returns a PCP ANNOUNCE request (RFC 6887 section 14.1) from
// client: the smallest PCP request, to ask whether a router speaks PCP.
// The lab builds its own so it does not depend on package router.
func PCPAnnounce(client netip.Addr) []byte {
	b := make([]byte, 24)
	b[0] = 2 // version
	a := client.As16()
	copy(b[8:], a[:])
	return b
}

// PCPExchangeChild is the child function PCPExchange runs: it sends the
// hex packet args[1] to args[0]:5351 over UDP, resending twice at 500 ms,
// and prints the first reply in hex.
func PCPExchangeChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: pcp SERVER HEX")
	}
	server, err := netip.ParseAddr(args[0])
	if err != nil {
		return err
	}
	req, err := hex.DecodeString(args[1])
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, PCPPort)))
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1100) // RFC 6887 section 7: messages are at most 1100 bytes
	for try := 0; try < 3; try++ {
		if _, err := c.Write(req); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			// ICMP port unreachable: nothing listens on 5351.
			return fmt.Errorf("pcp %s: port unreachable: %w", netip.AddrPortFrom(server, PCPPort), ErrNoAnswer)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stdout, hex.EncodeToString(buf[:n]))
		return nil
	}
	return fmt.Errorf("pcp %s: %w", netip.AddrPortFrom(server, PCPPort), ErrNoAnswer)
}

// ErrNoAnswer says a PCPExchange got no reply in 1.5 s, or an ICMP port
// unreachable.
var ErrNoAnswer = errors.New("no answer")

// PCPExchange sends req from namespace ns (a LAN host) to server:5351,
// where server is the router's LAN address (RouterLAN or RouterLAN6), and
// returns the reply. errors.Is(err, ErrNoAnswer) when nothing answered.
// The running binary must serve Children.
func (l *Lab) PCPExchange(ctx context.Context, ns *Namespace, server netip.Addr, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := ns.Child(ctx, "lab-pcp", server.String(), hex.EncodeToString(req))
	if err != nil {
		if strings.Contains(err.Error(), ErrNoAnswer.Error()) {
			return nil, fmt.Errorf("%s -> %s: %w", ns.Name, netip.AddrPortFrom(server, PCPPort), ErrNoAnswer)
		}
		return nil, err
	}
	return hex.DecodeString(strings.TrimSpace(out))
}

// UPnPC6 runs the independent client `upnpc -6 -u RootDescURL6() ARGS…`
// in LAN host i: pinholes (-A, -U, -C, -K, -D) are served over IPv6 only.
func (l *Lab) UPnPC6(ctx context.Context, i int, args ...string) (string, error) {
	u := l.RootDescURL6()
	if u == "" {
		return "", errors.New("lab: no IGD over IPv6 (Spec.IPv6 unset or UPnP off)")
	}
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	return l.Host(i).Run(ctx, "upnpc", append([]string{"-6", "-u", u}, args...)...)
}
