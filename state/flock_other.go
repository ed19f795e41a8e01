//go:build !(linux || darwin || freebsd || windows)

package state

import (
	"fmt"
	"os"
	"runtime"
)

// Other systems have no flock(2); netplan42's firewall backends do not run
// there either, so locking fails plainly rather than pretending.
func flock(fh *os.File, exclusive bool) (held bool, err error) {
	return false, fmt.Errorf("state locking is not supported on %s", runtime.GOOS)
}

func funlock(fh *os.File) error { return nil }
