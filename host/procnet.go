// Parsers for Linux's /proc/net socket and neighbour tables.
//
// References:
//   - Documentation/networking/proc_net_tcp.rst in the Linux source: the
//     columns of /proc/net/tcp and tcp6 (udp and udp6 share them up to
//     "inode"); addresses are hex of the kernel's in-memory words, i.e. in
//     host byte order 32 bits at a time, ports are hex in network order.
//   - include/net/tcp_states.h: TCP_LISTEN is 10 (0A); an unconnected UDP
//     socket shows TCP_CLOSE, 7 (07).
//   - net/ipv4/arp.c arp_seq_show: the columns of /proc/net/arp; flag 0x2
//     is ATF_COM (the hardware address is known).

package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is a transport protocol: "tcp" or "udp".
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Socket states as /proc/net prints them.
const (
	stateListen = 0x0A // TCP_LISTEN
	stateClose  = 0x07 // TCP_CLOSE: an unconnected UDP socket
)

// Socket is one row of /proc/net/tcp, tcp6, udp or udp6.
type Socket struct {
	Protocol Protocol
	Local    netip.AddrPort
	Remote   netip.AddrPort
	State    uint8
	UID      uint32
	Inode    uint64
}

// Listening reports whether the socket accepts new peers: a TCP socket in
// LISTEN, or a UDP socket bound and not connected.
func (s Socket) Listening() bool {
	switch s.Protocol {
	case TCP:
		return s.State == stateListen
	case UDP:
		return s.State == stateClose && s.Remote.Port() == 0
	}
	return false
}

// maxRows bounds the rows read from one table; a busy server has tens of
// thousands, not millions.
const maxRows = 1 << 20

// ParseNetTable parses the text of /proc/net/tcp, tcp6, udp or udp6 for
// proto. order is the byte order of the machine that wrote it
// (binary.NativeEndian for this one). Rows that cannot be read are
// counted in skipped, not fatal: kernels append columns over time.
func ParseNetTable(b []byte, proto Protocol, order binary.ByteOrder) (socks []Socket, skipped int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	header := true
	for sc.Scan() {
		line := sc.Text()
		if header {
			header = false
			if !strings.Contains(line, "local_address") {
				return nil, 0, fmt.Errorf("/proc/net/%s: no header line", proto)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(socks)+skipped >= maxRows {
			return socks, skipped, fmt.Errorf("/proc/net/%s: more than %d rows", proto, maxRows)
		}
		s, ok := parseRow(line, proto, order)
		if !ok {
			skipped++
			continue
		}
		socks = append(socks, s)
	}
	if err := sc.Err(); err != nil {
		return socks, skipped, fmt.Errorf("/proc/net/%s: %v", proto, err)
	}
	if header {
		return nil, 0, fmt.Errorf("/proc/net/%s: empty", proto)
	}
	return socks, skipped, nil
}

// parseRow reads "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
func parseRow(line string, proto Protocol, order binary.ByteOrder) (Socket, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
		return Socket{}, false
	}
	local, ok1 := parseHexAddrPort(f[1], order)
	remote, ok2 := parseHexAddrPort(f[2], order)
	st, err1 := strconv.ParseUint(f[3], 16, 8)
	uid, err2 := strconv.ParseUint(f[7], 10, 32)
	inode, err3 := strconv.ParseUint(f[9], 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
		return Socket{}, false
	}
	return Socket{Protocol: proto, Local: local, Remote: remote, State: uint8(st), UID: uint32(uid), Inode: inode}, true
}

// parseHexAddrPort reads "0100007F:1F90" (IPv4) or 32 hex digits and a
// port (IPv6). The address is 32-bit words in host byte order.
func parseHexAddrPort(s string, order binary.ByteOrder) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	// Each word was printed as a number: undo the printing (big-endian
	// digits), then lay the number out as the machine held it.
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		order.PutUint32(out[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(out)
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// Neighbor is one row of /proc/net/arp.
type Neighbor struct {
	Addr   netip.Addr
	HW     string // "02:fc:00:00:00:05"; "00:00:00:00:00:00" while unresolved
	Flags  uint32
	Device string
}

// atfCom is ATF_COM: the entry's hardware address is known.
const atfCom = 0x2

// Resolved reports whether the neighbour answered ARP: its hardware
// address is known.
func (n Neighbor) Resolved() bool {
	return n.Flags&atfCom != 0 && n.HW != "" && n.HW != "00:00:00:00:00:00"
}

// ParseARP parses the text of /proc/net/arp.
func ParseARP(b []byte) ([]Neighbor, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var out []Neighbor
	header := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if header {
			header = false
			if len(f) == 0 || f[0] != "IP" {
				return nil, fmt.Errorf("/proc/net/arp: no header line")
			}
			continue
		}
		if len(f) < 6 || len(out) >= maxRows {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil {
			continue
		}
		out = append(out, Neighbor{Addr: a, HW: strings.ToLower(f[3]), Flags: uint32(flags), Device: f[5]})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("/proc/net/arp: %v", err)
	}
	return out, nil
}

// socketInode reads the inode of a "socket:[12345]" fd link.
func socketInode(link string) (uint64, bool) {
	rest, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return n, err == nil
}
