//go:build !(linux || darwin || freebsd)

package state

import "os"

// openNoFollow opens path for reading, refusing a symbolic link or a
// special file there. Without O_NOFOLLOW the check comes before the open.
func openNoFollow(what, path string) (*os.File, error) {
	if err := checkOwnFile(what, path); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := checkOpened(what, path, fh); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// openLock opens or creates the lock file, refusing a symbolic link or a
// special file there.
func openLock(path string) (*os.File, error) {
	if err := checkOwnFile("lock file", path); err != nil {
		return nil, err
	}
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := checkOpened("lock file", path, fh); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// syncDir does nothing: directories cannot be opened for syncing here.
func syncDir(dir string) error { return nil }
