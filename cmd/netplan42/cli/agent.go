package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/agent"
	"github.com/netplan42/netplan42/apply"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

type agentFlags struct {
	configFlags
	targetFlags
	interval      time.Duration
	listen        string
	releaseOnExit bool
	logFormat     string
	logLevel      string
}

func newAgent(stdio IO) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Keep this computer's mappings and rules in place, all the time",
		Long: `Agent plans and applies at start, then keeps the router and the firewall
matching the config: it renews each lease at about half of what the router
granted, puts back mappings a router restart lost and rules a firewall reload
wiped, and backs off when the router fails. It reloads the config on SIGHUP
and when the files change (a config with errors is refused and the last good
one stays). It holds the state lock only while applying, so plan still runs.

SIGTERM or SIGINT stop it; with --release-on-exit it first removes the
mappings and rules it made. /metrics serves Prometheus metrics and /healthz
liveness on --listen.`,
		Example: "  netplan42 agent --config /etc/netplan42 --interval 60s\n  netplan42 agent --log-format json --release-on-exit",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), stdio, f) },
	}
	f.configFlags.register(cmd, true)
	f.targetFlags.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&f.interval, "interval", time.Minute, "time between reconciles (sooner when a lease is half gone)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9442", `address for /metrics and /healthz; "" serves nothing`)
	fl.BoolVar(&f.releaseOnExit, "release-on-exit", false, "on SIGTERM/SIGINT, remove the mappings and rules the agent made")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runAgent(ctx context.Context, stdio IO, f *agentFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level=%s: want debug, info, warn or error", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch f.logFormat {
	case "text":
		h = slog.NewTextHandler(stdio.Err, opts)
	case "json":
		h = slog.NewJSONHandler(stdio.Err, opts)
	default:
		return fmt.Errorf("--log-format=%s: want text or json", f.logFormat)
	}
	log := slog.New(h)
	// The first SIGINT or SIGTERM ends ctx; a second one cuts the release
	// on exit short.
	again := make(chan os.Signal, 1)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		case <-done:
		}
	}()
	defer func() {
		close(done)
		<-exited
		signal.Stop(again)
	}()
	r := &agentRunner{flags: f, log: log}
	a := agent.New(agent.Config{
		Interval: f.interval, Listen: f.listen, ReleaseOnExit: f.releaseOnExit, Abort: again,
		ConfigPath: f.config, Files: r.files, Logger: log,
	}, r)
	if err := a.Load(ctx); err != nil {
		if ctx.Err() != nil {
			log.Info("agent stopped while reading its first config; nothing was changed")
			return nil
		}
		// The first config must be good: there is no last good one.
		fmt.Fprintln(stdio.Err, err)
		return reported
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return a.Run(ctx, hup)
}

// agentRunner is the agent's Reconciler: the same config, planner, state
// and drivers as plan and apply. As an agent.Stager it reads a config
// without taking it into use, so the agent can check the files held still
// meanwhile.
type agentRunner struct {
	flags    *agentFlags
	log      *slog.Logger
	computer *schema.Computer
	network  *schema.Network
	dir      string
}

var _ agent.Stager = (*agentRunner)(nil)

// files lists every file the config is read from, for the agent's
// fingerprint: the config file or the *.hcl files of the config directory
// (the lock file and *.vars.hcl among them), the lock file beside a config
// file, and the --var-file files.
func (r *agentRunner) files() []string {
	f := &r.flags.configFlags
	var files []string
	if fi, err := os.Stat(f.config); err == nil && fi.IsDir() {
		files, _ = filepath.Glob(filepath.Join(f.config, "*.hcl"))
	} else {
		files = append(files, f.config)
	}
	files = append(files, filepath.Join(configDir(f.config), schema.LockFileName))
	return append(files, f.varFiles...)
}

// Reload loads the config and takes it into use; on error the last good one
// stays.
func (r *agentRunner) Reload() error {
	st, err := r.Stage()
	if err != nil {
		return err
	}
	return st.Use()
}

// Stage reads the config without writing the lock file, so that reading
// leaves the files as they were. New port assignments are recorded by Use.
// It changes nothing in r: the agent may abandon it.
func (r *agentRunner) Stage() (*agent.Staged, error) {
	c, n, dir, pending, err := r.read(false)
	if err != nil {
		return nil, err
	}
	names := serviceNames(c)
	return &agent.Staged{Services: names, Use: func() error {
		if pending > 0 {
			// Read once more, recording the new assignments in the
			// lock file this time. The agent checked that the files
			// held still while Stage read them: a read that differs
			// now is another edit under way.
			c2, n2, dir2, _, err := r.read(true)
			if err != nil {
				return err
			}
			if !slices.Equal(serviceNames(c2), names) {
				return agent.ErrUnsettled
			}
			c, n, dir = c2, n2, dir2
		}
		r.computer, r.network, r.dir = c, n, dir
		return nil
	}}, nil
}

// InUse names the services of the config in use.
func (r *agentRunner) InUse() []string {
	if r.computer == nil {
		return nil
	}
	return serviceNames(r.computer)
}

// read loads the config and picks this computer; with write it records new
// port assignments in the lock file, else pending counts them.
func (r *agentRunner) read(write bool) (c *schema.Computer, n *schema.Network, dir string, pending int, err error) {
	var msgs bytes.Buffer
	cfg, pending, err := loadConfig(IO{Err: &msgs}, &r.flags.configFlags, write)
	if err != nil {
		if errors.Is(err, reported) {
			err = errors.New(strings.TrimSpace(msgs.String()))
		}
		return nil, nil, "", 0, err
	}
	if c, err = pickComputer(cfg, r.flags.computer); err != nil {
		return nil, nil, "", 0, err
	}
	if m := strings.TrimSpace(msgs.String()); m != "" {
		r.log.Info("config notes", "text", m)
	}
	// Its network as plan --computer sees it: no lease on a router
	// netplan42 administers over SSH.
	return c, sharedRouter(cfg.Networks[c.Network]), cfg.Dir, pending, nil
}

