// SSDP discovery of the gateway's Internet Gateway Device.
//
// References:
//   - UPnP Device Architecture 1.1, section 1.3.2 (M-SEARCH, unicast and
//     multicast search), 1.3.3 (search response: LOCATION, ST, USN,
//     BOOTID.UPNP.ORG).
//   - UPnP Device Architecture 2.0, section 1.3 (same headers; BOOTID is
//     required for UDA 1.1+ devices).
//
// Discovery is pinned to the gateway: a reply counts only when its UDP
// sender and the host of its LOCATION URL are both the gateway's address,
// so a rogue responder on the LAN is never fetched.

package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Search targets, in order of preference.
const (
	stWANIPv2  = "urn:schemas-upnp-org:service:WANIPConnection:2"
	stWANIPv1  = "urn:schemas-upnp-org:service:WANIPConnection:1"
	stWANPPPv1 = "urn:schemas-upnp-org:service:WANPPPConnection:1"
)

var searchTargets = []string{stWANIPv2, stWANIPv1, stWANPPPv1}

// stRootDevice is what a remembered IGD is confirmed by: every UPnP root
// device answers it.
const stRootDevice = "upnp:rootdevice"

// grace is how long discovery waits for a better search target's answer
// after the gateway answered one.
const grace = 100 * time.Millisecond

var ssdpMulticast = netip.MustParseAddrPort("239.255.255.250:1900")

// ssdpPort is where the gateway is searched by unicast; a variable so
// tests can answer on a port of their own.
var ssdpPort uint16 = 1900

// maxSSDPReply bounds one SSDP datagram we read.
const maxSSDPReply = 4096

// ssdpReply is a parsed SSDP search response.
type ssdpReply struct {
	ST       string
	Location string
	USN      string
	Server   string
	// BootID is BOOTID.UPNP.ORG; "" when absent.
	BootID string
}

