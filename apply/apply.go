package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// journal persists state as apply goes, one write per change.
type journal interface {
	Save(planner.Prior) error
}

// Drivers are the edges a plan is carried out through. Mapper may be nil
// when the plan has no router changes to make (manual forwarding), Rules
// when the firewall is "none".
type Drivers struct {
	Mapper mapper
	Rules  ruleset
	Via    string // router protocol name recorded in state
	// RulesVia names the firewall backend (iptables, nftables, pf),
	// recorded with every rule.
	RulesVia string
	// OldRules is the backend named by a plan's FirewallCleanup, whose
	// objects are removed before Rules syncs.
	OldRules ruleset
	// Files writes app_config files; nil when the plan has none to write.
	Files files
}

// Result counts what an apply did.
type Result struct {
	Added, Changed, Destroyed, Renewed, Forgotten int
}

func (r Result) String() string {
	s := fmt.Sprintf("%d added, %d changed, %d destroyed, %d renewed", r.Added, r.Changed, r.Destroyed, r.Renewed)
	if r.Forgotten > 0 {
		s += fmt.Sprintf(", %d forgotten", r.Forgotten)
	}
	return s
}

// Options tune an apply.
type Options struct {
	Now      func() time.Time // default time.Now
	Progress io.Writer        // one line per step; nil for silence
	// Done, when set, hears of every change carried out or failed: the
	// agent logs one line per change from it.
	Done func(c planner.Change, err error)
}

// Apply carries out plan's changes, starting from prior, and returns the new
// state. Every change is saved through j as soon as it is made; a failed
// change is reported and the others still run, so one refusing router entry
// does not strand the rest. An error in the plan about one resource keeps
// only that resource as it is (the plan has no change for it); callers
// report it. Order: every port a change vacates is freed
// first (deletes, and the old side of updates), so a port traded between
// two services is never freed after it was re-made; then the firewall
// opens; then the router maps, so a port is never forwarded to a closed
// firewall for longer than needed.
func Apply(ctx context.Context, plan *planner.Plan, prior planner.Prior, d Drivers, j journal, opts Options) (planner.Prior, Result, error) {
	if plan.Blocked() {
		return prior, Result{}, errors.New("the plan has errors that forbid applying it; resolve them and plan again")
	}
	a := &applier{d: d, j: j, now: opts.Now, out: opts.Progress, done: opts.Done, state: clonePrior(prior)}
	if a.now == nil {
		a.now = time.Now
	}
	if a.out == nil {
		a.out = io.Discard
	}
	var errs []error
	step := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	failed := map[string]bool{}
	for _, c := range plan.Changes {
		if c.Kind != planner.KindMapping {
			continue
		}
		switch {
		case c.Action == planner.Delete:
			step(a.report(c, a.deleteMapping(ctx, c)))
		case c.Action == planner.Update && c.Before != nil && c.Before.Mapping != nil:
			if err := a.freeOld(ctx, c); err != nil {
				failed[c.Address] = true
				step(a.report(c, err))
			}
		}
	}
	step(a.rules(ctx, plan))
	for _, c := range plan.Changes {
		if c.Kind != planner.KindMapping || failed[c.Address] {
			continue
		}
		switch c.Action {
		case planner.Create, planner.Update, planner.Renew:
			if ctx.Err() != nil {
				step(fmt.Errorf("%s: not applied: %w", c.Address, ctx.Err()))
				continue
			}
			step(a.report(c, a.mapping(ctx, c)))
		case planner.NoOp:
			step(a.adopt(c))
		}
	}
	step(a.pinholeChanges(ctx, plan))
	step(a.appConfigs(ctx, plan))
	return a.state, a.res, errors.Join(errs...)
}

type applier struct {
	d     Drivers
	j     journal
	now   func() time.Time
	out   io.Writer
	done  func(planner.Change, error)
	state planner.Prior
	res   Result
	// silent is the first change the router did not answer in time; the
	// rest of the router changes are not attempted once it is set.
	silent string
}

// errNotAttempted marks a router change apply did not make: the router
// had stopped answering, or ctx had ended.
var errNotAttempted = errors.New("not attempted")

// settleTimeout bounds the read-back after an interrupted change; the
// driver bounds each call to the router by its own timeout too.
const settleTimeout = 5 * time.Second

