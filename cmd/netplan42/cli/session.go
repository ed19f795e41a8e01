package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/agent"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// configFlags are the flags of every command that reads the config.
type configFlags struct {
	config   string
	vars     []string
	varFiles []string
	lockfile string
	noColor  bool
}

// register adds the config flags; writes says whether the command records
// new port assignments in the lock file (plan, apply, agent) or only reads
// it (validate, show, status, check).
func (f *configFlags) register(cmd *cobra.Command, writes bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", envOr("NETPLAN42_CONFIG", "."), "config file, or directory of *.hcl files (env NETPLAN42_CONFIG)")
	fl.StringArrayVar(&f.vars, "var", nil, "set a variable: --var 'name=value' (repeatable; wins over --var-file and NETPLAN42_VAR_name)")
	fl.StringArrayVar(&f.varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
	usage := `"update": record new port assignments in netplan42.lock.hcl; "readonly": refuse to change it (fleet rollouts from a reviewed commit)`
	if !writes {
		usage = `"readonly": a port assignment missing from netplan42.lock.hcl is an error ("update", the default, only counts it: this command never writes the lock file)`
	}
	fl.StringVar(&f.lockfile, "lockfile", "update", usage)
	fl.BoolVar(&f.noColor, "no-color", false, "no colour in output (also NO_COLOR=1)")
}

// targetFlags pick the computer and its state.
type targetFlags struct {
	computer    string
	network     string // central apply: every computer of this network, router part only
	statePath   string
	lockTimeout time.Duration

	// acceptNewHostKey trusts an SSH router's host key known_hosts does
	// not hold yet.
	acceptNewHostKey bool
}

func (f *targetFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.computer, "computer", os.Getenv("NETPLAN42_COMPUTER"), "the computer this machine is (default: the one whose hostname matches this machine's; env NETPLAN42_COMPUTER)")
	fl.StringVar(&f.network, "network", "", "the router part of every computer in network NAME, applied from this machine (a router netplan42 administers over SSH); no host firewall")
	fl.BoolVar(&f.acceptNewHostKey, "accept-new-host-key", false, "trust an SSH router's host key that known_hosts does not hold yet, and record it there (trust on first use); a changed key is refused all the same")
	fl.StringVar(&f.statePath, "state", "", "state file"+stateDefaultHelp+"; on a network whose router netplan42 administers over SSH, a computer's router part is in network-NAME.json beside it")
	fl.DurationVar(&f.lockTimeout, "lock-timeout", 0, "wait this long for the state lock instead of failing at once")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadConfig reads the config, prints its diagnostics, and allocates auto
// ports. With write it records new assignments in the lock file and says so;
// without, it only counts them. It fails with reported when the config has
// errors.
func loadConfig(stdio IO, f *configFlags, write bool) (*schema.Config, int, error) {
	return loadConfigContext(context.Background(), stdio, f, write)
}

// loadConfigContext is loadConfig that gives up when ctx ends (SIGINT),
// even in the middle of parsing a large fleet: nothing has been touched
// yet, so there is nothing to finish.
func loadConfigContext(ctx context.Context, stdio IO, f *configFlags, write bool) (*schema.Config, int, error) {
	type loaded struct {
		cfg     *schema.Config
		pending int
		err     error
	}
	// Diagnostics go through a buffer so that an abandoned load prints
	// nothing after the interruption is reported.
	var msgs lockedBuffer
	done := make(chan loaded, 1)
	go func() {
		var l loaded
		l.cfg, l.pending, l.err = loadNow(IO{In: stdio.In, Out: stdio.Out, Err: &msgs}, f, write, stdio.Err)
		done <- l
	}()
	select {
	case l := <-done:
		msgs.WriteTo(stdio.Err)
		return l.cfg, l.pending, l.err
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("interrupted while reading the configuration: %w", context.Cause(ctx))
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) WriteTo(w io.Writer) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.WriteTo(w)
}

// loadNow is loadConfigNow; tests replace it with a load that never ends.
var loadNow = loadConfigNow

// loadConfigNow is loadConfig's work; term is the real stderr, for
// deciding on colour and width.
func loadConfigNow(stdio IO, f *configFlags, write bool, term io.Writer) (*schema.Config, int, error) {
	if f.lockfile != "update" && f.lockfile != "readonly" {
		return nil, 0, fmt.Errorf(`--lockfile=%s: want "update" or "readonly"`, f.lockfile)
	}
	// The lock file does not depend on the config: read it meanwhile (a
	// large fleet's lock takes a fifth of plan --all).
	type lockRead struct {
		lock  *schema.Lock
		diags hcl.Diagnostics
	}
	lockc := make(chan lockRead, 1)
	go func() {
		var r lockRead
		r.lock, r.diags = schema.ReadLock(configDir(f.config))
		lockc <- r
	}()
	cfg, diags := schema.Load(f.config, schema.Options{Vars: f.vars, VarFiles: f.varFiles, Env: os.Environ()})
	lr := <-lockc
	pending := 0
	if cfg != nil && !diags.HasErrors() && cfg.Backend != nil {
		// A backend's port claims stand in for the lock file.
		var bdiags hcl.Diagnostics
		var err error
		pending, bdiags, err = allocateBackend(stdio, cfg, f, write)
		diags = append(diags, bdiags...)
		if err != nil {
			return nil, 0, err
		}
	} else if cfg != nil && !diags.HasErrors() {
		lock, ldiags := lr.lock, lr.diags
		if lock != nil && lock.File != nil {
			cfg.Files[lock.Filename] = lock.File // for snippets in lock file errors
		}
		// A lock file that does not parse is an error like a config that
		// does not: allocating without it would hand its ports out anew.
		diags = append(diags, ldiags...)
		if !ldiags.HasErrors() {
			next, changes, adiags := schema.AllocateWith(cfg, lock, schema.AllocateOptions{
				Readonly: f.lockfile == "readonly",
				InUse:    stateInUse(cfg),
			})
			diags = append(diags, adiags...)
			pending = len(changes)
			if write && !adiags.HasErrors() && len(changes) > 0 {
				if err := schema.WriteLock(cfg.Dir, next); err != nil {
					return nil, 0, fmt.Errorf("writing the lock file: %w", err)
				}
				reportLockChanges(stdio.Err, changes)
				pending = 0
			}
		}
	}
	if len(diags) > 0 {
		var files map[string]*hcl.File
		if cfg != nil {
			files = cfg.Files
		}
		schema.WriteDiagnostics(stdio.Err, files, diags, useColor(term, f.noColor), termWidth(term))
	}
	if diags.HasErrors() || cfg == nil {
		return nil, 0, reported
	}
	return cfg, pending, nil
}

// manyAssigned is how many new assignments are listed one by one; beyond
// it (a new fleet), they are counted in one line.
const manyAssigned = 20

// reportLockChanges says what changed in the lock file: every move and
// release (ports that changed), and new assignments one by one unless
// there are many.
func reportLockChanges(w io.Writer, changes []schema.LockChange) {
	assigned := 0
	for _, c := range changes {
		if c.Action == schema.LockAssign {
			assigned++
		}
	}
	b := bufio.NewWriter(w)
	for _, c := range changes {
		if c.Action != schema.LockAssign || assigned <= manyAssigned {
			fmt.Fprintf(b, "%s: %s\n", schema.LockFileName, c)
		}
	}
	if assigned > manyAssigned {
		fmt.Fprintf(b, "%s: assigned %s ports to services with port = \"auto\": see %s\n",
			schema.LockFileName, thousands(assigned), schema.LockFileName)
	}
	b.Flush()
}

// thousands writes n with thousands separators: 30,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// stateInUse says where this machine's state shows an assignment in use:
// the state of its computer (its default state file, or its backend's),
// or on an administered network the network's state, records a mapping or
// rule of the service on the port. It reads state only when asked, for a conflict.
func stateInUse(cfg *schema.Config) func(schema.Assignment) string {
	return func(a schema.Assignment) string {
		c := cfg.Computer(strings.TrimPrefix(a.Key.Computer, "computer."))
		if c == nil {
			return ""
		}
		type record struct {
			store     targetStore
			resources []planner.Managed
		}
		var records []record
		store := storeFor(c, state.DefaultPath(c.Tag()), false)
		if s, err := store.Read(); err == nil && s != nil && s.Computer == c.Address() {
			records = append(records, record{store, s.Resources})
		}
		if n := cfg.Networks[c.Network]; administered(n) {
			// Its router part is in the network's state.
			ns := networkStoreOf(c, n.Name, state.DefaultPath(networkStateName(n.Name)), false)
			if st, err := ns.Read(); err == nil && st != nil && st.Computer == networkOwner(n.Name) {
				records = append(records, record{ns, priorOf(st, c.Address()).Resources})
			}
		}
		tag := planner.Tag(c.Tag(), a.Key.Service)
		for _, rec := range records {
			for _, r := range rec.resources {
				switch {
				case r.Mapping != nil && r.Mapping.Description == tag && r.Mapping.InternalPort == a.Port:
					return fmt.Sprintf("%s records its router mapping to port %d", rec.store, a.Port)
				case r.Rule != nil && r.Rule.Comment == tag && r.Rule.Port == a.Port:
					return fmt.Sprintf("%s records its firewall rule for port %d", rec.store, a.Port)
				}
			}
		}
		return ""
	}
}

// configDir is the directory of a config path: the lock file lives there.
func configDir(path string) string {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return filepath.Dir(path)
	}
	return path
}

