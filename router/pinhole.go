package router

import (
	"context"
	"fmt"

	"github.com/netplan42/netplan42/planner"
)

// askPinholes starts finding out whether the router opens IPv6 pinholes
// for this host, alongside the rest of an observation (on a dual-stack
// host it may cost a round trip or a timeout of its own); the function it
// returns waits for the answer.
func (r *Router) askPinholes(ctx context.Context) func() (offered bool, why string) {
	ph, ok := r.sess.(pinholer)
	switch {
	case !ok:
		why := fmt.Sprintf("%s opens no IPv6 pinholes", r.proto.Title())
		return func() (bool, string) { return false, why }
	case r.why6 != nil:
		why := r.why6.Error()
		return func() (bool, string) { return false, why }
	}
	var offered bool
	var why string
	done := make(chan struct{})
	go func() {
		defer close(done)
		offered, why = ph.pinholesOffered(ctx)
	}()
	return func() (bool, string) {
		<-done
		return offered, why
	}
}

// observePinholes says in v whether the router opens IPv6 pinholes for
// this host (v.Can.Pinholes, v.InternalAddress6, or v.NoPinholes saying
// why not) and, where it can read them back, which of the remembered ones
// it holds (v.Pinholes). The why is no note: a router or host without
// IPv6 is the common case, and no news unless the config asks for IPv6.
func (r *Router) observePinholes(ctx context.Context, v planner.RouterView, asked func() (bool, string)) (planner.RouterView, error) {
	offered, why := asked()
	if !offered {
		v.NoPinholes = why
		return v, nil
	}
	ph := r.sess.(pinholer)
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
