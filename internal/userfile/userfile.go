// Package userfile reads the files a user hands netplan42 — configuration,
// var and lock files — as untrusted input: regular files only, at most
// MaxSize bytes, and without ever blocking on a FIFO or a device that a
// *.hcl name may point to.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// MaxSize is the largest file netplan42 reads as configuration, var or lock
// file: 64 MiB, a hundred times a 30,000-computer fleet's config.
const MaxSize = 64 << 20

// Sentinel errors, for callers that explain them.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = fmt.Errorf("larger than %d MiB", MaxSize>>20)
)

// Read returns the content of the regular file at path. A FIFO, socket,
// device or directory (also behind a symlink) is ErrNotRegular, a file over
// MaxSize (also one still growing) ErrTooLarge; both come back within a
// read of at most MaxSize+1 bytes.
func Read(path string) ([]byte, error) { return ReadLimit(path, MaxSize) }

// ReadLimit is Read with a size limit of its own: a file over max bytes is
// ErrTooLarge, read no further than max+1 bytes.
func ReadLimit(path string, max int64) ([]byte, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	if fi.Size() > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%d bytes)", tooLarge(max), fi.Size())}
	}
	b := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (it grew while being read)", tooLarge(max))}
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// limitError is ErrTooLarge for a limit other than MaxSize.
type limitError struct{ max int64 }

func (e limitError) Error() string        { return fmt.Sprintf("larger than %d KiB", e.max>>10) }
func (e limitError) Is(target error) bool { return target == ErrTooLarge }

func tooLarge(max int64) error {
	if max == MaxSize {
		return ErrTooLarge
	}
	return limitError{max}
}

// kind names a file mode's type for messages.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}
