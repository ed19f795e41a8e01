//go:build linux || darwin || freebsd

package state

import (
	"errors"
	"os"
	"syscall"
)

// flock takes an flock(2) lock on fh without waiting; held reports whether
// another open file holds a conflicting one.
func flock(fh *os.File, exclusive bool) (held bool, err error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(fh.Fd()), how|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "flock", Path: fh.Name(), Err: err}
	}
	return false, nil
}

func funlock(fh *os.File) error {
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_UN); err != nil {
		return &os.PathError{Op: "flock unlock", Path: fh.Name(), Err: err}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