// pickComputer finds the computer this machine is: by --computer, or by
// matching the machine's hostname.
func pickComputer(cfg *schema.Config, name string) (*schema.Computer, error) {
	names := func() string {
		var n []string
		for _, c := range cfg.Computers {
			n = append(n, c.Name())
		}
		sort.Strings(n)
		return strings.Join(n, ", ")
	}
	if len(cfg.Computers) == 0 {
		return nil, errors.New("the config declares no computer")
	}
	if name != "" {
		if c := cfg.Computer(name); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("no computer %q in the config (computers: %s)", name, names())
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("reading this machine's hostname: %w; pass --computer", err)
	}
	short := strings.ToLower(strings.SplitN(host, ".", 2)[0])
	var match []*schema.Computer
	for _, c := range cfg.Computers {
		h := strings.ToLower(c.Hostname)
		if h == short || h == strings.ToLower(host) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("no computer in the config has this machine's hostname %q: pass --computer NAME (computers: %s), or set hostname = %q on the right computer block", host, names(), short)
	case 1:
		return match[0], nil
	}
	var m []string
	for _, c := range match {
		m = append(m, c.Name())
	}
	return nil, fmt.Errorf("several computers have this machine's hostname %q (%s): pass --computer NAME", host, strings.Join(m, ", "))
}

