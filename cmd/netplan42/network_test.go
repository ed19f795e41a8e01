//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/backend/etcd"
	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
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

// sharedConfig is an office network on a router administered over SSH
// (never reached: these tests plan from state), alpha with a forward and
// no host firewall.
func sharedConfig(backend string) string {
	return backend + `network "office" {
  router {
    protocols = ["ssh"]
    ssh {
      host   = "192.0.2.1"
      flavor = "linux"
    }
  }
}
computer "alpha" {
  network  = "office"
  address  = "192.0.2.10"
  firewall = "none"
  service "web" {
    port   = 4300
    expose = "internet"
  }
}
computer "beta" {
  network  = "office"
  address  = "192.0.2.11"
  firewall = "none"
  service "game" {
    port   = 4500
    expose = "internet"
  }
}
`
}

// forward is a forward of ours as state records it.
func forward(computer, service string, port uint16, to string) planner.Managed {
	return planner.Managed{
		Address: fmt.Sprintf("router_mapping.%s[\"tcp\"]", service), Kind: planner.KindMapping, Via: "ssh",
		Mapping: &planner.Mapping{Protocol: planner.TCP, ExternalPort: port, InternalAddress: netip.MustParseAddr(to), InternalPort: port,
			Description: planner.Tag(computer, service)},
	}
}

// writeStates writes alpha's own state and a network state holding beta's
// forward. alpha's forward is in where: "network" (where netplan42 keeps
// it now), "own" (where it did before the network state held a
// computer's router part), or "both".
func writeStates(t *testing.T, own, network state.Store, where string) {
	t.Helper()
	a := state.New("computer.alpha")
	if where != "network" {
		a.Resources = []planner.Managed{forward("alpha", "web", 4300, "192.0.2.10")}
	}
	a.Router.Protocol = "ssh"
	if err := own.Write(a); err != nil {
		t.Fatal(err)
	}
	n := state.New("network.office")
	b := forward("beta", "game", 4500, "192.0.2.11")
	b.Address = "computer.beta." + b.Address
	n.Resources = []planner.Managed{b}
	if where != "own" {
		w := forward("alpha", "web", 4300, "192.0.2.10")
		w.Address = "computer.alpha." + w.Address
		n.Resources = append(n.Resources, w)
	}
	n.Router.Protocol = "ssh"
	if err := network.Write(n); err != nil {
		t.Fatal(err)
	}
}

// A computer on a network whose router netplan42 administers finds its
// router part in the network state (network-office.json beside its own
// state file), and a forward its own state still holds from before is
// counted once, whichever of the two holds it; the network state's lock
// is taken for it.
func TestNetworkComputerSharesNetworkState(t *testing.T) {
	dir := writeConfig(t, sharedConfig(""))
	for _, where := range []string{"network", "own", "both"} {
		sd := t.TempDir()
		own := filepath.Join(sd, "alpha.json")
		writeStates(t, state.NewFileStore(own), state.NewFileStore(filepath.Join(sd, "network-office.json")), where)
		r := run(t, dir, nil, "", "plan", "--config", ".", "--computer", "alpha", "--state", own, "--refresh=false", "--detailed-exitcode")
		r.want(t, 0, "No changes.")
		if strings.Contains(r.stdout, "game") {
			t.Errorf("alpha's forward in %s state: its plan shows beta's forward:\n%s", where, r.stdout)
		}
	}
	// The network state is locked: so is the router part of alpha.
	sd := t.TempDir()
	own, netState := filepath.Join(sd, "alpha.json"), filepath.Join(sd, "network-office.json")
	writeStates(t, state.NewFileStore(own), state.NewFileStore(netState), "network")
	unlock, err := state.NewFileStore(netState).Lock(context.Background(), state.LockInfo{Operation: "apply --network office", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, "", "plan", "--config", ".", "--computer", "alpha", "--state", own, "--refresh=false").want(t, 1,
		`the router part of computer.alpha is kept with network "office"'s: state `+netState+" is locked by apply --network office")
	unlock()
	run(t, dir, nil, "", "plan", "--config", ".", "--computer", "alpha", "--state", own, "--refresh=false").want(t, 0, "No changes.")
}

// The same with the etcd backend: the network state is
// PREFIX/computers/network-office/state.
func TestNetworkComputerSharesNetworkStateEtcd(t *testing.T) {
	m := etcdtest.Start(t)
	dir := writeConfig(t, sharedConfig(etcdBlock(m.ClientURL)))
	c, err := etcd.Dial(&schema.Backend{Kind: schema.BackendEtcd, Endpoints: []string{m.ClientURL}, Prefix: "/office"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	network := c.NetworkStore("network-office")
	writeStates(t, c.ComputerStore("alpha"), network, "network")
	r := run(t, dir, nil, "", "plan", "--config", ".", "--computer", "alpha", "--refresh=false", "--detailed-exitcode")
	r.want(t, 0, "No changes.")
	unlock, err := network.Lock(context.Background(), state.LockInfo{Operation: "apply --network office", Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, "", "plan", "--config", ".", "--computer", "alpha", "--refresh=false").want(t, 1,
		`the router part of computer.alpha is kept with network "office"'s: state /office/computers/network-office/state is locked by apply --network office`)
	unlock()
}

// --accept-new-host-key means something only for a router reached over SSH.
func TestNetworkAcceptNewHostKeyNeedsSSH(t *testing.T) {
	dir := writeConfig(t, `network "home" {
  router {
    protocols = ["manual"]
  }
}
computer "nas" {
  network  = "home"
  firewall = "none"
}
`)
	run(t, dir, nil, "", "plan", "--config", ".", "--computer", "nas", "--state", filepath.Join(t.TempDir(), "nas.json"), "--accept-new-host-key").want(t, 1,
		`--accept-new-host-key: the router of network "home" is not one netplan42 logs in to over SSH`)
}

// show with the config names a computer's router forwards on a network
// whose router netplan42 administers, which the network state keeps, and
// only its own.
func TestNetworkShowCombinedState(t *testing.T) {
	dir := writeConfig(t, sharedConfig(""))
	sd := t.TempDir()
	own, netState := filepath.Join(sd, "alpha.json"), filepath.Join(sd, "network-office.json")
	writeStates(t, state.NewFileStore(own), state.NewFileStore(netState), "network")
	r := run(t, dir, nil, "", "show", "--config", ".", "--computer", "alpha", "--state", own)
	r.want(t, 0, "computer.alpha — "+own, `router forwards, in network "office"'s state `+netState,
		`router_mapping.web["tcp"]  TCP 4300 -> 192.0.2.10:4300 "netplan42:alpha/web" via ssh, permanent`)
	if strings.Contains(r.stdout, "game") {
		t.Errorf("show --computer alpha lists beta's forward:\n%s", r.stdout)
	}
	r = run(t, dir, nil, "", "show", "--config", ".", "--computer", "alpha", "--state", own, "--json")
	r.want(t, 0, `"computer": "computer.alpha"`, `"network_state": {`, `"path": "`+netState+`"`, `"address": "router_mapping.web[\"tcp\"]"`)
}
