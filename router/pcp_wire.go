// PCP packets: building requests and parsing responses, without IO.
//
// References:
//   - RFC 6887, Port Control Protocol: section 5 (addresses are 16 bytes,
//     IPv4 as IPv4-mapped IPv6; the all-zeros address of each family means
//     "any"), 7 (common header; at most 1100 bytes, multiples of 4), 7.1
//     (request header), 7.2 (response header, R bit, lifetime of an
//     error), 7.3 (options, lengths padded to 4), 7.4 (result codes), 8.3
//     (responses to discard), 8.5 (epoch validity: a restarted server), 9
//     (version negotiation with NAT-PMP on the shared port), 11.1 (MAP),
//     13.1 THIRD_PARTY, 13.2 PREFER_FAILURE, 14.1 ANNOUNCE, 19.2 and 19.3
//     (opcode and result code numbers).
//   - RFC 6886 section 3.5: a NAT-PMP server answers any version but 0
//     with an 8-byte "unsupported version" (version 0, result 1).
//
// Captures of miniupnpd 2.3.1 are in testdata/pcp; what they showed:
// a renew with another nonce succeeds and moves the mapping to that
// nonce, a delete with another nonce is NOT_AUTHORIZED, error responses
// echo the request's MAP fields and options, and over IPv6 the assigned
// external address is the client's own (a pinhole, not a NAT).

package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netplan42/netplan42/planner"
)

const (
	pcpVersion = 2
	// pcpMaxSize bounds every PCP message (RFC 6887 section 7).
	pcpMaxSize = 1100

	pcpHeaderSize = 24
	pcpMapSize    = 36 // MAP's opcode-specific part (section 11.1)

	pcpOpAnnounce = 0
	pcpOpMap      = 1
	pcpOpPeer     = 2

	pcpResponseBit = 0x80

	pcpOptThirdParty    = 1
	pcpOptPreferFailure = 2

	pcpProtoTCP = 6
	pcpProtoUDP = 17
)

// ErrPCPUnsupportedVersion: the router does not speak PCP version 2. A
// NAT-PMP-only router says so in NAT-PMP (RFC 6887 section 9): fall back
// to NAT-PMP.
var ErrPCPUnsupportedVersion = errors.New("router does not speak PCP version 2")

// PCPResultCode is a PCP result code (RFC 6887 section 7.4).
type PCPResultCode uint8

// PCP result codes, RFC 6887 section 19.3.
const (
	PCPSuccess               PCPResultCode = 0
	PCPUnsuppVersion         PCPResultCode = 1
	PCPNotAuthorized         PCPResultCode = 2
	PCPMalformedRequest      PCPResultCode = 3
	PCPUnsuppOpcode          PCPResultCode = 4
	PCPUnsuppOption          PCPResultCode = 5
	PCPMalformedOption       PCPResultCode = 6
	PCPNetworkFailure        PCPResultCode = 7
	PCPNoResources           PCPResultCode = 8
	PCPUnsuppProtocol        PCPResultCode = 9
	PCPUserExQuota           PCPResultCode = 10
	PCPCannotProvideExternal PCPResultCode = 11
	PCPAddressMismatch       PCPResultCode = 12
	PCPExcessiveRemotePeers  PCPResultCode = 13
)

