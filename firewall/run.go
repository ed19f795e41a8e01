package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// ErrPermission is wrapped by errors from firewall tools that were refused
// for want of privilege.
var ErrPermission = errors.New("permission denied: run as root or with CAP_NET_ADMIN")

// runFunc runs a command with stdin (nil for none) and returns its standard
// output. It is a field of each backend so tests can replace the machine.
type runFunc func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)

const (
	// cmdTimeout bounds one firewall command when ctx has no deadline: a
	// hung xtables lock must not hang an apply forever.
	cmdTimeout = 30 * time.Second
	// maxOutput bounds what we read from a listing command.
	maxOutput = 64 << 20
)

// execRun runs the command on this machine.
func execRun(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	stdout := &limitedBuffer{max: maxOutput}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	err := cmd.Run()
	if err == nil && stdout.over {
		err = fmt.Errorf("output larger than %d bytes", maxOutput)
	}
	if err != nil {
		return stdout.Bytes(), &cmdError{cmd: commandLine(name, args), stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.Bytes(), nil
}

func commandLine(name string, args []string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

// cmdError is a failed firewall command with its standard error.
type cmdError struct {
	cmd    string
	stderr string
	err    error
}

func (e *cmdError) Error() string {
	msg := e.cmd + ": " + e.err.Error()
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	if e.permission() {
		msg += " (run as root or with CAP_NET_ADMIN)"
	}
	return msg
}

func (e *cmdError) Unwrap() []error {
	if e.permission() {
		return []error{e.err, ErrPermission}
	}
	return []error{e.err}
}

func (e *cmdError) permission() bool {
	s := strings.ToLower(e.stderr)
	return strings.Contains(s, "permission denied") || strings.Contains(s, "operation not permitted") ||
		strings.Contains(s, "must be root")
}

type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
