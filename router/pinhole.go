package router

import (
	"context"
	"fmt"

	"github.com/netplan42/netplan42/planner"
)

// observePinholes says in v whether the router opens IPv6 pinholes for
// this host (v.Can.Pinholes, v.InternalAddress6) and, where it can read
// them back, which of the remembered ones it holds (v.Pinholes).
func (r *Router) observePinholes(ctx context.Context, v planner.RouterView) (planner.RouterView, error) {
	ph, ok := r.sess.(pinholer)
	if !ok {
		return v, nil
	}
	if r.why6 != nil {
		v.Notes = append(v.Notes, "no IPv6 pinholes: "+r.why6.Error())
		return v, nil
	}
	offered, why := ph.pinholesOffered(ctx)
	if !offered {
		v.Notes = append(v.Notes, "no IPv6 pinholes: "+why)
		return v, nil
	}
	v.Can.Pinholes, v.InternalAddress6 = true, r.e.local6
	present, readable, err := ph.readPinholes(ctx, r.e.pinholes)
	if err != nil {
		return v, err
	}
	v.Can.ReadsPinholes, v.Pinholes = readable, present
	return v, nil
}

// AddPinhole opens the IPv6 pinhole p on the router, or renews it (p's
// ID or nonce names the one it made before). It returns what the router
// granted: the lease, and the ID or nonce to renew and delete it with.
func (r *Router) AddPinhole(ctx context.Context, p planner.Pinhole) (planner.Pinhole, error) {
	ph, err := r.pinholer(ctx, "add", p)
	if err != nil {
		return planner.Pinhole{}, err
	}
	if p.InternalAddress != r.e.local6 {
		return planner.Pinhole{}, &opError{Op: "pinhole add", Value: p.String(), Err: ErrRefused,
			Hint: fmt.Sprintf("routers open pinholes only for the asking host's own address (%s)", r.e.local6)}
	}
	return ph.addPinhole(ctx, p)
}

// DeletePinhole closes p; a pinhole already gone is not an error.
func (r *Router) DeletePinhole(ctx context.Context, p planner.Pinhole) error {
	ph, err := r.pinholer(ctx, "delete", p)
	if err != nil {
		return err
	}
	return ph.deletePinhole(ctx, p)
}

func (r *Router) pinholer(ctx context.Context, op string, p planner.Pinhole) (pinholer, error) {
	if _, err := r.settle(ctx); err != nil {
		return nil, err
	}
	ph, ok := r.sess.(pinholer)
	switch {
	case r.sess == nil:
		return nil, &opError{Op: "pinhole " + op, Value: p.String(), Err: ErrManual}
	case !ok:
		return nil, &opError{Op: "pinhole " + op, Value: p.String(), Err: ErrRefused, Hint: fmt.Sprintf("%s opens no IPv6 pinholes", r.proto.Title())}
	case r.why6 != nil:
		return nil, &opError{Op: "pinhole " + op, Value: p.String(), Err: r.why6}
	}
	return ph, nil
}
