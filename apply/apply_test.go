package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// world is an in-memory router table and firewall chain: enough to check
// that apply does what the plan says, so that planning again finds nothing.
type world struct {
	me      netip.Addr
	table   map[planner.MappingKey]planner.Mapping
	rules   []planner.Rule
	hooked  bool
	failAdd map[uint16]error
	adds    int
	syncs   int
}

func newWorld() *world {
	return &world{me: netip.MustParseAddr("192.0.2.10"), table: map[planner.MappingKey]planner.Mapping{}}
}

func (w *world) Add(_ context.Context, m planner.Mapping) (planner.Grant, error) {
	if err := w.failAdd[m.ExternalPort]; err != nil {
		return planner.Grant{}, err
	}
	if old, ok := w.table[m.Key()]; ok && old.InternalAddress != m.InternalAddress {
		return planner.Grant{}, fmt.Errorf("718 ConflictInMappingEntry")
	}
	w.adds++
	w.table[m.Key()] = m
	return planner.Grant{Mapping: m}, nil
}

func (w *world) Delete(_ context.Context, m planner.Mapping) error {
	if old, ok := w.table[m.Key()]; ok && old.InternalAddress != m.InternalAddress {
		return fmt.Errorf("606 not authorized: %v is not ours", old)
	}
	delete(w.table, m.Key())
	return nil
}

func (w *world) Sync(_ context.Context, rules []planner.Rule) error {
	w.syncs++
	w.rules = append([]planner.Rule(nil), rules...)
	w.hooked = len(rules) > 0
	return nil
}

func (w *world) observe(now time.Time) planner.Observed {
	v := planner.RouterView{Protocol: planner.ViaUPnP, InternalAddress: w.me, ExternalAddress: netip.MustParseAddr("11.0.0.1"), Listed: true}
	for _, m := range w.table {
		v.Mappings = append(v.Mappings, m)
	}
	return planner.Observed{At: now, Refreshed: true, Router: v,
		Firewall: planner.FirewallView{Backend: "fake", Rules: w.rules, Hooked: w.hooked, LocalPrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}
}

type memJournal struct {
	saves []planner.Prior
	fail  bool
}

func (j *memJournal) Save(p planner.Prior) error {
	if j.fail {
		return errors.New("disk full")
	}
	p.Resources = append([]planner.Managed(nil), p.Resources...)
	j.saves = append(j.saves, p)
	return nil
}

func computer() (*schema.Computer, *schema.Network) {
	c := &schema.Computer{Label: "nas", Network: "home", Firewall: schema.FirewallIPTables, Services: []*schema.Service{
		{Name: "crashplan", Port: 4242, Protocol: schema.TCP, Expose: schema.ExposeInternet},
		{Name: "game", Port: 27015, Protocol: schema.Both, Expose: schema.ExposeInternet},
		{Name: "smb", Port: 445, Protocol: schema.TCP, Expose: schema.ExposeLAN},
		{Name: "ui", Port: 4243, Protocol: schema.TCP, Expose: schema.ExposeLocalhost},
	}}
	n := &schema.Network{Name: "home", Router: schema.Router{Lease: time.Hour}}
	return c, n
}

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// converge plans and applies once, then plans again and returns the second
// plan, which must have no changes.
func converge(t *testing.T, w *world, c *schema.Computer, n *schema.Network, prior planner.Prior, destroy bool) (planner.Prior, *planner.Plan) {
	t.Helper()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Prior: prior, Now: now, Destroy: destroy})
	var out bytes.Buffer
	j := &memJournal{}
	next, _, err := Apply(context.Background(), p, prior, Drivers{Mapper: w, Rules: w, Via: planner.ViaUPnP}, j, Options{Now: func() time.Time { return now }, Progress: &out})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	again := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Prior: next, Now: now, Destroy: destroy})
	if again.HasChanges() {
		var b bytes.Buffer
		planner.Render(&b, again, planner.RenderOptions{})
		t.Fatalf("plan after apply still has changes:\n%s\napply said:\n%s", b.String(), out.String())
	}
	return next, p
}

