package appfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/netplan42/netplan42/internal/userfile"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// ErrChanged is what Write returns when the file no longer holds what the
// plan saw: something wrote it in between. Nothing is written.
var ErrChanged = errors.New("the file changed since it was planned")

// DefaultTimeout bounds an on_change command when Files.Timeout is 0.
const DefaultTimeout = 2 * time.Minute

// Files writes app_config files and runs on_change commands; apply's
// files interface.
type Files struct {
	// Timeout bounds each on_change command; 0 means DefaultTimeout.
	Timeout time.Duration
}

// newMode is the mode of a file netplan42 creates.
const newMode = 0o644

// Write replaces the content of path with content, provided the file
// still holds what the plan saw: was is the hex SHA-256 of that content,
// or "" when the file did not exist. The new content goes to a temporary
// file in the same directory, with the old file's mode and owner, is
// synced and renamed over path; the old content is kept, the same way, in
// path+schema.BackupSuffix. Everything but the content stays: a match and
// replace plan changes only the bytes it matched.
func (f *Files) Write(ctx context.Context, path string, content []byte, was string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(content) > MaxSize {
		return fmt.Errorf("%d bytes is more than netplan42 writes (%d KiB)", len(content), MaxSize>>10)
	}
	mode := fs.FileMode(newMode)
	var old []byte
	var oldInfo fs.FileInfo
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if was != "" {
			return fmt.Errorf("%w: it is gone", ErrChanged)
		}
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return symlinkError(path)
	default:
		if old, err = userfile.ReadLimit(path, MaxSize); err != nil {
			return fmt.Errorf("reading it first: %s", describe(err))
		}
		if was == "" {
			return fmt.Errorf("%w: it did not exist, and now does", ErrChanged)
		}
		if planner.Sum(old) != was {
			return fmt.Errorf("%w: plan again to see what changed", ErrChanged)
		}
		mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		oldInfo = fi
	}
	if oldInfo != nil {
		if err := replace(path+schema.BackupSuffix, old, mode, oldInfo); err != nil {
			return fmt.Errorf("keeping the previous content: %w", err)
		}
	}
	return replace(path, content, mode, oldInfo)
}

// replace writes content to path by a temporary file renamed over it, with
// mode, and the owner of like when it is set.
func replace(path string, content []byte, mode fs.FileMode, like fs.FileInfo) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".netplan42-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(content); err != nil {
		return err
	}
	if like != nil {
		if err = chown(tmp, like); err != nil {
			return fmt.Errorf("keeping the owner: %w", err)
		}
	}
	// After chown, which clears set-id bits.
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable; where directories cannot be
// synced, the rename stands as the file system keeps it.
func syncDir(dir string) {
	if dir == "" {
		dir = "."
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
