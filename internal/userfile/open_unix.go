//go:build unix

package userfile

import (
	"os"
	"syscall"
)

// open opens path for reading without blocking: opening a FIFO for reading
// otherwise waits for a writer, forever.
func open(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
