//go:build linux

package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func TestVethPing(t *testing.T) {
	Require(t)
	a, err := NewNamespace("a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := NewNamespace("b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := Veth(a, "eth0", b, "eth0"); err != nil {
		t.Fatal(err)
	}
	a.MustRun(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	b.MustRun(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "eth0")
	out, err := a.Run(context.Background(), "ping", "-c1", "-W2", "192.0.2.2")
	if err != nil {
		t.Fatalf("ping across the veth: %v", err)
	}
	if !strings.Contains(out, "1 received") {
		t.Fatalf("ping output: %s", out)
	}
}

func TestMain(m *testing.M) {
	children := Children()
	children["netns-name"] = func(ctx context.Context, args []string) error {
		out, err := exec.Command("ip", "netns", "identify").Output()
		fmt.Print(string(out))
		return err
	}
	ChildMain(m, children)
}

func TestChildRunsInNamespace(t *testing.T) {
	Require(t)
	ns, err := NewNamespace("c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	out, err := ns.Child(context.Background(), "netns-name")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != ns.Name {
		t.Fatalf("child ran in %q, want %q", strings.TrimSpace(out), ns.Name)
	}
}
