//go:build unix

package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFingerprint notices a change that keeps size and modification time,
// and does not block on a FIFO among the files.
func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.hcl")
	os.WriteFile(path, []byte("aaaa\n"), 0o644)
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	a := New(Config{ConfigPath: dir, Logger: quiet}, &fake{})
	before := a.fingerprint()
	fi, _ := os.Stat(path)
	os.WriteFile(path, []byte("bbbb\n"), 0o644)
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	if a.fingerprint() == before {
		t.Error("a change of content alone went unnoticed")
	}
}
