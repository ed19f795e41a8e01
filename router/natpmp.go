// NAT-PMP client.
//
// References:
//   - RFC 6886, NAT Port Mapping Protocol: section 3.1 (retransmission:
//     250 ms doubling), 3.2 (external address request/response), 3.3
//     (mapping request/response, lifetime 0 deletes), 3.5 (result codes),
//     3.6 (seconds since start of epoch; a router restart resets it).
//   - RFC 6970 (UPnP IGD-PCP interworking) for how IGD and NAT-PMP/PCP
//     views of one router relate; miniupnpd serves both from one table.
//
// Why not github.com/jackpal/go-nat-pmp: it has no context, its hook for
// replacing the transport (the caller interface) is unexported, and its
// result codes come back only as formatted strings. Its timeout option
// (NewClientWithTimeout) would bound a call, but a cancelled command would
// still wait for it, and callers could not branch on "refused" versus "no
// external address". The protocol is two small packets, so netplan42 does
// the exchange itself: each request retransmits on RFC 6886's schedule
// (250 ms, 500 ms, 1 s, …) only until the context's deadline, which Open
// and every call set from Config.Timeout, so a router without NAT-PMP
// costs at most that timeout, never the library's ~128 s.

package router

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/netplan42/netplan42/planner"
)

const natpmpPort = 5351

// NAT-PMP opcodes.
const (
	opExternalAddress = 0
	opMapUDP          = 1
	opMapTCP          = 2
)

// natpmpResponse is a decoded NAT-PMP response.
type natpmpResponse struct {
	Op         byte // request opcode (response opcode minus 128)
	ResultCode uint16
	Epoch      uint32
	// External address response.
	External netip.Addr
	// Mapping response.
	InternalPort uint16
	ExternalPort uint16
	Lifetime     uint32
}

func natpmpExternalRequest() []byte { return []byte{0, opExternalAddress} }

func natpmpMapRequest(proto planner.Protocol, internal, external uint16, lifetime uint32) ([]byte, error) {
	b := make([]byte, 12)
	switch proto {
	case planner.UDP:
		b[1] = opMapUDP
	case planner.TCP:
		b[1] = opMapTCP
	default:
		return nil, fmt.Errorf("nat-pmp: unknown protocol %q", proto)
	}
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], external)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b, nil
}

// parseNATPMPResponse decodes a NAT-PMP response (RFC 6886 sections 3.2,
// 3.3, 3.5). A response with a non-zero result code decodes without error:
// the code is in ResultCode, and only the common header is read, plus a
// mapping response's internal port when the packet holds it (miniupnpd
// echoes it in errors too), so the response can be matched to its request.
func parseNATPMPResponse(b []byte) (natpmpResponse, error) {
	var r natpmpResponse
	if len(b) < 8 {
		return r, fmt.Errorf("nat-pmp: response of %d bytes is too short", len(b))
	}
	if b[0] != 0 {
		if b[0] == 2 {
			return r, errors.New("nat-pmp: got a PCP (version 2) response")
		}
		return r, fmt.Errorf("nat-pmp: unknown version %d", b[0])
	}
	if b[1] < 128 {
		return r, fmt.Errorf("nat-pmp: opcode %d is not a response", b[1])
	}
	r.Op = b[1] - 128
	r.ResultCode = binary.BigEndian.Uint16(b[2:])
	r.Epoch = binary.BigEndian.Uint32(b[4:])
	if r.ResultCode != 0 {
		if (r.Op == opMapUDP || r.Op == opMapTCP) && len(b) >= 10 {
			r.InternalPort = binary.BigEndian.Uint16(b[8:])
		}
		return r, nil
	}
	switch r.Op {
	case opExternalAddress:
		if len(b) < 12 {
			return r, fmt.Errorf("nat-pmp: external address response of %d bytes", len(b))
		}
		r.External = netip.AddrFrom4([4]byte(b[8:12]))
	case opMapUDP, opMapTCP:
		if len(b) < 16 {
			return r, fmt.Errorf("nat-pmp: mapping response of %d bytes", len(b))
		}
		r.InternalPort = binary.BigEndian.Uint16(b[8:])
		r.ExternalPort = binary.BigEndian.Uint16(b[10:])
		r.Lifetime = binary.BigEndian.Uint32(b[12:])
	default:
		return r, fmt.Errorf("nat-pmp: unknown opcode %d", r.Op)
	}
	return r, nil
}

