package state

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockOffset is where the one locked byte lies: far beyond the holder
// record at the start of the file. Windows' byte-range locks are
// mandatory, so a lock over the record would keep others from reading who
// holds it; a range beyond the end of the file may be locked.
const lockOffset = 1 << 62

func lockOverlapped() *windows.Overlapped {
	return &windows.Overlapped{Offset: uint32(lockOffset & 0xffffffff), OffsetHigh: uint32(lockOffset >> 32)}
}

// flock takes a LockFileEx lock on fh without waiting; held reports whether
// another open file holds a conflicting one. Windows drops the lock when
// the handle is closed or its process exits, as flock(2) does.
func flock(fh *os.File, exclusive bool) (held bool, err error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	err = windows.LockFileEx(windows.Handle(fh.Fd()), flags, 0, 1, 0, lockOverlapped())
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return true, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "LockFileEx", Path: fh.Name(), Err: err}
	}
	return false, nil
}

func funlock(fh *os.File) error {
	if err := windows.UnlockFileEx(windows.Handle(fh.Fd()), 0, 1, 0, lockOverlapped()); err != nil {
		return &os.PathError{Op: "UnlockFileEx", Path: fh.Name(), Err: err}
	}
	return nil
}