// noAnswer reports whether err means the router did not answer in time,
// as opposed to an answer, or ctx ending.
func noAnswer(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, planner.ErrNoAnswer) || errors.Is(err, context.DeadlineExceeded))
}

// routerCall runs one router change, and after it notes when the router
// stopped answering. Once it has, the call is not made: the rest of a
// plan fails at once, with one timeout in all rather than one each.
func (a *applier) routerCall(ctx context.Context, c planner.Change, fn func() error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", errNotAttempted, ctx.Err())
	case a.silent != "":
		return fmt.Errorf("%w: the router stopped answering (at %s)", errNotAttempted, a.silent)
	}
	err := fn()
	if err != nil && noAnswer(ctx, err) {
		a.silent = c.Address
	}
	return err
}

// lookup reads what the router holds on k after a change that was
// interrupted or not answered: known is false when that cannot be told
// (NAT-PMP cannot read back; the router stopped answering).
func (a *applier) lookup(ctx context.Context, k planner.MappingKey) (m planner.Mapping, present, known bool, why string) {
	r, ok := a.d.Mapper.(reader)
	if !ok {
		return m, false, false, "this router protocol cannot read a mapping back"
	}
	if a.silent != "" {
		return m, false, false, "the router stopped answering"
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	m, present, err := r.Lookup(sctx, k)
	if err != nil {
		return m, false, false, fmt.Sprintf("reading it back failed: %v", err)
	}
	return m, present, true, ""
}

// interrupted reports whether err may have left a change half known: ctx
// ended while the router was asked, or the router did not answer.
func interrupted(ctx context.Context, err error) bool {
	return err != nil && !errors.Is(err, errNotAttempted) && (ctx.Err() != nil || noAnswer(ctx, err))
}

func clonePrior(p planner.Prior) planner.Prior {
	p.Resources = slices.Clone(p.Resources)
	return p
}

// report tells Done of a change's outcome and passes the error on.
func (a *applier) report(c planner.Change, err error) error {
	if a.done != nil {
		a.done(c, err)
	}
	return err
}

func (a *applier) say(format string, args ...any) { fmt.Fprintf(a.out, format+"\n", args...) }

func (a *applier) put(m planner.Managed) error {
	i := slices.IndexFunc(a.state.Resources, func(r planner.Managed) bool { return r.Address == m.Address })
	if i >= 0 {
		a.state.Resources[i] = m
	} else {
		a.state.Resources = append(a.state.Resources, m)
	}
	return a.save()
}

func (a *applier) drop(addresses ...string) error {
	a.state.Resources = slices.DeleteFunc(a.state.Resources, func(r planner.Managed) bool {
		return slices.Contains(addresses, r.Address)
	})
	return a.save()
}

func (a *applier) save() error {
	if err := a.j.Save(a.state); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

func (a *applier) deleteMapping(ctx context.Context, c planner.Change) error {
	if c.StateOnly {
		a.say("%s: forgotten (%s)", c.Address, c.Reason)
		a.res.Forgotten++
		return a.drop(c.Address)
	}
	if a.d.Mapper == nil {
		return fmt.Errorf("%s: no router protocol to delete it with", c.Address)
	}
	err := a.routerCall(ctx, c, func() error {
		a.say("%s: Destroying...", c.Address)
		return a.d.Mapper.Delete(ctx, *c.Before.Mapping)
	})
	if interrupted(ctx, err) {
		var gone bool
		if gone, err = a.goneAfter(ctx, *c.Before.Mapping, err); gone {
			a.say("%s: Destruction complete (the request was %s, but the router no longer holds it)", c.Address, cause(ctx))
			a.res.Destroyed++
			return a.drop(c.Address)
		}
	}
	switch {
	case errors.Is(err, planner.ErrNotOurs):
		// The router holds the port for someone else now: leave it.
		a.say("%s: forgotten, not deleted: %v", c.Address, err)
		a.res.Forgotten++
		return a.drop(c.Address)
	case err != nil:
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	a.say("%s: Destruction complete", c.Address)
	a.res.Destroyed++
	return a.drop(c.Address)
}

// freeOld removes the old side of an update: the mapping at the port it
// leaves, or the one it re-makes.
func (a *applier) freeOld(ctx context.Context, c planner.Change) error {
	if a.d.Mapper == nil {
		return fmt.Errorf("%s: no router protocol to map it with", c.Address)
	}
	err := a.routerCall(ctx, c, func() error { return a.d.Mapper.Delete(ctx, *c.Before.Mapping) })
	if interrupted(ctx, err) {
		var gone bool
		if gone, err = a.goneAfter(ctx, *c.Before.Mapping, err); gone {
			err = nil
		}
	}
	switch {
	case errors.Is(err, planner.ErrNotOurs):
		a.say("%s: the old mapping is not ours any more; left alone: %v", c.Address, err)
	case err != nil:
		return fmt.Errorf("%s: removing the old mapping: %w", c.Address, err)
	}
	return a.drop(c.Address)
}

func (a *applier) mapping(ctx context.Context, c planner.Change) error {
	if a.d.Mapper == nil {
		return fmt.Errorf("%s: no router protocol to map it with", c.Address)
	}
	verb := map[planner.Action][2]string{
		planner.Create: {"Creating...", "Creation complete"},
		planner.Update: {"Modifying...", "Modifications complete"},
		planner.Renew:  {"Renewing...", "Renewal complete"},
	}[c.Action]
	want := *c.After.Mapping
	var g planner.Grant
	err := a.routerCall(ctx, c, func() (err error) {
		a.say("%s: %s", c.Address, verb[0])
		g, err = a.d.Mapper.Add(ctx, want)
		return err
	})
	if interrupted(ctx, err) {
		// The request may have reached the router before the answer was
		// lost: what it holds now decides what is reported and recorded.
		got, present, known, why := a.lookup(ctx, want.Key())
		switch {
		case known && present && madeAs(got, want):
			a.say("%s: the request was %s, but the router made the mapping", c.Address, cause(ctx))
			g, err = planner.Grant{Mapping: got}, nil
		case known && present:
			err = fmt.Errorf("%w; the router holds %s:%d %q on that port instead", err, got.InternalAddress, got.InternalPort, got.Description)
		case known:
			err = fmt.Errorf("%w; the router does not hold it", err)
		default:
			err = fmt.Errorf("%w; whether the router made it is unknown (%s)", err, why)
		}
	}
	if err != nil {
		if c.Action == planner.Create {
			// The plan saw it absent and it still is: state must not
			// claim it (it may hold it from before a router restart).
			if _, ok := a.state.Lookup(c.Address); ok {
				a.drop(c.Address)
			}
		}
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	m := planner.Managed{Address: c.Address, Kind: planner.KindMapping, Mapping: &g.Mapping, Via: a.d.Via, PermanentOnly: g.PermanentOnly, Undescribed: g.Undescribed}
	if g.Mapping.ExternalPort != want.ExternalPort {
		m.Requested = want.ExternalPort
	}
	now := a.now()
	if g.Mapping.LeaseSeconds > 0 {
		m.Expires = now.Add(time.Duration(g.Mapping.LeaseSeconds) * time.Second)
	}
	if g.HasEpoch {
		a.state.Router.Epoch, a.state.Router.EpochAt = g.Epoch, now
	}
	detail := fmt.Sprintf("%s, lease %s", g.Mapping, planner.LeaseText(g.Mapping.LeaseSeconds))
	if g.Mapping.ExternalPort != want.ExternalPort {
		detail += fmt.Sprintf("; the router gave external port %d instead of %d", g.Mapping.ExternalPort, want.ExternalPort)
	}
	if g.Unverified != nil {
		a.say("%s: %s, not verified (%s): %v", c.Address, verb[1], detail, g.Unverified)
		if noAnswer(ctx, g.Unverified) {
			a.silent = c.Address // it went silent after making the mapping
		}
	} else {
		a.say("%s: %s (%s)", c.Address, verb[1], detail)
	}
	if g.Note != "" {
		a.say("%s: note: %s", c.Address, g.Note)
	}
	switch c.Action {
	case planner.Create:
		a.res.Added++
	case planner.Update:
		a.res.Changed++
	case planner.Renew:
		a.res.Renewed++
	}
	return a.put(m)
}

// goneAfter reports whether the router no longer holds m after a delete
// that failed with err, interrupted or not answered; when it may, it
// returns err saying what is known.
func (a *applier) goneAfter(ctx context.Context, m planner.Mapping, err error) (bool, error) {
	got, present, known, why := a.lookup(ctx, m.Key())
	switch {
	case !known:
		return false, fmt.Errorf("%w; whether the router removed it is unknown (%s): state keeps it", err, why)
	case present && madeAs(got, m):
		return false, fmt.Errorf("%w; the router still holds it", err)
	}
	return true, nil
}

// madeAs reports whether the router's entry got is the mapping m asked
// for: same internal client (when m names one) and port, same description.
func madeAs(got, m planner.Mapping) bool {
	return (!m.InternalAddress.IsValid() || got.InternalAddress == m.InternalAddress.Unmap()) &&
		got.InternalPort == m.InternalPort && got.Description == m.Description
}

func cause(ctx context.Context) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	return "not answered in time"
}

// adopt records a no-op resource state does not hold yet (found with our
// tag, or state was lost).
func (a *applier) adopt(c planner.Change) error {
	if _, ok := a.state.Lookup(c.Address); ok || c.After == nil {
		return nil
	}
	m := planner.Managed{Address: c.Address, Kind: c.Kind, Via: a.d.Via}
	switch {
	case c.After.Mapping != nil:
		mm := *c.After.Mapping
		m.Mapping = &mm
		if mm.LeaseSeconds > 0 {
			m.Expires = a.now().Add(time.Duration(mm.LeaseSeconds) * time.Second)
		}
	case c.After.Pinhole != nil:
		p := *c.After.Pinhole
		m.Pinhole = &p
	default:
		r := *c.After.Rule
		m.Rule = &r
		m.Via = a.d.RulesVia
	}
	return a.put(m)
}

// rules syncs the firewall once, with the whole final rule set: our chain is
// rewritten in one transaction, never rule by rule.
func (a *applier) rules(ctx context.Context, plan *planner.Plan) error {
	var final []planner.Rule
	var managed []planner.Managed
	var gone []string
	changed, forgets := false, 0
	for _, c := range plan.Changes {
		if c.Kind != planner.KindRule {
			continue
		}
		switch {
		case c.Action == planner.Delete:
			gone = append(gone, c.Address)
			if c.StateOnly {
				forgets++
			} else {
				changed = true
			}
		default:
			final = append(final, *c.After.Rule)
			managed = append(managed, planner.Managed{Address: c.Address, Kind: planner.KindRule, Rule: c.After.Rule, Via: a.d.RulesVia})
			if c.Action != planner.NoOp {
				changed = true
			}
		}
	}
	if plan.FirewallCleanup != "" {
		if a.d.OldRules == nil {
			return fmt.Errorf("firewall: no driver to remove netplan42's objects from %s with", plan.FirewallCleanup)
		}
		a.say("firewall: Removing netplan42's objects from %s...", plan.FirewallCleanup)
		if err := a.d.OldRules.Sync(ctx, nil); err != nil {
			return fmt.Errorf("firewall: removing netplan42's objects from %s: %w", plan.FirewallCleanup, err)
		}
		changed = true
	}
	if changed {
		var err error
		if a.d.Rules == nil {
			err = errors.New("firewall changes planned but no firewall backend to make them")
		} else {
			a.say("firewall: Syncing %d rule(s)...", len(final))
			if err = a.d.Rules.Sync(ctx, final); err != nil {
				err = fmt.Errorf("firewall: %w", err)
			}
		}
		for _, c := range plan.Changes {
			if c.Kind == planner.KindRule && c.Action != planner.NoOp && !c.StateOnly {
				a.report(c, err)
			}
		}
		if err != nil {
			return err
		}
		a.say("firewall: Sync complete")
	}
	for _, c := range plan.Changes {
		if c.Kind != planner.KindRule {
			continue
		}
		switch {
		case c.StateOnly:
			a.say("%s: forgotten (%s)", c.Address, c.Reason)
			a.res.Forgotten++
		case c.Action == planner.Create:
			a.res.Added++
		case c.Action == planner.Update:
			a.res.Changed++
		case c.Action == planner.Delete:
			a.res.Destroyed++
		}
	}
	if !changed && forgets == 0 && !a.adoptsRules(managed) {
		return nil
	}
	a.state.Resources = slices.DeleteFunc(a.state.Resources, func(r planner.Managed) bool {
		return r.Kind == planner.KindRule
	})
	a.state.Resources = append(a.state.Resources, managed...)
	return a.save()
}

func (a *applier) adoptsRules(managed []planner.Managed) bool {
	for _, m := range managed {
		if _, ok := a.state.Lookup(m.Address); !ok {
			return true
		}
	}
	return false
}
