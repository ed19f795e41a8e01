package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/firewall"
	"github.com/netplan42/netplan42/host"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/router"
	"github.com/netplan42/netplan42/schema"
)

type checkFlags struct {
	configFlags
	computer  string
	timeout   time.Duration
	json      bool
	addresses []string
}

func newCheck(stdio IO) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check [TARGET...]",
		Short: "Connect from this computer to other computers' services and say what is wrong",
		Long: `Check connects from this computer to each target computer's exposed services,
as a support guide's "telnet ADDRESS PORT" step does, and explains every
failure from what netplan42 knows: a target on this computer's network is
reached at its LAN address (from the router's mapping table, --address, or
DNS), and this network's router table is read to see whether the service is
forwarded to it; a target on another network is reached at that network's
public_address and the service's external port.

Each result is one line: the verdict (refused, timed out, unreachable, wrong
peer, no mapping, no address) with the likely cause, then the fix. TARGETs
are computer names; by default every other computer that exposes something.
UDP services are listed but not connected to (UDP has no handshake).

Check changes nothing. It exits 1 when a check fails.`,
		Example: `  netplan42 check                      # every other computer
  netplan42 check friend-pc --timeout 5s
  netplan42 check nas --address nas=192.168.1.20`,
		RunE: func(cmd *cobra.Command, args []string) error { return runCheck(cmd.Context(), stdio, f, args) },
	}
	f.configFlags.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&f.computer, "computer", os.Getenv("NETPLAN42_COMPUTER"), "the computer this machine is (default: the one whose hostname matches this machine's; env NETPLAN42_COMPUTER)")
	fl.DurationVar(&f.timeout, "timeout", 3*time.Second, "how long each connection may take")
	fl.BoolVar(&f.json, "json", false, "print the results as JSON (format_version "+diagnose.FormatVersion+")")
	fl.StringArrayVar(&f.addresses, "address", nil, "a target's LAN address, NAME=IP, when the router table and DNS do not know it; an IPv6 address is its global address, checked over IPv6 (repeatable)")
	return cmd
}

// checkRun is one check and the evidence gathered for it.
type checkRun struct {
	c diagnose.Check
	e diagnose.Evidence
}

func runCheck(ctx context.Context, stdio IO, f *checkFlags, args []string) error {
	if f.timeout <= 0 || f.timeout > time.Minute {
		return fmt.Errorf("--timeout %s: want more than 0 and at most 1m", f.timeout)
	}
	cfg, _, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
	if err != nil {
		return err
	}
	me, err := pickComputer(cfg, f.computer)
	if err != nil {
		return err
	}
	targets, err := diagnose.Targets(cfg, me, args)
	if err != nil {
		return err
	}
	overrides, overrides6, err := parseAddresses(cfg, f.addresses)
	if err != nil {
		return err
	}
	checks, skipped := diagnose.PlanChecks(cfg, me, targets)
	checks = diagnose.WithIPv6(checks, func(c *schema.Computer) bool { return overrides6[c].IsValid() })
	runs := make([]*checkRun, len(checks))
	for i, c := range checks {
		runs[i] = &checkRun{c: c, e: diagnose.Evidence{Computers: cfg.Computers}}
	}
	var limits []string
	g := &gather{timeout: f.timeout, overrides: overrides, overrides6: overrides6}
	g.look(ctx, cfg, me, runs)
	g.look6(ctx, runs)
	g.dial(ctx, runs)
	limits = append(limits, g.neighbors(runs)...)

	results := make([]diagnose.Result, len(runs))
	for i, r := range runs {
		results[i] = diagnose.Judge(r.c, r.e)
	}
	rep := diagnose.NewCheckReport(me, f.timeout, results, skipped, limits)
	if f.json {
		err = diagnose.RenderCheckJSON(stdio.Out, rep)
	} else {
		err = diagnose.RenderCheck(stdio.Out, rep, diagnose.RenderOptions{Color: useColor(stdio.Out, f.noColor)})
	}
	if err != nil {
		return err
	}
	if rep.HasFailures() {
		return exitCode(ExitError)
	}
	return nil
}

