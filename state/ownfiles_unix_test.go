//go:build linux || darwin || freebsd

package state_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/state"
)

// TestLockRefusesLink plants a symbolic link where the lock file goes:
// Lock must refuse it, and the file it points to must stay as it was (the
// lock used to follow the link, truncate the target and write its holder
// there).
func TestLockRefusesLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nas.json")
	if err := os.Symlink(target, path+".lock"); err != nil {
		t.Fatal(err)
	}
	for _, excl := range []bool{true, false} {
		unlock, err := state.NewFileStore(path).Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: excl})
		if err == nil {
			unlock()
			t.Errorf("Lock(exclusive=%v) through a symbolic link succeeded", excl)
		} else if !errors.Is(err, state.ErrNotRegular) || !strings.Contains(err.Error(), path+".lock is a symbolic link") {
			t.Errorf("Lock(exclusive=%v) = %v; want ErrNotRegular naming the link", excl, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the link's target now holds %q", b)
	}
}

// TestLockRefusesSpecialFiles puts a directory and a FIFO where the lock
// file goes.
func TestLockRefusesSpecialFiles(t *testing.T) {
	for name, make := range map[string]func(string) error{
		"directory": func(p string) error { return os.Mkdir(p, 0o700) },
		"fifo":      func(p string) error { return syscall.Mkfifo(p, 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nas.json")
			if err := make(path + ".lock"); err != nil {
				t.Fatal(err)
			}
			unlock, err := state.NewFileStore(path).Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
			if err == nil {
				unlock()
				t.Fatalf("Lock on a %s succeeded", name)
			}
			if !errors.Is(err, state.ErrNotRegular) || !strings.Contains(err.Error(), "is not a regular file") {
				t.Errorf("Lock on a %s = %v; want ErrNotRegular", name, err)
			}
		})
	}
}

// TestLockNarrowsMode finds a lock file others may write: Lock makes it
// private, and still records its holder.
func TestLockNarrowsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+".lock", 0o666); err != nil {
		t.Fatal(err)
	}
	unlock, err := state.NewFileStore(path).Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	fi, err := os.Stat(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("lock file mode %v after Lock; want 0600", m)
	}
	if b, _ := os.ReadFile(path + ".lock"); !strings.Contains(string(b), `"operation":"apply"`) {
		t.Errorf("lock file holds %q; want the holder", b)
	}
}

// TestLockRefusesForeignOwner finds a lock file another user made. Only root
// can make one for the test.
func TestLockRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the lock file to another user")
	}
	path := filepath.Join(t.TempDir(), "nas.json")
	if err := os.WriteFile(path+".lock", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path+".lock", 65534, 65534); err != nil {
		t.Fatal(err)
	}
	unlock, err := state.NewFileStore(path).Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err == nil {
		unlock()
		t.Fatal("Lock on another user's lock file succeeded")
	}
	if !strings.Contains(err.Error(), "belongs to uid 65534, not to this user (uid 0)") {
		t.Errorf("Lock = %v; want it to name the owner", err)
	}
}

// TestStateRefusesLinks plants symbolic links at the state file and at its
// backup: Read and Write refuse them and leave their targets alone.
func TestStateRefusesLinks(t *testing.T) {
	for _, at := range []string{"state", "backup"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			elsewhere := state.NewFileStore(filepath.Join(dir, "elsewhere.json"))
			if err := elsewhere.Write(state.New("computer.nas")); err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(elsewhere.Path())
			fs := state.NewFileStore(filepath.Join(dir, "nas.json"))
			s := state.New("computer.nas")
			link := fs.Path()
			if at == "backup" {
				link = fs.BackupPath()
				if err := fs.Write(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(elsewhere.Path(), link); err != nil {
				t.Fatal(err)
			}
			if at == "state" {
				if _, err := fs.Read(); !errors.Is(err, state.ErrNotRegular) {
					t.Errorf("Read through a link = %v; want ErrNotRegular", err)
				}
			}
			err := fs.Write(s)
			if !errors.Is(err, state.ErrNotRegular) || !strings.Contains(err.Error(), link+" is a symbolic link") {
				t.Errorf("Write with a link at the %s = %v; want ErrNotRegular naming it", at, err)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link at the %s was replaced (%v)", at, err)
			}
			if got, _ := os.ReadFile(elsewhere.Path()); string(got) != string(want) {
				t.Errorf("the link's target changed:\n%s", got)
			}
		})
	}
}

// TestStateRefusesFIFO puts a FIFO where the state file goes: Read must
// fail at once, not wait for a writer that never comes.
func TestStateRefusesFIFO(t *testing.T) {
	fs := state.NewFileStore(filepath.Join(t.TempDir(), "nas.json"))
	if err := syscall.Mkfifo(fs.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := fs.Read()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, state.ErrNotRegular) {
			t.Errorf("Read of a FIFO = %v; want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		// Not a timing assertion: a Read that blocks never returns.
		t.Fatal("Read of a FIFO blocked")
	}
}
