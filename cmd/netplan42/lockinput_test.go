//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const autoFleet = `
network "home" {
  listen_ports = "5000-5099"
  router {
    protocols = ["manual"]
  }
}
computer "box" {
  network  = "home"
  firewall = "none"
  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
}
computer "nas" {
  network  = "home"
  firewall = "none"
  service "crashplan" {
    port   = "auto"
    expose = "internet"
  }
}
`

const goodLock = `assignment "home" "computer.box" "crashplan" {
  port = 5000
}

assignment "home" "computer.nas" "crashplan" {
  port = 5001
}
`

// TestBadLockFileTouchesNothing: a lock file that does not parse is an
// error naming file and line from validate, plan and apply, and apply
// changes nothing — no state, no lock file rewrite. Before, it was
// silently ignored and apply handed the ports out anew.
func TestBadLockFileTouchesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, lock string
		want       []string
	}{
		{"conflict markers", `assignment "home" "computer.box" "crashplan" {
  port = 5000
}
<<<<<<< HEAD

assignment "home" "computer.nas" "crashplan" {
  port = 5001
}
=======

assignment "home" "computer.nas" "crashplan" {
  port = 5002
}
>>>>>>> other
`, []string{"Unresolved merge conflict in the lock file", "netplan42.lock.hcl line 4", "git add"}},
		{"garbage", "\x00\x01garbage {{{\n", []string{"netplan42.lock.hcl line 1", "restore it from git"}},
		{"duplicated key", goodLock + `
assignment "home" "computer.box" "crashplan" {
  port = 5003
}
`, []string{"Duplicate lock file entry", "line 9"}},
		{"port 0", strings.Replace(goodLock, "5000", "0", 1), []string{"port = 0 is outside 1-65535", "line 2"}},
		{"port 70000", strings.Replace(goodLock, "5000", "70000", 1), []string{"70000", "line 2"}},
		{"string", strings.Replace(goodLock, "5000", `"5000"`, 1), []string{"port must be a number", "line 2"}},
		{"expression", strings.Replace(goodLock, "5000", "4999 + 1", 1), []string{"not an expression", "line 2"}},
		{"merged duplicate", strings.Replace(goodLock, "5001", "5000", 1), []string{"Port assigned twice in the lock file", "computer.box", "computer.nas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeConfig(t, autoFleet)
			lockPath := filepath.Join(dir, "netplan42.lock.hcl")
			if err := os.WriteFile(lockPath, []byte(tc.lock), 0o644); err != nil {
				t.Fatal(err)
			}
			st := filepath.Join(t.TempDir(), "box.json")
			run(t, dir, nil, "", "validate").want(t, 1, tc.want...)
			run(t, dir, nil, "", "plan", "--computer", "box", "--state", st).want(t, 1, tc.want...)
			run(t, dir, nil, "yes\n", "apply", "--computer", "box", "--state", st, "--auto-approve").want(t, 1, tc.want...)
			if _, err := os.Stat(st); !os.IsNotExist(err) {
				t.Errorf("apply wrote state despite the broken lock file: %v", err)
			}
			if b, _ := os.ReadFile(lockPath); !bytes.Equal(b, []byte(tc.lock)) {
				t.Errorf("the lock file was rewritten:\n%s", b)
			}
		})
	}
}

// TestUnreadableInputs: a lock file that is a directory, and config, var
// and lock files that are FIFOs or /dev/zero, are errors naming the file,
// never a hang or an out-of-memory kill.
func TestUnreadableInputs(t *testing.T) {
	special := map[string]func(t *testing.T, path string){
		"directory": func(t *testing.T, path string) { os.Mkdir(path, 0o755) },
		"fifo": func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"dev-zero": func(t *testing.T, path string) { os.Symlink("/dev/zero", path) },
	}
	for kind, make := range special {
		t.Run("lock "+kind, func(t *testing.T) {
			dir := writeConfig(t, autoFleet)
			make(t, filepath.Join(dir, "netplan42.lock.hcl"))
			run(t, dir, nil, "", "validate").want(t, 1, "Cannot read lock file", "netplan42.lock.hcl")
		})
		if kind == "directory" {
			continue // a directory among *.hcl is not a config file
		}
		t.Run("config "+kind, func(t *testing.T) {
			dir := writeConfig(t, autoFleet)
			make(t, filepath.Join(dir, "extra.hcl"))
			run(t, dir, nil, "", "validate").want(t, 1, "Cannot read configuration file", "extra.hcl", "regular files")
		})
		t.Run("var file "+kind, func(t *testing.T) {
			dir := writeConfig(t, autoFleet)
			vf := filepath.Join(t.TempDir(), "x.vars.hcl")
			make(t, vf)
			run(t, dir, nil, "", "validate", "--var-file", vf).want(t, 1, "Cannot read var file", "x.vars.hcl")
		})
	}
}