// parseAddresses reads --address NAME=IP values: an IPv4 address is the
// target's LAN address, an IPv6 one its global address (out6).
func parseAddresses(cfg *schema.Config, specs []string) (out, out6 map[*schema.Computer]netip.Addr, err error) {
	out, out6 = map[*schema.Computer]netip.Addr{}, map[*schema.Computer]netip.Addr{}
	for _, s := range specs {
		name, ip, ok := strings.Cut(s, "=")
		if !ok {
			return nil, nil, fmt.Errorf("--address %q: want NAME=IP", s)
		}
		c := cfg.Computer(name)
		if c == nil {
			return nil, nil, fmt.Errorf("--address %q: no computer %q in the config", s, name)
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, nil, fmt.Errorf("--address %q: %v", s, err)
		}
		if a = a.Unmap(); a.Is6() {
			out6[c] = a
		} else {
			out[c] = a
		}
	}
	return out, out6, nil
}

// gather collects the evidence of a check run.
type gather struct {
	timeout   time.Duration
	overrides map[*schema.Computer]netip.Addr
	// overrides6 are the --address values that are IPv6: a target's
	// global address, for the IPv6 path.
	overrides6 map[*schema.Computer]netip.Addr
}

// look finds addresses and reads this network's router: the router table
// (for same-network targets), the targets' names in DNS, and the other
// networks' public addresses, all at once.
func (g *gather) look(ctx context.Context, cfg *schema.Config, me *schema.Computer, runs []*checkRun) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		view    *planner.RouterView
		rerr    error
		dns     = map[*schema.Computer][]netip.Addr{}
		dnsErr  = map[*schema.Computer]error{}
		public  = map[*schema.Network][]netip.Addr{}
		asked   = map[*schema.Network]bool{}
		pubErr  = map[*schema.Network]error{}
		local   []netip.Prefix
		sameNet bool
	)
	var want []planner.MappingKey
	for _, r := range runs {
		switch r.c.Path {
		case diagnose.RouterPath:
			want = append(want, planner.MappingKey{Protocol: r.c.Protocol, ExternalPort: r.c.Port})
			sameNet = true
		case diagnose.Internal:
			sameNet = true
		case diagnose.Public:
			// asked, not public: the lookups write public meanwhile.
			if n := r.c.Network; !asked[n] && n.PublicAddress != "" {
				asked[n] = true
				wg.Go(func() {
					as, err := resolvePublic(ctx, n.PublicAddress, g.timeout)
					mu.Lock()
					public[n], pubErr[n] = as, err
					mu.Unlock()
				})
			}
		}
	}
	if sameNet {
		n := cfg.Networks[me.Network]
		local, _ = firewall.LocalPrefixes()
		wg.Go(func() {
			r, err := router.Open(ctx, router.Config{Protocols: n.Router.Protocols, Gateway: n.Router.Gateway, SSH: sshConfig(n.Router.SSH)})
			if err != nil {
				rerr = err
				return
			}
			v, err := observeRouter(ctx, r, want)
			view, rerr = &v, err
		})
		seen := map[*schema.Computer]bool{}
		for _, r := range runs {
			t := r.c.Target
			if r.c.Path == diagnose.Public || r.c.Path == diagnose.IPv6Path || seen[t] {
				continue
			}
			seen[t] = true
			if _, ok := g.overrides[t]; ok || t.LANAddress.IsValid() {
				continue
			}
			wg.Go(func() {
				as, err := lookupHost(ctx, t.Hostname, min(g.timeout, maxLookup))
				mu.Lock()
				dns[t], dnsErr[t] = as, err
				mu.Unlock()
			})
		}
	}
	wg.Wait()

	for _, r := range runs {
		e := &r.e
		switch r.c.Path {
		case diagnose.IPv6Path:
			continue // look6
		case diagnose.Public:
			n := r.c.Network
			if as := public[n]; len(as) > 0 {
				e.Addr, e.AddrSource = as[0], fmt.Sprintf("public_address %q", n.PublicAddress)
				if len(as) > 1 {
					e.Notes = append(e.Notes, fmt.Sprintf("public_address %q has %d addresses; checked the first", n.PublicAddress, len(as)))
				}
			} else if err := pubErr[n]; err != nil {
				e.AddrError = err.Error()
			}
			continue
		}
		if rerr != nil {
			e.RouterError = rerr.Error()
		}
		if view != nil {
			e.RouterProtocol = view.Protocol
			// UPnP looks up every wanted key when it cannot list: an
			// absent key is absent either way.
			e.RouterKnows = view.Can.ReadsEntries
			for _, m := range view.Mappings {
				if r.c.Path == diagnose.RouterPath && m.Key() == (planner.MappingKey{Protocol: r.c.Protocol, ExternalPort: r.c.Port}) {
					e.OnKey = &m
				}
			}
		}
		g.address(r, view, dns[r.c.Target], dnsErr[r.c.Target], local)
	}
}

