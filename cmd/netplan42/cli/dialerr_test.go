package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/netplan42/netplan42/diagnose"
)

// dialErr wraps errno as net.Dial does: *net.OpError around
// *os.SyscallError ("connect" on Unix, "connectex" on Windows).
func dialErr(call string, errno uintptr) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError(call, syscall.Errno(errno))}
}

func TestDialOutcome(t *testing.T) {
	for _, tc := range []struct {
		goos  string
		err   error
		want  diagnose.Outcome
		label string
	}{
		{"linux", dialErr("connect", 111), diagnose.Refused, "ECONNREFUSED"},
		{"linux", dialErr("connect", 113), diagnose.Unreachable, "EHOSTUNREACH"},
		{"linux", dialErr("connect", 101), diagnose.Unreachable, "ENETUNREACH"},
		{"linux", dialErr("connect", 110), diagnose.TimedOut, "ETIMEDOUT"},
		{"linux", dialErr("connect", 13), diagnose.DialError, "EACCES"},
		{"darwin", dialErr("connect", 61), diagnose.Refused, "ECONNREFUSED"},
		{"darwin", dialErr("connect", 65), diagnose.Unreachable, "EHOSTUNREACH"},
		{"darwin", dialErr("connect", 111), diagnose.DialError, "Linux's number means nothing here"},
		{"freebsd", dialErr("connect", 61), diagnose.Refused, "ECONNREFUSED"},
		{"freebsd", dialErr("connect", 60), diagnose.TimedOut, "ETIMEDOUT"},
		{"windows", dialErr("connectex", 10061), diagnose.Refused, "WSAECONNREFUSED"},
		{"windows", dialErr("connectex", 1225), diagnose.Refused, "ERROR_CONNECTION_REFUSED"},
		{"windows", dialErr("connectex", 10065), diagnose.Unreachable, "WSAEHOSTUNREACH"},
		{"windows", dialErr("connectex", 10051), diagnose.Unreachable, "WSAENETUNREACH"},
		{"windows", dialErr("connectex", 1232), diagnose.Unreachable, "ERROR_HOST_UNREACHABLE"},
		{"windows", dialErr("connectex", 10060), diagnose.TimedOut, "WSAETIMEDOUT"},
		{"windows", dialErr("connectex", 111), diagnose.DialError, "Linux's ECONNREFUSED"},
		{"linux", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, diagnose.TimedOut, "dialer deadline"},
		{"windows", fmt.Errorf("dial: %w", context.DeadlineExceeded), diagnose.TimedOut, "context deadline"},
		{"linux", errors.New("no route"), diagnose.DialError, "plain error"},
	} {
		if got := dialOutcome(tc.err, tc.goos); got != tc.want {
			t.Errorf("%s %s: %v; want %v", tc.goos, tc.label, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestDialOutcomeLive dials a closed port on loopback: whatever this
// system returns for it must classify as refused.
func TestDialOutcomeLive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = net.Dial("tcp", addr)
	if err == nil {
		t.Skip("port reused")
	}
	if got := dialOutcome(err, runtime.GOOS); got != diagnose.Refused {
		t.Errorf("dial closed port %s: %v classified %v; want refused", addr, err, got)
	}
}
