// UPnP IPv6 pinholes: the IGD's WANIPv6FirewallControl:1 service.
//
// References:
//   - UPnP IGD v2: WANIPv6FirewallControl:1 Service (2010), sections
//     2.5.1 GetFirewallStatus, 2.5.3 AddPinhole (re-adding the same
//     pinhole extends it and returns its UniqueID), 2.5.4 UpdatePinhole,
//     2.5.5 DeletePinhole, 2.5.7 CheckPinholeWorking, 2.4 error codes
//     (606, 701 to 709).
//   - UPnP Device Architecture 1.1, section 2.1 (a device's UDN is the
//     same at each of its addresses).
//
// What miniupnpd 2.3.1 does (the project lab, LAB.md): pinhole actions
// are carried out only for a request that came over IPv6 from the
// pinhole's own internal address, and for internal ports from 1024 up;
// anything else is 606. There is no listing and no description, so a
// pinhole is known by the UniqueID AddPinhole returned, which state keeps
// (planner.Pinhole.ID). CheckPinholeWorking answers 709 NoPacketSent for
// a pinhole that exists but has seen no traffic, 704 NoSuchEntry for an
// ID it does not hold, and 606 for another host's; GetPinholePackets
// answers 0 packets for an ID it does not hold, so it cannot read a
// pinhole back. The IGD serves the description and control URLs on the
// same port over IPv4 and IPv6 (one dual-stack socket), at its global and
// link-local addresses alike.
//
// GetOutboundPinholeTimeout is not used: it tells how long the firewall
// keeps a flow started from the LAN, nothing about inbound pinholes.

package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	ig "github.com/huin/goupnp/dcps/internetgateway2"

	"github.com/netplan42/netplan42/planner"
)

const stWANIPv6FC = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

// WANIPv6FirewallControl:1 error codes (section 2.4).
const (
	codePinholeSpaceExhausted    = 701
	codeFirewallDisabled         = 702
	codeInboundPinholeNotAllowed = 703
	codePinholeNoSuchEntry       = 704
	codeProtocolNotSupported     = 705
	codeNoPacketSent             = 709
)

// minPinholePort is the lowest internal port IGD v2 recommends opening
// for a control point that did not log in (miniupnpd refuses lower ones
// with 606).
const minPinholePort = 1024

// firewall6 is the part of goupnp's WANIPv6FirewallControl1 client this
// driver calls.
type firewall6 interface {
	GetFirewallStatusCtx(ctx context.Context) (enabled, inboundAllowed bool, err error)
	AddPinholeCtx(ctx context.Context, remoteHost string, remotePort uint16, internalClient string, internalPort uint16, proto uint16, lease uint32) (uint16, error)
	UpdatePinholeCtx(ctx context.Context, id uint16, lease uint32) error
	DeletePinholeCtx(ctx context.Context, id uint16) error
	CheckPinholeWorkingCtx(ctx context.Context, id uint16) (bool, error)
}

var _ firewall6 = (*ig.WANIPv6FirewallControl1)(nil)

// upnpPinholes is what a UPnP session learned about the IGD over IPv6.
//
// It is found lazily, at the first pinhole question of the session, and
// once: finding it costs a description fetch and a SOAP call over IPv6,
// which discovery (probing every protocol within a short window for IPv4
// mappings) should not wait for, and which a run that never looks at
// pinholes (no global IPv6 address, status of an IPv4-only router)
// should not pay. The answer then holds for the session, like the IPv4
// IGD found by discovery: a Router lives for one command.
type upnpPinholes struct {
	asked bool
	fw    firewall6
	loc   *url.URL // the description's URL on the router's IPv6 address
	why   string   // why pinholes are not offered, when fw is nil
}

// pinholes returns the session's IPv6 firewall client, finding it on its
// first call.
func (s *upnpSession) pinholes(ctx context.Context) *upnpPinholes {
	if s.v6 == nil {
		s.v6 = &upnpPinholes{}
	}
	if s.v6.asked {
		return s.v6
	}
	s.v6.asked = true
	if !s.e.gw6.IsValid() || !s.e.local6.IsValid() {
		s.v6.why = "this host has no IPv6 default route or no global IPv6 address"
		return s.v6
	}
	loc6, err := descriptionURL6(s.d.location, s.e.gw6)
	if err == nil {
		s.v6.fw, err = openFirewall6(ctx, loc6, s.e.gw6, s.e.local6, s.d.udns, s.e.timeout)
	}
	if err != nil {
		s.v6.why = fmt.Sprintf("UPnP over IPv6 at %s: %v", s.e.gw6, err)
		return s.v6
	}
	s.v6.loc = loc6
	return s.v6
}

