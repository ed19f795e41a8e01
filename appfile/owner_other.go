//go:build !unix

package appfile

import (
	"io/fs"
	"os"
)

// chown does nothing where files have no Unix owner: a new file gets the
// directory's default access rules.
func chown(*os.File, fs.FileInfo) error { return nil }
