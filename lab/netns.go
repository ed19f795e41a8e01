//go:build linux

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
var tools = []string{"ip", "iptables", "iptables-legacy", "ip6tables-legacy", "nft", "miniupnpd", "upnpc", "natpmpc", "ping"}

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
	sweepOnce.Do(func() {
		Sweep()
		SweepTemp(tempPrefix)
	})
}

var (
	sweepOnce sync.Once
	seq       struct {
		sync.Mutex
		n int
	}
)

// StepTimeout bounds each command the lab runs to build or remove itself
// (ip netns add, ip link add, iptables, …). On a loaded machine these take
// milliseconds to a few seconds; one that takes longer is stuck, and failing
// it lets StartT try again instead of waiting for go test's alarm.
var StepTimeout = 30 * time.Second

// waitDelay is how long a killed command's output may still be read: a
// grandchild holding its pipes open must not make Wait block.
const waitDelay = 2 * time.Second

// bounded makes cmd, made with exec.CommandContext, end with all its
// children when its context ends: it runs in a process group of its own,
// killed as a whole, and Wait returns at most waitDelay later even when
// something still holds its output open. Not for commands that read a
// terminal (a background process group cannot).
func bounded(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
}

// combined runs one set-up or tear-down step, bounded by ctx and by
// StepTimeout, and returns its combined output.
func combined(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	bounded(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out, err
}

// Namespace is a network namespace the lab created.
type Namespace struct {
	Name string
}

// NewNamespace creates a namespace named Prefix+pid+"-"+n+"-"+role with its
// loopback up. Keep role short: interface-free, but names show in `ip netns`.
// Each step is bounded by StepTimeout.
func NewNamespace(role string) (*Namespace, error) {
	return newNamespace(context.Background(), role)
}

func newNamespace(ctx context.Context, role string) (*Namespace, error) {
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	return namedNamespace(ctx, fmt.Sprintf("%s%d-%d-%s", Prefix, os.Getpid(), n, role))
}

// namedNamespace creates the namespace name with its loopback up. On error
// nothing is left behind.
func namedNamespace(ctx context.Context, name string) (*Namespace, error) {
	ns := &Namespace{Name: name}
	if out, err := combined(ctx, "ip", "netns", "add", name); err != nil {
		// A step killed on its deadline may have made the namespace.
		ns.Close()
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	if out, err := combined(ctx, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"); err != nil {
		ns.Close()
		return nil, fmt.Errorf("%s: ip link set lo up: %v: %s", name, err, bytes.TrimSpace(out))
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
	bounded(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// MustRun is Run for test setup: it fails t on error, and on a command
// still running after StepTimeout.
func (ns *Namespace) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
	defer cancel()
	out, err := ns.Run(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Close kills every process in the namespace and deletes it. Each step is
// bounded by StepTimeout; a namespace that is already gone is no error.
func (ns *Namespace) Close() error {
	ctx := context.Background()
	killPids(ctx, ns.Name)
	out, err := combined(ctx, "ip", "netns", "del", ns.Name)
	if err != nil {
		if bytes.Contains(out, []byte("No such file")) {
			return nil
		}
		return fmt.Errorf("ip netns del %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

func killPids(ctx context.Context, ns string) {
	pids := func() []byte {
		out, err := combined(ctx, "ip", "netns", "pids", ns)
		if err != nil {
			return nil
		}
		return out
	}
	for _, f := range strings.Fields(string(pids())) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Give the kernel a moment to reap, so the delete does not race.
	for i := 0; i < 50; i++ {
		if len(bytes.TrimSpace(pids())) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Veth connects namespace a (interface aIf) to b (interface bIf) with a veth
// pair created directly inside them, never in the root namespace. Each step
// is bounded by StepTimeout.
func Veth(a *Namespace, aIf string, b *Namespace, bIf string) error {
	return veth(context.Background(), a, aIf, b, bIf)
}

func veth(ctx context.Context, a *Namespace, aIf string, b *Namespace, bIf string) error {
	out, err := combined(ctx, "ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	if err != nil {
		return fmt.Errorf("veth %s/%s - %s/%s: %v: %s", a.Name, aIf, b.Name, bIf, err, bytes.TrimSpace(out))
	}
	for _, end := range []struct {
		ns *Namespace
		If string
	}{{a, aIf}, {b, bIf}} {
		if out, err := combined(ctx, "ip", "netns", "exec", end.ns.Name, "ip", "link", "set", end.If, "up"); err != nil {
			return fmt.Errorf("%s: ip link set %s up: %v: %s", end.ns.Name, end.If, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// Sweep deletes lab namespaces whose creating process is gone: leftovers of
// a run that was killed before it could clean up.
func Sweep() {
	out, err := combined(context.Background(), "ip", "netns", "list")
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
		(&Namespace{Name: name}).Close()
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
