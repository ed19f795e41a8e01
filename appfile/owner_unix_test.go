//go:build unix

package appfile

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestKeepsOwner: a file of another user stays theirs, and so does its
// backup. Only root can give a file away.
func TestKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file of another user")
	}
	p := filepath.Join(t.TempDir(), "config.xml")
	os.WriteFile(p, []byte("<listenAddress>tcp://0.0.0.0:22000</listenAddress>\n"), 0o600)
	if err := os.Chown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	v := Read(p)
	if err := (&Files{}).Write(context.Background(), p, []byte("<listenAddress>tcp://0.0.0.0:1024</listenAddress>\n"), v.SHA256); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{p, p + ".netplan42.bak"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: owner %d:%d mode %v, want 1234:5678 0600", name, st.Uid, st.Gid, fi.Mode())
		}
	}
}
