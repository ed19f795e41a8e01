//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/internal/golden"
)

// These run status and check on this machine without the lab: the router
// is "manual" (nothing is sent to the gateway), the firewall "none", and
// connections go to 127.0.0.1 only.

// twoSites is a config of a computer "box" at home, reached at
// 127.0.0.1 through public_address, and a computer "away" on another
// network. PORT is the port box's service listens on.
const twoSites = `
network "home" {
  public_address = "127.0.0.1"
  router {
    protocols = ["manual"]
  }
}
network "away" {
  router {
    protocols = ["manual"]
  }
}
computer "box" {
  network  = "home"
  firewall = "none"
  service "crashplan" {
    port   = PORT
    expose = "internet"
  }
  service "ui" {
    port   = "auto"
    expose = "localhost"
  }
}
computer "away" {
  network  = "away"
  firewall = "none"
}
`

// listenLocal listens on a free loopback port until the test ends.
func listenLocal(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln, ln.Addr().(*net.TCPAddr).Port
}

var (
	elapsedRE = regexp.MustCompile(`in (<1ms|\d+(\.\d+)?m?s)`)
	elapsedJS = regexp.MustCompile(`"elapsed_ms": \d+`)
)

// normal makes check output comparable: the port and timings vary.
func normal(s string, port int) string {
	s = strings.ReplaceAll(s, fmt.Sprint(port), "PORT")
	s = elapsedRE.ReplaceAllString(s, "in TIME")
	return elapsedJS.ReplaceAllString(s, `"elapsed_ms": 0`)
}

func TestCheckAcrossNetworks(t *testing.T) {
	ln, port := listenLocal(t)
	dir := writeConfig(t, strings.Replace(twoSites, "PORT", fmt.Sprint(port), 1))

	r := run(t, dir, nil, "", "check", "--computer", "away")
	r.want(t, 0, fmt.Sprintf("ok    box crashplan %d/tcp via 127.0.0.1:%d (public_address \"127.0.0.1\"): connected", port, port), "1 passed, 0 failed")
	golden.Check(t, filepath.Join("testdata", "check-pass.txt"), []byte(normal(r.stdout, port)))

	ln.Close()
	r = run(t, dir, nil, "", "check", "--computer", "away", "box")
	r.want(t, 1, "FAIL  box crashplan", "refused: no mapping for", "fix: on box: netplan42 apply creates the mapping")
	golden.Check(t, filepath.Join("testdata", "check-refused.txt"), []byte(normal(r.stdout, port)))

	r = run(t, dir, nil, "", "check", "--computer", "away", "--json")
	r.want(t, 1)
	golden.Check(t, filepath.Join("testdata", "check-refused.json"), []byte(normal(r.stdout, port)))
	var rep diagnose.CheckReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Failed != 1 || rep.Results[0].Verdict != diagnose.VRefused {
		t.Errorf("check --json: %v %+v", err, rep)
	}
	// Nothing was written: no lock file for box's auto port.
	if _, err := os.Stat(filepath.Join(dir, "netplan42.lock.hcl")); !os.IsNotExist(err) {
		t.Errorf("check wrote the lock file: %v", err)
	}
}

func TestCheckArguments(t *testing.T) {
	dir := writeConfig(t, strings.Replace(twoSites, "PORT", "4242", 1))
	run(t, dir, nil, "", "check", "--computer", "away", "nope").want(t, 1, `no computer "nope" in the config (computers: away, box)`)
	run(t, dir, nil, "", "check", "--computer", "away", "--address", "box").want(t, 1, `--address "box": want NAME=IP`)
	run(t, dir, nil, "", "check", "--computer", "away", "--address", "box=x").want(t, 1, `--address "box=x"`)
	run(t, dir, nil, "", "check", "--computer", "away", "--timeout", "0s").want(t, 1, "--timeout 0s")
	run(t, dir, nil, "", "check", "--computer", "box").want(t, 0, "Nothing to check: no other computer of the config exposes a service.")
	run(t, dir, nil, "", "check", "--computer", "box", "away").want(t, 0, "skip  computer.away exposes nothing to other computers", "0 checks to 0 computers")
}

func TestStatusLocal(t *testing.T) {
	_, port := listenLocal(t)
	dir := writeConfig(t, strings.Replace(twoSites, "PORT", fmt.Sprint(port), 1))
	stateDir := filepath.Join(t.TempDir(), "not-yet")
	st := filepath.Join(stateDir, "box.json")

	r := run(t, dir, nil, "", "status", "--computer", "box", "--state", st)
	r.want(t, 0, `computer.box (network "home")`, "router:   manual port forwarding", `public_address "127.0.0.1"`,
		"firewall: none", st+" (none yet: netplan42 has made nothing here)",
		fmt.Sprintf("crashplan  %d/tcp", port), fmt.Sprintf("listening: netplan42.test (pid %d) on 127.0.0.1:%d", os.Getpid(), port),
		"ui         1024/tcp", "not listening",
		"netplan42.lock.hcl: 1 auto port assignment(s) not recorded yet")
	if os.Geteuid() == 0 {
		r.want(t, 0, ", as root")
	}

	r = run(t, dir, nil, "", "status", "--computer", "box", "--state", st, "--json")
	r.want(t, 0)
	var rep diagnose.StatusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.FormatVersion != "1.0" || rep.Router.Protocol != "manual" || len(rep.Services) != 2 || rep.Services[0].Listening != diagnose.Yes ||
		rep.Services[1].Port != 1024 || rep.Services[1].Listening == diagnose.Yes && rep.Services[1].Listeners == nil {
		t.Errorf("status --json: %+v", rep)
	}

	// Status changed nothing: no state directory, no lock file.
	for _, p := range []string{stateDir, filepath.Join(dir, "netplan42.lock.hcl")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("status created %s", p)
		}
	}
}
