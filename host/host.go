package host

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// ErrUnsupported is returned where this package cannot see sockets and
// neighbours: systems without /proc/net.
var ErrUnsupported = errors.New("not supported on " + runtime.GOOS + " (netplan42 reads Linux's /proc/net)")

// Process is a process that holds a socket.
type Process struct {
	PID  int
	Name string // /proc/PID/comm: at most 15 bytes
	// Command is the command line, arguments joined by spaces, cut at
	// maxCommand bytes.
	Command string
}

// Listener is a listening socket and the processes holding it. Processes
// is empty when none could be seen (another user's, without root).
type Listener struct {
	Socket
	User      string // the socket owner's user name, when known
	Processes []Process
}

// Snapshot is what Inspect saw.
type Snapshot struct {
	Listeners []Listener
	// Hidden counts processes whose open files could not be read: other
	// users' processes, without root. Their sockets show without owners.
	Hidden int
	// Notes say what was left out and why.
	Notes []string
}

// maxCommand bounds the command line kept per process.
const maxCommand = 200

var tables = []struct {
	file  string
	proto Protocol
}{{"net/tcp", TCP}, {"net/tcp6", TCP}, {"net/udp", UDP}, {"net/udp6", UDP}}

// Inspect reads the listening sockets and their owners from procfs, a
// Linux /proc (os.DirFS("/proc"), or a fake in tests). order is the byte
// order of the machine procfs belongs to; lookupUser names a uid (nil:
// uids only). Processes that vanish while it reads are skipped.
func Inspect(procfs fs.FS, order binary.ByteOrder, lookupUser func(uid uint32) string) (*Snapshot, error) {
	snap := &Snapshot{}
	for _, t := range tables {
		b, err := fs.ReadFile(procfs, t.file)
		if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(t.file, "6") {
			continue // IPv6 off
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrUnsupported
		}
		if err != nil {
			return nil, fmt.Errorf("read /proc/%s: %w", t.file, err)
		}
		socks, skipped, err := ParseNetTable(b, t.proto, order)
		if err != nil {
			return nil, err
		}
		if skipped > 0 {
			snap.Notes = append(snap.Notes, fmt.Sprintf("/proc/%s: %d rows could not be read", t.file, skipped))
		}
		for _, s := range socks {
			if s.Listening() {
				snap.Listeners = append(snap.Listeners, Listener{Socket: s})
			}
		}
	}
	if len(snap.Listeners) > 0 {
		owners, hidden := socketOwners(procfs, snap.Listeners)
		snap.Hidden = hidden
		users := map[uint32]string{}
		for i := range snap.Listeners {
			l := &snap.Listeners[i]
			l.Processes = owners[l.Inode]
			if lookupUser != nil {
				name, ok := users[l.UID]
				if !ok {
					name = lookupUser(l.UID)
					users[l.UID] = name
				}
				l.User = name
			}
		}
	}
	sortListeners(snap.Listeners)
	return snap, nil
}

// sortListeners orders ls by protocol, port, address, then inode.
func sortListeners(ls []Listener) {
	slices.SortFunc(ls, func(a, b Listener) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Local.Port(), b.Local.Port()),
			a.Local.Addr().Compare(b.Local.Addr()), cmp.Compare(a.Inode, b.Inode))
	})
}

// socketOwners maps the listeners' inodes to the processes holding them,
// by reading every /proc/PID/fd link. hidden counts processes whose fd
// directory could not be read.
func socketOwners(procfs fs.FS, ls []Listener) (map[uint64][]Process, int) {
	want := map[uint64]bool{}
	for _, l := range ls {
		if l.Inode != 0 {
			want[l.Inode] = true
		}
	}
	owners := map[uint64][]Process{}
	hidden := 0
	entries, err := fs.ReadDir(procfs, ".")
	if err != nil {
		return owners, 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fds, err := fs.ReadDir(procfs, e.Name()+"/fd")
		if errors.Is(err, fs.ErrPermission) {
			hidden++
			continue
		}
		if err != nil {
			continue // gone, or a kernel thread
		}
		var held []uint64
		for _, fd := range fds {
			link, err := fs.ReadLink(procfs, e.Name()+"/fd/"+fd.Name())
			if err != nil {
				continue
			}
			if ino, ok := socketInode(link); ok && want[ino] && !slices.Contains(held, ino) {
				held = append(held, ino)
			}
		}
		if len(held) == 0 {
			continue
		}
		p := Process{PID: pid, Name: readTrim(procfs, e.Name()+"/comm"), Command: commandLine(procfs, e.Name())}
		for _, ino := range held {
			owners[ino] = append(owners[ino], p)
		}
	}
	for ino := range owners {
		slices.SortFunc(owners[ino], func(a, b Process) int { return cmp.Compare(a.PID, b.PID) })
	}
	return owners, hidden
}

func readTrim(procfs fs.FS, name string) string {
	b, err := fs.ReadFile(procfs, name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func commandLine(procfs fs.FS, pid string) string {
	b, err := fs.ReadFile(procfs, pid+"/cmdline")
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	if len(s) > maxCommand {
		s = s[:maxCommand]
	}
	return s
}

// Neighbors reads the IPv4 neighbour (ARP) table from procfs.
func Neighbors(procfs fs.FS) ([]Neighbor, error) {
	b, err := fs.ReadFile(procfs, "net/arp")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, fmt.Errorf("read /proc/net/arp: %w", err)
	}
	return ParseARP(b)
}

func userName(uid uint32) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return ""
	}
	return u.Username
}