// descriptionURL6 returns the URL of the IGD's description over IPv6: the
// IPv4 description's port and path on the router's IPv6 address gw6
// (with its zone when link-local). A device serves one description at
// each of its addresses; openFirewall6 checks that the one found there is
// the same device.
//
// SSDP over IPv6 is not used to find it. miniupnpd does answer a unicast
// M-SEARCH sent to [gw6]:1900, but with a LOCATION on its global address,
// while on most LANs the IPv6 default route, gw6, is the router's
// link-local address: such a LOCATION could not be pinned to the gateway
// without trusting a reply's word about which addresses are the
// router's. The description's own port at gw6 needs no such trust, and
// the UDN check ties it to the IGD found over IPv4. (A router serving
// IPv6 on another port than IPv4 is not found this way.)
func descriptionURL6(loc4 *url.URL, gw6 netip.Addr) (*url.URL, error) {
	if !gw6.Is6() || gw6.Is4In6() {
		return nil, fmt.Errorf("%s is not an IPv6 address", gw6)
	}
	if loc4 == nil || loc4.Scheme != "http" {
		return nil, fmt.Errorf("no http description URL to start from")
	}
	u := *loc4
	u.Host = net.JoinHostPort(gw6.String(), loc4.Port())
	if loc4.Port() == "" {
		u.Host = "[" + gw6.String() + "]"
	}
	u.User = nil
	return pinnedLocation(u.String(), gw6)
}

// newPinnedClient6 is newPinnedClient for the router's IPv6 address gw6,
// with connections made from local6: the IGD opens pinholes only for the
// address a request comes from, which must be the one the pinhole is
// for, not whichever the kernel would pick (a temporary address, say).
func newPinnedClient6(gw6, local6 netip.Addr, timeout time.Duration, max int64) *http.Client {
	c := newPinnedClient(gw6, timeout, max)
	tr := c.Transport.(*pinnedTransport).base.(*http.Transport)
	d := &net.Dialer{Timeout: tr.ResponseHeaderTimeout, LocalAddr: &net.TCPAddr{IP: local6.AsSlice()}}
	tr.DialContext = d.DialContext
	return c
}

// openFirewall6 fetches the description at loc6, which must be on gw6,
// checks that it is the IGD whose device UDNs are udns, and builds the
// SOAP client of its WANIPv6FirewallControl:1 service, pinned to gw6
// and speaking from local6. It asks the router whether its IPv6 firewall
// is on and admits pinholes.
func openFirewall6(ctx context.Context, loc6 *url.URL, gw6, local6 netip.Addr, udns []string, timeout time.Duration) (firewall6, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	body, err := get(cctx, newPinnedClient6(gw6, local6, timeout, maxDescription), loc6.String())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("device description: %v", err)
	}
	root, _, err := parseDescription(body, loc6)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", loc6, err)
	}
	if udn := strings.TrimSpace(root.Device.UDN); !slices.Contains(udns, udn) {
		return nil, fmt.Errorf("%s describes device %q, not the IGD found over IPv4", loc6, udn)
	}
	cs, err := ig.NewWANIPv6FirewallControl1ClientsFromRootDevice(root, loc6)
	if err != nil || len(cs) == 0 {
		return nil, fmt.Errorf("the IGD offers no WANIPv6FirewallControl:1 service")
	}
	c := cs[0]
	if _, err := pinnedLocation(c.SOAPClient.EndpointURL.String(), gw6); err != nil {
		return nil, fmt.Errorf("%s: control URL: %v", loc6, err)
	}
	c.SOAPClient.HTTPClient = *newPinnedClient6(gw6, local6, timeout, maxSOAPBody)

	var enabled, allowed bool
	err = call(ctx, timeout, "GetFirewallStatus", "", func(ctx context.Context) (err error) {
		enabled, allowed, err = c.GetFirewallStatusCtx(ctx)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !enabled:
		return nil, errors.New("the router's IPv6 firewall is off: inbound IPv6 needs no pinhole (GetFirewallStatus)")
	case !allowed:
		return nil, errors.New("the router does not allow inbound pinholes (GetFirewallStatus): check its IPv6 firewall settings")
	}
	return c, nil
}

func (s *upnpSession) pinholesOffered(ctx context.Context) (bool, string) {
	v6 := s.pinholes(ctx)
	return v6.fw != nil, v6.why
}

