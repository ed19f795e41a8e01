//go:build unix

package appfile

import (
	"io/fs"
	"os"
	"syscall"
)

// chown gives f the owner and group of like.
func chown(f *os.File, like fs.FileInfo) error {
	st, ok := like.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err == nil {
		if now, ok := fi.Sys().(*syscall.Stat_t); ok && now.Uid == st.Uid && now.Gid == st.Gid {
			return nil // ours already: no privilege needed
		}
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}