// target is the computer being worked on, its network and its state.
type target struct {
	computer *schema.Computer
	network  *schema.Network
	store    targetStore
	st       *state.State // nil: no state yet
	unlock   func() error
	// shared holds the computer's router part when its network's router
	// is administered over SSH (administered): the network state, as
	// --network keeps it. nil otherwise.
	shared *sharedPart
}

func openTarget(ctx context.Context, cfg *schema.Config, f *targetFlags, op string, exclusive bool) (*target, error) {
	c, err := pickComputer(cfg, f.computer)
	if err != nil {
		return nil, err
	}
	t := &target{computer: c, network: sharedRouter(cfg.Networks[c.Network])}
	if err := t.open(ctx, f, op, exclusive); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *target) open(ctx context.Context, f *targetFlags, op string, exclusive bool) error {
	path := f.statePath
	if path == "" {
		path = state.DefaultPath(t.computer.Tag())
	}
	t.store = storeFor(t.computer, path, f.statePath != "")
	lctx := ctx
	if f.lockTimeout > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, f.lockTimeout)
		defer cancel()
	}
	unlock, err := t.store.Lock(lctx, state.LockInfo{Operation: op, Exclusive: exclusive})
	if err != nil {
		return err
	}
	t.unlock = unlock
	st, err := state.Load(t.store, t.computer.Address())
	if err != nil {
		unlock()
		return err
	}
	t.st = st
	// The router part of a computer on an administered network is locked
	// after its own state, never before: --network takes only the
	// network's lock, so no two runs wait on each other in turn.
	if err := t.openShared(lctx, f, op, exclusive); err != nil {
		unlock()
		return err
	}
	return nil
}