// natpmpReply decodes b and reports whether it answers req. A response
// answers a request of its opcode (RFC 6886 section 3.2); a mapping
// response must also carry the requested internal port, the client's way
// to match a response to its request (section 3.3). An error response
// that carries no internal port (only the 8-byte header, or zero there)
// cannot be matched further and is taken as the answer. err is set for a
// packet that is not a NAT-PMP response at all.
func natpmpReply(req, b []byte) (r natpmpResponse, ok bool, err error) {
	r, err = parseNATPMPResponse(b)
	if err != nil || r.Op != req[1] {
		return r, false, err
	}
	if (r.Op == opMapUDP || r.Op == opMapTCP) && len(req) >= 6 {
		want := binary.BigEndian.Uint16(req[4:])
		if r.ResultCode != 0 && r.InternalPort == 0 {
			return r, true, nil
		}
		return r, r.InternalPort == want, nil
	}
	return r, true, nil
}

// natpmpCall sends req to gw:5351 and returns the first response from gw
// that answers it (natpmpReply), retransmitting per RFC 6886 section 3.1
// until ctx ends. Callers give ctx the call's deadline; without one, the
// call ends after DefaultTimeout rather than retransmitting for ever.
func natpmpCall(ctx context.Context, gw netip.Addr, req []byte) (natpmpResponse, error) {
	return natpmpExchange(ctx, netip.AddrPortFrom(gw, natpmpPort), req)
}

// natpmpExchange is natpmpCall with the server's port given, for tests.
// Responses that do not answer req (late answers to an earlier request,
// another mapping's) are skipped, and the read goes on until the deadline.
func natpmpExchange(ctx context.Context, server netip.AddrPort, req []byte) (natpmpResponse, error) {
	var r natpmpResponse
	err := udpExchange(ctx, "nat-pmp", server, req, func(b []byte) (ok bool, err error) {
		r, ok, err = natpmpReply(req, b)
		return ok, err
	})
	return r, err
}

// udpExchange sends req to server and hands each datagram from it to
// accept until accept takes one, retransmitting per RFC 6886 section 3.1
// (and RFC 6887 section 8.1.1, which has the same shape) until ctx ends;
// without a deadline in ctx it ends after DefaultTimeout. accept returns
// an error for a datagram that is no answer at all (it is skipped, and
// said when nothing better comes) and false for an answer to another
// request. name says the protocol in errors.
func udpExchange(ctx context.Context, name string, server netip.AddrPort, req []byte, accept func([]byte) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	gw := server.Addr()
	network := "udp4"
	if gw.Is6() && !gw.Is4In6() {
		network = "udp6"
	}
	conn, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1100+1) // PCP's limit; one more byte shows an oversized answer
	wait := 250 * time.Millisecond
	var lastErr error
	ignored := 0
	for ctx.Err() == nil {
		// A deadline reached is the end even before ctx's timer says so
		// (it can lag on a busy machine).
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			break
		}
		if _, err := conn.Write(req); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// The deadline came between the last read and this
				// send, before ctx said so: a timeout like any other.
				break
			}
			// ICMP port unreachable from an earlier send shows here.
			return fmt.Errorf("%s at %s: %w", name, gw, err)
		}
		next := time.Now().Add(wait)
		if d, ok := ctx.Deadline(); ok && d.Before(next) {
			next = d
		}
		conn.SetReadDeadline(next)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return fmt.Errorf("%s at %s: %w", name, gw, err)
			}
			ok, err := accept(buf[:n])
			if err != nil {
				lastErr = err
				continue
			}
			if !ok {
				ignored++ // an answer to another request
				continue
			}
			return nil
		}
		wait *= 2
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// Interrupted: the router was not given its time, so this is no
		// statement that it did not answer.
		return fmt.Errorf("%s at %s: %w", name, gw, ctx.Err())
	}
	if lastErr != nil {
		return fmt.Errorf("%s at %s: %v", name, gw, lastErr)
	}
	if ignored > 0 {
		return fmt.Errorf("%s at %s: %w (ignored %d responses that did not answer the request)", name, gw, ErrTimeout, ignored)
	}
	return fmt.Errorf("%s at %s: %w", name, gw, ErrTimeout)
}

// natpmpProtocol is NAT-PMP (RFC 6886) as a router protocol.
type natpmpProtocol struct{}

func (natpmpProtocol) probe(ctx context.Context, e endpoint, _ *rememberedIGD) (session, error) {
	pctx, cancel := context.WithTimeout(ctx, min(natpmpWindow, e.timeout))
	defer cancel()
	// Any well-formed answer, even a result code 3 from a router
	// without a public address, means NAT-PMP is there.
	if _, err := natpmpCall(pctx, e.gw, natpmpExternalRequest()); err != nil {
		return nil, fmt.Errorf("natpmp at %s:%d: %v", e.gw, natpmpPort, err)
	}
	return natpmpSession{e: e}, nil
}

// natpmpSession is a router that answered NAT-PMP. NAT-PMP cannot list
// or read back a mapping, and keeps no description: a mapping is known
// only by what state remembers of it.
type natpmpSession struct{ e endpoint }