// readPinholes asks CheckPinholeWorking for each known pinhole's ID: an
// answer, or 709 (no traffic yet), means the router holds it; 704 that it
// does not; 606 that the ID is not this host's pinhole now (a router that
// restarted numbers its pinholes anew), so ours is not under it. A
// pinhole without an ID is not one of ours on this router. The router
// cannot say which pinhole an ID names, so a restarted router's ID of
// another pinhole of this host's reads as present until its lease ends.
// Any other answer leaves the pinholes unreadable (readable false), and
// the planner goes by state and leases, as for PCP.
func (s *upnpSession) readPinholes(ctx context.Context, known []planner.Pinhole) ([]planner.Pinhole, bool, error) {
	v6 := s.pinholes(ctx)
	if v6.fw == nil {
		return nil, false, nil
	}
	var present []planner.Pinhole
	for _, p := range known {
		if p.ID == 0 {
			continue
		}
		ok, err := s.checkPinhole(ctx, v6.fw, p)
		if err != nil {
			if isTransport(err) {
				return nil, false, err
			}
			return nil, false, nil
		}
		if ok {
			present = append(present, p)
		}
	}
	return present, true, nil
}

// checkPinhole reports whether the router holds p.ID for this host.
func (s *upnpSession) checkPinhole(ctx context.Context, fw firewall6, p planner.Pinhole) (bool, error) {
	err := call(ctx, s.e.timeout, "CheckPinholeWorking", pinholeValue(p), func(ctx context.Context) error {
		_, err := fw.CheckPinholeWorkingCtx(ctx, p.ID)
		return err
	})
	switch upnpCode(err) {
	case 0:
		return err == nil, err
	case codeNoPacketSent:
		return true, nil
	case codePinholeNoSuchEntry, codeActionNotAuthorized:
		return false, nil
	}
	return false, err
}

// pinholeLease is the lease asked for p: WANIPv6FirewallControl:1 leases
// are 1 to 86400 s, and none is permanent.
func pinholeLease(p planner.Pinhole) uint32 {
	switch {
	case p.LeaseSeconds == 0:
		return 7200
	case p.LeaseSeconds > 86400:
		return 86400
	}
	return p.LeaseSeconds
}

// pinholeProto is p's protocol as an IANA protocol number.
func pinholeProto(p planner.Pinhole) (uint16, bool) {
	switch p.Protocol {
	case planner.TCP:
		return 6, true
	case planner.UDP:
		return 17, true
	}
	return 0, false
}

// addPinhole opens p for any remote host and port. A p that carries the
// ID the router gave it is renewed with UpdatePinhole, which keeps the
// ID; when the router no longer holds that ID (704) or it is not ours any
// more (606), the pinhole is opened anew. AddPinhole on a pinhole the
// router holds already extends it and returns its ID, so a lost answer
// is safe to repeat. The grant is read back with CheckPinholeWorking.
func (s *upnpSession) addPinhole(ctx context.Context, p planner.Pinhole) (planner.Pinhole, error) {
	v6 := s.pinholes(ctx)
	if v6.fw == nil {
		return planner.Pinhole{}, &opError{Op: "upnp AddPinhole", Value: pinholeValue(p), Err: ErrRefused, Hint: "no IPv6 pinholes: " + v6.why}
	}
	proto, ok := pinholeProto(p)
	if !ok {
		return planner.Pinhole{}, &opError{Op: "upnp AddPinhole", Value: pinholeValue(p), Err: fmt.Errorf("protocol %q", p.Protocol)}
	}
	lease := pinholeLease(p)
	g := p
	g.Nonce, g.LeaseSeconds = "", lease
	if p.ID != 0 {
		err := call(ctx, s.e.timeout, "UpdatePinhole", fmt.Sprintf("%s id %d", pinholeValue(p), p.ID), func(ctx context.Context) error {
			return v6.fw.UpdatePinholeCtx(ctx, p.ID, lease)
		})
		switch code := upnpCode(err); {
		case err == nil:
			return g, nil
		case code != codePinholeNoSuchEntry && code != codeActionNotAuthorized:
			return planner.Pinhole{}, pinholeError(err, p, s.e.local6)
		}
		// Gone, or the ID is another host's now: open it anew.
	}
	var id uint16
	err := call(ctx, s.e.timeout, "AddPinhole", pinholeValue(p), func(ctx context.Context) (err error) {
		id, err = v6.fw.AddPinholeCtx(ctx, "", 0, p.InternalAddress.String(), p.InternalPort, proto, lease)
		return err
	})
	if err != nil {
		return planner.Pinhole{}, pinholeError(err, p, s.e.local6)
	}
	g.ID = id
	if ok, err := s.checkPinhole(ctx, v6.fw, g); err == nil && !ok {
		return planner.Pinhole{}, &opError{Op: "upnp AddPinhole", Value: pinholeValue(g),
			Err: fmt.Errorf("the router answered OK with ID %d but, read back, holds no such pinhole", id)}
	}
	return g, nil
}

// deletePinhole deletes p by its ID. A router that no longer holds the ID
// (704) has nothing of ours to delete. One that refuses (606) holds the ID
// for another host, or p is for an address this host no longer has: it
// deletes nothing, and the error is planner.ErrNotOurs.
func (s *upnpSession) deletePinhole(ctx context.Context, p planner.Pinhole) error {
	if p.ID == 0 {
		return &opError{Op: "upnp DeletePinhole", Value: pinholeValue(p), Err: ErrRefused,
			Hint: "state holds no UPnP pinhole ID for it; it ends with its lease"}
	}
	v6 := s.pinholes(ctx)
	if v6.fw == nil {
		return &opError{Op: "upnp DeletePinhole", Value: pinholeValue(p), Err: ErrRefused, Hint: "no IPv6 pinholes: " + v6.why}
	}
	err := call(ctx, s.e.timeout, "DeletePinhole", fmt.Sprintf("%s id %d", pinholeValue(p), p.ID), func(ctx context.Context) error {
		return v6.fw.DeletePinholeCtx(ctx, p.ID)
	})
	switch upnpCode(err) {
	case codePinholeNoSuchEntry:
		return nil
	case codeActionNotAuthorized:
		op := pinholeError(err, p, s.e.local6).(*opError)
		op.Err = &pinholeNotOursError{ID: p.ID, Err: op.Err}
		op.Hint = fmt.Sprintf("only %s can delete it", p.InternalAddress)
		if p.InternalAddress == s.e.local6 {
			op.Hint = "the router holds this ID for another host now; nothing was deleted"
		}
		return op
	}
	if err != nil {
		return pinholeError(err, p, s.e.local6)
	}
	return nil
}

func pinholeValue(p planner.Pinhole) string { return p.String() }

// pinholeNotOursError says the router refused to delete a pinhole ID
// because it is not the asking host's: errors.Is(err, planner.ErrNotOurs)
// reports it.
type pinholeNotOursError struct {
	ID  uint16
	Err error // the router's refusal (606)
}

func (e *pinholeNotOursError) Error() string {
	return fmt.Sprintf("pinhole ID %d is not this host's on the router (%v)", e.ID, e.Err)
}

func (e *pinholeNotOursError) Unwrap() error { return e.Err }

// Is reports planner.ErrNotOurs.
func (e *pinholeNotOursError) Is(target error) bool { return target == planner.ErrNotOurs }

// pinholeError explains a pinhole action the router failed: err is call's
// *opError. Refusals (606, 701, 702, 703, 705) are ErrRefused, with a
// hint where the user can act.
func pinholeError(err error, p planner.Pinhole, local6 netip.Addr) error {
	op, ok := err.(*opError)
	if !ok {
		op = &opError{Op: "upnp pinhole", Value: pinholeValue(p), Err: err}
	}
	switch upnpCode(err) {
	case codeActionNotAuthorized:
		switch {
		case p.InternalPort < minPinholePort:
			op.Hint = fmt.Sprintf("routers open UPnP pinholes only to ports %d and up: use a higher port, or PCP", minPinholePort)
		case p.InternalAddress != local6:
			op.Hint = fmt.Sprintf("routers open pinholes only for the asking host's own address (%s)", local6)
		default:
			op.Hint = fmt.Sprintf("the router accepts pinhole requests only over IPv6 from the pinhole's own address (%s); check its UPnP permission settings", local6)
		}
	case codePinholeSpaceExhausted:
		op.Err = fmt.Errorf("%w: %w", ErrRefused, op.Err)
		op.Hint = "the router's pinhole table is full"
	case codeFirewallDisabled:
		op.Err = fmt.Errorf("%w: %w", ErrRefused, op.Err)
		op.Hint = "the router's IPv6 firewall is off: inbound IPv6 needs no pinhole"
	case codeInboundPinholeNotAllowed:
		op.Err = fmt.Errorf("%w: %w", ErrRefused, op.Err)
		op.Hint = "the router does not allow inbound pinholes: check its IPv6 firewall settings"
	case codeProtocolNotSupported:
		op.Err = fmt.Errorf("%w: %w", ErrRefused, op.Err)
		op.Hint = fmt.Sprintf("the router opens no %s pinholes", p.Protocol)
	case codePinholeNoSuchEntry:
		op.Hint = "the router no longer holds this pinhole"
	}
	return op
}
