package cli

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/netplan42/netplan42/diagnose"
)

// errnoOutcomes maps, per GOOS, the error numbers a failed TCP connect
// returns to check's verdicts. They are numbers, not syscall constants,
// so that every system's table is tested on any system (dialerr_test.go)
// and checked against that system's constants where it builds
// (dialerr_*_test.go). Comparing with syscall.ECONNREFUSED alone never
// matches on Windows, whose Winsock errors have numbers of their own.
var errnoOutcomes = map[string]map[uintptr]diagnose.Outcome{
	"linux": {
		111: diagnose.Refused,     // ECONNREFUSED
		113: diagnose.Unreachable, // EHOSTUNREACH
		101: diagnose.Unreachable, // ENETUNREACH
		112: diagnose.Unreachable, // EHOSTDOWN
		100: diagnose.Unreachable, // ENETDOWN
		110: diagnose.TimedOut,    // ETIMEDOUT
	},
	// BSD numbers, the same on macOS and FreeBSD.
	"darwin":  bsdErrno,
	"freebsd": bsdErrno,
	"windows": {
		10061: diagnose.Refused,     // WSAECONNREFUSED
		1225:  diagnose.Refused,     // ERROR_CONNECTION_REFUSED (ConnectEx completion)
		10065: diagnose.Unreachable, // WSAEHOSTUNREACH
		10051: diagnose.Unreachable, // WSAENETUNREACH
		10064: diagnose.Unreachable, // WSAEHOSTDOWN
		10050: diagnose.Unreachable, // WSAENETDOWN
		1232:  diagnose.Unreachable, // ERROR_HOST_UNREACHABLE
		1231:  diagnose.Unreachable, // ERROR_NETWORK_UNREACHABLE
		10060: diagnose.TimedOut,    // WSAETIMEDOUT
		121:   diagnose.TimedOut,    // ERROR_SEM_TIMEOUT (ConnectEx after the SYN retries)
	},
}

var bsdErrno = map[uintptr]diagnose.Outcome{
	61: diagnose.Refused,     // ECONNREFUSED
	65: diagnose.Unreachable, // EHOSTUNREACH
	51: diagnose.Unreachable, // ENETUNREACH
	64: diagnose.Unreachable, // EHOSTDOWN
	50: diagnose.Unreachable, // ENETDOWN
	60: diagnose.TimedOut,    // ETIMEDOUT
}

// dialOutcome classifies a failed TCP dial on goos: refused, unreachable,
// timed out (the dialer's deadline, or the system's), or another error.
func dialOutcome(err error, goos string) diagnose.Outcome {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if o, ok := errnoOutcomes[goos][uintptr(errno)]; ok {
			return o
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return diagnose.TimedOut
	}
	return diagnose.DialError
}
