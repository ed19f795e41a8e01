package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// pinholes opens and closes IPv6 pinholes on the router. router.Router
// implements it.
type pinholes interface {
	// AddPinhole opens p, or renews it when p carries the ID or nonce it
	// was made with, and returns what the router granted.
	AddPinhole(ctx context.Context, p planner.Pinhole) (planner.Pinhole, error)
	// DeletePinhole closes p; one already gone is not an error.
	DeletePinhole(ctx context.Context, p planner.Pinhole) error
}

// pinholeChanges carries out the plan's pinhole changes: closes first (the
// old side of an update too), then opens. It runs after the firewall
// sync, like the mappings, so a pinhole never admits traffic to a port
// the host still drops for long.
func (a *applier) pinholeChanges(ctx context.Context, plan *planner.Plan) error {
	var errs []error
	ph, _ := a.d.Mapper.(pinholes)
	for _, c := range plan.Changes {
		if c.Kind != planner.KindPinhole {
			continue
		}
		var err error
		switch {
		case c.Action == planner.NoOp:
			err = a.adopt(c)
		case c.Action == planner.Delete && c.StateOnly:
			a.say("%s: forgotten (%s)", c.Address, c.Reason)
			a.res.Forgotten++
			err = a.drop(c.Address)
		case ph == nil:
			err = fmt.Errorf("%s: the router protocol in use opens no IPv6 pinholes", c.Address)
		case ctx.Err() != nil:
			err = fmt.Errorf("%s: not applied: %w", c.Address, ctx.Err())
		case c.Action == planner.Delete:
			err = a.routerCall(ctx, c, func() error {
				a.say("%s: Destroying...", c.Address)
				return ph.DeletePinhole(ctx, *c.Before.Pinhole)
			})
			if err == nil {
				a.say("%s: Destruction complete", c.Address)
				a.res.Destroyed++
				err = a.drop(c.Address)
			}
		default:
			err = a.pinhole(ctx, ph, c)
		}
		errs = append(errs, a.report(c, err))
	}
	return errors.Join(errs...)
}

// pinhole opens (or renews) one pinhole and records the grant.
func (a *applier) pinhole(ctx context.Context, ph pinholes, c planner.Change) error {
	if c.Action == planner.Update && c.Before != nil && c.Before.Pinhole != nil {
		// The address or port moved: close the old one first. A failure
		// here is the update's: state keeps the old one to close later.
		err := a.routerCall(ctx, c, func() error { return ph.DeletePinhole(ctx, *c.Before.Pinhole) })
		switch {
		case errors.Is(err, planner.ErrNotOurs):
			// The router no longer holds the old one for this host (its
			// address changed, or the router renumbered): nothing of ours
			// to close, as for a mapping's old side.
			a.say("%s: the old pinhole %s is not this host's on the router any more; left alone", c.Address, c.Before.Pinhole)
		case err != nil:
			return fmt.Errorf("%s: closing the old pinhole: %w", c.Address, err)
		}
	}
	verb := map[planner.Action][2]string{
		planner.Create: {"Creating...", "Creation complete"},
		planner.Update: {"Modifying...", "Modifications complete"},
		planner.Renew:  {"Renewing...", "Renewal complete"},
	}[c.Action]
	var g planner.Pinhole
	err := a.routerCall(ctx, c, func() (err error) {
		a.say("%s: %s", c.Address, verb[0])
		g, err = ph.AddPinhole(ctx, *c.After.Pinhole)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	m := planner.Managed{Address: c.Address, Kind: planner.KindPinhole, Pinhole: &g, Via: a.d.Via}
	if g.LeaseSeconds > 0 {
		m.Expires = a.now().Add(time.Duration(g.LeaseSeconds) * time.Second)
	}
	note := ""
	if g.LeaseSeconds != c.After.Pinhole.LeaseSeconds {
		note = fmt.Sprintf("; router granted %d s, asked %d s", g.LeaseSeconds, c.After.Pinhole.LeaseSeconds)
	}
	a.say("%s: %s (IPv6 %s, lease %s%s)", c.Address, verb[1], g, planner.LeaseText(g.LeaseSeconds), note)
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
