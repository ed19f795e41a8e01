package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// maxFileSize bounds what Read and ReadPlanFile load; a state or plan this
// large is not one netplan42 wrote.
const maxFileSize = 64 << 20

// FileStore keeps the state in a JSON file. It implements Store and
// BackupReader.
type FileStore struct {
	path string
}

var (
	_ Store        = (*FileStore)(nil)
	_ BackupReader = (*FileStore)(nil)
)

// NewFileStore returns a store for the state file at path. Nothing is
// created until the first Write or Lock.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

// Path returns the state file's path.
func (f *FileStore) Path() string { return f.path }

// BackupPath returns where the state before the last write is kept.
func (f *FileStore) BackupPath() string { return f.path + ".backup" }

// LockPath returns the lock file's path.
func (f *FileStore) LockPath() string { return f.path + ".lock" }

// String names the store in messages: "state file /var/lib/netplan42/nas.json".
func (f *FileStore) String() string { return "state file " + f.path }

// Read implements Reader.
func (f *FileStore) Read() (*State, error) {
	s, _, err := readStateFile(f.path)
	return s, err
}

// ReadBackup implements BackupReader.
func (f *FileStore) ReadBackup() (*State, error) {
	s, _, err := readStateFile(f.BackupPath())
	return s, err
}

// readStateFile returns the state at path and its bytes; nil, nil, nil when
// there is no file. It does not follow a symbolic link at path, and refuses
// anything but a regular file (a FIFO would block the read for ever).
func readStateFile(path string) (*State, []byte, error) {
	b, err := readOwnFile("state file", path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w%s", err, permissionHint(err))
	}
	s, err := decodeState("state file "+path, b)
	return s, b, err
}

// Write implements Writer. The previous state is kept as BackupPath, and
// both files are replaced atomically: a crash leaves either the old or the
// new state, never a mix.
func (f *FileStore) Write(s *State) error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("write state: %w%s", err, permissionHint(err))
	}
	old, oldBytes, err := readStateFile(f.path)
	if err != nil {
		return fmt.Errorf("%w; refusing to overwrite what cannot be checked", err)
	}
	next, err := stamped(f.String(), old, s, time.Now())
	if err != nil {
		return err
	}
	b, err := encodeState(next)
	if err != nil {
		return fmt.Errorf("write %s: %w", f, err)
	}
	// The rename below would replace a link or a special file at the
	// backup's path without a word; say instead that something else is
	// there (readStateFile has checked the state file itself).
	if err := checkOwnFile("state backup", f.BackupPath()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if oldBytes != nil {
		if err := writeAtomic(f.BackupPath(), oldBytes); err != nil {
			return fmt.Errorf("write state backup: %w%s", err, permissionHint(err))
		}
	}
	if err := writeAtomic(f.path, b); err != nil {
		return fmt.Errorf("write state: %w%s", err, permissionHint(err))
	}
	*s = *next
	return nil
}

// permissionHint says what to do about a permission error, the usual one
// when a user runs without root against /var/lib/netplan42.
func permissionHint(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return " (run as root, or pass --state with a path you can write)"
	}
	return ""
}

// ErrNotRegular is returned when a state, backup or lock file is a symbolic
// link or not a regular file: netplan42 neither follows nor writes through
// links there, so that nobody who can plant one can redirect its writes.
var ErrNotRegular = errors.New("not a regular file")

// notRegular says what is wrong with the file at path, of mode, and what to
// do: what names the file ("state file", "lock file").
func notRegular(what, path string, mode fs.FileMode) error {
	if mode&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s %s is a symbolic link, and netplan42 does not follow links for its state, backup "+
			"and lock files (a link could redirect its writes): replace the link by the file it points to, "+
			"or pass --state with the real path: %w", what, path, ErrNotRegular)
	}
	return fmt.Errorf("%s %s is not a regular file (%s): move it out of the way, or pass --state with another path: %w",
		what, path, mode.Type(), ErrNotRegular)
}

// checkOwnFile returns nil when path is absent or a regular file, and
// notRegular's error when it is anything else, a symbolic link included.
func checkOwnFile(what, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular(what, path, fi.Mode())
	}
	return nil
}

// checkOpened returns notRegular's error unless fh, opened from path, is a
// regular file.
func checkOpened(what, path string, fh *os.File) error {
	fi, err := fh.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular(what, path, fi.Mode())
	}
	return nil
}

// explainOpen turns the error from opening path without following links
// into notRegular's when a link or a special file is in the way (Linux says
// ELOOP for a link, FreeBSD EMLINK).
func explainOpen(what, path string, err error) error {
	if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
		return notRegular(what, path, fi.Mode())
	}
	return err
}

// readOwnFile is readFile for netplan42's own files: path must be a regular
// file, not a link to one.
func readOwnFile(what, path string) ([]byte, error) {
	fh, err := openNoFollow(what, path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return readAll(fh, path)
}

// readFile reads path, refusing files over maxFileSize.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return readAll(fh, path)
}

func readAll(fh *os.File, path string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("read %s: larger than %d MiB: not a file netplan42 wrote", path, maxFileSize>>20)
	}
	return b, nil
}

// writeAtomic replaces path with b: a temporary file in the same directory,
// synced, renamed over path, and the directory synced, so that after a crash
// path holds either its old content or b. The file is private (0600): state
// and plans reveal the LAN layout. The temporary file is made with O_EXCL
// under a random name, so it is never an existing file or a link someone
// planted, and rename replaces a link at path rather than writing through
// it.
func writeAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files already; say so rather than rely on it.
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
