package host

import (
	"net/netip"
	"strings"

	gnet "github.com/shirou/gopsutil/v4/net"
)

// Socket types as gopsutil reports them: SOCK_STREAM and SOCK_DGRAM,
// which are 1 and 2 on every system netplan42 ships for.
const (
	sockStream = 1
	sockDgram  = 2
)

// fromConnections turns gopsutil's socket list, as Local reads it off
// Linux, into a Snapshot of the listening sockets. v6 reports whether a
// family is IPv6 (AF_INET6 differs per system: 10, 23, 28, 30); procName
// names a pid ("" when it cannot). gopsutil gives neither inodes nor
// command lines: Inode stays 0 and Command is the name.
func fromConnections(conns []gnet.ConnectionStat, v6 func(family uint32) bool, procName func(pid int32) string) *Snapshot {
	snap := &Snapshot{}
	names := map[int32]string{}
	seen := map[string]int{} // protocol + address -> index in Listeners
	for _, c := range conns {
		var proto Protocol
		switch {
		case c.Type == sockStream && strings.EqualFold(c.Status, "LISTEN"):
			proto = TCP
		case c.Type == sockDgram && c.Raddr.Port == 0:
			proto = UDP
		default:
			continue
		}
		addr, ok := parseConnAddr(c.Laddr, v6(c.Family))
		if !ok {
			snap.Notes = append(snap.Notes, "a socket with an unreadable address ("+c.Laddr.IP+") was left out")
			continue
		}
		s := Socket{Protocol: proto, Local: addr}
		if proto == TCP {
			s.State = stateListen
		} else {
			s.State = stateClose
		}
		if len(c.Uids) > 0 && c.Uids[0] >= 0 {
			s.UID = uint32(c.Uids[0])
		}
		key := string(proto) + " " + addr.String()
		i, dup := seen[key]
		if !dup {
			i = len(snap.Listeners)
			seen[key] = i
			snap.Listeners = append(snap.Listeners, Listener{Socket: s})
		}
		if c.Pid <= 0 {
			continue
		}
		l := &snap.Listeners[i]
		if hasPID(l.Processes, int(c.Pid)) {
			continue
		}
		name, ok := names[c.Pid]
		if !ok {
			name = procName(c.Pid)
			names[c.Pid] = name
		}
		l.Processes = append(l.Processes, Process{PID: int(c.Pid), Name: name, Command: name})
	}
	sortListeners(snap.Listeners)
	return snap
}

func hasPID(ps []Process, pid int) bool {
	for _, p := range ps {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// parseConnAddr reads a gopsutil address: an IP, or "*" or "" for any
// (lsof's wildcard), possibly bracketed or with a zone.
func parseConnAddr(a gnet.Addr, v6 bool) (netip.AddrPort, bool) {
	if a.Port > 65535 {
		return netip.AddrPort{}, false
	}
	ip := strings.Trim(a.IP, "[]")
	if ip == "*" || ip == "" {
		if v6 {
			return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(a.Port)), true
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(a.Port)), true
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(a.Port)), true
}