var pcpCodes = [...]struct{ name, hint string }{
	PCPSuccess:               {"SUCCESS", ""},
	PCPUnsuppVersion:         {"UNSUPP_VERSION", "the router does not speak PCP version 2"},
	PCPNotAuthorized:         {"NOT_AUTHORIZED", "the router holds this mapping under another nonce or forbids it"},
	PCPMalformedRequest:      {"MALFORMED_REQUEST", "the router could not parse the request"},
	PCPUnsuppOpcode:          {"UNSUPP_OPCODE", "the router does not support this operation"},
	PCPUnsuppOption:          {"UNSUPP_OPTION", "the router does not support an option the request needs, such as THIRD_PARTY"},
	PCPMalformedOption:       {"MALFORMED_OPTION", "the router could not parse an option of the request"},
	PCPNetworkFailure:        {"NETWORK_FAILURE", "the router has no working external network or address yet"},
	PCPNoResources:           {"NO_RESOURCES", "the router is out of mapping resources; try again later"},
	PCPUnsuppProtocol:        {"UNSUPP_PROTOCOL", "the router does not map this transport protocol"},
	PCPUserExQuota:           {"USER_EX_QUOTA", "this computer has reached the router's quota of mappings; remove unused ones"},
	PCPCannotProvideExternal: {"CANNOT_PROVIDE_EXTERNAL", "the router cannot give the asked external port or address: another mapping holds it, or the router does not allow it"},
	PCPAddressMismatch:       {"ADDRESS_MISMATCH", "the router saw the request come from another address than this computer's: another NAT is in between"},
	PCPExcessiveRemotePeers:  {"EXCESSIVE_REMOTE_PEERS", "the router cannot filter for this many remote peers"},
}

// String returns the code's RFC 6887 name, or "result N" when unknown.
func (c PCPResultCode) String() string {
	if int(c) < len(pcpCodes) {
		return pcpCodes[c].name
	}
	return fmt.Sprintf("result %d", uint8(c))
}

// Hint says what the code means for the user; "" when unknown.
func (c PCPResultCode) Hint() string {
	if int(c) < len(pcpCodes) {
		return pcpCodes[c].hint
	}
	return ""
}

// PCPError is a PCP response with a non-zero result code (RFC 6887
// section 7.4), or a NAT-PMP server's "unsupported version" (section 9).
type PCPError struct {
	Code   PCPResultCode
	Opcode uint8
	// Version is the version the server answered in: 2, or the one it
	// speaks when Code is UNSUPP_VERSION; 0 for a NAT-PMP-only server.
	Version uint8
	Epoch   uint32
	// Lifetime is how long, in seconds, the server says the same request
	// will get the same error (section 7.2).
	Lifetime uint32
}

func (e *PCPError) Error() string {
	if e.Code == PCPUnsuppVersion {
		if e.Version == 0 {
			return "pcp result 1 UNSUPP_VERSION (the router speaks NAT-PMP only)"
		}
		return fmt.Sprintf("pcp result 1 UNSUPP_VERSION (the router speaks PCP version %d, not 2)", e.Version)
	}
	if h := e.Code.Hint(); h != "" {
		return fmt.Sprintf("pcp result %d %s (%s)", uint8(e.Code), e.Code, h)
	}
	return fmt.Sprintf("pcp result %d", uint8(e.Code))
}

// Is maps result codes to the sentinels.
func (e *PCPError) Is(target error) bool {
	switch target {
	case ErrPCPUnsupportedVersion:
		return e.Code == PCPUnsuppVersion
	case ErrConflict:
		// With PREFER_FAILURE, the asked port is taken (section 13.2).
		return e.Code == PCPCannotProvideExternal
	case ErrRefused:
		switch e.Code {
		case PCPNotAuthorized, PCPNoResources, PCPUnsuppProtocol, PCPUserExQuota, PCPExcessiveRemotePeers:
			return true
		}
	case ErrNoExternalAddress:
		return e.Code == PCPNetworkFailure
	}
	return false
}

// pcpProtocol returns the IANA protocol number PCP carries for p.
func pcpProtocol(p planner.Protocol) (uint8, error) {
	switch p {
	case planner.TCP:
		return pcpProtoTCP, nil
	case planner.UDP:
		return pcpProtoUDP, nil
	}
	return 0, fmt.Errorf("pcp: unknown protocol %q", p)
}

