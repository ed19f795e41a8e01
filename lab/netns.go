package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace the lab creates; the creating
// process's pid follows, so a sweep can tell live labs from dead ones.
const Prefix = "np42-"

// Packages are the Debian packages the lab needs.
var Packages = []string{"iptables", "nftables", "iproute2", "miniupnpd-iptables", "miniupnpc", "natpmpc", "iputils-ping"}

// tools are the commands the lab runs, checked by Require.
var tools = []string{"ip", "iptables", "iptables-legacy", "nft", "miniupnpd", "upnpc", "natpmpc", "ping"}

// Mode returns the NETPLAN42_LAB setting: "required", "off", or "" (run
// when possible).
func Mode() string { return os.Getenv("NETPLAN42_LAB") }

// Available reports why the lab cannot run here, or "" when it can.
func Available() string {
	if os.Geteuid() != 0 {
		return "lab tests need root (network namespaces)"
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("lab tools missing: %s (apt-get install %s)", strings.Join(missing, ", "), strings.Join(Packages, " "))
	}
	return ""
}

// Require skips t when the lab cannot run here, or fails it when
// NETPLAN42_LAB=required; with NETPLAN42_LAB=off it always skips.
func Require(t testing.TB) {
	t.Helper()
	switch Mode() {
	case "off":
		t.Skip("lab test: NETPLAN42_LAB=off")
	case "required":
		if why := Available(); why != "" {
			t.Fatalf("lab test cannot run and NETPLAN42_LAB=required: %s", why)
		}
	default:
		if why := Available(); why != "" {
			t.Skipf("lab test skipped: %s (set NETPLAN42_LAB=required to fail instead)", why)
		}
	}
	sweepOnce.Do(Sweep)
}

var (
	sweepOnce sync.Once
	seq       struct {
		sync.Mutex
		n int
	}
)

// Namespace is a network namespace the lab created.
type Namespace struct {
	Name string
}

// NewNamespace creates a namespace named Prefix+pid+"-"+n+"-"+role with its
// loopback up. Keep role short: interface-free, but names show in `ip netns`.
func NewNamespace(role string) (*Namespace, error) {
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	return namedNamespace(fmt.Sprintf("%s%d-%d-%s", Prefix, os.Getpid(), n, role))
}

// namedNamespace creates the namespace name with its loopback up.
func namedNamespace(name string) (*Namespace, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	ns := &Namespace{Name: name}
	if _, err := ns.Run(context.Background(), "ip", "link", "set", "lo", "up"); err != nil {
		ns.Close()
		return nil, err
	}
	return ns, nil
}

// Command returns a command that runs name inside the namespace.
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its standard output.
// The error carries standard error.
func (ns *Namespace) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := ns.Command(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// MustRun is Run for test setup: it fails t on error.
func (ns *Namespace) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.Run(context.Background(), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Close kills every process in the namespace and deletes it.
func (ns *Namespace) Close() error {
	killPids(ns.Name)
	out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

func killPids(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Give the kernel a moment to reap, so the delete does not race.
	for i := 0; i < 50; i++ {
		out, _ = exec.Command("ip", "netns", "pids", ns).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Veth connects namespace a (interface aIf) to b (interface bIf) with a veth
// pair created directly inside them, never in the root namespace.
func Veth(a *Namespace, aIf string, b *Namespace, bIf string) error {
	out, err := exec.Command("ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("veth %s/%s - %s/%s: %v: %s", a.Name, aIf, b.Name, bIf, err, bytes.TrimSpace(out))
	}
	ctx := context.Background()
	if _, err := a.Run(ctx, "ip", "link", "set", aIf, "up"); err != nil {
		return err
	}
	_, err = b.Run(ctx, "ip", "link", "set", bIf, "up")
	return err
}

// Sweep deletes lab namespaces whose creating process is gone: leftovers of
// a run that was killed before it could clean up.
func Sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		killPids(name)
		exec.Command("ip", "netns", "del", name).Run()
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
