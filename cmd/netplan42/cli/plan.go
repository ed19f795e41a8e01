package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/agent"
	"github.com/netplan42/netplan42/appfile"
	"github.com/netplan42/netplan42/apply"
	"github.com/netplan42/netplan42/firewall"
	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

type planFlags struct {
	configFlags
	targetFlags
	out              string
	json             bool
	detailedExitcode bool
	refresh          bool
	all              bool
}

func newPlan(stdio IO) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change on this computer",
		Long: `Plan reads the config, discovers what the router and the host firewall hold,
and shows what apply would change for this computer: mappings and rules to
create, update, renew or destroy, with a reason for each. It changes nothing
but the lock file, where it records ports handed out for port = "auto".

With --all it shows the whole fleet offline instead: every computer's ports,
mappings and rules, without discovery (for review in CI).`,
		Example: `  netplan42 plan --config examples/crashplan-home --computer nas
  netplan42 plan --out nas.plan && netplan42 apply nas.plan
  netplan42 plan --detailed-exitcode   # exit 2 when changes are pending
  netplan42 plan --all --config fleet/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd.Context(), stdio, f) },
	}
	f.configFlags.register(cmd, true)
	f.targetFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "save the plan to FILE, for apply FILE")
	fl.BoolVar(&f.json, "json", false, "print the plan as JSON (format_version "+planner.FormatVersion+")")
	fl.BoolVar(&f.detailedExitcode, "detailed-exitcode", false, "exit 0 when nothing changes, 2 when changes are pending, 1 on error")
	fl.BoolVar(&f.refresh, "refresh", true, "discover the router and firewall; --refresh=false plans from state alone")
	fl.BoolVar(&f.all, "all", false, "offline view of every computer in the config; no discovery")
	return cmd
}

// planned is a plan with everything needed to apply it.
type planned struct {
	t        *target
	d        *drivers
	dc       state.Drivers
	observed planner.Observed
	plan     *planner.Plan
}

func makePlan(ctx context.Context, stdio IO, cf *configFlags, tf *targetFlags, op string, destroy, refresh bool) (*planned, error) {
	cfg, _, err := loadConfigContext(ctx, stdio, cf, true)
	if err != nil {
		return nil, err
	}
	// apply and destroy hold the exclusive lock from the start, so a
	// second one fails at once naming the holder; plan takes a shared one.
	t, err := openTarget(ctx, cfg, tf, op, op != "plan")
	if err != nil {
		return nil, err
	}
	p := &planned{t: t, dc: driverConfig(t.computer, t.network, cfg.Dir)}
	p.dc.Firewall = stickyFirewall(p.dc.Firewall, t.prior())
	if tf.acceptNewHostKey {
		if err := acceptNewHostKey(t.network); err != nil {
			t.close()
			return nil, err
		}
	}
	switch {
	case refresh:
		if p.d, p.observed, err = openAndObserve(ctx, p.dc, t.prior(), wantKeys(t.computer, t.prior())); err != nil {
			t.close()
			return nil, err
		}
	case op != "plan":
		// apply --refresh=false skips looking, not acting.
		if p.d, err = openDrivers(ctx, p.dc, t.prior()); err != nil {
			t.close()
			return nil, err
		}
	}
	if err := loggedIn(ctx, t.network, p.d); err != nil {
		t.close()
		return nil, err
	}
	if !refresh {
		// Local and cheap: an expose = "lan" rule needs them even so.
		p.observed.Firewall.LocalPrefixes, _ = firewall.LocalPrefixes()
	}
	p.observed.Files = observeFiles(t.computer)
	p.plan = planner.Compute(planner.Input{
		Computer: t.computer, Network: t.network, Observed: p.observed,
		Prior: t.prior(), Now: nowFunc(), Destroy: destroy,
	})
	warnAddress(p.plan, t, p.observed)
	return p, nil
}

func runPlan(ctx context.Context, stdio IO, f *planFlags) error {
	if f.all {
		if f.out != "" || f.computer != "" || !f.refresh {
			return errors.New("--all is an offline view of the whole fleet: it takes no --out, --computer or --refresh")
		}
		return runPlanAll(ctx, stdio, f)
	}
	if f.network != "" {
		if f.out != "" || f.computer != "" || !f.refresh {
			return errors.New("--network plans from what the router holds: it takes no --out, --computer or --refresh=false")
		}
		return runNetwork(ctx, stdio, &f.configFlags, &f.targetFlags, networkRun{op: "plan", json: f.json, detailedExitcode: f.detailedExitcode})
	}
	p, err := makePlan(ctx, stdio, &f.configFlags, &f.targetFlags, "plan", false, f.refresh)
	if err != nil {
		return err
	}
	defer p.t.close()
	if err := printPlan(stdio.Out, p.plan, f.json, useColor(stdio.Out, f.noColor)); err != nil {
		return err
	}
	if p.plan.HasErrors() {
		return exitCode(ExitError)
	}
	if f.out != "" {
		pf := &state.PlanFile{NetplanVersion: Version, CreatedAt: nowFunc(), Plan: *p.plan, Observed: p.observed, Drivers: p.dc, StatePath: absPath(p.t.store.Path())}
		if p.t.st != nil {
			pf.Lineage, pf.Serial = p.t.st.Lineage, p.t.st.Serial
		}
		if err := state.WritePlanFile(f.out, pf); err != nil {
			return err
		}
		if !f.json {
			fmt.Fprintf(stdio.Out, "\nSaved the plan to %s. To carry out exactly these actions, run:\n  netplan42 apply %s\n", f.out, f.out)
		}
	}
	if f.detailedExitcode && p.plan.HasChanges() {
		return exitCode(ExitChanges)
	}
	return nil
}

func runPlanAll(ctx context.Context, stdio IO, f *planFlags) error {
	cfg, _, err := loadConfigContext(ctx, stdio, &f.configFlags, true)
	if err != nil {
		return err
	}
	// A fleet view is tens of thousands of lines: one write per line
	// cost more than rendering them. The text is written one computer at
	// a time, never held whole.
	out := bufio.NewWriterSize(stdio.Out, 64<<10)
	if f.json {
		err = planner.RenderFleetJSON(out, planner.Fleet(cfg))
	} else {
		err = planner.WriteFleet(out, cfg, planner.RenderOptions{Color: useColor(stdio.Out, f.noColor)})
	}
	if err != nil {
		return err // a write error is the buffer's too: said once
	}
	return out.Flush()
}

type applyFlags struct {
	configFlags
	targetFlags
	autoApprove bool
	refresh     bool
}

func newApply(stdio IO, destroy bool) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the router and the firewall match the config",
		Long: `Apply plans (as plan does), shows the plan, asks for "yes", and carries it out:
