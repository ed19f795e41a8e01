//go:build !windows

package state

import "os"

// isAdmin reports whether this process runs as root.
func isAdmin() bool { return os.Geteuid() == 0 }