// address picks the target's LAN address: --address, else its own
// mapping in the router table (netplan42 tags every mapping with the
// computer, and the router records the address), else DNS, accepted only
// when on one of this computer's networks.
func (g *gather) address(r *checkRun, view *planner.RouterView, dns []netip.Addr, dnsErr error, local []netip.Prefix) {
	t, e := r.c.Target, &r.e
	// A tag alone proves nothing: on a router without secure mode another
	// host can describe its mapping like ours. The address is taken from
	// the router only when every mapping tagged for the target agrees,
	// and DNS, where it answers on our networks, agrees too.
	var fromMapping netip.Addr
	var mappingTag string
	var tagged []netip.Addr
	if view != nil {
		for _, m := range view.Mappings {
			if comp, _, ok := planner.ParseTag(m.Description); ok && comp == t.Tag() && m.InternalAddress.IsValid() {
				if !slices.Contains(tagged, m.InternalAddress) {
					tagged = append(tagged, m.InternalAddress)
				}
				if !fromMapping.IsValid() {
					fromMapping, mappingTag = m.InternalAddress, m.Description
				}
			}
		}
	}
	var fromDNS netip.Addr
	for _, a := range dns {
		if slices.ContainsFunc(local, func(p netip.Prefix) bool { return p.Contains(a) }) {
			fromDNS = a
			break
		}
	}
	if !fromDNS.IsValid() && len(dns) > 0 {
		e.Notes = append(e.Notes, fmt.Sprintf("%q resolves to %s, not on this computer's networks; ignored", t.Hostname, addrsText(dns)))
	}
	switch {
	case len(tagged) > 1:
		e.Notes = append(e.Notes, fmt.Sprintf("the router holds mappings tagged for %s to %s: one may be another host's imitation of netplan42's tag, so none is trusted for the address", t.Name(), addrsText(tagged)))
		fromMapping = netip.Addr{}
	case fromMapping.IsValid() && fromDNS.IsValid() && fromMapping != fromDNS:
		e.Notes = append(e.Notes, fmt.Sprintf("the router's mapping %q points at %s but %q resolves to %s: trusting DNS", mappingTag, fromMapping, t.Hostname, fromDNS))
		fromMapping = netip.Addr{}
	}
	switch {
	case g.overrides[t].IsValid():
		e.Addr, e.AddrSource = g.overrides[t], "from --address"
	case t.LANAddress.IsValid():
		e.Addr, e.AddrSource = t.LANAddress, "from its address in the config"
	case fromMapping.IsValid() && r.c.Path == diagnose.Internal:
		e.Addr, e.AddrSource = fromMapping, fmt.Sprintf("from the router's mapping %q", mappingTag)
	case fromDNS.IsValid():
		e.Addr, e.AddrSource = fromDNS, fmt.Sprintf("from DNS %q", t.Hostname)
	case fromMapping.IsValid():
		e.Addr, e.AddrSource = fromMapping, fmt.Sprintf("from the router's mapping %q", mappingTag)
	default:
		var why []string
		switch {
		case view == nil:
			why = append(why, "this network's router could not be read")
		case !view.Can.ReadsEntries:
			why = append(why, fmt.Sprintf("this network's router (%s) cannot list mappings", view.Protocol.Title()))
		default:
			why = append(why, fmt.Sprintf("the router holds no netplan42 mapping of %s", t.Name()))
		}
		if dnsErr != nil {
			why = append(why, fmt.Sprintf("%q does not resolve (%v)", t.Hostname, dnsErr))
		}
		e.AddrError = strings.Join(why, ", and ")
	}
	if fromMapping.IsValid() && fromDNS.IsValid() && fromMapping != fromDNS && r.c.Path == diagnose.Internal {
		e.Notes = append(e.Notes, fmt.Sprintf("the router's mapping %q points to %s, but %q resolves to %s: one of them is out of date", mappingTag, fromMapping, t.Hostname, fromDNS))
	}
}

