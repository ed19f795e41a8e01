package host

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// The captures in testdata/netns-*.txt are /proc/net/{tcp,tcp6,udp,udp6,arp}
// read on this project's Debian 12 machine (Linux 6.18, x86_64, so
// little-endian) inside a network namespace holding a Python script's
// sockets: TCP listening on 0.0.0.0:4242, 127.0.0.1:4243, [::]:4242
// (v6only) and 192.0.2.10:5900; UDP bound to 0.0.0.0:4242 and [::1]:5353;
// a UDP socket connected to 192.0.2.1:53; and one TCP connection over
// loopback to 4243 (both ends). ARP: 192.0.2.1 resolved, 192.0.2.99
// incomplete.

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseNetTable(t *testing.T) {
	type row struct {
		local, remote string
		listening     bool
		inode         uint64
	}
	for _, tc := range []struct {
		file  string
		proto Protocol
		want  []row
	}{
		{"netns-tcp.txt", TCP, []row{
			{"0.0.0.0:4242", "0.0.0.0:0", true, 536953},
			{"127.0.0.1:4243", "0.0.0.0:0", true, 536954},
			{"192.0.2.10:5900", "0.0.0.0:0", true, 536956},
			{"127.0.0.1:60950", "127.0.0.1:4243", false, 536960},
			{"127.0.0.1:4243", "127.0.0.1:60950", false, 0},
		}},
		{"netns-tcp6.txt", TCP, []row{{"[::]:4242", "[::]:0", true, 536955}}},
		{"netns-udp.txt", UDP, []row{
			{"192.0.2.10:49126", "192.0.2.1:53", false, 536959},
			{"0.0.0.0:4242", "0.0.0.0:0", true, 536957},
		}},
		{"netns-udp6.txt", UDP, []row{{"[::1]:5353", "[::]:0", true, 536958}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			socks, skipped, err := ParseNetTable(readCapture(t, tc.file), tc.proto, binary.LittleEndian)
			if err != nil || skipped != 0 {
				t.Fatalf("err %v, skipped %d", err, skipped)
			}
			var got []row
			for _, s := range socks {
				if s.Protocol != tc.proto || s.UID != 0 {
					t.Errorf("%+v: protocol or uid", s)
				}
				got = append(got, row{s.Local.String(), s.Remote.String(), s.Listening(), s.Inode})
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(row{})); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestParseNetTableOdd(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	for _, tc := range []struct {
		name, text string
		order      binary.ByteOrder
		wantErr    string
		want       []string // local addresses
		skipped    int
	}{
		{"empty", "", binary.LittleEndian, "empty", nil, 0},
		{"no header", "   0: 00000000:1092 00000000:0000 0A 0:0 0:0 0 0 0 1\n", binary.LittleEndian, "no header", nil, 0},
		{"header only", header, binary.LittleEndian, "", nil, 0},
		{"short row", header + "   0: 00000000:1092\n", binary.LittleEndian, "", nil, 1},
		{"bad hex", header + "   0: 0000ZZ00:1092 00000000:0000 0A 0:0 0:0 0 1000 0 77\n", binary.LittleEndian, "", nil, 1},
		{"uid 1000", header + "   0: 0100007F:1092 00000000:0000 0A 0:0 0:0 0 1000 0 77\n", binary.LittleEndian, "", []string{"127.0.0.1:4242"}, 0},
		// A big-endian machine prints the same address with its bytes in order.
		{"big-endian", header + "   0: 7F000001:1092 00000000:0000 0A 0:0 0:0 0 0 0 77\n", binary.BigEndian, "", []string{"127.0.0.1:4242"}, 0},
		{"v6 loopback", header + "   0: 00000000000000000000000001000000:14E9 00000000000000000000000000000000:0000 07 0:0 0:0 0 0 0 9\n", binary.LittleEndian, "", []string{"[::1]:5353"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socks, skipped, err := ParseNetTable([]byte(tc.text), TCP, tc.order)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range socks {
				got = append(got, s.Local.String())
			}
			if d := cmp.Diff(tc.want, got); d != "" || skipped != tc.skipped {
				t.Errorf("skipped %d (want %d); (-want +got)\n%s", skipped, tc.skipped, d)
			}
		})
	}
}

func TestParseARP(t *testing.T) {
	ns, err := ParseARP(readCapture(t, "netns-arp.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Neighbor{
		{Addr: netip.MustParseAddr("192.0.2.1"), HW: "02:fc:00:00:00:05", Flags: 2, Device: "d0"},
		{Addr: netip.MustParseAddr("192.0.2.99"), HW: "00:00:00:00:00:00", Flags: 0, Device: "d0"},
	}
	if d := cmp.Diff(want, ns, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Fatalf("(-want +got)\n%s", d)
	}
	if !ns[0].Resolved() || ns[1].Resolved() {
		t.Errorf("resolved: %v %v", ns[0].Resolved(), ns[1].Resolved())
	}
	if _, err := ParseARP([]byte("garbage\n")); err == nil {
		t.Error("no error without a header")
	}
}

// denyFS refuses to open anything under the given directories, as /proc
// does for another user's /proc/PID/fd without root.
type denyFS struct {
	fstest.MapFS
	deny []string
}

func (d denyFS) denied(name string) bool {
	for _, p := range d.deny {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

func (d denyFS) Open(name string) (fs.File, error) {
	if d.denied(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.MapFS.Open(name)
}

func (d denyFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if d.denied(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.MapFS.ReadDir(name)
}

func (d denyFS) ReadLink(name string) (string, error) {
	if d.denied(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrPermission}
	}
	return d.MapFS.ReadLink(name)
}

func (d denyFS) Lstat(name string) (fs.FileInfo, error) { return d.MapFS.Lstat(name) }

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
}

func fakeProc(t *testing.T) fstest.MapFS {
	m := fstest.MapFS{
		"self":           link("4711"),
		"net/tcp":        {Data: readCapture(t, "netns-tcp.txt")},
		"net/tcp6":       {Data: readCapture(t, "netns-tcp6.txt")},
		"net/udp":        {Data: readCapture(t, "netns-udp.txt")},
		"net/arp":        {Data: readCapture(t, "netns-arp.txt")},
		"4711/comm":      {Data: []byte("python3\n")},
		"4711/cmdline":   {Data: []byte("python3\x00/tmp/cap.py\x00")},
		"4711/fd/0":      link("/dev/null"),
		"4711/fd/3":      link("socket:[536953]"),
		"4711/fd/4":      link("socket:[536955]"),
		"4711/fd/5":      link("socket:[536960]"),
		"4711/fd/6":      link("socket:[536957]"),
		"4712/comm":      {Data: []byte("java\n")},
		"4712/cmdline":   {Data: []byte("java\x00-jar\x00x.jar\x00")},
		"4712/fd/9":      link("socket:[536953]"), // inherited by a child
		"4712/fd/10":     link("socket:[536954]"),
		"999/comm":       {Data: []byte("sshd\n")},
		"999/fd/3":       link("socket:[536956]"),
		"1/comm":         {Data: []byte("init\n")},
		"1/fd/1":         link("/dev/console"),
		"sys/net/ipv4/x": {Data: []byte("1")},
	}
	return m
}

func TestInspect(t *testing.T) {
	procfs := denyFS{MapFS: fakeProc(t), deny: []string{"999/fd"}}
	snap, err := Inspect(procfs, binary.LittleEndian, func(uid uint32) string { return map[uint32]string{0: "root"}[uid] })
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Proto   Protocol
		Local   string
		User    string
		Holders string
	}
	var got []row
	for _, l := range snap.Listeners {
		var hs []string
		for _, p := range l.Processes {
			hs = append(hs, p.Name+"/"+strconv.Itoa(p.PID)+"/"+p.Command)
		}
		got = append(got, row{l.Protocol, l.Local.String(), l.User, strings.Join(hs, " ")})
	}
	want := []row{
		{TCP, "0.0.0.0:4242", "root", "python3/4711/python3 /tmp/cap.py java/4712/java -jar x.jar"},
		{TCP, "[::]:4242", "root", "python3/4711/python3 /tmp/cap.py"},
		{TCP, "127.0.0.1:4243", "root", "java/4712/java -jar x.jar"},
		{TCP, "192.0.2.10:5900", "root", ""}, // sshd's fds are not readable
		{UDP, "0.0.0.0:4242", "root", "python3/4711/python3 /tmp/cap.py"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if snap.Hidden != 1 {
		t.Errorf("hidden %d, want 1", snap.Hidden)
	}
	ns, err := Neighbors(procfs)
	if err != nil || len(ns) != 2 {
		t.Errorf("neighbors %v %v", ns, err)
	}
}

func TestInspectUnsupported(t *testing.T) {
	_, err := Inspect(fstest.MapFS{}, binary.LittleEndian, nil)
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("no /proc/net/tcp: err %v, want ErrUnsupported", err)
	}
	if _, err := Neighbors(fstest.MapFS{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no /proc/net/arp: err %v", err)
	}
}

// TestLocal reads this machine's /proc: whatever it holds, it must parse.
func TestLocal(t *testing.T) {
	snap, err := Local()
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("this OS has no /proc socket tables to read (%v); the parsers are tested on captures above", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range snap.Listeners {
		if !l.Local.IsValid() {
			t.Errorf("invalid local address in %+v", l)
		}
	}
	if _, err := LocalNeighbors(); err != nil {
		t.Error(err)
	}
}