// serviceNames returns the names of c's services, sorted.
func serviceNames(c *schema.Computer) []string {
	names := make([]string, 0, len(c.Services))
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

func (r *agentRunner) Reconcile(ctx context.Context) (agent.Report, error) {
	rep, err := r.pass(ctx, false, 1)
	if perr := publishReport(ctx, r.computer, "agent", rep.Plan, rep.State, err); perr != nil {
		r.log.Warn("report not written: the fleet view will show this computer as silent", "error", perr.Error())
	}
	return rep, err
}

func (r *agentRunner) Release(ctx context.Context) (agent.Report, error) {
	return r.pass(ctx, true, 1)
}

// pass plans without holding the lock (a shared one while reading state),
// then applies under the exclusive lock. If the state moved in between
// (an admin applied), it plans again, once.
func (r *agentRunner) pass(ctx context.Context, destroy bool, retries int) (agent.Report, error) {
	var rep agent.Report
	t := &target{computer: r.computer, network: r.network}
	if err := t.open(ctx, &r.flags.targetFlags, "agent", false); err != nil {
		return rep, lockOrState(err)
	}
	t.close()
	rep.State = t.prior() // known even when the router does not answer
	p := &planned{t: t, dc: driverConfig(r.computer, r.network, r.dir)}
	p.dc.Firewall = stickyFirewall(p.dc.Firewall, t.prior())
	var err error
	if p.d, err = openDrivers(ctx, p.dc, t.prior()); err != nil {
		return rep, err
	}
	if p.observed, err = observe(ctx, p.d, wantKeys(r.computer, t.prior())); err != nil {
		return rep, err
	}
	p.observed.Files = observeFiles(r.computer)
	p.plan = planner.Compute(planner.Input{Computer: r.computer, Network: r.network, Observed: p.observed,
		Prior: t.prior(), Now: nowFunc(), Destroy: destroy})
	rep.Plan, rep.State = p.plan, t.prior()
	for _, d := range p.plan.Diagnostics {
		if d.Severity == planner.Warning {
			r.log.Warn(d.Summary, "detail", d.Detail)
		}
	}
	// Errors on single resources (a foreign mapping on a port) keep only
	// those as they are: every other lease is still renewed.
	var planErr, routerErr error
	if p.plan.HasErrors() {
		var msgs []string
		for _, d := range p.plan.Diagnostics {
			if d.Severity == planner.Error {
				msgs = append(msgs, d.Summary)
			}
		}
		planErr = &agent.Error{Kind: agent.KindPlan, Err: errors.New(strings.Join(msgs, "; "))}
		if p.plan.Blocked() {
			return rep, planErr
		}
	}
	if p.d.router.Protocol() == schema.ViaManual && !slices.Contains(r.network.Router.Protocols, schema.ViaManual) {
		// Nothing answered: not a success, though the firewall is kept.
		routerErr = &agent.Error{Kind: agent.KindRouter, Err: fmt.Errorf("no router protocol answered: %s", strings.Join(p.observed.Router.Notes, "; "))}
	}
	failed := func(err error) error {
		return errors.Join(err, routerErr, planErr)
	}
	if !p.plan.HasChanges() && !adopts(p.plan, t.prior()) {
		if changed := p.plan.RouterRestarted != ""; changed {
			if err := t.open(ctx, &r.flags.targetFlags, "agent", true); err != nil {
				return rep, lockOrState(err)
			}
			err := saveMemo(p)
			t.close()
			if err != nil {
				return rep, &agent.Error{Kind: agent.KindState, Err: err}
			}
		}
		return rep, failed(nil)
	}
	serial := t.serials()
	if err := t.open(ctx, &r.flags.targetFlags, "agent", true); err != nil {
		return rep, lockOrState(err)
	}
	defer t.close()
	if t.serials() != serial {
		if retries > 0 {
			t.close()
			return r.pass(ctx, destroy, retries-1)
		}
		return rep, &agent.Error{Kind: agent.KindLock, Err: errors.New("the state changes under the agent's feet; retrying later")}
	}
	next, _, err := carryOut(ctx, p, apply.Options{Done: func(c planner.Change, err error) {
		if err != nil {
			r.log.Error("change failed", "address", c.Address, "action", string(c.Action), "reason", c.Reason, "error", err.Error())
			return
		}
		rep.Applied = append(rep.Applied, c)
		r.log.Info("changed", "address", c.Address, "action", string(c.Action), "reason", c.Reason)
	}})
	rep.State = next
	if err != nil {
		return rep, failed(&agent.Error{Kind: agent.KindApply, Err: err})
	}
	return rep, failed(nil)
}

// serials are the serials of t's states as last read: its own, and on an
// administered network the network state's, which holds its router part
// (0: none). The agent plans from both, so a write to either in between
// makes it plan again.
func (t *target) serials() [2]uint64 {
	s := [2]uint64{stateSerial(t.st), 0}
	if t.shared != nil {
		s[1] = stateSerial(t.shared.st)
	}
	return s
}

func stateSerial(st *state.State) uint64 {
	if st == nil {
		return 0
	}
	return st.Serial
}

func lockOrState(err error) error {
	if errors.Is(err, state.ErrLocked) {
		return &agent.Error{Kind: agent.KindLock, Err: err}
	}
	return &agent.Error{Kind: agent.KindState, Err: err}
}
