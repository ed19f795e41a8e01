package cli

import (
	"syscall"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/netplan42/netplan42/diagnose"
)

// TestErrnoTableMatchesSyscall checks the windows row of errnoOutcomes
// against x/sys/windows' constants (built by the cross-vet; run only on
// Windows).
func TestErrnoTableMatchesSyscall(t *testing.T) {
	for errno, want := range map[syscall.Errno]diagnose.Outcome{
		windows.WSAECONNREFUSED:           diagnose.Refused,
		windows.ERROR_CONNECTION_REFUSED:  diagnose.Refused,
		windows.WSAEHOSTUNREACH:           diagnose.Unreachable,
		windows.WSAENETUNREACH:            diagnose.Unreachable,
		windows.ERROR_HOST_UNREACHABLE:    diagnose.Unreachable,
		windows.ERROR_NETWORK_UNREACHABLE: diagnose.Unreachable,
		windows.WSAETIMEDOUT:              diagnose.TimedOut,
		windows.ERROR_SEM_TIMEOUT:         diagnose.TimedOut,
	} {
		if got := errnoOutcomes["windows"][uintptr(errno)]; got != want {
			t.Errorf("%s (%d): %v; want %v", errno, uintptr(errno), got, want)
		}
	}
}
