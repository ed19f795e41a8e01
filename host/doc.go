// Package host looks at this computer the way a support guide's `netstat
// -an | grep PORT` step does: which sockets listen on which ports, which
// processes own them, and which neighbours on the LAN answer ARP.
//
// On Linux it reads /proc: /proc/net/tcp, tcp6, udp and udp6 for sockets
// (readable by every user), /proc/PID/fd for the processes that hold them
// (only one's own processes without root: Snapshot.Hidden counts the rest),
// /proc/PID/comm for their names, and /proc/net/arp for neighbours. The
// tables are those of the reading process's network namespace.
//
// The parsers are plain functions on bytes, tested on captures; Inspect
// and Neighbors take the proc file system as an fs.FS, so the driver is
// tested on a fake /proc too. Local and LocalNeighbors use the real one.
//
// On Windows, macOS and FreeBSD Local asks gopsutil instead (Windows'
// GetExtendedTcpTable; lsof on the others), which gives listening sockets
// and process names but no command lines; LocalNeighbors returns
// ErrUnsupported there. That path is tested on gopsutil values written
// from its source, not on a live system.
//
// The package never changes anything.
package host
