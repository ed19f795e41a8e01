package host

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	gnet "github.com/shirou/gopsutil/v4/net"
)

// TestFromConnections feeds values shaped as gopsutil v4.26 returns them
// (written from its source, not captured on a live system): on Windows
// from GetExtendedTcpTable (AF_INET6 = 23, status "LISTEN", UDP with no
// remote), on macOS from lsof (AF_INET6 = 30, "*" for any address).
func TestFromConnections(t *testing.T) {
	v6 := func(fams ...uint32) func(uint32) bool {
		return func(f uint32) bool {
			for _, x := range fams {
				if f == x {
					return true
				}
			}
			return false
		}
	}
	names := map[int32]string{4242: "CrashPlanService.exe", 77: "sshd"}
	name := func(pid int32) string { return names[pid] }
	windows := []gnet.ConnectionStat{
		{Family: 2, Type: 1, Laddr: gnet.Addr{IP: "0.0.0.0", Port: 4242}, Status: "LISTEN", Pid: 4242},
		{Family: 23, Type: 1, Laddr: gnet.Addr{IP: "::", Port: 4242}, Status: "LISTEN", Pid: 4242},
		{Family: 2, Type: 1, Laddr: gnet.Addr{IP: "192.0.2.10", Port: 50123}, Raddr: gnet.Addr{IP: "198.51.100.7", Port: 443}, Status: "ESTABLISHED", Pid: 4242},
		{Family: 2, Type: 2, Laddr: gnet.Addr{IP: "0.0.0.0", Port: 4243}, Status: "", Pid: 4242},
		{Family: 2, Type: 1, Laddr: gnet.Addr{IP: "0.0.0.0", Port: 445}, Status: "LISTEN", Pid: 4}, // System: no name
		{Family: 2, Type: 1, Laddr: gnet.Addr{IP: "bogus", Port: 1}, Status: "LISTEN"},
	}
	got := fromConnections(windows, v6(23), name)
	want := &Snapshot{
		Listeners: []Listener{
			{Socket: Socket{Protocol: TCP, Local: ap("0.0.0.0:445"), State: stateListen}, Processes: []Process{{PID: 4}}},
			{Socket: Socket{Protocol: TCP, Local: ap("0.0.0.0:4242"), State: stateListen}, Processes: []Process{{PID: 4242, Name: "CrashPlanService.exe", Command: "CrashPlanService.exe"}}},
			{Socket: Socket{Protocol: TCP, Local: ap("[::]:4242"), State: stateListen}, Processes: []Process{{PID: 4242, Name: "CrashPlanService.exe", Command: "CrashPlanService.exe"}}},
			{Socket: Socket{Protocol: UDP, Local: ap("0.0.0.0:4243"), State: stateClose}, Processes: []Process{{PID: 4242, Name: "CrashPlanService.exe", Command: "CrashPlanService.exe"}}},
		},
		Notes: []string{"a socket with an unreadable address (bogus) was left out"},
	}
	if d := cmp.Diff(want, got, addrPorts); d != "" {
		t.Errorf("windows (-want +got):\n%s", d)
	}

	// lsof lists a socket once per process holding it, and "*" for any.
	darwin := []gnet.ConnectionStat{
		{Family: 30, Type: 1, Laddr: gnet.Addr{IP: "*", Port: 22}, Status: "LISTEN", Pid: 77, Uids: []int32{0}},
		{Family: 30, Type: 1, Laddr: gnet.Addr{IP: "*", Port: 22}, Status: "LISTEN", Pid: 78, Uids: []int32{0}},
		{Family: 30, Type: 1, Laddr: gnet.Addr{IP: "*", Port: 22}, Status: "LISTEN", Pid: 77, Uids: []int32{0}},
		{Family: 2, Type: 1, Laddr: gnet.Addr{IP: "127.0.0.1", Port: 4243}, Status: "LISTEN", Uids: []int32{501}},
		{Family: 2, Type: 2, Laddr: gnet.Addr{IP: "*", Port: 5353}, Uids: []int32{0}},
	}
	got = fromConnections(darwin, v6(30), name)
	want = &Snapshot{Listeners: []Listener{
		{Socket: Socket{Protocol: TCP, Local: ap("[::]:22"), State: stateListen}, Processes: []Process{{PID: 77, Name: "sshd", Command: "sshd"}, {PID: 78}}},
		{Socket: Socket{Protocol: TCP, Local: ap("127.0.0.1:4243"), State: stateListen, UID: 501}},
		{Socket: Socket{Protocol: UDP, Local: ap("0.0.0.0:5353"), State: stateClose}},
	}}
	if d := cmp.Diff(want, got, addrPorts); d != "" {
		t.Errorf("darwin (-want +got):\n%s", d)
	}
	for _, l := range got.Listeners {
		if !l.Listening() {
			t.Errorf("%v does not report Listening", l.Socket)
		}
	}
}

var addrPorts = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })
