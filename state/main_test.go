package state_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/state"
)

// childEnv names the child a re-executed test binary runs instead of the
// tests; childPathEnv is the state file it works on.
const (
	childEnv     = "NETPLAN42_STATE_CHILD"
	childPathEnv = "NETPLAN42_STATE_CHILD_PATH"
)

var children = map[string]func(path string) error{
	"lock":  lockChild,
	"write": writeChild,
}

func TestMain(m *testing.M) {
	name := os.Getenv(childEnv)
	if name == "" {
		os.Exit(m.Run())
	}
	if err := children[name](os.Getenv(childPathEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// lockChild holds the exclusive lock until its stdin closes.
func lockChild(path string) error {
	unlock, err := state.NewFileStore(path).Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		return err
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	return unlock()
}

// writeChild rewrites the state until it is killed.
func writeChild(path string) error {
	fs := state.NewFileStore(path)
	s := state.New("computer.nas")
	for i := 0; ; i++ {
		// A few hundred resources make a file of many pages, so a
		// kill is likely to land mid-write.
		s.Resources = append(s.Resources, planner.Managed{
			Address: fmt.Sprintf("router_mapping.svc%d[\"tcp\"]", i),
			Kind:    planner.KindMapping,
			Mapping: &planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(1024 + i%60000),
				InternalAddress: netip.MustParseAddr("192.168.1.10"), InternalPort: 80, Description: strings.Repeat("x", 200)},
		})
		if err := fs.Write(s); err != nil {
			return err
		}
		if i == 0 {
			fmt.Println("writing")
		}
	}
}

// child is a re-executed test binary running a child.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startChild starts the child name on path and waits for its first line,
// which must be ready.
func startChild(t *testing.T, name, path, ready string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, childPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	line, err := c.out.ReadString('\n')
	if strings.TrimSpace(line) != ready {
		t.Fatalf("child %s said %q, %v; want %q", name, line, err, ready)
	}
	return c
}
