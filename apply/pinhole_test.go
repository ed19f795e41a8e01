package apply

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// pinholeWorld is a PCP router that opens pinholes: it keys them by
// protocol, address and port, and refuses a delete with another nonce,
// as miniupnpd does.
type pinholeWorld struct {
	*world
	me6     netip.Addr
	holes   map[planner.PinholeKey]planner.Pinhole
	nonces  int
	deletes int
}

func (w *pinholeWorld) AddPinhole(_ context.Context, p planner.Pinhole) (planner.Pinhole, error) {
	if p.Nonce == "" {
		w.nonces++
		p.Nonce = fmt.Sprintf("%024x", w.nonces)
	}
	w.holes[p.Key()] = p
	return p, nil
}

func (w *pinholeWorld) DeletePinhole(_ context.Context, p planner.Pinhole) error {
	old, ok := w.holes[p.Key()]
	if !ok {
		return nil
	}
	if old.Nonce != p.Nonce {
		return fmt.Errorf("pcp result 2 NOT_AUTHORIZED")
	}
	w.deletes++
	delete(w.holes, p.Key())
	return nil
}

func (w *pinholeWorld) observe(now time.Time) planner.Observed {
	o := w.world.observe(now)
	o.Router.Protocol, o.Router.Can = schema.ViaPCP, planner.Capabilities{Pinholes: true}
	o.Router.InternalAddress6 = w.me6
	o.Router.Listed, o.Router.Mappings = false, nil
	return o
}

// TestPinholes: plan → apply → plan is empty; the nonce a pinhole was made
// with is kept in state and used to renew and to delete it; destroy
// closes it.
func TestPinholes(t *testing.T) {
	w := &pinholeWorld{world: newWorld(), me6: netip.MustParseAddr("2001:db8:1::10"), holes: map[planner.PinholeKey]planner.Pinhole{}}
	c, n := computer()
	run := func(prior planner.Prior, at time.Time, destroy bool) (planner.Prior, string) {
		t.Helper()
		p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(at), Prior: prior, Now: at, Destroy: destroy})
		var out bytes.Buffer
		next, _, err := Apply(context.Background(), p, prior, Drivers{Mapper: w, Rules: w, Via: string(schema.ViaPCP), RulesVia: "iptables"}, &memJournal{}, Options{Now: func() time.Time { return at }, Progress: &out})
		if err != nil {
			t.Fatalf("apply: %v\n%s", err, out.String())
		}
		return next, out.String()
	}
	prior, out := run(planner.Prior{}, now, false)
	if len(w.holes) != 3 { // crashplan tcp, game tcp and udp
		t.Fatalf("pinholes %v\n%s", w.holes, out)
	}
	if !strings.Contains(out, `router_pinhole.crashplan["tcp"]: Creation complete (IPv6 [2001:db8:1::10]:4242/tcp, lease 1h)`) {
		t.Errorf("apply said:\n%s", out)
	}
	again := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Prior: prior, Now: now})
	if again.HasChanges() {
		t.Fatalf("second plan has changes: %+v", again.Changes)
	}
	// 40 minutes on, less than half of the hour is left: renewed with the
	// same nonces.
	before := map[planner.PinholeKey]string{}
	for k, h := range w.holes {
		before[k] = h.Nonce
	}
	later := now.Add(40 * time.Minute)
	prior, out = run(prior, later, false)
	if !strings.Contains(out, "Renewal complete (IPv6") {
		t.Errorf("no renewal:\n%s", out)
	}
	for k, h := range w.holes {
		if before[k] != h.Nonce {
			t.Errorf("%s renewed with nonce %s, made with %s", k, h.Nonce, before[k])
		}
	}
	prior, _ = run(prior, later, true)
	if len(w.holes) != 0 || w.deletes != 3 {
		t.Errorf("after destroy: %v (%d deletes)", w.holes, w.deletes)
	}
	for _, r := range prior.Resources {
		if r.Kind == planner.KindPinhole {
			t.Errorf("state still holds %s", r.Address)
		}
	}
}

// TestPinholeAddressMoved: the computer's IPv6 address changed, and the
// router no longer holds the old pinhole for it (606 over UPnP): the
// update leaves the old one alone and opens the new one.
func TestPinholeAddressMoved(t *testing.T) {
	w := &pinholeWorld{world: newWorld(), me6: netip.MustParseAddr("2001:db8:1::10"), holes: map[planner.PinholeKey]planner.Pinhole{}}
	c, n := computer()
	c.Services = c.Services[:1]
	old := planner.Pinhole{Protocol: planner.TCP, InternalAddress: netip.MustParseAddr("2001:db8:1::99"), InternalPort: 4242, LeaseSeconds: 3600, Nonce: "aa"}
	prior := planner.Prior{Resources: []planner.Managed{{Address: `router_pinhole.crashplan["tcp"]`, Kind: planner.KindPinhole, Pinhole: &old, Via: "pcp", Expires: now.Add(time.Hour)}}}
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Prior: prior, Now: now})
	var out bytes.Buffer
	notOurs := &notOursDeleter{w}
	next, res, err := Apply(context.Background(), p, prior, Drivers{Mapper: notOurs, Rules: w, Via: "pcp", RulesVia: "iptables"}, &memJournal{}, Options{Now: func() time.Time { return now }, Progress: &out})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	if res.Changed != 1 || !strings.Contains(out.String(), "not this host's on the router any more") {
		t.Errorf("result %+v:\n%s", res, out.String())
	}
	if r, ok := next.Lookup(`router_pinhole.crashplan["tcp"]`); !ok || r.Pinhole.InternalAddress != w.me6 {
		t.Errorf("state: %+v", r)
	}
}

// notOursDeleter answers every pinhole delete as UPnP's 606 does.
type notOursDeleter struct{ *pinholeWorld }

func (d *notOursDeleter) DeletePinhole(context.Context, planner.Pinhole) error {
	return fmt.Errorf("upnp DeletePinhole: %w", planner.ErrNotOurs)
}
