//go:build linux

package main

import (
	"path/filepath"
	"testing"
)

func TestExampleOfficeOpenWrtValidates(t *testing.T) {
	dir := copyDir(t, filepath.Join("..", "..", "examples", "office-openwrt"))
	run(t, dir, nil, "", "validate", "--config", ".").want(t, 0)
}

// Central apply names each computer it cannot find an address for, before
// it logs in to the router.
func TestNetworkNeedsAnAddress(t *testing.T) {
	dir := writeConfig(t, `network "office" {
  router {
    protocols = ["ssh"]
    ssh {
      host   = "192.0.2.1"
      flavor = "linux"
    }
  }
}
computer "ghost" {
  network  = "office"
  hostname = "np42-no-such-host.invalid"
  service "web" {
    port   = 8080
    expose = "internet"
  }
}
`)
	state := filepath.Join(t.TempDir(), "office.json")
	run(t, dir, nil, "", "plan", "--config", ".", "--network", "office", "--state", state).want(t, 1,
		`computer.ghost has no address, and its hostname "np42-no-such-host.invalid" does not resolve`, `set address = "192.168.1.x"`)
	run(t, dir, nil, "", "plan", "--config", ".", "--network", "home", "--state", state).want(t, 1, `no network "home" in the config (networks: office)`)
}
