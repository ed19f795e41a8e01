//go:build linux || darwin || freebsd

package cli

import (
	"runtime"
	"syscall"
	"testing"

	"github.com/netplan42/netplan42/diagnose"
)

// TestErrnoTableMatchesSyscall checks this system's row of errnoOutcomes
// against its syscall constants (built for each Unix by the cross-vet).
func TestErrnoTableMatchesSyscall(t *testing.T) {
	for errno, want := range map[syscall.Errno]diagnose.Outcome{
		syscall.ECONNREFUSED: diagnose.Refused,
		syscall.EHOSTUNREACH: diagnose.Unreachable,
		syscall.ENETUNREACH:  diagnose.Unreachable,
		syscall.EHOSTDOWN:    diagnose.Unreachable,
		syscall.ENETDOWN:     diagnose.Unreachable,
		syscall.ETIMEDOUT:    diagnose.TimedOut,
	} {
		if got := errnoOutcomes[runtime.GOOS][uintptr(errno)]; got != want {
			t.Errorf("%s (%d): %v; want %v", errno, uintptr(errno), got, want)
		}
	}
}
