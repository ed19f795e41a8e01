package router

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// pcpCapture reads testdata/pcp/NAME.hex: "#" comments, a "request HEX"
// line and a "response HEX" line, recorded from miniupnpd in the lab.
func pcpCapture(t testing.TB, name string) (req, resp []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pcp", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		var dst *[]byte
		switch k {
		case "request":
			dst = &req
		case "response":
			dst = &resp
		default:
			continue
		}
		if *dst, err = hex.DecodeString(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if req == nil || resp == nil {
		t.Fatalf("%s: no request or response line", name)
	}
	return req, resp
}

// pcpCaptures lists testdata/pcp's captures by name.
func pcpCaptures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "pcp", "*.hex"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/pcp: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".hex"))
	}
	return names
}

// The lab's addresses and the captures' nonces.
var (
	host1   = netip.MustParseAddr("192.0.2.10")
	host1v6 = netip.MustParseAddr("2001:db8:1::10")
	wanLab  = netip.MustParseAddr("11.0.0.1")
	nonce1  = [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	nonceA  = [12]byte{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac}
)

// The requests netplan42 builds are, byte for byte, those miniupnpd
// answered in the captures.
func TestPCPRequestBytes(t *testing.T) {
	for _, tc := range []struct {
		capture string
		build   func() ([]byte, error)
	}{
		{"announce-v4", func() ([]byte, error) { return pcpAnnounceRequest(host1) }},
		{"announce-v6", func() ([]byte, error) { return pcpAnnounceRequest(host1v6) }},
		{"map-tcp-4242-v4", pcpMapRequest{Client: host1, Lifetime: 600, Nonce: nonce1, Protocol: planner.TCP,
			InternalPort: 4242, ExternalPort: 4242, PreferFailure: true}.marshal},
		{"map-tcp-4242-v4-lifetime30", pcpMapRequest{Client: host1, Lifetime: 30, Nonce: nonce1, Protocol: planner.TCP,
			InternalPort: 4242, ExternalPort: 4242, PreferFailure: true}.marshal},
		{"map-udp-5353-v4-lifetime200000", pcpMapRequest{Client: host1, Lifetime: 200000, Nonce: nonce1, Protocol: planner.UDP,
			InternalPort: 5353, ExternalPort: 5353}.marshal},
		{"map-v4-third-party-unsupp-option", pcpMapRequest{Client: host1, Lifetime: 600, Nonce: nonce1, Protocol: planner.TCP,
			InternalPort: 4243, ExternalPort: 4243, ThirdParty: netip.MustParseAddr("192.0.2.11")}.marshal},
		{"map-v4-delete", pcpMapRequest{Client: host1, Nonce: nonceA, Protocol: planner.TCP,
			InternalPort: 4242, ExternalPort: 4242}.marshal},
		{"map-tcp-5000-v6", pcpMapRequest{Client: host1v6, Lifetime: 600, Nonce: nonce1, Protocol: planner.TCP,
			InternalPort: 5000, ExternalPort: 5000, PreferFailure: true}.marshal},
		// An explicit IPv4 "any" is the same as none.
		{"map-tcp-4242-v4", pcpMapRequest{Client: host1, Lifetime: 600, Nonce: nonce1, Protocol: planner.TCP,
			InternalPort: 4242, ExternalPort: 4242, ExternalAddr: netip.IPv4Unspecified(), PreferFailure: true}.marshal},
		// Client as IPv4-mapped IPv6 is the same client.
		{"map-tcp-4242-v4", pcpMapRequest{Client: netip.AddrFrom16(host1.As16()), Lifetime: 600, Nonce: nonce1, Protocol: planner.TCP,
			InternalPort: 4242, ExternalPort: 4242, PreferFailure: true}.marshal},
	} {
		want, _ := pcpCapture(t, tc.capture)
		got, err := tc.build()
		if err != nil {
			t.Fatalf("%s: %v", tc.capture, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.capture, got, want)
		}
	}
}

func TestPCPRequestErrors(t *testing.T) {
	for name, r := range map[string]pcpMapRequest{
		"no client":       {Protocol: planner.TCP, InternalPort: 1},
		"no protocol":     {Client: host1, InternalPort: 1},
		"sctp":            {Client: host1, Protocol: "sctp", InternalPort: 1},
		"internal port 0": {Client: host1, Protocol: planner.TCP},
	} {
		if b, err := r.marshal(); err == nil {
			t.Errorf("%s: built %x", name, b)
		}
	}
	if b, err := pcpAnnounceRequest(netip.Addr{}); err == nil {
		t.Errorf("announce without a client: built %x", b)
	}
	// The largest request is far below the limit.
	b, _ := pcpMapRequest{Client: host1v6, Protocol: planner.UDP, InternalPort: 1, PreferFailure: true, ThirdParty: host1v6}.marshal()
	if len(b) != 84 || len(b)%4 != 0 {
		t.Errorf("map with both options: %d bytes", len(b))
	}
}

// Every capture's response parses, answers its request, and says what
// miniupnpd meant.
func TestParsePCPCaptures(t *testing.T) {
	type want struct {
		result   PCPResultCode
		version  uint8
		lifetime uint32
		epoch    uint32
		extPort  uint16
		extAddr  netip.Addr
		is       error // a sentinel errors.Is(err) reports
		bad      bool  // parse error: no answer to a PCP request
	}
	v6 := host1v6
	table := map[string]want{
		"announce-v4":                       {lifetime: 0, epoch: 20},
		"announce-v6":                       {epoch: 25},
		"map-tcp-4242-v4":                   {lifetime: 600, epoch: 20, extPort: 4242, extAddr: wanLab},
		"map-tcp-4242-v4-lifetime30":        {lifetime: 120, epoch: 20, extPort: 4242, extAddr: wanLab},
		"map-tcp-4242-v4-renew-other-nonce": {lifetime: 600, epoch: 20, extPort: 4242, extAddr: wanLab},
		"map-udp-5353-v4-lifetime200000":    {lifetime: 86400, epoch: 20, extPort: 5353, extAddr: wanLab},
		"map-v4-third-party-unsupp-option":  {result: PCPUnsuppOption, epoch: 20, extPort: 4243, extAddr: netip.IPv4Unspecified()},
		"map-v4-address-mismatch":           {result: PCPAddressMismatch, epoch: 20, extPort: 4244, extAddr: netip.IPv4Unspecified()},
		"map-v4-version3":                   {result: PCPUnsuppVersion, version: 2, epoch: 20, extAddr: netip.IPv4Unspecified(), is: ErrPCPUnsupportedVersion},
		"map-v4-version1":                   {bad: true},
		"opcode5-unsupp-opcode":             {result: PCPUnsuppOpcode, epoch: 20},
		"natpmp-external-on-5351":           {bad: true},
		// The echoed option's length 4 overruns the packet; the result
		// is read all the same.
		"map-v4-malformed-option":      {result: PCPMalformedOption, epoch: 20, extPort: 4242, extAddr: netip.IPv4Unspecified()},
		"map-v4-port80-cannot-provide": {result: PCPCannotProvideExternal, epoch: 20, extPort: 80, extAddr: wanLab, is: ErrConflict},
		"map-v4-taken-prefer-failure":  {result: PCPCannotProvideExternal, epoch: 21, extPort: 4242, extAddr: wanLab, is: ErrConflict},
		"map-v4-taken-other-port":      {lifetime: 600, epoch: 21, extPort: 4243, extAddr: wanLab},
		"map-v4-delete-other-nonce":    {result: PCPNotAuthorized, epoch: 42, extPort: 5353, extAddr: wanLab, is: ErrRefused},
		"map-v4-delete":                {epoch: 42, extPort: 4242, extAddr: wanLab},
		"map-tcp-5000-v6":              {lifetime: 600, epoch: 25, extPort: 5000, extAddr: v6},
		"map-v6-delete":                {epoch: 25, extPort: 5000, extAddr: v6},
		"map-v6-delete-other-nonce":    {result: PCPNotAuthorized, epoch: 46, extPort: 6000, extAddr: v6, is: ErrRefused},
		"map-v6-suggested-v4-any":      {lifetime: 600, epoch: 46, extPort: 6000, extAddr: v6},
	}
	for _, name := range pcpCaptures(t) {
		w, ok := table[name]
		if !ok {
			t.Errorf("capture %s has no row in the table", name)
			continue
		}
		if w.version == 0 && !w.bad {
			w.version = pcpVersion
		}
		req, resp := pcpCapture(t, name)
		r, err := parsePCPResponse(resp)
		if (err != nil) != w.bad {
			t.Errorf("%s: parse error %v, want bad %v", name, err, w.bad)
			continue
		}
		if w.bad {
			continue
		}
		got := want{result: r.Result, version: r.Version, lifetime: r.Lifetime, epoch: r.Epoch,
			extPort: r.ExternalPort, extAddr: r.ExternalAddr, is: w.is}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
		if !pcpAnswers(req, r) {
			t.Errorf("%s: response does not answer its request", name)
		}
		err = r.err()
		if (err == nil) != (w.result == PCPSuccess) {
			t.Errorf("%s: err() = %v for result %s", name, err, r.Result)
		}
		if w.is != nil && !errors.Is(err, w.is) {
			t.Errorf("%s: %v is not %v", name, err, w.is)
		}
		if r.Opcode == pcpOpMap && r.Result != PCPUnsuppVersion {
			if !r.HasMap || [12]byte(req[24:36]) != r.Nonce || pcpProtocolName(r.Protocol) == "" {
				t.Errorf("%s: map fields %+v", name, r)
			}
		}
	}
	// The MAP fields and the echoed option of one capture in full.
	_, resp := pcpCapture(t, "map-v4-third-party-unsupp-option")
	r, _ := parsePCPResponse(resp)
	if r.Protocol != pcpProtoTCP || r.InternalPort != 4243 || r.Nonce != nonce1 || len(r.Options) != 1 ||
		r.Options[0].Code != pcpOptThirdParty || netip.AddrFrom16([16]byte(r.Options[0].Data)).Unmap() != netip.MustParseAddr("192.0.2.11") {
		t.Errorf("third party response: %+v", r)
	}
	_, resp = pcpCapture(t, "map-tcp-4242-v4")
	r, _ = parsePCPResponse(resp)
	if len(r.Options) != 1 || r.Options[0].Code != pcpOptPreferFailure || len(r.Options[0].Data) != 0 {
		t.Errorf("PREFER_FAILURE echoed: %+v", r.Options)
	}
}

// pcpMapPacket crafts a MAP response: result, lifetime 600, epoch 7,
// nonce1, TCP, 4242 -> 11.0.0.1:4242, then the options.
func pcpMapPacket(result PCPResultCode, opts ...byte) []byte {
	b := make([]byte, 60, 60+len(opts))
	b[0], b[1], b[3] = 2, pcpOpMap|pcpResponseBit, byte(result)
	binary.BigEndian.PutUint32(b[4:], 600)
	binary.BigEndian.PutUint32(b[8:], 7)
	copy(b[24:], nonce1[:])
	b[36] = pcpProtoTCP
	binary.BigEndian.PutUint16(b[40:], 4242)
	binary.BigEndian.PutUint16(b[42:], 4242)
	a := wanLab.As16()
	copy(b[44:], a[:])
	return append(b, opts...)
}

func TestParsePCPResponse(t *testing.T) {
	natpmpUnsupp := []byte{0, 0x81, 0, 1, 0, 0, 0, 9}
	for _, tc := range []struct {
		name   string
		packet []byte
		bad    bool
		check  func(r pcpResponse) bool
	}{
		{"empty", nil, true, nil},
		{"3 bytes", []byte{2, 0x81, 0}, true, nil},
		{"header short", pcpMapPacket(0)[:20], true, nil},
		{"not a multiple of 4", pcpMapPacket(0)[:59], true, nil},
		{"over 1100 bytes", pcpMapPacket(0, make([]byte, 1044)...), true, nil},
		{"1100 bytes", pcpMapPacket(0, append([]byte{0x80, 0, 0x04, 0x0c}, make([]byte, 1036)...)...), false,
			func(r pcpResponse) bool { return len(r.Options) == 1 && len(r.Options[0].Data) == 1036 }},
		{"a request", append([]byte{2, pcpOpMap}, pcpMapPacket(0)[2:]...), true, nil},
		{"map success truncated", pcpMapPacket(0)[:40], true, nil},
		{"map error header only", pcpMapPacket(PCPNoResources)[:24], false,
			func(r pcpResponse) bool { return !r.HasMap && errors.Is(r.err(), ErrRefused) }},
		{"option padded", pcpMapPacket(0, 0x80, 0, 0, 1, 0xee, 0, 0, 0, 2, 0, 0, 0), false,
			func(r pcpResponse) bool {
				return len(r.Options) == 2 && bytes.Equal(r.Options[0].Data, []byte{0xee}) && r.Options[1].Code == pcpOptPreferFailure
			}},
		{"option header cut", pcpMapPacket(0, 2, 0, 0, 0, 1, 0, 0, 0)[:64], false, nil},
		{"option overruns", pcpMapPacket(0, 2, 0, 0, 8, 0, 0, 0, 0), true, nil},
		{"option length 0xffff", pcpMapPacket(0, 2, 0, 0xff, 0xff), true, nil},
		{"error with an overrunning option", pcpMapPacket(PCPMalformedOption, 2, 0, 0, 8), false,
			func(r pcpResponse) bool { return r.Result == PCPMalformedOption && r.Options == nil && r.HasMap }},
		{"announce with an option", append([]byte{2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}, append(make([]byte, 12), 2, 0, 0, 0)...), false,
			func(r pcpResponse) bool { return r.Epoch == 5 && len(r.Options) == 1 }},
		{"peer", append([]byte{2, 0x82, 0, 0}, make([]byte, 76)...), false,
			func(r pcpResponse) bool { return r.Opcode == pcpOpPeer && !r.HasMap && r.Options == nil }},
		{"nat-pmp unsupported version", natpmpUnsupp, false,
			func(r pcpResponse) bool {
				var pe *PCPError
				err := r.err()
				return r.Version == 0 && r.Epoch == 9 && errors.As(err, &pe) && pe.Version == 0 &&
					errors.Is(err, ErrPCPUnsupportedVersion) && strings.Contains(err.Error(), "NAT-PMP only")
			}},
		{"nat-pmp unsupported version, 12 bytes", append(natpmpUnsupp, 0, 0, 0, 0), false, nil},
		{"nat-pmp unsupported version cut", natpmpUnsupp[:6], true, nil},
		{"nat-pmp success", []byte{0, 0x80, 0, 0, 0, 0, 0, 9, 11, 0, 0, 1}, true, nil},
		{"nat-pmp refused", []byte{0, 0x82, 0, 2, 0, 0, 0, 9}, true, nil},
		{"version 3 unsupported version", append([]byte{3, 0x81, 0, 1}, make([]byte, 20)...), false,
			func(r pcpResponse) bool {
				return r.Version == 3 && strings.Contains(r.err().Error(), "speaks PCP version 3")
			}},
		{"version 3 success", append([]byte{3, 0x81, 0, 0}, make([]byte, 20)...), true, nil},
	} {
		r, err := parsePCPResponse(tc.packet)
		if tc.name == "option header cut" {
			// 60 + 4: a whole option header; cutting inside it is bad.
			if _, err := parsePCPResponse(append(pcpMapPacket(0), 2, 0)[:62]); err == nil {
				t.Errorf("%s: 2 bytes of an option accepted", tc.name)
			}
		}
		if (err != nil) != tc.bad {
			t.Errorf("%s: err %v, want bad %v", tc.name, err, tc.bad)
			continue
		}
		if err == nil && tc.check != nil && !tc.check(r) {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}

func TestPCPAnswers(t *testing.T) {
	req, resp := pcpCapture(t, "map-tcp-4242-v4")
	r, _ := parsePCPResponse(resp)
	other := r
	other.Nonce[0] ^= 1
	port := r
	port.InternalPort++
	proto := r
	proto.Protocol = pcpProtoUDP
	announce := r
	announce.Opcode = pcpOpAnnounce
	unsupp := pcpResponse{Version: 0, Opcode: pcpOpMap, Result: PCPUnsuppVersion}
	for _, tc := range []struct {
		name string
		r    pcpResponse
		want bool
	}{
		{"its response", r, true},
		{"another nonce", other, false},
		{"another internal port", port, false},
		{"another protocol", proto, false},
		{"an announce response", announce, false},
		{"unsupported version, nothing echoed", unsupp, true},
	} {
		if got := pcpAnswers(req, tc.r); got != tc.want {
			t.Errorf("%s: answers %v, want %v", tc.name, got, tc.want)
		}
	}
	if pcpAnswers(req[:10], r) {
		t.Error("a 10-byte request is answered")
	}
}

func TestPCPError(t *testing.T) {
	for _, tc := range []struct {
		code PCPResultCode
		text string
		is   []error
		not  []error
	}{
		{PCPNotAuthorized, "pcp result 2 NOT_AUTHORIZED (the router holds this mapping under another nonce or forbids it)", []error{ErrRefused}, []error{ErrConflict}},
		{PCPCannotProvideExternal, "pcp result 11 CANNOT_PROVIDE_EXTERNAL (", []error{ErrConflict}, []error{ErrRefused}},
		{PCPNetworkFailure, "pcp result 7 NETWORK_FAILURE (", []error{ErrNoExternalAddress}, []error{ErrRefused}},
		{PCPNoResources, "NO_RESOURCES", []error{ErrRefused}, nil},
		{PCPUserExQuota, "USER_EX_QUOTA", []error{ErrRefused}, nil},
		{PCPUnsuppOption, "UNSUPP_OPTION", nil, []error{ErrRefused, ErrConflict, ErrPCPUnsupportedVersion}},
		{PCPMalformedRequest, "MALFORMED_REQUEST", nil, []error{ErrRefused}},
		{PCPAddressMismatch, "another NAT is in between", nil, []error{ErrRefused}},
		{PCPUnsuppVersion, "speaks PCP version 2", []error{ErrPCPUnsupportedVersion}, nil},
		{99, "pcp result 99", nil, []error{ErrRefused}},
	} {
		e := &PCPError{Code: tc.code, Version: 2}
		err := fmt.Errorf("pcp MAP 4242/tcp: %w", e)
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%d: %q does not say %q", tc.code, err, tc.text)
		}
		for _, s := range tc.is {
			if !errors.Is(err, s) {
				t.Errorf("%v is not %v", err, s)
			}
		}
		for _, s := range tc.not {
			if errors.Is(err, s) {
				t.Errorf("%v is %v", err, s)
			}
		}
	}
	for c := PCPSuccess; c <= PCPExcessiveRemotePeers; c++ {
		if strings.HasPrefix(c.String(), "result") || (c != PCPSuccess && c.Hint() == "") {
			t.Errorf("code %d: name %q hint %q", c, c.String(), c.Hint())
		}
	}
}

func TestPCPServerRestarted(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		prev, curr  uint32
		elapsed     time.Duration
		wantRestart bool
	}{
		{"in step", 1000, 1060, 60 * time.Second, false},
		{"same second", 1000, 1000, 300 * time.Millisecond, false},
		{"back 1 s: reordered", 1000, 999, 0, false},
		{"back 2 s", 1000, 998, 0, true},
		{"reset to 0", 100000, 3, 10 * time.Second, true},
		// Tolerance: 2 s plus 1/16 of the interval either way.
		{"server 2 s ahead", 1000, 1012, 10 * time.Second, false},
		{"server 3 s ahead", 1000, 1013, 10 * time.Second, true},
		{"server slow 1/16", 1000, 1000 + 1600 - 100 - 2, 1600 * time.Second, false},
		{"server slower", 1000, 1000 + 1600 - 100 - 3, 1600 * time.Second, true},
		{"server fast 1/16", 1000, 1000 + 1707, 1600 * time.Second, false},
		{"server faster", 1000, 1000 + 1800, 1600 * time.Second, true},
		// A router that restarted long ago and counts again from 0: the
		// epoch is below the previous one.
		{"restarted, counted up past the client", 50, 40, 3600 * time.Second, true},
		// The client slept a day; a router whose epoch moved as far did
		// not restart.
		{"both a day on", 1000, 1000 + 86400, 86400 * time.Second, false},
		{"client clock went back", 1000, 1001, -time.Hour, false},
		{"epoch near the top", 1<<32 - 10, 1<<32 - 1, 9 * time.Second, false},
	} {
		if got := pcpServerRestarted(tc.prev, t0, tc.curr, t0.Add(tc.elapsed)); got != tc.wantRestart {
			t.Errorf("%s: restarted %v, want %v", tc.name, got, tc.wantRestart)
		}
	}
}

// marshalPCPResponse is parsePCPResponse's inverse, for the fuzz test and
// for fake servers in tests.
func marshalPCPResponse(r pcpResponse) []byte {
	if r.Version == 0 {
		b := []byte{0, r.Opcode | pcpResponseBit, 0, byte(r.Result), 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[4:], r.Epoch)
		return b
	}
	b := make([]byte, pcpHeaderSize)
	b[0], b[1], b[3] = r.Version, r.Opcode|pcpResponseBit, byte(r.Result)
	binary.BigEndian.PutUint32(b[4:], r.Lifetime)
	binary.BigEndian.PutUint32(b[8:], r.Epoch)
	if r.HasMap {
		m := make([]byte, pcpMapSize)
		copy(m, r.Nonce[:])
		m[12] = r.Protocol
		binary.BigEndian.PutUint16(m[16:], r.InternalPort)
		binary.BigEndian.PutUint16(m[18:], r.ExternalPort)
		a := r.ExternalAddr.As16()
		copy(m[20:], a[:])
		b = append(b, m...)
	}
	for _, o := range r.Options {
		h := []byte{o.Code, 0, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(len(o.Data)))
		b = append(append(b, h...), o.Data...)
		b = append(b, make([]byte, (4-len(o.Data)%4)%4)...)
	}
	return b
}

// parsePCPMapRequest decodes a MAP request as a router would, to check
// what marshal builds.
func parsePCPMapRequest(b []byte) (pcpMapRequest, error) {
	var r pcpMapRequest
	if len(b) < 60 || len(b)%4 != 0 || b[0] != 2 || b[1] != pcpOpMap {
		return r, fmt.Errorf("not a map request: %x", b)
	}
	r.Lifetime = binary.BigEndian.Uint32(b[4:])
	r.Client = pcpAddrFrom16(b[8:24])
	copy(r.Nonce[:], b[24:36])
	r.Protocol = pcpProtocolName(b[36])
	r.InternalPort = binary.BigEndian.Uint16(b[40:])
	r.ExternalPort = binary.BigEndian.Uint16(b[42:])
	r.ExternalAddr = pcpAddrFrom16(b[44:60])
	opts, err := parsePCPOptions(b[60:])
	if err != nil {
		return r, err
	}
	for _, o := range opts {
		switch o.Code {
		case pcpOptPreferFailure:
			r.PreferFailure = true
		case pcpOptThirdParty:
			r.ThirdParty = pcpAddrFrom16(o.Data)
		}
	}
	return r, nil
}

// FuzzParsePCPResponse: no input panics; what parses, built again,
// parses to the same response.
func FuzzParsePCPResponse(f *testing.F) {
	for _, name := range pcpCaptures(f) {
		_, resp := pcpCapture(f, name)
		f.Add(resp)
	}
	f.Add([]byte{0, 0x81, 0, 1, 0, 0, 0, 9})
	f.Add(pcpMapPacket(0, 0x80, 0, 0, 1, 0xee, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePCPResponse(b)
		if err != nil {
			return
		}
		_ = r.err()
		b2 := marshalPCPResponse(r)
		if len(b2) > len(b) {
			t.Fatalf("rebuilt %d bytes from %d", len(b2), len(b))
		}
		r2, err := parsePCPResponse(b2)
		if err != nil {
			t.Fatalf("rebuilt %x does not parse: %v (from %x)", b2, err, b)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip:\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzPCPMapRequest: every request marshal builds is within PCP's limits
// and decodes to what was asked.
func FuzzPCPMapRequest(f *testing.F) {
	f.Add([]byte(host1.AsSlice()), uint32(600), nonce1[:], true, uint16(4242), uint16(4242), []byte{}, true, []byte{})
	f.Add([]byte(host1v6.AsSlice()), uint32(0), nonceA[:], false, uint16(5000), uint16(0), []byte(host1v6.AsSlice()), false, []byte(host1.AsSlice()))
	f.Fuzz(func(t *testing.T, client []byte, lifetime uint32, nonce []byte, tcp bool, internal, external uint16, ext []byte, pf bool, third []byte) {
		c, _ := netip.AddrFromSlice(client)
		e, _ := netip.AddrFromSlice(ext)
		tp, _ := netip.AddrFromSlice(third)
		req := pcpMapRequest{Client: c, Lifetime: lifetime, Protocol: planner.UDP, InternalPort: internal,
			ExternalPort: external, ExternalAddr: e, PreferFailure: pf, ThirdParty: tp}
		copy(req.Nonce[:], nonce)
		if tcp {
			req.Protocol = planner.TCP
		}
		b, err := req.marshal()
		if err != nil {
			if c.IsValid() && internal != 0 {
				t.Fatalf("%+v: %v", req, err)
			}
			return
		}
		if len(b) > pcpMaxSize || len(b)%4 != 0 {
			t.Fatalf("%d bytes", len(b))
		}
		got, err := parsePCPMapRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		want := req
		want.Client = c.Unmap()
		want.ExternalAddr = e.Unmap()
		if !e.IsValid() {
			want.ExternalAddr = pcpAny(c).Unmap()
		}
		want.ThirdParty = tp.Unmap()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	})
}
