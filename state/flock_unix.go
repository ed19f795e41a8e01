//go:build linux || darwin || freebsd

package state

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openNoFollow opens path for reading without following a symbolic link
// there, and without blocking on a FIFO; what names the file in errors.
func openNoFollow(what, path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, explainOpen(what, path, err)
	}
	if err := checkOpened(what, path, fh); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// openLock opens or creates the lock file at path: never through a
// symbolic link, only a regular file, only one this user owns, and private
// (a wider mode is narrowed to 0600). Anyone who can open the file can hold
// the lock, and anyone who can write it can forge the holder.
func openLock(path string) (*os.File, error) {
	const what = "lock file"
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, explainOpen(what, path, err)
	}
	if err := checkOpened(what, path, fh); err != nil {
		fh.Close()
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		fh.Close()
		return nil, fmt.Errorf("%s %s belongs to uid %d, not to this user (uid %d), who could hold or forge the lock: "+
			"remove it, or pass --state with a path of your own", what, path, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&^0o644 != 0 {
		if err := fh.Chmod(0o600); err != nil {
			fh.Close()
			return nil, fmt.Errorf("%s %s is open to others (%s) and cannot be made private: %w", what, path, fi.Mode().Perm(), err)
		}
	}
	return fh, nil
}

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
