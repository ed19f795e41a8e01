//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
)

func TestMain(m *testing.M) {
	// listen starts this binary again as the lab-serve child.
	lab.ChildMain(m, lab.Children())
}

func cli(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb); code != want {
		t.Fatalf("netplan42-lab %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// The README's status and check examples need a program listening on
// host1:4242; netplan42-lab listen starts one, prove still works through
// it, and down stops it.
func TestListen(t *testing.T) {
	lab.Require(t)
	// A lab of this test's own, named like the lab package's, so a killed
	// run's namespaces are swept.
	Dir = t.TempDir()
	name = fmt.Sprintf("%s%d-cli", lab.Prefix, os.Getpid())
	t.Cleanup(func() {
		var out bytes.Buffer
		run(context.Background(), []string{"down"}, &out, &out)
	})
	cli(t, 0, "up", "--hosts", "1")
	out := cli(t, 0, "listen", "host1", "4242", "4243")
	m := regexp.MustCompile(`^host1 192\.0\.2\.10: listening on 4242/tcp, 4243/tcp \(pid (\d+), log `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("listen said %q", out)
	}
	pid, _ := strconv.Atoi(m[1])

	l, err := lab.Attach(Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Router().Child(context.Background(), "lab-dial", "192.0.2.10:4243", "hello", "5"); err != nil {
		t.Fatalf("connecting from the router to host1:4243: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(Dir, "listen-host1.log"))
	if !regexp.MustCompile(`from=192\.0\.2\.1:\d+ got=hello`).Match(log) {
		t.Errorf("listener log:\n%s", log)
	}
	cli(t, 1, "listen", "host1", "4242")
	if out := cli(t, 1, "listen", "host9", "1"); !strings.Contains(out, `no host "host9"`) {
		t.Errorf("listen on host9: %s", out)
	}

	// With a mapping, the internet host reaches the listener.
	l.Host(1).MustRun(t, "upnpc", "-u", l.RootDescURL(), "-a", "192.0.2.10", "4242", "4242", "TCP")
	out = cli(t, 0, "prove", "host1", "4242")
	if !strings.Contains(out, "connected (arrived from 11.0.0.254:") {
		t.Errorf("prove through the listener: %s", out)
	}

	cli(t, 0, "down")
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i == 100 {
			t.Fatalf("listener pid %d still runs after down", pid)
		}
		time.Sleep(50 * time.Millisecond) // this process reaps it
	}
}

// up --ipv6 makes a dual-stack lab; prove6 reaches a host's global address
// only through a pinhole, also where listen holds the port.
func TestProve6(t *testing.T) {
	lab.Require(t)
	Dir = t.TempDir()
	name = fmt.Sprintf("%s%d-cli6", lab.Prefix, os.Getpid())
	t.Cleanup(func() {
		var out bytes.Buffer
		run(context.Background(), []string{"down"}, &out, &out)
	})
	out := cli(t, 0, "up", "--hosts", "1", "--ipv6")
	if !strings.Contains(out, "host1     2001:db8:1::10") || !strings.Contains(out, "rootDesc6 http://[2001:db8:1::1]:") {
		t.Fatalf("up --ipv6 said:\n%s", out)
	}
	cli(t, 0, "listen", "host1", "5001")
	if out := cli(t, 1, "prove6", "host1", "5001"); !strings.Contains(out, "i/o timeout") {
		t.Errorf("prove6 without a pinhole: %s", out)
	}
	l, err := lab.Attach(Dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := l.UPnPC6(context.Background(), 1, "-A", "", "0", "2001:db8:1::10", "5001", "TCP", "600"); err != nil {
		t.Fatalf("upnpc -6 -A: %v\n%s", err, out)
	}
	if out := cli(t, 0, "prove6", "host1", "5001"); !strings.Contains(out, "connected (arrived from [2001:db8:ff::fe]:") {
		t.Errorf("prove6 through a pinhole: %s", out)
	}
}
