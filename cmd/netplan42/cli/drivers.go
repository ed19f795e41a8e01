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
	Protocol() schema.Via
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
		Protocols:        n.Router.Protocols,
		Gateway:          n.Router.Gateway,
		LeaseSeconds:     uint32(n.Router.Lease / time.Second),
		Firewall:         c.Firewall,
		ConfigDir:        configDir,
		FirewallProfiles: c.FirewallProfiles,
		SSH:              n.Router.SSH,
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
// prior is what state remembers: a UPnP router is first looked for where
// it was, while discovery confirms it is still there
// (router.Config.Remembered), and pinholes are read back by their IDs. ctx must outlive the drivers' use. Both
// are opened at once (each only looks); a router error is reported first.
func openDrivers(ctx context.Context, dc state.Drivers, prior planner.Prior) (*drivers, error) {
	rc := routerConfig(dc, prior)
	var (
		f    *firewall.Firewall
		ferr error
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		f, ferr = firewall.Open(ctx, firewall.Config{Backend: dc.Firewall, WindowsProfiles: dc.FirewallProfiles})
	})
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

// openAndObserve is openDrivers and observe with each side going on to
// observe as soon as it is open: the router's listing, the longest step of
// a plan, does not wait for the firewall backend's detection. Errors come
// in the same order as from openDrivers then observe.
func openAndObserve(ctx context.Context, dc state.Drivers, prior planner.Prior, want []planner.MappingKey) (*drivers, planner.Observed, error) {
	rc := routerConfig(dc, prior)
	o := planner.Observed{At: time.Now(), Refreshed: true}
	var (
		r                        *router.Router
		f                        *firewall.Firewall
		ropen, fopen, rerr, ferr error
		wg                       sync.WaitGroup
	)
	wg.Go(func() {
		if f, fopen = firewall.Open(ctx, firewall.Config{Backend: dc.Firewall, WindowsProfiles: dc.FirewallProfiles}); fopen == nil {
			o.Firewall, ferr = f.Observe(ctx)
		}
	})
	if r, ropen = router.Open(ctx, rc); ropen == nil {
		o.Router, rerr = r.Observe(ctx, want)
	}
	wg.Wait()
	switch {
	case ropen != nil:
		return nil, o, &agent.Error{Kind: agent.KindRouter, Err: fmt.Errorf("router: %w", ropen)}
	case fopen != nil:
		return nil, o, &agent.Error{Kind: agent.KindFirewall, Err: fmt.Errorf("firewall: %w", fopen)}
	}
	d := &drivers{router: r, firewall: f}
	if rerr != nil {
		return d, o, &agent.Error{Kind: agent.KindRouter, Err: fmt.Errorf("observing the router: %w", rerr)}
	}
	if ferr != nil {
		return d, o, &agent.Error{Kind: agent.KindFirewall, Err: fmt.Errorf("observing the firewall: %w", ferr)}
	}
	if o.Firewall.LocalPrefixes == nil {
		o.Firewall.LocalPrefixes = d.localPrefixes()
	}
	return d, o, nil
}

// routerConfig is how to open the router: the configured protocols and
// gateway, the UPnP device state remembers, to start from, and the
// pinholes it remembers, to read back.
func routerConfig(dc state.Drivers, prior planner.Prior) router.Config {
	rc := router.Config{Protocols: dc.Protocols, Gateway: dc.Gateway, Pinholes: planner.PriorPinholes(prior), SSH: sshConfig(dc.SSH)}
	if memo := prior.Router; memo.Protocol == schema.ViaUPnP {
		rc.Remembered = memo.Identity
	}
	return rc
}

func addrOr(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