func (s natpmpSession) describe(v *planner.RouterView) {
	v.Detail = fmt.Sprintf("NAT-PMP at %s:%d", s.e.gw, natpmpPort)
}

func (s natpmpSession) observe(ctx context.Context, v planner.RouterView, _ []planner.MappingKey) (planner.RouterView, error) {
	cctx, cancel := context.WithTimeout(ctx, s.e.timeout)
	defer cancel()
	resp, err := natpmpCall(cctx, s.e.gw, natpmpExternalRequest())
	if err != nil {
		return v, &opError{Op: "natpmp external address", Value: s.e.gw.String(), Err: err}
	}
	v.Epoch, v.HasEpoch = resp.Epoch, true
	if resp.ResultCode != 0 {
		e := &NATPMPError{Code: resp.ResultCode, Epoch: resp.Epoch}
		v.Notes = append(v.Notes, fmt.Sprintf("router reports no external address: %v%s", e, noExternalHint(e)))
	} else {
		v.ExternalAddress = resp.External
		if note := externalNote(resp.External); note != "" {
			v.Notes = append(v.Notes, note)
		}
	}
	v.Notes = append(v.Notes, "NAT-PMP cannot list mappings: only state shows what is ours")
	return v, nil
}

func (s natpmpSession) delete(ctx context.Context, m planner.Mapping) error {
	// RFC 6886 section 3.4: lifetime 0 and suggested external port 0
	// delete the mapping of this host's internal port. Nothing can be
	// checked first: NAT-PMP cannot read a mapping back, and the router
	// keys the delete by the asking host's address and m's internal
	// port, never by the external port. So it never touches another
	// host's mapping, but it does remove a mapping another program on
	// this host made over NAT-PMP for the same internal port and
	// protocol: RFC 6886 has no notion of which program on a host owns a
	// mapping, so this is inherent to the protocol.
	req, err := natpmpMapRequest(m.Protocol, m.InternalPort, 0, 0)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.e.timeout)
	defer cancel()
	resp, err := natpmpCall(cctx, s.e.gw, req)
	if err == nil && resp.ResultCode != 0 {
		err = &NATPMPError{Code: resp.ResultCode, Epoch: resp.Epoch}
	}
	if err != nil {
		return &opError{Op: "natpmp delete", Value: mappingValue(m), Err: err}
	}
	return nil
}

func (natpmpSession) lookup(_ context.Context, k planner.MappingKey) (planner.Mapping, bool, error) {
	return planner.Mapping{}, false, fmt.Errorf("router lookup %s: NAT-PMP cannot read a mapping back", k)
}

// natpmpDefaultLease is asked for when a permanent mapping is wanted:
// NAT-PMP has none (lifetime 0 deletes); RFC 6886 recommends 7200 s.
const natpmpDefaultLease = 7200

func (s natpmpSession) add(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	lease := m.LeaseSeconds
	var notes []string
	if lease == 0 {
		lease = natpmpDefaultLease
		notes = append(notes, fmt.Sprintf("NAT-PMP has no permanent mappings: asked for %d s; renew before it ends", lease))
	}
	if m.InternalAddress != s.e.local {
		return planner.Grant{}, &opError{Op: "natpmp map", Value: mappingValue(m), Err: ErrRefused,
			Hint: fmt.Sprintf("NAT-PMP maps only to the asking host %s", s.e.local)}
	}
	req, err := natpmpMapRequest(m.Protocol, m.InternalPort, m.ExternalPort, lease)
	if err != nil {
		return planner.Grant{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.e.timeout)
	defer cancel()
	resp, err := natpmpCall(cctx, s.e.gw, req)
	if err == nil && resp.ResultCode != 0 {
		e := &NATPMPError{Code: resp.ResultCode, Epoch: resp.Epoch}
		return planner.Grant{}, &opError{Op: "natpmp map", Value: mappingValue(m), Err: e, Hint: strings.TrimPrefix(noExternalHint(e), "; ")}
	}
	if err != nil {
		return planner.Grant{}, &opError{Op: "natpmp map", Value: mappingValue(m), Err: err}
	}
	g := planner.Grant{Mapping: m, Epoch: resp.Epoch, HasEpoch: true, Undescribed: true}
	g.Mapping.ExternalPort = resp.ExternalPort
	g.Mapping.LeaseSeconds = resp.Lifetime
	if resp.ExternalPort != m.ExternalPort {
		notes = append(notes, fmt.Sprintf("router granted external port %d instead of %d", resp.ExternalPort, m.ExternalPort))
	}
	if resp.Lifetime < lease {
		notes = append(notes, fmt.Sprintf("router granted a lease of %d s (asked %d s)", resp.Lifetime, lease))
	}
	g.Note = strings.Join(notes, "; ")
	return g, nil
}
