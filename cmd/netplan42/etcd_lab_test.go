//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/lab"
)

// TestLabEtcdBackend: a real apply against miniupnpd with the state, its
// lock and the report in etcd. etcd runs on the loopback of the LAN host
// h1, inside the lab, and netplan42 runs there too: a second apply while
// the first waits at its prompt is refused naming it; show reads the state
// from etcd; fleet status shows the report; destroy empties the state.
func TestLabEtcdBackend(t *testing.T) {
	lab.Require(t)
	etcdtest.Require(t)
	l := lab.StartT(t, lab.Spec{Hosts: 1, NoNATPMP: true})
	h := l.Host(1)
	cl := etcdtest.StartWith(t, 1, etcdtest.Options{Command: h.Command, DialContext: h.DialContext})
	block := fmt.Sprintf("backend \"etcd\" {\n  endpoints = [%q]\n  prefix    = \"/lab\"\n}\n", cl.Members[0].ClientURL)
	dir := writeConfig(t, block+labConfig(`["upnp"]`, "none", computerBlock("h1", `"auto"`)))
	np := func(stdin string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := h.Command(ctx, binary, append(args, "--config", dir)...)
		return runCmd(t, cmd, stdin)
	}
	r := np("", "plan", "--computer", "h1")
	r.want(t, 0, "etcd at "+cl.Members[0].ClientURL+": assigned port 1024 to computer.h1 service \"crashplan\"", `+ router_mapping.crashplan["tcp"]`)

	// The first apply holds the lock in etcd while it asks for "yes".
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := h.Command(ctx, binary, "apply", "--config", dir, "--computer", "h1")
	stdin, _ := first.StdinPipe()
	stdout, _ := first.StdoutPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	buf := make([]byte, 64*1024)
	seen := ""
	for !strings.Contains(seen, "Enter a value") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("first apply ended before its prompt: %v\n%s", err, seen)
		}
		seen += string(buf[:n])
	}
	start := time.Now()
	second := np("", "apply", "--computer", "h1", "--auto-approve")
	second.want(t, 1, "state /lab/computers/h1/state is locked by apply", fmt.Sprintf("pid %d", first.Process.Pid), "etcd lease")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the second apply took %s to fail; it must fail at once", d)
	}
	t.Log(strings.TrimSpace(second.stderr))
	first.Process.Signal(syscall.SIGINT)
	stdin.Close()
	io.Copy(io.Discard, stdout)
	first.Wait()

	np("", "apply", "--computer", "h1", "--auto-approve").want(t, 0, "Apply complete! Resources: 1 added")
	if got := grepLines(upnpcLines(t, l, 1), "netplan42:h1/crashplan"); len(got) != 1 || !strings.Contains(got[0], "1024->192.0.2.10:1024") {
		t.Fatalf("upnpc -l shows %q, want our mapping of port 1024", got)
	}
	r = np("", "show", "--computer", "h1")
	r.want(t, 0, "/lab/computers/h1/state", `router_mapping.crashplan["tcp"]`)
	t.Log("\n" + r.stdout)
	r = np("", "fleet", "status")
	r.want(t, 0, "computer.h1  reporting", "mappings 1 of 1 open", "external address 11.0.0.1")
	t.Log("\n" + r.stdout)
	np("", "plan", "--computer", "h1", "--detailed-exitcode").want(t, 0, "No changes.")
	np("", "destroy", "--computer", "h1", "--auto-approve").want(t, 0, "Destroy complete!", "1 destroyed")
	if got := grepLines(upnpcLines(t, l, 1), "netplan42"); len(got) != 0 {
		t.Errorf("mappings left after destroy: %q", got)
	}
}

// upnpcLines is labRun.upnpcLines for a lab without a labRun.
func upnpcLines(t *testing.T, l *lab.Lab, i int) []string {
	r := &labRun{t: t, l: l}
	return r.upnpcLines(i)
}