// pcpProtocolName is pcpProtocol's inverse; "" for other numbers.
func pcpProtocolName(n uint8) planner.Protocol {
	switch n {
	case pcpProtoTCP:
		return planner.TCP
	case pcpProtoUDP:
		return planner.UDP
	}
	return ""
}

// pcpAddr16 is a in PCP's 16-byte form: IPv4 as IPv4-mapped IPv6.
func pcpAddr16(a netip.Addr) [16]byte { return a.WithZone("").As16() }

// pcpAny is the all-zeros address of a's family (RFC 6887 section 5):
// ::ffff:0.0.0.0 for IPv4, :: for IPv6. MAP's "no preference".
func pcpAny(a netip.Addr) netip.Addr {
	if a.Is4() || a.Is4In6() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// pcpAddrFrom16 decodes a 16-byte address; IPv4-mapped comes back as
// IPv4.
func pcpAddrFrom16(b []byte) netip.Addr {
	return netip.AddrFrom16([16]byte(b)).Unmap()
}

// pcpHeader writes a request's common header (section 7.1).
func pcpHeader(b []byte, op uint8, lifetime uint32, client netip.Addr) {
	b[0] = pcpVersion
	b[1] = op
	binary.BigEndian.PutUint32(b[4:], lifetime)
	a := pcpAddr16(client)
	copy(b[8:24], a[:])
}

// pcpAnnounceRequest is an ANNOUNCE request (section 14.1): a probe the
// router answers with its epoch, or with UNSUPP_VERSION in NAT-PMP.
// client is this host's address towards the router, the request's source.
func pcpAnnounceRequest(client netip.Addr) ([]byte, error) {
	if !client.IsValid() {
		return nil, errors.New("pcp: announce without a client address")
	}
	b := make([]byte, pcpHeaderSize)
	pcpHeader(b, pcpOpAnnounce, 0, client)
	return b, nil
}

// pcpMapRequest is a MAP request (RFC 6887 section 11.1).
type pcpMapRequest struct {
	// Client is this host's address towards the router, the request's
	// source: IPv4 asks for a NAT mapping, a global IPv6 address for a
	// pinhole.
	Client netip.Addr
	// Lifetime in seconds; 0 deletes the mapping.
	Lifetime uint32
	// Nonce identifies the mapping's owner: renewals and the delete must
	// carry the nonce the mapping was made with.
	Nonce    [12]byte
	Protocol planner.Protocol
	// InternalPort is the port on Client.
	InternalPort uint16
	// ExternalPort and ExternalAddr are suggestions; 0 and the invalid
	// Addr mean no preference (the family's all-zeros address is sent).
	ExternalPort uint16
	ExternalAddr netip.Addr
	// PreferFailure makes the router fail with CANNOT_PROVIDE_EXTERNAL
	// rather than give another external port (section 13.2).
	PreferFailure bool
	// ThirdParty, when valid, asks for a mapping for that internal
	// address, not Client (section 13.1); routers may refuse it with
	// UNSUPP_OPTION.
	ThirdParty netip.Addr
}

// marshal builds the request packet.
func (r pcpMapRequest) marshal() ([]byte, error) {
	if !r.Client.IsValid() {
		return nil, errors.New("pcp: map without a client address")
	}
	proto, err := pcpProtocol(r.Protocol)
	if err != nil {
		return nil, err
	}
	if r.InternalPort == 0 {
		// Port 0 means "all ports" (section 11.1), never what we mean.
		return nil, errors.New("pcp: map with internal port 0")
	}
	n := pcpHeaderSize + pcpMapSize
	if r.PreferFailure {
		n += 4
	}
	if r.ThirdParty.IsValid() {
		n += 4 + 16
	}
	b := make([]byte, n)
	pcpHeader(b, pcpOpMap, r.Lifetime, r.Client)
	m := b[pcpHeaderSize:]
	copy(m[0:12], r.Nonce[:])
	m[12] = proto
	binary.BigEndian.PutUint16(m[16:], r.InternalPort)
	binary.BigEndian.PutUint16(m[18:], r.ExternalPort)
	ext := r.ExternalAddr
	if !ext.IsValid() {
		ext = pcpAny(r.Client)
	}
	a := pcpAddr16(ext)
	copy(m[20:36], a[:])
	o := m[pcpMapSize:]
	if r.ThirdParty.IsValid() {
		o[0] = pcpOptThirdParty
		binary.BigEndian.PutUint16(o[2:], 16)
		a := pcpAddr16(r.ThirdParty)
		copy(o[4:20], a[:])
		o = o[20:]
	}
	if r.PreferFailure {
		o[0] = pcpOptPreferFailure
	}
	return b, nil
}

// pcpOption is an option of a response (section 7.3), its data without
// padding.
type pcpOption struct {
	Code uint8
	Data []byte
}

// pcpResponse is a decoded PCP response.
type pcpResponse struct {
	// Version is 2, or for an UNSUPP_VERSION the server's version; 0 is a
	// NAT-PMP server's "unsupported version".
	Version  uint8
	Opcode   uint8 // without the R bit
	Result   PCPResultCode
	Lifetime uint32
	Epoch    uint32
	// MAP (Opcode pcpOpMap), when the response holds its fields.
	HasMap       bool
	Nonce        [12]byte
	Protocol     uint8 // IANA number: 6 TCP, 17 UDP
	InternalPort uint16
	ExternalPort uint16
	ExternalAddr netip.Addr // IPv4 unmapped
	// Options of an ANNOUNCE or MAP response.
	Options []pcpOption
}

// err is the response's result as an error: nil on SUCCESS, else a
// *PCPError.
func (r pcpResponse) err() error {
	if r.Result == PCPSuccess && r.Version == pcpVersion {
		return nil
	}
	return &PCPError{Code: r.Result, Opcode: r.Opcode, Version: r.Version, Epoch: r.Epoch, Lifetime: r.Lifetime}
}

// parsePCPResponse decodes a PCP response (RFC 6887 sections 7.2, 7.3,
// 11.1), or a NAT-PMP server's "unsupported version" answer to one
// (section 9). Like parseNATPMPResponse, a non-zero result code decodes
// without error: it is in Result, and err returns it. An error means b is
// no response to a PCP request and must be discarded (section 8.3).
func parsePCPResponse(b []byte) (pcpResponse, error) {
	var r pcpResponse
	if len(b) < 4 {
		return r, fmt.Errorf("pcp: response of %d bytes is too short", len(b))
	}
	if len(b) > pcpMaxSize {
		return r, fmt.Errorf("pcp: response of %d bytes is longer than %d", len(b), pcpMaxSize)
	}
	if b[1]&pcpResponseBit == 0 {
		return r, fmt.Errorf("pcp: opcode %d is not a response", b[1])
	}
	r.Version, r.Opcode = b[0], b[1]&^pcpResponseBit
	if r.Version == 0 {
		// NAT-PMP: version 0, opcode, 16-bit result, epoch.
		if len(b) < 8 {
			return r, fmt.Errorf("pcp: nat-pmp response of %d bytes", len(b))
		}
		if res := binary.BigEndian.Uint16(b[2:]); res != uint16(PCPUnsuppVersion) {
			return r, fmt.Errorf("pcp: nat-pmp response with result %d, not unsupported version", res)
		}
		r.Result = PCPUnsuppVersion
		r.Epoch = binary.BigEndian.Uint32(b[4:])
		return r, nil
	}
	if len(b) < pcpHeaderSize {
		return r, fmt.Errorf("pcp: response of %d bytes is too short", len(b))
	}
	if len(b)%4 != 0 {
		return r, fmt.Errorf("pcp: response of %d bytes is not a multiple of 4", len(b))
	}
	r.Result = PCPResultCode(b[3])
	r.Lifetime = binary.BigEndian.Uint32(b[4:])
	r.Epoch = binary.BigEndian.Uint32(b[8:])
	if r.Version != pcpVersion {
		// Only UNSUPP_VERSION may come in another version; its body may
		// be in a layout we do not know.
		if r.Result != PCPUnsuppVersion {
			return r, fmt.Errorf("pcp: version %d response with result %d", r.Version, r.Result)
		}
		return r, nil
	}
	rest := b[pcpHeaderSize:]
	switch r.Opcode {
	case pcpOpAnnounce:
	case pcpOpMap:
		if len(rest) < pcpMapSize {
			if r.Result == PCPSuccess {
				return r, fmt.Errorf("pcp: map response of %d bytes", len(b))
			}
			// An error with the header only: nothing more to read.
			return r, nil
		}
		r.HasMap = true
		copy(r.Nonce[:], rest[0:12])
		r.Protocol = rest[12]
		r.InternalPort = binary.BigEndian.Uint16(rest[16:])
		r.ExternalPort = binary.BigEndian.Uint16(rest[18:])
		r.ExternalAddr = pcpAddrFrom16(rest[20:36])
		rest = rest[pcpMapSize:]
	default:
		// PEER and unknown opcodes: the header is all we read.
		return r, nil
	}
	opts, err := parsePCPOptions(rest)
	if err != nil {
		if r.Result != PCPSuccess {
			// An error echoes the request's options, malformed ones too
			// (MALFORMED_OPTION): its result code is worth more.
			return r, nil
		}
		return r, err
	}
	r.Options = opts
	return r, nil
}

// parsePCPOptions reads options (section 7.3): code, reserved, 16-bit
// length, data padded to a multiple of 4.
func parsePCPOptions(b []byte) ([]pcpOption, error) {
	var opts []pcpOption
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("pcp: %d bytes left where an option starts", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		padded := (n + 3) &^ 3
		if 4+padded > len(b) {
			return nil, fmt.Errorf("pcp: option %d of length %d overruns the packet", b[0], n)
		}
		opts = append(opts, pcpOption{Code: b[0], Data: b[4 : 4+n : 4+n]})
		b = b[4+padded:]
	}
	return opts, nil
}

// pcpAnswers reports whether r answers the request req (sections 8.3,
// 11.4): same opcode, and for MAP the same nonce, protocol and internal
// port. An UNSUPP_VERSION answers by opcode alone: the server did not
// read the rest (miniupnpd zeroes the ports in it).
func pcpAnswers(req []byte, r pcpResponse) bool {
	if len(req) < pcpHeaderSize || r.Opcode != req[1] {
		return false
	}
	if r.Result == PCPUnsuppVersion || r.Opcode != pcpOpMap {
		return true
	}
	if len(req) < pcpHeaderSize+pcpMapSize || !r.HasMap {
		return false
	}
	m := req[pcpHeaderSize:]
	return [12]byte(m[0:12]) == r.Nonce && m[12] == r.Protocol &&
		binary.BigEndian.Uint16(m[16:]) == r.InternalPort
}

// pcpServerRestarted reports whether a PCP server lost its state between
// two responses (RFC 6887 section 8.5): epoch prev received at client
// time prevAt, then epoch curr at now. The epoch going back by more than
// a second, or server and client clocks advancing apart by more than 2 s
// plus 1/16 of the interval, means a restart: the client must renew its
// mappings. The first response from a server has nothing to compare with.
func pcpServerRestarted(prev uint32, prevAt time.Time, curr uint32, now time.Time) bool {
	if int64(curr) < int64(prev)-1 {
		return true
	}
	// Whole seconds, as the epoch counts them; a client clock that went
	// back counts as no time passed.
	client := int64(now.Sub(prevAt) / time.Second)
	if client < 0 {
		client = 0
	}
	server := int64(curr) - int64(prev)
	return client+2 < server-server/16 || server+2 < client-client/16
}
