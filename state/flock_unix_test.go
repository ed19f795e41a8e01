//go:build linux || darwin || freebsd

package state_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/state"
)

// TestLockBetweenProcesses takes the lock in a second process: this one must
// fail at once naming that process, and get the lock once it has gone,
// whether it unlocked or was killed.
func TestLockBetweenProcesses(t *testing.T) {
	for _, how := range []string{"exit", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nas.json")
			store := state.NewFileStore(path)
			c := startChild(t, "lock", path, "locked")

			for _, excl := range []bool{true, false} {
				start := time.Now()
				_, err := store.Lock(context.Background(), state.LockInfo{Operation: "plan", Exclusive: excl})
				// At once, not after a wait for the holder: 5 s leaves room
				// for a busy machine and none for a blocking flock.
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("Lock(exclusive=%v) took %v to fail; want at once", excl, d)
				}
				var le *state.LockedError
				if !errors.As(err, &le) || !errors.Is(err, state.ErrLocked) {
					t.Fatalf("Lock(exclusive=%v) while another process holds it = %v; want a LockedError", excl, err)
				}
				host, _ := os.Hostname()
				if h := le.Holder; h.Pid != c.cmd.Process.Pid || h.Host != host || h.Operation != "apply" || time.Since(h.Since) > time.Minute {
					t.Errorf("holder = %+v; want pid %d on %s doing apply", h, c.cmd.Process.Pid, host)
				}
				for _, want := range []string{"by apply (pid ", " on host " + host, "fuser -v " + path + ".lock"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
			}

			if how == "exit" {
				c.stdin.Close()
				if err := c.cmd.Wait(); err != nil {
					t.Fatalf("lock child: %v", err)
				}
			} else {
				c.cmd.Process.Kill() // SIGKILL: no chance to unlock or clear its record
				c.cmd.Wait()
			}
			unlock, err := store.Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
			if err != nil {
				t.Fatalf("Lock after the holder %s = %v", how, err)
			}
			if err := unlock(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + ".lock"); err != nil {
				t.Errorf("lock file gone after unlock: %v", err)
			}
		})
	}
}

// TestLockWaitsForProcess waits, with a deadline, for another process to
// release the lock.
func TestLockWaitsForProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	c := startChild(t, "lock", path, "locked")
	time.AfterFunc(200*time.Millisecond, func() { c.stdin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	unlock, err := state.NewFileStore(path).Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatalf("Lock waiting for another process = %v", err)
	}
	defer unlock()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("Lock returned after %v, before the holder let go", d)
	}
}

// TestCrashDuringWrite kills a process that rewrites the state over and
// over: whenever it dies, the state and its backup are whole.
func TestCrashDuringWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.json")
	store := state.NewFileStore(path)
	for i := range 8 {
		c := startChild(t, "write", path, "writing")
		time.Sleep(time.Duration(5+i*7) * time.Millisecond)
		c.cmd.Process.Kill()
		c.cmd.Wait()
		s, err := store.Read()
		if err != nil || s == nil {
			t.Fatalf("kill %d: Read = %v, %v", i, s, err)
		}
		b, err := store.ReadBackup()
		if err != nil {
			t.Fatalf("kill %d: ReadBackup = %v", i, err)
		}
		// A kill between the backup's rename and the state's leaves
		// both at the same serial.
		if b != nil && b.Serial != s.Serial-1 && b.Serial != s.Serial {
			t.Errorf("kill %d: backup serial %d, state serial %d; want the same or the one before", i, b.Serial, s.Serial)
		}
		t.Logf("kill %d: state serial %d with %d resources", i, s.Serial, len(s.Resources))
		// The next child starts a new lineage; clear the way for it.
		os.Remove(path)
	}
}

// TestPermissions checks the modes are set, not left to the umask: the
// state reveals the LAN layout.
func TestPermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "a", "netplan42")
	path := filepath.Join(dir, "nas.json")
	store := state.NewFileStore(path)
	s := state.New("computer.nas")
	for range 2 {
		if err := store.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := store.Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	plan := filepath.Join(dir, "plans", "nas.plan")
	if err := state.WritePlanFile(plan, &state.PlanFile{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{
		filepath.Dir(dir):  0o700,
		dir:                0o700,
		filepath.Dir(plan): 0o700,
		path:               0o600,
		store.BackupPath(): 0o600,
		store.LockPath():   0o600,
		plan:               0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v; want %v", p, got, want)
		}
	}
}