func TestIdempotence(t *testing.T) {
	w := newWorld()
	c, n := computer()
	w.table[planner.MappingKey{Protocol: planner.UDP, ExternalPort: 5000}] = planner.Mapping{Protocol: planner.UDP, ExternalPort: 5000, InternalAddress: netip.MustParseAddr("192.0.2.11"), InternalPort: 5000, Description: "Skype"}

	prior, _ := converge(t, w, c, n, planner.Prior{}, false)
	if len(prior.Resources) != 7 { // 3 mappings and 4 rules (game is tcp+udp)
		t.Fatalf("state holds %d resources, want 7: %+v", len(prior.Resources), prior.Resources)
	}

	// Router restarted: everything of ours gone, the foreign one back.
	for k, m := range w.table {
		if m.Description != "Skype" {
			delete(w.table, k)
		}
	}
	prior, p := converge(t, w, c, n, prior, false)
	if len(p.Drift) != 3 {
		t.Errorf("drift = %d entries, want 3", len(p.Drift))
	}

	// Chain flushed by someone.
	w.rules = nil
	prior, _ = converge(t, w, c, n, prior, false)

	// A port change moves the mapping: one update, old port freed.
	c.Services[0].Port = 4252
	prior, _ = converge(t, w, c, n, prior, false)
	if _, ok := w.table[planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}]; ok {
		t.Error("old mapping on 4242 left behind after the port moved")
	}

	// A service removed.
	c.Services = c.Services[:1]
	prior, _ = converge(t, w, c, n, prior, false)
	if len(w.table) != 2 {
		t.Errorf("router holds %d mappings, want ours and Skype", len(w.table))
	}

	// Destroy leaves only the foreign mapping, and state empty.
	prior, _ = converge(t, w, c, n, prior, true)
	if len(prior.Resources) != 0 || len(w.rules) != 0 || len(w.table) != 1 {
		t.Errorf("after destroy: state %v, rules %v, router %v", prior.Resources, w.rules, w.table)
	}
	if _, ok := w.table[planner.MappingKey{Protocol: planner.UDP, ExternalPort: 5000}]; !ok {
		t.Error("the foreign mapping was touched")
	}
}

func TestJournalEveryChange(t *testing.T) {
	w := newWorld()
	c, n := computer()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	j := &memJournal{}
	if _, _, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Rules: w}, j, Options{Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	// One save for the firewall sync, one per mapping: an interrupted
	// apply loses at most the change in flight.
	if len(j.saves) != 4 {
		t.Errorf("%d saves, want 4 (1 firewall + 3 mappings)", len(j.saves))
	}
	for i, s := range j.saves {
		if len(s.Resources) < i {
			t.Errorf("save %d holds %d resources: state must grow with each change", i, len(s.Resources))
		}
	}
	if w.syncs != 1 {
		t.Errorf("firewall synced %d times, want once", w.syncs)
	}
}

func TestFailedChangeDoesNotStrandOthers(t *testing.T) {
	w := newWorld()
	w.failAdd = map[uint16]error{4242: errors.New("upnp AddPortMapping 4242/tcp: 501 Action Failed")}
	c, n := computer()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	next, res, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Rules: w}, &memJournal{}, Options{})
	if err == nil || !strings.Contains(err.Error(), `router_mapping.crashplan["tcp"]`) || !strings.Contains(err.Error(), "501") {
		t.Fatalf("err = %v, want the failing address and cause", err)
	}
	if res.Added != 6 { // 4 rules + 2 game mappings
		t.Errorf("added %d, want 6", res.Added)
	}
	if _, ok := next.Lookup(`router_mapping.crashplan["tcp"]`); ok {
		t.Error("a failed mapping was recorded in state")
	}
}

func TestRefusesPlanWithErrors(t *testing.T) {
	w := newWorld()
	w.table[planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}] = planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.0.2.11"), InternalPort: 4242, Description: "CrashPlan"}
	c, n := computer()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	if _, _, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Rules: w}, &memJournal{}, Options{}); err == nil {
		t.Fatal("applied a plan with a conflict")
	}
	if w.adds != 0 || w.syncs != 0 {
		t.Error("touched the world for a plan with errors")
	}
}

func TestJournalFailureIsReported(t *testing.T) {
	w := newWorld()
	c, n := computer()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	_, _, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Rules: w}, &memJournal{fail: true}, Options{})
	if err == nil || !strings.Contains(err.Error(), "saving state: disk full") {
		t.Fatalf("err = %v", err)
	}
}
