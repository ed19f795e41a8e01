package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
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
	"github.com/netplan42/netplan42/state"
)

// status and check only look: they take no state lock (state is read as
// the last complete write left it, which atomic renames guarantee), never
// write the lock file, and call no driver method that changes anything.
// These interfaces hold them to that: they have no Add, Delete or Sync.

// routerReader is what status and check need of a router.
type routerReader interface {
	Observe(ctx context.Context, want []planner.MappingKey) (planner.RouterView, error)
	Protocol() schema.Via
}

// firewallReader is what status needs of a firewall.
type firewallReader interface {
	Observe(ctx context.Context) (planner.FirewallView, error)
}

var (
	_ routerReader   = (*router.Router)(nil)
	_ firewallReader = (*firewall.Firewall)(nil)
)

type statusFlags struct {
	configFlags
	computer  string
	statePath string
	json      bool
}

func newStatus(stdio IO) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show this computer's ports as the router, the firewall and the OS see them, and what is wrong",
		Long: `Status shows this computer as netplan42 sees it: its LAN address and gateway,
which router protocols answer (UPnP IGD version and URL, NAT-PMP), the
router's external address and whether it is public, carrier-grade NAT or
private (double NAT), our mappings and their remaining lease, foreign
mappings on our ports, the firewall backend and our rules, and for every
service whether something listens on its port and which process (the
"netstat -an | grep PORT" step of a support guide).

It ends with findings: what stops connections, with the fix. It changes
nothing: no mapping, no rule, no state, no lock file. Without root it shows
what the OS lets it see and says what it could not.`,
		Example: `  netplan42 status --computer nas
  netplan42 status --json | jq '.findings'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), stdio, f) },
	}
	f.configFlags.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&f.computer, "computer", os.Getenv("NETPLAN42_COMPUTER"), "the computer this machine is (default: the one whose hostname matches this machine's; env NETPLAN42_COMPUTER)")
	fl.StringVar(&f.statePath, "state", "", "state file to read"+stateDefaultHelp)
	fl.BoolVar(&f.json, "json", false, "print the status as JSON (format_version "+diagnose.FormatVersion+")")
	return cmd
}

func runStatus(ctx context.Context, stdio IO, f *statusFlags) error {
	cfg, pending, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
	if err != nil {
		return err
	}
	c, err := pickComputer(cfg, f.computer)
	if err != nil {
		return err
	}
	n := cfg.Networks[c.Network]
	in := diagnose.StatusInput{
		Computer: c, Network: n, Computers: cfg.Computers, Now: nowFunc(),
		Root: state.Privileged(), PendingAssignments: pending,
	}
	readState(&in, c, n, f.statePath)
	var prior planner.Prior
	if in.Prior != nil {
		prior = *in.Prior
	}

	var wg sync.WaitGroup
	wg.Go(func() { probeRouters(ctx, &in, n, wantKeys(c, prior)) })
	wg.Go(func() { observeFirewall(ctx, &in, c) })
	wg.Go(func() { listeners(&in) })
	wg.Go(func() {
		if n.PublicAddress != "" {
			as, err := resolvePublic(ctx, n.PublicAddress, 3*time.Second)
			in.PublicAddresses = as
			if err != nil {
				in.PublicAddressError = err.Error()
			}
		}
	})
	wg.Wait()

	rep := diagnose.Status(in)
	addAppFirewallFindings(ctx, rep, &in)
	if f.json {
		return diagnose.RenderStatusJSON(stdio.Out, rep)
	}
	return diagnose.RenderStatus(stdio.Out, rep, diagnose.RenderOptions{Color: useColor(stdio.Out, f.noColor)})
}

// readState reads the state without locking it: a reader that must not
// change anything cannot take the lock (that creates its file), and the
// state file is replaced by atomic rename, so a read sees a whole state.
// On a network whose router netplan42 administers over SSH it is the
// computer's own state and its part of the network state, combined as
// plan combines them.
func readState(in *diagnose.StatusInput, c *schema.Computer, n *schema.Network, path string) {
	s := readStored(c, n, path)
	in.StatePath = s.store.Path()
	if s.netStore != nil {
		in.NetworkStatePath = s.netStore.Path()
	}
	if len(s.errs) > 0 {
		in.StateError = strings.Join(s.errs, "; ")
	}
	in.Prior = s.prior()
}

// stored is a computer's state as read without a lock: its own, and on
// an administered network (administered) the network's, which holds its
// router part.
type stored struct {
	computer string // computer.alpha
	store    targetStore
	st       *state.State // nil: none, or not readable (errs)
	netStore targetStore  // nil: the router part is in the computer's own state
	netSt    *state.State
	errs     []string
}

// readStored reads c's state from path (--state; "" for the default)
// and, when n's router is administered, the network state beside it, as
// plan --computer finds them (openTarget).
func readStored(c *schema.Computer, n *schema.Network, path string) stored {
	explicit := path != ""
	if path == "" {
		path = state.DefaultPath(c.Tag())
	}
	s := stored{computer: c.Address(), store: storeFor(c, path, explicit)} // a backend's, when the config has one
	// Whoever the state says it belongs to: status shows what it holds.
	var err error
	if s.st, err = s.store.Read(); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	if !administered(n) {
		return s
	}
	npath := state.DefaultPath(networkStateName(n.Name))
	if explicit {
		npath = networkStatePath(path, n.Name)
	}
	s.netStore = networkStoreOf(c, n.Name, npath, explicit)
	if s.netSt, err = state.Load(s.netStore, networkOwner(n.Name)); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	return s
}

// prior is what the states read say netplan42 made for the computer
// (target.prior); nil when there is no state at all.
func (s stored) prior() *planner.Prior {
	if s.st == nil && s.netSt == nil {
		return nil
	}
	var p planner.Prior
	if s.netStore != nil {
		p = mergePrior(s.st, s.netSt, s.computer)
	} else {
		p = s.st.Prior
	}
	return &p
}

// probeRouters tries each configured router protocol on its own, so status
// can say which answer, and observes through the first that answered, as
// plan and apply would use it.
func probeRouters(ctx context.Context, in *diagnose.StatusInput, n *schema.Network, want []planner.MappingKey) {
	var protos []schema.Via
	for _, p := range n.Router.Protocols {
		if p != schema.ViaManual {
			protos = append(protos, p)
		}
	}
	if len(protos) == 0 {
		r, err := router.Open(ctx, router.Config{Protocols: []schema.Via{schema.ViaManual}, Gateway: n.Router.Gateway})
		if err != nil {
			in.RouterError = err.Error()
			return
		}
		v, _ := r.Observe(ctx, nil)
		in.Router = &v
		return
	}
	type probed struct {
		probe diagnose.Probe
		view  planner.RouterView
		err   error
	}
	res := make([]probed, len(protos))
	var wg sync.WaitGroup
	for i, p := range protos {
		wg.Go(func() {
			pr := &res[i]
			pr.probe.Protocol = p
			r, err := router.Open(ctx, router.Config{Protocols: []schema.Via{p}, Gateway: n.Router.Gateway, SSH: sshConfig(n.Router.SSH)})
			if err != nil {
				pr.err, pr.probe.Error = err, err.Error()
				return
			}
			pr.view, pr.err = observeRouter(ctx, r, want)
			pr.probe.Answered = r.Protocol() == p
			if !pr.probe.Answered {
				pr.probe.Error = noteText(pr.view.Notes, p)
				return
			}
			pr.probe.Detail = pr.view.Detail
			if dev := pr.view.Device; dev.URL != "" {
				pr.probe.Version, pr.probe.URL = dev.Version, dev.URL
			}
			pr.probe.ExternalAddress = pr.view.ExternalAddress
			if pr.err != nil {
				pr.probe.Error = pr.err.Error()
			}
		})
	}
	wg.Wait()
	for _, pr := range res {
		in.Probes = append(in.Probes, pr.probe)
	}
	for _, pr := range res {
		if pr.probe.Answered {
			if pr.err != nil {
				in.RouterError = pr.err.Error()
				return
			}
			v := pr.view
			in.Router = &v
			return
		}
	}
	// None answered: the manual view, which knows the gateway and our
	// address.
	for _, pr := range res {
		if pr.err == nil {
			v := pr.view
			v.Protocol, v.Notes = schema.ViaManual, nil
			in.Router = &v
			return
		}
	}
	in.RouterError = res[0].err.Error()
}

func observeRouter(ctx context.Context, r routerReader, want []planner.MappingKey) (planner.RouterView, error) {
	return r.Observe(ctx, want)
}

// noteText picks the router driver's note on why protocol p did not
// answer.
func noteText(notes []string, p schema.Via) string {
	for _, n := range notes {
		if rest, ok := strings.CutPrefix(n, string(p)+" "); ok {
			return rest
		}
	}
	if len(notes) > 0 {
		return notes[0]
	}
	return "no answer"
}

func observeFirewall(ctx context.Context, in *diagnose.StatusInput, c *schema.Computer) {
	var fw firewallReader
	fwd, err := firewall.Open(ctx, firewall.Config{Backend: c.Firewall, WindowsProfiles: c.FirewallProfiles})
	if err == nil {
		fw = fwd
		var v planner.FirewallView
		if v, err = fw.Observe(ctx); err == nil {
			in.Firewall = &v
			return
		}
	}
	if errors.Is(err, firewall.ErrPermission) || !state.Privileged() {
		in.FirewallNeedsRoot = true
		return
	}
	in.FirewallError = err.Error()
}

func listeners(in *diagnose.StatusInput) {
	snap, err := host.Local()
	if errors.Is(err, host.ErrUnsupported) {
		in.ListenersError = err.Error()
		return
	}
	if err != nil {
		in.ListenersError = err.Error()
		return
	}
	in.HiddenProcesses = snap.Hidden
	for _, l := range snap.Listeners {
		dl := diagnose.Listener{Protocol: planner.Protocol(l.Protocol), Address: l.Local, UID: l.UID, User: l.User, Processes: []diagnose.Process{}}
		for _, p := range l.Processes {
			dl.Processes = append(dl.Processes, diagnose.Process{PID: p.PID, Name: p.Name, Command: p.Command})
		}
		in.Listeners = append(in.Listeners, dl)
	}
}

// resolvePublic turns a public_address (an IP, or a DNS name) into IPv4
// addresses: router mappings are IPv4.
func resolvePublic(ctx context.Context, s string, timeout time.Duration) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", s)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", s, unwrapDNS(err))
	}
	for i := range as {
		as[i] = as[i].Unmap()
	}
	slices.SortFunc(as, netip.Addr.Compare)
	return slices.Compact(as), nil
}

func unwrapDNS(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return errors.New("no such name")
		}
		if de.IsTimeout {
			return errors.New("timed out")
		}
		return errors.New(de.Err)
	}
	return err
}
