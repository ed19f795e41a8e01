// PCP driver: MAP for IPv4 NAT mappings and IPv6 pinholes.
//
// References:
//   - RFC 6887, Port Control Protocol: 8.1.1 (retransmission), 9 (version
//     negotiation: a NAT-PMP-only router answers version 0), 11 (MAP:
//     nonce, lifetimes, deleting with lifetime 0), 13.2 PREFER_FAILURE,
//     14.1 ANNOUNCE. The packets are in pcp_wire.go.
//
// What miniupnpd 2.3.1 does (the project lab, LAB.md): a delete with
// another nonce is NOT_AUTHORIZED, so the nonce a mapping was made with
// is kept in state (planner.Mapping.Nonce) and reused to renew and
// delete it; lifetimes are clamped (30 s became 120 s); without
// PREFER_FAILURE a taken port silently becomes another, so every MAP
// asks for it; an IPv4 MAP shows in the UPnP listing described
// "PCP MAP <nonce>", never with our tag.

package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// pcpPort is the PCP server port, shared with NAT-PMP (RFC 6887 section 19.1).
const pcpPort = 5351

// pcpDriver is PCP as a router protocol.
type pcpDriver struct{}

func (pcpDriver) probe(ctx context.Context, e endpoint, _ *rememberedIGD) (session, error) {
	if !e.local.IsValid() {
		return nil, fmt.Errorf("pcp at %s:%d: this host's address towards the router is unknown", e.gw, pcpPort)
	}
	pctx, cancel := context.WithTimeout(ctx, min(natpmpWindow, e.timeout))
	defer cancel()
	s := &pcpSession{e: e}
	req, err := pcpAnnounceRequest(e.local)
	if err != nil {
		return nil, err
	}
	if _, err := pcpCall(pctx, e.gw, req); err != nil {
		return nil, fmt.Errorf("pcp at %s:%d: %v", e.gw, pcpPort, err)
	}
	return s, nil
}

// pcpSession is a router that answered PCP. Like NAT-PMP, PCP cannot list
// or read back a mapping and keeps no description: a mapping is known
// only by what state remembers of it.
type pcpSession struct {
	e endpoint
	// v6 is whether the router answered PCP over IPv6 at e.gw6, once
	// asked (pinholesOffered); why6 says why not.
	v6, asked6 bool
	why6       string
}

// pcpCall sends req to the PCP server at gw and returns the first
// response that answers it; a response with a non-zero result is
// returned with its *PCPError.
func pcpCall(ctx context.Context, gw netip.Addr, req []byte) (pcpResponse, error) {
	var r pcpResponse
	err := udpExchange(ctx, "pcp", netip.AddrPortFrom(gw, pcpPort), req, func(b []byte) (bool, error) {
		resp, err := parsePCPResponse(b)
		if err != nil {
			return false, err
		}
		if !pcpAnswers(req, resp) {
			return false, nil
		}
		r = resp
		return true, nil
	})
	if err == nil {
		err = r.err()
	}
	return r, err
}