func addrsText(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// maxLookup bounds a LAN name lookup: a LAN name resolves in
// milliseconds or not at all, and the dials wait for the lookups.
const maxLookup = 2 * time.Second

// lookupHost resolves a computer's hostname, and name.local (mDNS, where
// the system resolver does it) for a bare name.
func lookupHost(ctx context.Context, name string, timeout time.Duration) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil && !strings.Contains(name, ".") {
		if las, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip4", name+".local"); lerr == nil {
			as, err = las, nil
		}
	}
	if err != nil {
		return nil, unwrapDNS(err)
	}
	for i := range as {
		as[i] = as[i].Unmap()
	}
	return as, nil
}

// maxDials bounds the connections in flight at once.
const maxDials = 32

// dial connects for every TCP check with an address, all at once.
func (g *gather) dial(ctx context.Context, runs []*checkRun) {
	sem := make(chan struct{}, maxDials)
	var wg sync.WaitGroup
	for _, r := range runs {
		if r.c.Path == diagnose.RouterPath || r.c.Protocol != planner.TCP || !r.e.Addr.IsValid() {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r.e.Outcome, r.e.Error, r.e.Elapsed = dialOnce(ctx, netip.AddrPortFrom(r.e.Addr, r.c.Port), g.timeout)
		})
	}
	wg.Wait()
}

func dialOnce(ctx context.Context, to netip.AddrPort, timeout time.Duration) (diagnose.Outcome, string, time.Duration) {
	d := net.Dialer{Timeout: timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", to.String())
	elapsed := time.Since(start)
	if err == nil {
		c.Close()
		return diagnose.Connected, "", elapsed
	}
	return dialOutcome(err, runtime.GOOS), err.Error(), elapsed
}

// neighbors reads the ARP table for internal checks that got no answer:
// a host that answers ARP is up, so silence on the port is its firewall.
func (g *gather) neighbors(runs []*checkRun) (limits []string) {
	need := slices.ContainsFunc(runs, func(r *checkRun) bool {
		return r.c.Path == diagnose.Internal && (r.e.Outcome == diagnose.TimedOut || r.e.Outcome == diagnose.Unreachable)
	})
	if !need {
		return nil
	}
	ns, err := host.LocalNeighbors()
	if err != nil {
		return []string{"neighbour (ARP) table: " + err.Error()}
	}
	for _, r := range runs {
		if r.c.Path != diagnose.Internal || r.e.Outcome != diagnose.TimedOut && r.e.Outcome != diagnose.Unreachable {
			continue
		}
		for _, n := range ns {
			if n.Addr == r.e.Addr {
				if n.Resolved() {
					r.e.Neighbor = diagnose.NeighborResolved
				} else {
					r.e.Neighbor = diagnose.NeighborUnresolved
				}
			}
		}
	}
	return nil
}
