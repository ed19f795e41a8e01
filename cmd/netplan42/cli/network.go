package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/apply"
	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/router"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// This file is central apply: plan, apply and destroy with --network NAME
// make the router of that network hold the forwards of every computer in
// it, from one machine, with no host firewall touched. It takes a router
// netplan42 administers (ssh), which forwards to any LAN address. The
// router part of the network has one state file, locked as a computer's
// is; inside it each resource's address is prefixed with its computer's
// (computer.alpha.router_mapping.web["tcp"]).

// sshConfig is the router's view of the config's ssh block.
func sshConfig(s *schema.SSHRouter) *router.SSHConfig {
	if s == nil {
		return nil
	}
	return &router.SSHConfig{
		Host: s.Host, Port: s.Port, User: s.User,
		IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts, Flavor: s.Flavor,
	}
}

// networkStateName is the state file name of a network's router part.
func networkStateName(network string) string { return "network-" + network }

// networkOwner is what a network state says it belongs to.
func networkOwner(network string) string { return "network." + network }

// resolveTimeout bounds the DNS lookup of a computer without an address.
const resolveTimeout = 5 * time.Second

// lanAddress returns the LAN address c's forwards go to: its address,
// else what its hostname resolves to (IPv4).
func lanAddress(ctx context.Context, c *schema.Computer) (netip.Addr, error) {
	if c.LANAddress.IsValid() {
		return c.LANAddress, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", c.Hostname)
	if err == nil && len(addrs) > 0 {
		return addrs[0].Unmap(), nil
	}
	if err == nil {
		err = errors.New("no IPv4 address")
	}
	return netip.Addr{}, fmt.Errorf("%s has no address, and its hostname %q does not resolve (%v): set address = \"192.168.1.x\" in its computer block", c.Address(), c.Hostname, err)
}

// routerPart is c as the router part of central apply sees it: its
// services exposed to the internet, no host firewall, no app files.
func routerPart(c *schema.Computer) *schema.Computer {
	cc := *c
	cc.Firewall = schema.FirewallNone
	cc.Services = nil
	for _, s := range c.Services {
		if s.Expose == schema.ExposeInternet {
			sc := *s
			sc.AppConfigs = nil
			cc.Services = append(cc.Services, &sc)
		}
	}
	return &cc
}

// computerFromStateAddress makes a computer with no services from its
// address in a network state (computer.nas, computer.desk["alice"]), for
// one that left the config: its plan deletes what it had.
func computerFromStateAddress(addr, network string) *schema.Computer {
	name := strings.TrimPrefix(addr, "computer.")
	c := &schema.Computer{Label: name, Network: network, Firewall: schema.FirewallNone}
	if i := strings.Index(name, "[\""); i > 0 && strings.HasSuffix(name, "\"]") {
		c.Label, c.Key, c.HasKey = name[:i], name[i+2:len(name)-2], true
	}
	return c
}

// splitAddress splits a network state's resource address into the
// computer's address and the resource's own.
func splitAddress(a string) (computer, resource string, ok bool) {
	for _, k := range []string{"." + string(planner.KindMapping) + ".", "." + string(planner.KindRule) + "."} {
		if i := strings.Index(a, k); i > 0 {
			return a[:i], a[i+1:], true
		}
	}
	return "", "", false
}

// networkJournal saves one computer's part of a network state.
type networkJournal struct {
	w        state.Writer
	s        *state.State
	computer string // computer.alpha
}

func (j *networkJournal) Save(p planner.Prior) error {
	keep := slices.DeleteFunc(slices.Clone(j.s.Resources), func(r planner.Managed) bool {
		c, _, _ := splitAddress(r.Address)
		return c == j.computer
	})
	for _, r := range p.Resources {
		r.Address = j.computer + "." + r.Address
		keep = append(keep, r)
	}
	j.s.Resources = keep
	j.s.Router = p.Router
	return j.w.Write(j.s)
}

// priorOf returns a computer's part of a network state.
func priorOf(st *state.State, computer string) planner.Prior {
	p := planner.Prior{Resources: []planner.Managed{}}
	if st == nil {
		return p
	}
	p.Router = st.Router
	for _, r := range st.Resources {
		if c, res, ok := splitAddress(r.Address); ok && c == computer {
			r.Address = res
			p.Resources = append(p.Resources, r)
		}
	}
	return p
}

// networkPlan is one computer's plan in central apply.
type networkPlan struct {
	computer *schema.Computer
	plan     *planner.Plan
	prior    planner.Prior
}

// runNetwork is plan (op "plan"), apply or destroy with --network.
func runNetwork(ctx context.Context, stdio IO, cf *configFlags, tf *targetFlags, op string, autoApprove, detailedExitcode bool) error {
	destroy := op == "destroy"
	cfg, _, err := loadConfigContext(ctx, stdio, cf, true)
	if err != nil {
		return err
	}
	n := cfg.Networks[tf.network]
	if n == nil {
		var names []string
		for name := range cfg.Networks {
			names = append(names, name)
		}
		slices.Sort(names)
		return fmt.Errorf("no network %q in the config (networks: %s)", tf.network, strings.Join(names, ", "))
	}
	if n.Router.SSH == nil {
		return fmt.Errorf("network %q: --network applies the forwards of every computer from this machine, which takes a router netplan42 administers: add protocols = [\"ssh\"] and an ssh block to its router block", n.Name)
	}

	path := tf.statePath
	if path == "" {
		path = state.DefaultPath(networkStateName(n.Name))
	}
	store := networkStoreFor(cfg, n.Name, path, tf.statePath != "")
	lctx := ctx
	if tf.lockTimeout > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, tf.lockTimeout)
		defer cancel()
	}
	unlock, err := store.Lock(lctx, state.LockInfo{Operation: op + " --network " + n.Name, Exclusive: op != "plan"})
	if err != nil {
		return err
	}
	defer unlock()
	st, err := state.Load(store, networkOwner(n.Name))
	if err != nil {
		return err
	}

	// The computers: those of the network in the config, and those state
	// still holds forwards of.
	var comps []*schema.Computer
	for _, c := range cfg.Computers {
		if c.Network == n.Name {
			comps = append(comps, routerPart(c))
		}
	}
	if st != nil {
		for _, r := range st.Resources {
			addr, _, ok := splitAddress(r.Address)
			if ok && !slices.ContainsFunc(comps, func(c *schema.Computer) bool { return c.Address() == addr }) {
				comps = append(comps, computerFromStateAddress(addr, n.Name))
			}
		}
	}
	addrs := map[string]netip.Addr{}
	var problems []string
	for _, c := range comps {
		if destroy || len(c.Services) == 0 {
			continue
		}
		a, err := lanAddress(ctx, c)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		addrs[c.Address()] = a
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}

	dc := state.Drivers{Protocols: n.Router.Protocols, Gateway: n.Router.Gateway, SSH: n.Router.SSH, ConfigDir: cfg.Dir}
	var prior planner.Prior
	if st != nil {
		prior = st.Prior
	}
	rc := routerConfig(dc, prior)
	rc.SSH.AcceptNewHostKey = tf.acceptNewHostKey
	r, err := router.Open(ctx, rc)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	view, err := r.Observe(ctx, nil)
	if err != nil {
		return fmt.Errorf("observing the router: %w", err)
	}
	if r.Protocol() == schema.ViaManual {
		return fmt.Errorf("network %q: could not log in to the router: %s", n.Name, strings.Join(view.Notes, "; "))
	}
	observed := planner.Observed{At: nowFunc(), Refreshed: true, Router: view,
		Firewall: planner.FirewallView{Backend: schema.FirewallNone, Kind: schema.FirewallNone}}

	// Forwards on a router administered over SSH have no lease.
	nn := *n
	nn.Router.Lease = 0
	n = &nn

	color := useColor(stdio.Out, cf.noColor)
	out := textout.Printer{W: stdio.Out, Color: color}
	out.F("%s: the forwards of %s on the router %s\n\n", out.Paint(textout.Bold, "network \""+n.Name+"\""), plural(len(comps), "computer"), view.Detail)
	var plans []networkPlan
	changes, blocked := false, false
	for _, c := range comps {
		o := observed
		o.Router.InternalAddress = addrs[c.Address()]
		p := priorOf(st, c.Address())
		pl := planner.Compute(planner.Input{Computer: c, Network: n, Observed: o, Prior: p, Now: nowFunc(), Destroy: destroy})
		if err := printPlan(stdio.Out, pl, false, color); err != nil {
			return err
		}
		fmt.Fprintln(stdio.Out)
		plans = append(plans, networkPlan{computer: c, plan: pl, prior: p})
		changes = changes || pl.HasChanges() || adopts(pl, p)
		blocked = blocked || pl.Blocked()
	}
	if op == "plan" || blocked {
		if blocked {
			return exitCode(ExitError)
		}
		if detailedExitcode && changes {
			return exitCode(ExitChanges)
		}
		return nil
	}
	if !changes {
		return nil
	}
	if !autoApprove {
		ok, err := confirm(ctx, stdio, op)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(stdio.Out, "\n%s cancelled.\n", capitalize(op))
			return exitCode(ExitError)
		}
	}
	fmt.Fprintln(stdio.Out)
	if st == nil {
		st = state.New(networkOwner(n.Name))
	}
	var total apply.Result
	var errs []error
	for _, np := range plans {
		if !np.plan.HasChanges() && !adopts(np.plan, np.prior) {
			continue
		}
		j := &networkJournal{w: store, s: st, computer: np.computer.Address()}
		np.prior.Router = memo(observed, np.prior.Router)
		_, res, err := apply.Apply(ctx, np.plan, np.prior, apply.Drivers{Mapper: r, Via: string(r.Protocol())}, j, apply.Options{Now: nowFunc, Progress: stdio.Out})
		total.Added += res.Added
		total.Changed += res.Changed
		total.Destroyed += res.Destroyed
		total.Renewed += res.Renewed
		total.Forgotten += res.Forgotten
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(stdio.Out, "\n%s Resources: %s.\n", textout.Paint(color, textout.Red+textout.Bold, "Apply incomplete!"), total)
		return fmt.Errorf("%w\n\nState holds everything that was done; run plan --network %s to see what is left.", errors.Join(errs...), n.Name)
	}
	done := "Apply complete!"
	if destroy {
		done = "Destroy complete!"
	}
	fmt.Fprintf(stdio.Out, "\n%s Resources: %s.\n", textout.Paint(color, textout.Green+textout.Bold, done), total)
	return nil
}
