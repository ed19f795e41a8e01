//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// childEnv names the child function a re-executed test binary must run.
const childEnv = "NETPLAN42_LAB_CHILD"

// ChildFunc is Go code that runs inside a lab namespace, in a process of its
// own. It writes its result to stdout; a non-nil error fails the call.
type ChildFunc func(ctx context.Context, args []string) error

// ChildMain is for a test package's TestMain: in a process started by
// Namespace.Child it runs the named child and exits; otherwise it runs the
// tests. Re-executing the test binary under `ip netns exec` puts every thread
// of the child in the namespace, which switching namespaces in-process
// cannot promise for a Go program.
func ChildMain(m *testing.M, children map[string]ChildFunc) {
	ServeChild(children)
	os.Exit(m.Run())
}

// ServeChild is ChildMain for programs that are not tests
// (cmd/netplan42-lab): in a process started by Namespace.Child it runs the
// named child and exits; otherwise it returns.
func ServeChild(children map[string]ChildFunc) {
	name := os.Getenv(childEnv)
	if name == "" {
		return
	}
	fn, ok := children[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "lab: no child function %q\n", name)
		os.Exit(3)
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(childEnv+"_ARGS")), &args); err != nil {
		fmt.Fprintf(os.Stderr, "lab: child args: %v\n", err)
		os.Exit(3)
	}
	if err := fn(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Child runs the child function name, registered with ChildMain, in a new
// process inside the namespace, and returns what it wrote to stdout.
func (ns *Namespace) Child(ctx context.Context, name string, args ...string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	a, _ := json.Marshal(args)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, childEnv+"_ARGS="+string(a))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("child %s in %s: %v: %s", name, ns.Name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// StartChild starts the child function name, registered with ChildMain or
// ServeChild, in a new process inside the namespace that outlives the
// caller: in a session of its own, writing to the file logPath (appended).
// It does not wait for the child; Close of the namespace kills it.
func (ns *Namespace) StartChild(name, logPath string, args ...string) (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	a, _ := json.Marshal(args)
	cmd := exec.Command("ip", "netns", "exec", ns.Name, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, childEnv+"_ARGS="+string(a))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("child %s in %s: %v", name, ns.Name, err)
	}
	// `ip netns exec` execs the child in place: this is the child's pid.
	go cmd.Wait()
	return cmd.Process, nil
}