// mapCall sends one MAP request to gw, bounded by the session's timeout.
func (s *pcpSession) mapCall(ctx context.Context, gw netip.Addr, req pcpMapRequest) (pcpResponse, error) {
	b, err := req.marshal()
	if err != nil {
		return pcpResponse{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.e.timeout)
	defer cancel()
	return pcpCall(cctx, gw, b)
}

// mapNonce is the nonce of a mapping or pinhole as state keeps it, or a
// new one for a new mapping; op names the operation in errors.
func mapNonce(op, value, h string) ([12]byte, error) {
	n, err := pcpNonce(h)
	if err != nil {
		return n, &opError{Op: op, Value: value, Err: err}
	}
	return n, nil
}

func (s *pcpSession) describe(v *planner.RouterView) {
	v.Detail = fmt.Sprintf("PCP at %s:%d", s.e.gw, pcpPort)
}

// observe asks for the epoch with an ANNOUNCE. PCP has no request for the
// external address alone: the address shows in each MAP answer, and is
// left unknown here.
func (s *pcpSession) observe(ctx context.Context, v planner.RouterView, _ []planner.MappingKey) (planner.RouterView, error) {
	req, err := pcpAnnounceRequest(s.e.local)
	if err != nil {
		return v, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.e.timeout)
	defer cancel()
	resp, err := pcpCall(cctx, s.e.gw, req)
	if err != nil {
		return v, &opError{Op: "pcp announce", Value: s.e.gw.String(), Err: err}
	}
	v.Epoch, v.HasEpoch = resp.Epoch, true
	// PCP has no request for the external address; a PCP router that
	// also speaks NAT-PMP (miniupnpd does, on the same port) tells it
	// that way.
	if xr, err := natpmpCall(cctx, s.e.gw, natpmpExternalRequest()); err == nil && xr.ResultCode == 0 {
		v.ExternalAddress = xr.External
	} else {
		v.Notes = append(v.Notes, "PCP does not report the router's external address, and NAT-PMP did not answer for it")
	}
	v.Notes = append(v.Notes, "PCP cannot list mappings: only state shows what is ours")
	return v, nil
}

// pcpDefaultLease is asked for when a permanent mapping is wanted: PCP has
// none (lifetime 0 deletes), and routers clamp long ones (miniupnpd to
// 86400 s).
const pcpDefaultLease = 7200

func (s *pcpSession) add(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	lease := m.LeaseSeconds
	var notes []string
	if lease == 0 {
		lease = pcpDefaultLease
		notes = append(notes, fmt.Sprintf("PCP has no permanent mappings: asked for %d s; renew before it ends", lease))
	}
	if m.InternalAddress != s.e.local {
		return planner.Grant{}, &opError{Op: "pcp map", Value: mappingValue(m), Err: ErrRefused,
			Hint: fmt.Sprintf("PCP maps only to the asking host %s", s.e.local)}
	}
	nonce, err := mapNonce("pcp map", mappingValue(m), m.Nonce)
	if err != nil {
		return planner.Grant{}, err
	}
	resp, err := s.mapCall(ctx, s.e.gw, pcpMapRequest{Client: s.e.local, Lifetime: lease, Nonce: nonce, Protocol: m.Protocol,
		InternalPort: m.InternalPort, ExternalPort: m.ExternalPort, PreferFailure: true})
	if err != nil {
		return planner.Grant{}, &opError{Op: "pcp map", Value: mappingValue(m), Err: err}
	}
	g := planner.Grant{Mapping: m, Epoch: resp.Epoch, HasEpoch: true, Undescribed: true}
	g.Mapping.Nonce = hex.EncodeToString(nonce[:])
	g.Mapping.ExternalPort = resp.ExternalPort
	g.Mapping.LeaseSeconds = resp.Lifetime
	if resp.ExternalPort != m.ExternalPort {
		// PREFER_FAILURE forbids this; a router that ignores the option
		// gets the grant recorded as it is.
		notes = append(notes, fmt.Sprintf("router granted external port %d instead of %d", resp.ExternalPort, m.ExternalPort))
	}
	if resp.Lifetime != lease {
		notes = append(notes, fmt.Sprintf("router granted a lease of %d s (asked %d s)", resp.Lifetime, lease))
	}
	g.Note = strings.Join(notes, "; ")
	return g, nil
}

// delete sends MAP with lifetime 0 and the nonce the mapping was made
// with (RFC 6887 section 11.1): the router deletes only its own client's
// mapping of that internal port, and refuses another nonce.
func (s *pcpSession) delete(ctx context.Context, m planner.Mapping) error {
	if m.Nonce == "" {
		return &opError{Op: "pcp delete", Value: mappingValue(m), Err: ErrRefused,
			Hint: "state holds no PCP nonce for this mapping; it ends with its lease"}
	}
	nonce, err := mapNonce("pcp delete", mappingValue(m), m.Nonce)
	if err != nil {
		return err
	}
	if _, err := s.mapCall(ctx, s.e.gw, pcpMapRequest{Client: s.e.local, Nonce: nonce, Protocol: m.Protocol, InternalPort: m.InternalPort}); err != nil {
		return &opError{Op: "pcp delete", Value: mappingValue(m), Err: err}
	}
	return nil
}

func (*pcpSession) lookup(_ context.Context, k planner.MappingKey) (planner.Mapping, bool, error) {
	return planner.Mapping{}, false, fmt.Errorf("router lookup %s: PCP cannot read a mapping back", k)
}

// pcpNonce decodes a mapping's nonce, or makes a new random one when it
// has none.
func pcpNonce(h string) ([12]byte, error) {
	var n [12]byte
	if h == "" {
		rand.Read(n[:])
		return n, nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(n) {
		return n, fmt.Errorf("pcp nonce %q is not 12 bytes of hex", h)
	}
	copy(n[:], b)
	return n, nil
}

// Pinholes: a MAP sent over IPv6 to the router's IPv6 address, from and
// for this host's global address, opens the router's IPv6 firewall for
// that address and port (RFC 6887 section 11; no NAT, so the external
// port is the internal one). miniupnpd answers PCP over IPv6 even with
// NAT-PMP (and IPv4 PCP) off.

func (s *pcpSession) server6() netip.AddrPort { return netip.AddrPortFrom(s.e.gw6, pcpPort) }

func (s *pcpSession) pinholesOffered(ctx context.Context) (bool, string) {
	if s.asked6 {
		return s.v6, s.why6
	}
	s.asked6 = true
	req, err := pcpAnnounceRequest(s.e.local6)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, min(natpmpWindow, s.e.timeout))
		defer cancel()
		_, err = pcpCall(cctx, s.e.gw6, req)
	}
	if err != nil {
		s.why6 = fmt.Sprintf("PCP over IPv6 at %s: %v", s.server6(), err)
		return false, s.why6
	}
	s.v6 = true
	return true, ""
}

