package appfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/netplan42/netplan42/internal/userfile"
	"github.com/netplan42/netplan42/planner"
)

// MaxSize is the largest app_config file netplan42 reads or writes: 1 MiB,
// far more than any program's listen-port setting needs, and small enough
// that a plan's diff of it stays quick.
const MaxSize = 1 << 20

// Read observes the file at path for the planner. Reasons it cannot be
// used are in the view's Err, for the plan to report on the resource.
func Read(path string) planner.FileView {
	v := planner.FileView{Path: path}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
			v.NoDir = true
		}
		return v
	case err != nil:
		v.Err = err.Error()
		return v
	case fi.Mode()&fs.ModeSymlink != 0:
		v.Err = symlinkError(path).Error()
		return v
	}
	b, err := userfile.ReadLimit(path, MaxSize)
	if err != nil {
		v.Err = describe(err)
		return v
	}
	v.Exists, v.Content, v.SHA256 = true, b, planner.Sum(b)
	return v
}

// symlinkError says why a symbolic link is not written through: replacing
// it by rename would cut the link, and writing its target in place would
// not be atomic.
func symlinkError(path string) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		target = "its target"
	}
	return fmt.Errorf("it is a symbolic link (to %s): netplan42 writes only regular files, as replacing the link would cut it; name %s in app_config", target, target)
}

// describe words a read error for the plan.
func describe(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, userfile.ErrTooLarge):
		return fmt.Sprintf("%v: netplan42 manages files of at most %d KiB", err, MaxSize>>10)
	case errors.Is(err, userfile.ErrNotRegular):
		return fmt.Sprintf("%v: netplan42 manages regular files only", err)
	}
	return err.Error()
}
