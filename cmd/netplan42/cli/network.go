package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
//
// plan, apply and destroy --computer on such a network keep that
// computer's router part in the same network state, under the same lock
// (sharedPart), and only its host firewall and app files in its own
// state: both ways then see one record of the router's forwards.

// sshConfig is the router's view of the config's ssh block.
func sshConfig(s *schema.SSHRouter) *router.SSHConfig {
	if s == nil {
		return nil
	}
	_, accept := acceptedNewHostKey.Load(s)
	return &router.SSHConfig{
		Host: s.Host, Port: s.Port, User: s.User,
		IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts, Flavor: s.Flavor,
		AcceptNewHostKey: accept,
	}
}

// acceptedNewHostKey holds the ssh blocks of routers whose host key this
// run trusts when known_hosts has none yet (--accept-new-host-key):
// sshConfig sets router.SSHConfig.AcceptNewHostKey for them, wherever the
// router is opened from.
var acceptedNewHostKey sync.Map // *schema.SSHRouter -> struct{}

// acceptNewHostKey makes this run trust the host key of n's router when
// known_hosts has none yet; an error when n's router is not reached over
// SSH, where the flag means nothing.
func acceptNewHostKey(n *schema.Network) error {
	if !administered(n) {
		name := ""
		if n != nil {
			name = n.Name
		}
		return fmt.Errorf("--accept-new-host-key: the router of network %q is not one netplan42 logs in to over SSH: there is no host key to trust", name)
	}
	acceptedNewHostKey.Store(n.Router.SSH, struct{}{})
	return nil
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

// networkRun is what runNetwork is asked to do.
type networkRun struct {
	op               string // plan, apply, destroy
	autoApprove      bool   // apply, destroy: do not ask for "yes"
	json             bool   // plan: print the plans as JSON (networkPlanJSON)
	detailedExitcode bool   // plan: exit 2 when changes are pending
}

// networkPlanJSON is plan --network --json: one plan per computer, each
// in the format of plan --json.
type networkPlanJSON struct {
	FormatVersion string            `json:"format_version"`
	Network       string            `json:"network"`
	Plans         []json.RawMessage `json:"plans"`
}

// runNetwork is plan, apply or destroy with --network.
func runNetwork(ctx context.Context, stdio IO, cf *configFlags, tf *targetFlags, nr networkRun) error {
	op := nr.op
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

	n = sharedRouter(n)

	color := useColor(stdio.Out, cf.noColor)
	out := textout.Printer{W: stdio.Out, Color: color}
	if !nr.json {
		out.F("%s: the forwards of %s on the router %s\n\n", out.Paint(textout.Bold, "network \""+n.Name+"\""), plural(len(comps), "computer"), view.Detail)
	}
	doc := networkPlanJSON{FormatVersion: planner.FormatVersion, Network: n.Name, Plans: []json.RawMessage{}}
	var plans []networkPlan
	changes, blocked := false, false
	for _, c := range comps {
		o := observed
		o.Router.InternalAddress = addrs[c.Address()]
		p := priorOf(st, c.Address())
		pl := planner.Compute(planner.Input{Computer: c, Network: n, Observed: o, Prior: p, Now: nowFunc(), Destroy: destroy})
		if nr.json {
			var b strings.Builder
			if err := planner.RenderJSON(&b, pl); err != nil {
				return err
			}
			doc.Plans = append(doc.Plans, json.RawMessage(b.String()))
		} else {
			if err := printPlan(stdio.Out, pl, false, color); err != nil {
				return err
			}
			fmt.Fprintln(stdio.Out)
		}
		plans = append(plans, networkPlan{computer: c, plan: pl, prior: p})
		changes = changes || pl.HasChanges() || adopts(pl, p)
		blocked = blocked || pl.Blocked()
	}
	if nr.json {
		if err := textout.JSON(stdio.Out, doc); err != nil {
			return err
		}
	}
	if op == "plan" || blocked {
		if blocked {
			return exitCode(ExitError)
		}
		if nr.detailedExitcode && changes {
			return exitCode(ExitChanges)
		}
		return nil
	}
	if !changes {
		return nil
	}
	if !nr.autoApprove {
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

// administered reports whether n's router is one netplan42 administers
// over SSH: one table of forwards for the whole network, to any LAN
// address, whose record is the network state. Routers reached by UPnP,
// NAT-PMP or PCP map each computer's ports to itself: their record stays
// in each computer's state.
func administered(n *schema.Network) bool { return n != nil && n.Router.SSH != nil }

// sharedRouter returns n as plan and apply see an administered network:
// forwards on a router administered over SSH have no lease.
func sharedRouter(n *schema.Network) *schema.Network {
	if !administered(n) {
		return n
	}
	nn := *n
	nn.Router.Lease = 0
	return &nn
}

// routerResource reports whether r is of the router part: what the
// network state keeps for a computer on an administered network.
func routerResource(r planner.Managed) bool { return r.Kind == planner.KindMapping }

// networkStatePath is the state file of network's router part beside the
// computer state file at computerPath: with the default paths this is
// state.DefaultPath(networkStateName(network)), the file --network uses.
func networkStatePath(computerPath, network string) string {
	return filepath.Join(filepath.Dir(computerPath), state.FileName(networkStateName(network))+".json")
}

// networkStoreOf is networkStoreFor for computer c's network: its
// backend's network store when it has one and path is not explicit, else
// the state file at path.
func networkStoreOf(c *schema.Computer, network, path string, explicit bool) targetStore {
	if b, ok := backends.Load(c); ok {
		s := b.(fleetBackend).NetworkStore(network)
		if !explicit || path == s.Path() {
			return s
		}
	}
	return state.NewFileStore(path)
}

// sharedPart is the network state a computer on an administered network
// keeps its router part in, locked along with the computer's own.
type sharedPart struct {
	store  targetStore
	st     *state.State // nil: no network state yet
	unlock func() error
}

// openShared locks and reads the network state of t's network when its
// router is administered; the computer's own state is open already.
// lctx bounds the wait for the lock as for the computer's.
func (t *target) openShared(lctx context.Context, f *targetFlags, op string, exclusive bool) error {
	t.shared = nil
	if !administered(t.network) {
		return nil
	}
	name := t.network.Name
	path, explicit := state.DefaultPath(networkStateName(name)), f.statePath != ""
	if explicit {
		path = networkStatePath(f.statePath, name)
	}
	store := networkStoreOf(t.computer, name, path, explicit)
	unlock, err := store.Lock(lctx, state.LockInfo{Operation: op + " --computer " + t.computer.Name(), Exclusive: exclusive})
	if err != nil {
		return fmt.Errorf("the router part of %s is kept with network %q's: %w", t.computer.Address(), name, err)
	}
	st, err := state.Load(store, networkOwner(name))
	if err != nil {
		unlock()
		return err
	}
	t.shared = &sharedPart{store: store, st: st, unlock: unlock}
	return nil
}

// mergePrior is a computer's prior on an administered network: its part
// of the network state, and from its own state everything else. Router
// resources its own state still holds (written before the router part
// moved to the network state) count too, unless the network state holds
// the same address: the network state is the newer record.
func mergePrior(own *state.State, network *state.State, computer string) planner.Prior {
	p := priorOf(network, computer)
	if network == nil && own != nil {
		p.Router = own.Router
	}
	if own == nil {
		return p
	}
	for _, r := range own.Resources {
		if routerResource(r) {
			if _, ok := p.Lookup(r.Address); ok {
				continue
			}
		}
		p.Resources = append(p.Resources, r)
	}
	return p
}

// legacyRouter reports whether the computer's own state still holds
// router resources that belong in the network state: the next write
// moves them there.
func (t *target) legacyRouter() bool {
	return t.shared != nil && t.st != nil && slices.ContainsFunc(t.st.Resources, routerResource)
}

// Save records p, the computer's whole prior, as apply goes: the
// journal apply keeps up to date after every change. On an administered
// network the router part goes to the network state, written first (it
// records what the router holds), and the rest to the computer's own;
// a store is written only when its part changed.
func (t *target) Save(p planner.Prior) error {
	if t.shared == nil {
		if t.st == nil {
			t.st = state.New(t.computer.Address())
		}
		t.st.Prior = p
		return t.store.Write(t.st)
	}
	var routerRes, own []planner.Managed
	for _, r := range p.Resources {
		if routerResource(r) {
			routerRes = append(routerRes, r)
		} else {
			own = append(own, r)
		}
	}
	sh := t.shared
	was := priorOf(sh.st, t.computer.Address())
	now := planner.Prior{Resources: routerRes, Router: p.Router}
	if !samePrior(was, now) && (sh.st != nil || len(routerRes) > 0) {
		if sh.st == nil {
			sh.st = state.New(networkOwner(t.network.Name))
		}
		j := &networkJournal{w: sh.store, s: sh.st, computer: t.computer.Address()}
		if err := j.Save(now); err != nil {
			return err
		}
	}
	next := planner.Prior{Resources: own, Router: p.Router}
	if next.Resources == nil {
		next.Resources = []planner.Managed{}
	}
	switch {
	case t.st == nil && len(own) == 0:
		return nil // nothing of its own to record
	case t.st != nil && samePrior(t.st.Prior, next):
		return nil
	case t.st == nil:
		t.st = state.New(t.computer.Address())
	}
	t.st.Prior = next
	return t.store.Write(t.st)
}

// samePrior reports whether a and b record the same, as stored.
func samePrior(a, b planner.Prior) bool {
	if a.Resources == nil {
		a.Resources = []planner.Managed{}
	}
	if b.Resources == nil {
		b.Resources = []planner.Managed{}
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// warnAddress warns, on an administered network, when this computer
// reaches the router from another address than its address in the
// config: a plan here forwards its ports to the one, plan --network to
// the other, and each would move the forwards the other made.
func warnAddress(p *planner.Plan, t *target, o planner.Observed) {
	local, conf := o.Router.InternalAddress, t.computer.LANAddress
	if !administered(t.network) || !o.Refreshed || !local.IsValid() || !conf.IsValid() || local == conf {
		return
	}
	p.Diagnostics = append(p.Diagnostics, planner.Diagnostic{
		Severity: planner.Warning,
		Summary:  fmt.Sprintf("this computer reaches the router from %s, but its address in the config is %s", local, conf),
		Detail: fmt.Sprintf("this plan forwards its ports to %s, plan --network %s to %s, and each would move the forwards the other made: set address = %q in its computer block, or correct this computer's address",
			local, t.network.Name, conf, local.String()),
	})
}

// loggedIn is an error when n's router is administered over SSH but
// netplan42 could not log in (an unknown host key, a refused key): the
// router then falls back to manual forwarding, which on a router whose
// forwards netplan42 keeps is no plan at all, as for --network. A config
// that lists "manual" among the protocols asked for that fallback.
func loggedIn(ctx context.Context, n *schema.Network, d *drivers) error {
	if d == nil || !administered(n) || d.router.Protocol() != schema.ViaManual || slices.Contains(n.Router.Protocols, schema.ViaManual) {
		return nil
	}
	v, _ := d.router.Observe(ctx, nil)
	return fmt.Errorf("network %q: could not log in to the router: %s", n.Name, strings.Join(v.Notes, "; "))
}