router mappings are created, renewed or removed and firewall rules synced,
touching nothing netplan42 does not own. State is saved after every change.

Given a PLANFILE from plan --out, apply carries out exactly that plan, and
refuses if the router, the firewall or the state changed since, saying what.`,
		Example: `  netplan42 apply --computer nas
  netplan42 apply --auto-approve
  netplan42 apply nas.plan`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return runApplySaved(cmd.Context(), stdio, f, args[0])
			}
			return runApply(cmd.Context(), stdio, f, destroy)
		},
	}
	if destroy {
		cmd.Use = "destroy"
		cmd.Short = "Remove every mapping and rule netplan42 made for this computer"
		cmd.Long = `Destroy removes what state says netplan42 made on this computer (and mappings
carrying this computer's tag): router mappings and firewall rules, with our
chain, table or anchor and the jump into it. Nothing else is touched.`
		cmd.Example = "  netplan42 destroy --computer nas"
		cmd.Args = cobra.NoArgs
	}
	f.configFlags.register(cmd, true)
	f.targetFlags.register(cmd)
	cmd.Flags().BoolVar(&f.autoApprove, "auto-approve", false, `do not ask for "yes"`)
	cmd.Flags().BoolVar(&f.refresh, "refresh", true, "discover the router and firewall first (--refresh=false: act on state alone)")
	return cmd
}

func runApply(ctx context.Context, stdio IO, f *applyFlags, destroy bool) (err error) {
	op := "apply"
	if destroy {
		op = "destroy"
	}
	if f.network != "" {
		if f.computer != "" || !f.refresh {
			return errors.New("--network applies from what the router holds: it takes no --computer or --refresh=false")
		}
		return runNetwork(ctx, stdio, &f.configFlags, &f.targetFlags, networkRun{op: op, autoApprove: f.autoApprove})
	}
	p, err := makePlan(ctx, stdio, &f.configFlags, &f.targetFlags, op, destroy, f.refresh)
	if err != nil {
		return err
	}
	defer p.t.close()
	defer func() { publishApplyReport(ctx, stdio.Err, p, op, err) }()
	if p.t.legacyRouter() {
		defer func() {
			if !p.t.legacyRouter() {
				fmt.Fprintf(stdio.Out, "\nThe record of this computer's router forwards moved from %s to %s, where --network %s keeps them too.\n", p.t.store, p.t.shared.store, p.t.network.Name)
			}
		}()
	}
	color := useColor(stdio.Out, f.noColor)
	if err := printPlan(stdio.Out, p.plan, false, color); err != nil {
		return err
	}
	if p.plan.Blocked() {
		return exitCode(ExitError)
	}
	if !p.plan.HasChanges() && !adopts(p.plan, p.t.prior()) {
		if err := saveMemo(p); err != nil {
			return err
		}
		if p.plan.HasErrors() {
			return exitCode(ExitError)
		}
		return nil
	}
	if p.plan.HasChanges() && !f.autoApprove {
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
	return execute(ctx, stdio, p, color)
}

// saveMemo records what state should remember of the router when it
// changed (another router, a restart) although nothing else did, so a
// restart is not reported again and again. On an administered network
// it also moves router resources a computer's own state still holds to
// the network state (target.legacyRouter).
func saveMemo(p *planned) error {
	if !p.observed.Refreshed {
		return nil
	}
	if p.t.st == nil && (p.t.shared == nil || p.t.shared.st == nil) {
		return nil // nothing managed: nothing to recognise a restart by
	}
	prior := p.t.prior()
	m := memo(p.observed, prior.Router)
	if m.Protocol == prior.Router.Protocol && m.Identity == prior.Router.Identity && m.External == prior.Router.External && p.plan.RouterRestarted == "" && !p.t.legacyRouter() {
		return nil
	}
	prior.Router = m
	return p.t.Save(prior)
}

// adopts reports whether the plan records in state resources found with
// our tag, which needs a state write even without changes.
func adopts(p *planner.Plan, prior planner.Prior) bool {
	for _, c := range p.Changes {
		if _, ok := prior.Lookup(c.Address); !ok && c.Action == planner.NoOp {
			return true
		}
	}
	return false
}

func confirm(ctx context.Context, stdio IO, op string) (bool, error) {
	fmt.Fprintf(stdio.Out, "\nDo you want to perform these actions?\n  netplan42 will %s as described above.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", op)
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(stdio.In).ReadString('\n')
		ch <- answer{line, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdio.Out)
		return false, nil
	case a := <-ch:
		if a.err != nil && a.line == "" {
			return false, fmt.Errorf("reading the answer: %v (use --auto-approve when there is no terminal)", a.err)
		}
		return strings.TrimSpace(a.line) == "yes", nil
	}
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// carryOut applies p through its drivers, saving state after every
// change, and returns the state it ends with. The CLI and the agent share it.
func carryOut(ctx context.Context, p *planned, opts apply.Options) (planner.Prior, apply.Result, error) {
	prior := p.t.prior()
	if prior.Resources == nil {
		prior.Resources = []planner.Managed{}
	}
	prior.Router = memo(p.observed, prior.Router)
	d := apply.Drivers{Files: &appfile.Files{}}
	if p.d != nil {
		if via := p.d.router.Protocol(); via != schema.ViaManual {
			d.Mapper, d.Via = p.d.router, string(via)
		}
		d.Rules, d.RulesVia = p.d.firewall, p.d.firewall.Kind()
	}
	if old := p.plan.FirewallCleanup; old != "" {
		f, err := firewall.Open(ctx, firewall.Config{Backend: old})
		if err != nil {
			return prior, apply.Result{}, &agent.Error{Kind: agent.KindFirewall, Err: fmt.Errorf("firewall: opening %s to remove netplan42's objects there: %w", old, err)}
		}
		d.OldRules = f
	}
	if opts.Now == nil {
		opts.Now = nowFunc
	}
	return apply.Apply(ctx, p.plan, prior, d, p.t, opts)
}

func execute(ctx context.Context, stdio IO, p *planned, color bool) error {
	_, res, err := carryOut(ctx, p, apply.Options{Progress: stdio.Out})
	if err != nil {
		// The counts are what the router holds: apply reads back a change
		// an interrupt caught in flight.
		label := "Apply incomplete!"
		if ctx.Err() != nil {
			label = "Interrupted: apply incomplete!"
		}
		fmt.Fprintf(stdio.Out, "\n%s Resources: %s.\n", textout.Paint(color, textout.Red+textout.Bold, label), res)
		return fmt.Errorf("%w\n\nState holds everything that was done; run plan to see what is left.", err)
	}
	if b := p.plan.Blocking(); len(b) > 0 {
		fmt.Fprintf(stdio.Out, "\n%s Resources: %s.\n", textout.Paint(color, textout.Bold+textout.Red, "Apply incomplete!"), res)
		return fmt.Errorf("left as it is because of the error in the plan: %s", strings.Join(b, ", "))
	}
	done := "Apply complete!"
	if p.plan.Destroy {
		done = "Destroy complete!"
	}
	fmt.Fprintf(stdio.Out, "\n%s Resources: %s.\n", textout.Paint(color, textout.Green+textout.Bold, done), res)
	if len(p.plan.Manual) > 0 {
		fmt.Fprintf(stdio.Out, "The router still needs %s set up by hand (see above).\n", plural(len(p.plan.Manual), "port forward"))
	}
	return nil
}

func runApplySaved(ctx context.Context, stdio IO, f *applyFlags, path string) error {
	pf, err := state.ReadPlanFile(path)
	if err != nil {
		return err
	}
	comp, err := computerFromAddress(pf.Plan.Computer)
	if err != nil {
		return fmt.Errorf("plan file %s: %w", path, err)
	}
	t := &target{computer: comp}
	if pf.Drivers.SSH != nil {
		// An administered network: the router part is in its state.
		t.network = &schema.Network{Name: pf.Plan.Network, Router: schema.Router{Protocols: pf.Drivers.Protocols, Gateway: pf.Drivers.Gateway, SSH: pf.Drivers.SSH}}
		if f.acceptNewHostKey {
			if err := acceptNewHostKey(t.network); err != nil {
				return err
			}
		}
	}
	tf := f.targetFlags
	if tf.statePath == "" {
		tf.statePath = pf.StatePath
	}
	if err := t.open(ctx, &tf, "apply", true); err != nil {
		return err
	}
	defer t.close()
	if err := pf.CheckState(t.st); err != nil {
		return err
	}
	p := &planned{t: t, dc: pf.Drivers, plan: &pf.Plan, observed: pf.Observed}
	if pf.Observed.Refreshed {
		if p.d, err = openDrivers(ctx, pf.Drivers, t.prior()); err != nil {
			return err
		}
		now, err := observe(ctx, p.d, savedWantKeys(&pf.Plan, t.prior()))
		if err != nil {
			return err
		}
		if was, is := pf.Observed.Router, now.Router; was.HasEpoch && is.HasEpoch && is.Epoch < was.Epoch {
			return &state.StaleError{Reason: fmt.Sprintf("the router restarted since it was made (NAT-PMP epoch %d, was %d): its mappings are gone", is.Epoch, was.Epoch)}
		}
		if state.Fingerprint(now) != state.Fingerprint(pf.Observed) {
			var b strings.Builder
			for _, c := range state.DescribeChanges(pf.Observed, now) {
				fmt.Fprintf(&b, "\n  - %s", c)
			}
			return &state.StaleError{Reason: "the router or the firewall changed since it was made:" + b.String() + "\n"}
		}
		p.observed = now
	} else {
		fmt.Fprintf(stdio.Err, "Warning: %s was planned with --refresh=false; it is applied without checking the router and firewall first.\n", path)
		if p.d, err = openDrivers(ctx, pf.Drivers, t.prior()); err != nil {
			return err
		}
	}
	color := useColor(stdio.Out, f.noColor)
	if err := printPlan(stdio.Out, p.plan, false, color); err != nil {
		return err
	}
	if !p.plan.HasChanges() && !adopts(p.plan, t.prior()) {
		return nil
	}
	fmt.Fprintln(stdio.Out)
	return execute(ctx, stdio, p, color)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func savedWantKeys(p *planner.Plan, prior planner.Prior) []planner.MappingKey {
	var keys []planner.MappingKey
	seen := map[planner.MappingKey]bool{}
	for _, c := range p.Changes {
		for _, o := range []*planner.Object{c.Before, c.After} {
			if o != nil && o.Mapping != nil && !seen[o.Mapping.Key()] {
				seen[o.Mapping.Key()] = true
				keys = append(keys, o.Mapping.Key())
			}
		}
	}
	for _, r := range prior.Resources {
		if r.Mapping != nil && !seen[r.Mapping.Key()] {
			seen[r.Mapping.Key()] = true
			keys = append(keys, r.Mapping.Key())
		}
	}
	return keys
}

// computerFromAddress rebuilds enough of a computer from its address
// (computer.nas, computer.desk["alice"]) to find its state.
func computerFromAddress(addr string) (*schema.Computer, error) {
	name, ok := strings.CutPrefix(addr, "computer.")
	if !ok || name == "" {
		return nil, fmt.Errorf("%q is not a computer address", addr)
	}
	label, key, hasKey := strings.Cut(name, "[")
	c := &schema.Computer{Label: label}
	if hasKey {
		k, err := unquoteKey(strings.TrimSuffix(key, "]"))
		if err != nil {
			return nil, fmt.Errorf("%q is not a computer address: %w", addr, err)
		}
		c.Key, c.HasKey = k, true
	}
	return c, nil
}