func (t *target) close() {
	if t.shared != nil && t.shared.unlock != nil {
		t.shared.unlock()
	}
	if t.unlock != nil {
		t.unlock()
	}
}

// prior is what state says netplan42 made for the computer: its own
// state, and on an administered network its part of the network state.
func (t *target) prior() planner.Prior {
	if t.shared != nil {
		return mergePrior(t.st, t.shared.st, t.computer.Address())
	}
	if t.st == nil {
		return planner.Prior{}
	}
	return t.st.Prior
}

// wantKeys are the router keys worth looking up when the router cannot list
// its table: what we want and what state remembers.
func wantKeys(c *schema.Computer, prior planner.Prior) []planner.MappingKey {
	seen := map[planner.MappingKey]bool{}
	var keys []planner.MappingKey
	add := func(k planner.MappingKey) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, s := range c.Services {
		if s.Expose == schema.ExposeInternet {
			for _, p := range s.Protocols() {
				add(planner.MappingKey{Protocol: planner.Protocol(p), ExternalPort: s.External()})
			}
		}
	}
	for _, r := range prior.Resources {
		if r.Mapping != nil {
			add(r.Mapping.Key())
		}
	}
	return keys
}

// observe asks the router and the firewall what they hold, both at once.
func observe(ctx context.Context, d *drivers, want []planner.MappingKey) (planner.Observed, error) {
	o := planner.Observed{At: time.Now(), Refreshed: true}
	var wg sync.WaitGroup
	var rerr, ferr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		o.Router, rerr = d.router.Observe(ctx, want)
	}()
	go func() {
		defer wg.Done()
		o.Firewall, ferr = d.firewall.Observe(ctx)
	}()
	wg.Wait()
	if rerr != nil {
		return o, &agent.Error{Kind: agent.KindRouter, Err: fmt.Errorf("observing the router: %w", rerr)}
	}
	if ferr != nil {
		return o, &agent.Error{Kind: agent.KindFirewall, Err: fmt.Errorf("observing the firewall: %w", ferr)}
	}
	if o.Firewall.LocalPrefixes == nil {
		o.Firewall.LocalPrefixes = d.localPrefixes()
	}
	return o, nil
}

// memo is what state should remember of the router after an observation.
func memo(o planner.Observed, old planner.RouterMemo) planner.RouterMemo {
	if !o.Refreshed {
		return old
	}
	m := old
	r := o.Router
	m.Protocol, m.Identity, m.External = r.Protocol, r.Identity, r.ExternalAddress
	if r.HasEpoch {
		m.Epoch, m.EpochAt = r.Epoch, o.At
	}
	return m
}

func printPlan(w io.Writer, p *planner.Plan, asJSON, color bool) error {
	// A router holding a thousand foreign mappings makes a plan of a
	// thousand lines: one write each cost more than rendering them.
	out := bufio.NewWriterSize(w, 32<<10)
	var err error
	if asJSON {
		err = planner.RenderJSON(out, p)
	} else {
		err = planner.Render(out, p, planner.RenderOptions{Color: color})
	}
	if err != nil {
		return err // a write error is the buffer's too: said once
	}
	return out.Flush()
}

// stateDefaultHelp says in --state's help where the state file is by
// default on this system, for this user (state.DefaultPath).
var stateDefaultHelp = " (default: " + state.DefaultPath("NAME") + "; the system's directory as root or administrator, else the user's)"