// parseSSDPReply parses an SSDP search response (an HTTP/1.1 200 response
// over UDP, UDA 1.1 section 1.3.3).
func parseSSDPReply(b []byte) (ssdpReply, error) {
	if len(b) > maxSSDPReply {
		return ssdpReply{}, fmt.Errorf("ssdp reply of %d bytes is too long", len(b))
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return ssdpReply{}, fmt.Errorf("ssdp reply: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ssdpReply{}, fmt.Errorf("ssdp reply: status %s", resp.Status)
	}
	r := ssdpReply{
		ST:       strings.TrimSpace(resp.Header.Get("ST")),
		Location: strings.TrimSpace(resp.Header.Get("Location")),
		USN:      strings.TrimSpace(resp.Header.Get("USN")),
		Server:   strings.TrimSpace(resp.Header.Get("Server")),
		BootID:   strings.TrimSpace(resp.Header.Get("BOOTID.UPNP.ORG")),
	}
	if r.Location == "" {
		return r, errors.New("ssdp reply: no LOCATION")
	}
	return r, nil
}

// pinnedLocation checks that loc is an http URL whose host is gw, and
// returns it parsed.
func pinnedLocation(loc string, gw netip.Addr) (*url.URL, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("location %q: %v", loc, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("location %q: scheme is not http", loc)
	}
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil || host.Unmap() != gw {
		return nil, fmt.Errorf("location %q is not on the gateway %s", loc, gw)
	}
	return u, nil
}

func searchMessage(st string) []byte {
	return []byte("M-SEARCH * HTTP/1.1\r\n" +
		"HOST: 239.255.255.250:1900\r\n" +
		"MAN: \"ssdp:discover\"\r\n" +
		"MX: 1\r\n" +
		"ST: " + st + "\r\n" +
		"USER-AGENT: netplan42 UPnP/1.1\r\n\r\n")
}

// ssdpFound is the best reply discovery accepted, and what it rejected.
type ssdpFound struct {
	Reply    ssdpReply
	Location *url.URL
	Rejected []string // why other replies were ignored, for Notes
}

// errSSDPRefused reports that the gateway answered an M-SEARCH with ICMP
// port unreachable: nothing listens on its SSDP port.
var errSSDPRefused = errors.New("nothing listens there (ICMP port unreachable)")

// searchGateway sends M-SEARCH for every search target to the gateway
// (unicast) and to the SSDP multicast group, and waits until wait has passed
// or a reply for the most preferred target arrived. Only replies sent from
// gw with a LOCATION on gw are accepted.
//
// A router without UPnP would cost the whole wait, so one more M-SEARCH
// goes from a socket connected to the gateway's SSDP port: when the
// gateway answers it with ICMP port unreachable, that socket's read fails
// and the search ends at once. The socket only listens for that error;
// replies are read from the unconnected socket alone, whatever port a
// router answers from.
//
// With only set, the search confirms a router already known to answer
// that target (upnp:rootdevice) at the LOCATION at: the first M-SEARCH is
// one unicast for only, and the first reply for it from at ends the
// search (a router may hold other root devices, whose replies are passed
// over); the retransmission is the full search.
// Every M-SEARCH costs a router time (miniupnpd in the lab answered an
// HTTP request sent right after seven of them up to 130 ms late, after
// one about 20 ms late), so a confirmation sends as few as it can.
func searchGateway(ctx context.Context, gw netip.Addr, wait time.Duration, only string, at *url.URL) (ssdpFound, error) {
	var found ssdpFound
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return found, fmt.Errorf("ssdp: %v", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	unicast := net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, ssdpPort))
	multicast := net.UDPAddrFromAddrPort(ssdpMulticast)
	var refused atomic.Bool
	if only != "" {
		// No probe: the router is known to answer.
	} else if probe, err := net.DialUDP("udp4", nil, unicast); err == nil {
		done := make(chan struct{})
		defer func() { probe.Close(); <-done }()
		// Sent first: routers rate-limit their ICMP errors, and the
		// NAT-PMP probe and the searches below ask for some too.
		probe.Write(searchMessage(searchTargets[0]))
		go func() {
			defer close(done)
			buf := make([]byte, maxSSDPReply)
			for {
				_, err := probe.Read(buf)
				if errors.Is(err, syscall.ECONNREFUSED) {
					refused.Store(true)
					conn.SetReadDeadline(time.Now())
				}
				if err != nil {
					return
				}
			}
		}()
	}
	var sendErr error
	send := func() {
		for _, st := range searchTargets {
			msg := searchMessage(st)
			if _, err := conn.WriteToUDP(msg, unicast); err != nil {
				sendErr = err
			}
			// Multicast may fail without a multicast route; unicast is
			// enough for the gateway. A loopback gateway (a test's)
			// cannot answer it.
			if !gw.IsLoopback() {
				conn.WriteToUDP(msg, multicast)
			}
		}
	}
	if only != "" {
		if _, err := conn.WriteToUDP(searchMessage(only), unicast); err != nil {
			sendErr = err
		}
	} else {
		send()
	}
	resend := time.Now().Add(wait / 3)

	best := len(searchTargets)
	buf := make([]byte, maxSSDPReply)
	for {
		if best == 0 {
			break
		}
		if time.Now().After(resend) && best == len(searchTargets) {
			send() // UDP may be lost: one retransmission
			resend = deadline
		}
		readUntil := deadline
		if resend.Before(readUntil) && best == len(searchTargets) {
			readUntil = resend
		}
		conn.SetReadDeadline(readUntil)
		if refused.Load() {
			// After the deadline was set: a refusal stored later
			// also moves the deadline to now.
			break
		}
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(deadline) && ctx.Err() == nil {
				continue
			}
			break
		}
		r, err := parseSSDPReply(buf[:n])
		if err != nil {
			found.Rejected = append(found.Rejected, fmt.Sprintf("from %s: %v", from.Addr(), err))
			continue
		}
		if from.Addr().Unmap() != gw {
			found.Rejected = append(found.Rejected, fmt.Sprintf("reply from %s (LOCATION %s) ignored: not the gateway", from.Addr(), r.Location))
			continue
		}
		loc, err := pinnedLocation(r.Location, gw)
		if err != nil {
			found.Rejected = append(found.Rejected, "reply from the gateway ignored: "+err.Error())
			continue
		}
		if only != "" && r.ST == only && (at == nil || loc.String() == at.String()) {
			best = 0 // the one asked for: nothing better to wait for
			found.Reply, found.Location = r, loc
			break
		}
		for i, st := range searchTargets {
			if r.ST == st && i < best {
				if best == len(searchTargets) {
					// The gateway answered: the other targets' answers
					// come at once or not at all. The description,
					// not the search target, decides the service used.
					if g := time.Now().Add(grace); g.Before(deadline) {
						deadline = g
					}
				}
				best = i
				found.Reply, found.Location = r, loc
			}
		}
	}
	if best == len(searchTargets) {
		if sendErr != nil {
			return found, fmt.Errorf("ssdp search at %s: %v", gw, sendErr)
		}
		if ctx.Err() != nil {
			return found, ctx.Err()
		}
		if refused.Load() {
			return found, fmt.Errorf("ssdp search at %s: %w", unicast, errSSDPRefused)
		}
		return found, fmt.Errorf("no SSDP answer from %s within %v", gw, wait)
	}
	return found, nil
}
