package etcd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
	"github.com/netplan42/netplan42/state/statetest"
)

// dial connects a client to endpoints under a prefix of its own.
func dial(t testing.TB, endpoints []string, prefix string) *Client {
	t.Helper()
	c, err := Dial(&schema.Backend{Kind: schema.BackendEtcd, Endpoints: endpoints, Prefix: prefix, ReportTTL: schema.DefaultReportTTL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStoreConformance(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/netplan42")
	var n atomic.Int64
	statetest.TestStore(t, func(t *testing.T) state.Store {
		return c.ComputerStore(fmt.Sprintf("c%d", n.Add(1)))
	})
}

// TestNetworkStoreConformance runs the conformance test on the stores of
// networks' router parts (--network).
func TestNetworkStoreConformance(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/netplan42")
	var n atomic.Int64
	statetest.TestStore(t, func(t *testing.T) state.Store {
		s := c.NetworkStore(fmt.Sprintf("network-n%d", n.Add(1)))
		if want := fmt.Sprintf("/netplan42/computers/network-n%d/state", n.Load()); s.Key() != want {
			t.Fatalf("key %s; want %s", s.Key(), want)
		}
		return s
	})
}

// TestLostRace writes a state from two clients that read the same
// revision: the second write is refused, naming what the first wrote.
func TestLostRace(t *testing.T) {
	m := etcdtest.Start(t)
	a := dial(t, []string{m.ClientURL}, "/np").ComputerStore("nas")
	b := dial(t, []string{m.ClientURL}, "/np").ComputerStore("nas")
	s := state.New("computer.nas")
	if err := a.Write(s); err != nil {
		t.Fatal(err)
	}
	// b reads, a writes, b writes what it read: a lost race, caught by
	// the serial check. The revision check catches the narrower race
	// where a writes between b's read and b's transaction; force it by
	// writing through the raw client inside that window.
	old, err := b.Read()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(s); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(old); !errors.Is(err, state.ErrStale) {
		t.Fatalf("write of a stale state = %v; want ErrStale", err)
	}
	// The revision race: same serial in hand, the key changed under it.
	cur, _ := b.Read()
	_, _, rev, _ := b.read(b.Key())
	if _, err := rawClient(t, a.c).Put(context.Background(), a.Key(), mustEncode(t, cur)); err != nil {
		t.Fatal(err)
	}
	err = b.writeAt(cur, rev)
	if !errors.Is(err, state.ErrStale) || !strings.Contains(err.Error(), "changed after it was read") || !strings.Contains(err.Error(), "serial 2") {
		t.Fatalf("write after the key changed under it = %v; want ErrStale naming serial 2", err)
	}
	t.Log(err)
}

func mustEncode(t *testing.T, s *state.State) string {
	b, err := state.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLockHeldMessage checks the message a second apply sees.
func TestLockHeldMessage(t *testing.T) {
	m := etcdtest.Start(t)
	c := dial(t, []string{m.ClientURL}, "/np")
	s := c.ComputerStore("nas")
	unlock, err := s.Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = dial(t, []string{m.ClientURL}, "/np").ComputerStore("nas").Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	host, _ := os.Hostname()
	want := fmt.Sprintf("state /np/computers/nas/state is locked by apply (pid %d on host %s, since ", os.Getpid(), host)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "etcd lease expires") {
		t.Fatalf("second apply = %v\nwant prefix %q", err, want)
	}
	t.Log(err)
}

// TestKilledHolder kills a process holding the lock: the lock is free
// once its lease expires, and not before.
func TestKilledHolder(t *testing.T) {
	m := etcdtest.Start(t)
	const ttl = 3 * time.Second
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), "NETPLAN42_ETCD_HOLDER="+m.ClientURL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "locked") {
		t.Fatalf("holder: %q, %v", line, err)
	}
	c := dial(t, []string{m.ClientURL}, "/np")
	s := c.ComputerStore("nas")
	_, err = s.Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	var le *state.LockedError
	if !errors.As(err, &le) || le.Holder.Pid != cmd.Process.Pid || le.Holder.Operation != "apply" {
		t.Fatalf("lock while the helper holds it = %v; want held by pid %d", err, cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), "within 3s of a crash") {
		t.Errorf("message %q does not give the holder's lease of 3s", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*ttl)
	defer cancel()
	unlock, err := s.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	unlock()
	freed := time.Since(killed)
	t.Logf("lock of a killed holder freed %s after the kill (lease TTL %s)", freed.Round(time.Millisecond), ttl)
	if freed < ttl/2 {
		t.Errorf("freed after %s: before its lease of %s could expire", freed, ttl)
	}
}

// TestHelperHolder is the process TestKilledHolder kills: it takes the
// lock, says so, and waits to be killed.
func TestHelperHolder(t *testing.T) {
	ep := os.Getenv("NETPLAN42_ETCD_HOLDER")
	if ep == "" {
		t.Skip("helper process for TestKilledHolder")
	}
	c := dial(t, []string{ep}, "/np")
	c.LockTTL = 3 * time.Second
	if _, err := c.ComputerStore("nas").Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(2)
}
