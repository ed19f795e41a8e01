package state

import "golang.org/x/sys/windows"

// isAdmin reports whether this process runs elevated: only then may it
// write under %ProgramData% and change the firewall.
func isAdmin() bool {
	return windows.GetCurrentProcessToken().IsElevated()
}
