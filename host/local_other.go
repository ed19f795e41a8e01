//go:build !linux

package host

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"time"

	gnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// localTimeout bounds reading the socket table: gopsutil runs lsof on
// macOS and FreeBSD, and asks iphlpapi (GetExtendedTcpTable) on Windows.
const localTimeout = 10 * time.Second

// Local inspects this machine through gopsutil. On macOS and FreeBSD that
// needs lsof (part of macOS; `pkg install lsof` on FreeBSD), and without
// root lsof sees only this user's sockets.
func Local() (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsWithContext(ctx, "inet")
	if err != nil {
		hint := ""
		if runtime.GOOS != "windows" {
			hint = " (netplan42 reads sockets with lsof here: is it installed?)"
		}
		return nil, fmt.Errorf("list sockets: %w%s", err, hint)
	}
	snap := fromConnections(conns, func(f uint32) bool { return f == syscall.AF_INET6 }, func(pid int32) string {
		p, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			return ""
		}
		name, _ := p.NameWithContext(ctx)
		return name
	})
	for i := range snap.Listeners {
		if l := &snap.Listeners[i]; len(l.Processes) == 0 && runtime.GOOS != "windows" {
			l.User = userName(l.UID)
		}
	}
	return snap, nil
}

// LocalNeighbors returns ErrUnsupported: the ARP table is read from
// Linux's /proc only.
func LocalNeighbors() ([]Neighbor, error) { return nil, ErrUnsupported }
