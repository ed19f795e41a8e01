//go:build !unix

package userfile

import "os"

// open opens path for reading. Systems without O_NONBLOCK have no FIFOs a
// plain open would block on.
func open(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY, 0)
}
