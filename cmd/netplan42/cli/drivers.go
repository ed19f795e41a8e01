package cli

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/netplan42/netplan42/agent"
	"github.com/netplan42/netplan42/firewall"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/router"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// routerDriver is what the CLI needs of a router: router.Router.
type routerDriver interface {
	Observe(ctx context.Context, want []planner.MappingKey) (planner.RouterView, error)
	Add(ctx context.Context, m planner.Mapping) (planner.Grant, error)
	Delete(ctx context.Context, m planner.Mapping) error
	Protocol() string
}

// firewallDriver is what the CLI needs of a host firewall: firewall.Firewall.
type firewallDriver interface {
	Observe(ctx context.Context) (planner.FirewallView, error)
	Sync(ctx context.Context, rules []planner.Rule) error
	Backend() string
	Kind() string
}

var (
	_ routerDriver   = (*router.Router)(nil)
	_ firewallDriver = (*firewall.Firewall)(nil)
)

type drivers struct {
	router   routerDriver
	firewall firewallDriver
}

func (d *drivers) localPrefixes() []netip.Prefix {
	p, err := firewall.LocalPrefixes()
	if err != nil {
		return nil
	}
	return p
}

// driverConfig is what building the drivers takes; a saved plan carries it.
func driverConfig(c *schema.Computer, n *schema.Network, configDir string) state.Drivers {
	return state.Drivers{
		Protocols:    n.Router.Protocols,
		Gateway:      n.Router.Gateway,
		LeaseSeconds: uint32(n.Router.Lease / time.Second),
		Firewall:     c.Firewall,
		ConfigDir:    configDir,
	}
}

// stickyFirewall keeps "auto" on the backend state's rules were made with:
// what auto picks can change when another program adds an nftables table,
// and switching would strand our rules in the old backend. An explicit
// choice in the config wins (the plan then cleans the old backend up).
func stickyFirewall(configured string, prior planner.Prior) string {
	if configured != schema.FirewallAuto {
		return configured
	}
	for _, r := range prior.Resources {
		if r.Kind == planner.KindRule && r.Via != "" && r.Via != schema.FirewallNone {
			return r.Via
		}
	}
	return configured
}

// openDrivers discovers the router and opens the firewall backend. It is
// how plan, apply and the agent build them (status and check probe each
// protocol on their own); package cli is the only one that builds drivers.
// memo is what state remembers of the router: a UPnP router is first
// looked for where it was, while discovery confirms it is still there
// (router.Config.Remembered). ctx must outlive the drivers' use. Both
// are opened at once (each only looks); a router error is reported first.
func openDrivers(ctx context.Context, dc state.Drivers, memo planner.RouterMemo) (*drivers, error) {
	rc := router.Config{Protocols: dc.Protocols, Gateway: dc.Gateway}
	if memo.Protocol == planner.ViaUPnP {
		rc.Remembered = memo.Identity
	}
	var (
		f    *firewall.Firewall
		ferr error
		wg   sync.WaitGroup
	)
	wg.Go(func() { f, ferr = firewall.Open(ctx, firewall.Config{Backend: dc.Firewall}) })
	r, err := router.Open(ctx, rc)
	wg.Wait()
	if err != nil {
		return nil, &agent.Error{Kind: agent.KindRouter, Err: fmt.Errorf("router: %w", err)}
	}
	if ferr != nil {
		return nil, &agent.Error{Kind: agent.KindFirewall, Err: fmt.Errorf("firewall: %w", ferr)}
	}
	return &drivers{router: r, firewall: f}, nil
}

func addrOr(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
