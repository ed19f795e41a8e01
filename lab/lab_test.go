//go:build linux

package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestStartRestartClose(t *testing.T) {
	Require(t)
	l := StartT(t, Spec{Hosts: 2})
	url := l.RootDescURL()
	if !strings.HasPrefix(url, "http://192.0.2.1:") {
		t.Fatalf("RootDescURL = %q; log:\n%s", url, l.Log())
	}
	out := l.Host(2).MustRun(t, "upnpc", "-u", url, "-s")
	if !strings.Contains(out, "ExternalIPAddress = 11.0.0.1") {
		t.Fatalf("upnpc -s from host2:\n%s", out)
	}
	// The router runs at a priority a busy machine does not starve.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", l.PID()))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	if f := strings.Fields(rest); len(f) < 17 || f[16] != fmt.Sprint(routerNice) {
		t.Errorf("miniupnpd's nice value: /proc/%d/stat %s", l.PID(), stat)
	}
	// Its syslog stays off the host: the machine's console and journal
	// are /dev/null where it runs, and its log is the lab's.
	mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", l.PID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/dev/console", "/dev/log"} {
		if _, err := os.Stat(f); err == nil && !strings.Contains(string(mounts), "/null "+f+" ") {
			t.Errorf("miniupnpd can log to the host's %s: not bound to /dev/null in its mount namespace", f)
		}
	}
	if !strings.Contains(l.Log(), "HTTP REQUEST from 192.0.2.11") {
		t.Errorf("upnpc's requests are not in the lab's log:\n%s", l.Log())
	}
	out = l.Host(1).MustRun(t, "natpmpc", "-g", "192.0.2.1")
	if !strings.Contains(out, "Public IP address : 11.0.0.1") {
		t.Fatalf("natpmpc from host1:\n%s", out)
	}
	if err := l.RestartRouter(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(l.Log(), "version 2.3.1 starting"); n != 2 {
		t.Fatalf("miniupnpd started %d times, want 2", n)
	}
	names := []string{l.Router().Name, l.Internet().Name, l.Host(1).Name}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	for _, n := range names {
		if strings.Contains(string(list), n) {
			t.Errorf("namespace %s left after Close", n)
		}
	}
}

func TestCGNATWAN(t *testing.T) {
	Require(t)
	l := StartT(t, Spec{WAN: CGNATWAN})
	// miniupnpd 2.3.1 refuses a reserved WAN address: it starts, says so,
	// and reports no external address over UPnP.
	if !strings.Contains(l.Log(), "Reserved / private IP address 100.64.0.1 on ext interface wan0") {
		t.Fatalf("log:\n%s", l.Log())
	}
	out := l.Host(1).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-s")
	if !strings.Contains(out, "GetExternalIPAddress failed") {
		t.Fatalf("upnpc -s:\n%s", out)
	}
}