func (*pcpSession) readPinholes(context.Context, []planner.Pinhole) ([]planner.Pinhole, bool, error) {
	return nil, false, nil
}

func (s *pcpSession) addPinhole(ctx context.Context, p planner.Pinhole) (planner.Pinhole, error) {
	nonce, err := mapNonce("pcp pinhole", p.String(), p.Nonce)
	if err != nil {
		return planner.Pinhole{}, err
	}
	resp, err := s.mapCall(ctx, s.e.gw6, pcpMapRequest{Client: s.e.local6, Lifetime: p.LeaseSeconds, Nonce: nonce, Protocol: p.Protocol,
		InternalPort: p.InternalPort, ExternalPort: p.InternalPort, PreferFailure: true})
	if err != nil {
		return planner.Pinhole{}, &opError{Op: "pcp pinhole", Value: p.String(), Err: err}
	}
	g := p
	g.Nonce = hex.EncodeToString(nonce[:])
	g.LeaseSeconds = resp.Lifetime
	return g, nil
}

func (s *pcpSession) deletePinhole(ctx context.Context, p planner.Pinhole) error {
	if p.Nonce == "" {
		return &opError{Op: "pcp pinhole delete", Value: p.String(), Err: ErrRefused,
			Hint: "state holds no PCP nonce for this pinhole; it ends with its lease"}
	}
	nonce, err := mapNonce("pcp pinhole delete", p.String(), p.Nonce)
	if err != nil {
		return err
	}
	if _, err := s.mapCall(ctx, s.e.gw6, pcpMapRequest{Client: s.e.local6, Nonce: nonce, Protocol: p.Protocol, InternalPort: p.InternalPort}); err != nil {
		return &opError{Op: "pcp pinhole delete", Value: p.String(), Err: err}
	}
	return nil
}
