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
	kind    string // firewall backend
	failAdd map[uint16]error
	adds    int
	syncs   int
	// foreignDeleted records deletes of mappings not ours: this router,
	// like many, deletes by key without asking who holds it.
	foreignDeleted []planner.Mapping
	// checks makes Delete refuse, as the UPnP driver does, a mapping the
	// router holds for someone else.
	checks bool
	// made, when set, is called after Add has put a mapping in the table;
	// its error is Add's (the answer lost on its way back).
	made func(m planner.Mapping) error
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
	if w.made != nil {
		if err := w.made(m); err != nil {
			return planner.Grant{}, err
		}
	}
	return planner.Grant{Mapping: m}, nil
}

func (w *world) Delete(_ context.Context, m planner.Mapping) error {
	old, ok := w.table[m.Key()]
	if !ok {
		return nil
	}
	if old.InternalAddress != w.me {
		if w.checks {
			return fmt.Errorf("port %s is held by %s: %w", m.Key(), old.InternalAddress, planner.ErrNotOurs)
		}
		w.foreignDeleted = append(w.foreignDeleted, old)
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
	v := planner.RouterView{Protocol: schema.ViaUPnP, Can: planner.Capabilities{ReadsEntries: true, Describes: true}, InternalAddress: w.me, ExternalAddress: netip.MustParseAddr("11.0.0.1"), Listed: true}
	for _, m := range w.table {
		v.Mappings = append(v.Mappings, m)
	}
	if w.kind == "" {
		w.kind = "iptables"
	}
	return planner.Observed{At: now, Refreshed: true, Router: v,
		Firewall: planner.FirewallView{Backend: "fake " + w.kind, Kind: w.kind, Rules: w.rules, Hooked: w.hooked, LocalPrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}
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
	next, _, err := Apply(context.Background(), p, prior, Drivers{Mapper: w, Rules: w, Via: string(schema.ViaUPnP), RulesVia: w.kind}, j, Options{Now: func() time.Time { return now }, Progress: &out})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	if len(w.foreignDeleted) > 0 {
		t.Fatalf("apply deleted mappings it does not own: %v\n%s", w.foreignDeleted, out.String())
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

// A foreign mapping on one port keeps that resource as it is; the rest of
// the plan is applied, and apply says what it left.
func TestConflictBlocksOnlyItsResource(t *testing.T) {
	w := newWorld()
	foreign := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.0.2.11"), InternalPort: 4242, Description: "CrashPlan"}
	w.table[foreign.Key()] = foreign
	c, n := computer()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	if !p.HasErrors() || p.Blocked() {
		t.Fatalf("want an error on one resource only: %+v", p.Diagnostics)
	}
	_, res, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Rules: w}, &memJournal{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b := p.Blocking(); len(b) != 1 || b[0] != `router_mapping.crashplan["tcp"]` {
		t.Errorf("Blocking() = %v", b)
	}
	if res.Added != 6 { // 4 rules, 2 game mappings
		t.Errorf("added %d, want 6", res.Added)
	}
	if w.table[foreign.Key()] != foreign || len(w.foreignDeleted) > 0 {
		t.Errorf("the foreign mapping was touched")
	}
}

func TestRefusesBlockedPlan(t *testing.T) {
	w := newWorld()
	c, n := computer()
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	p.Diagnostics = append(p.Diagnostics, planner.Diagnostic{Severity: planner.Error, Summary: "something global"})
	if _, _, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Rules: w}, &memJournal{}, Options{}); err == nil {
		t.Fatal("applied a blocked plan")
	}
	if w.adds != 0 || w.syncs != 0 {
		t.Error("touched the world for a blocked plan")
	}
}

// Renaming a service re-tags its mapping; it must not end deleted.
func TestRenameService(t *testing.T) {
	w := newWorld()
	c, n := computer()
	c.Services = c.Services[:1]
	prior, _ := converge(t, w, c, n, planner.Prior{}, false)
	c.Services[0].Name = "backup"
	prior, p := converge(t, w, c, n, prior, false)
	m, ok := w.table[planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}]
	if !ok || m.Description != "netplan42:nas/backup" {
		t.Fatalf("after the rename the router holds %v (ok %v); plan was %+v", m, ok, p.Changes)
	}
	if _, ok := prior.Lookup(`router_mapping.crashplan["tcp"]`); ok {
		t.Error("state still holds the old name")
	}
}

// Two services trading ports: both mappings must exist afterwards.
func TestPortSwap(t *testing.T) {
	w := newWorld()
	c, n := computer()
	c.Services = []*schema.Service{
		{Name: "a", Port: 5000, Protocol: schema.TCP, Expose: schema.ExposeInternet},
		{Name: "crashplan", Port: 4242, Protocol: schema.TCP, Expose: schema.ExposeInternet},
	}
	prior, _ := converge(t, w, c, n, planner.Prior{}, false)
	c.Services[0].Port, c.Services[1].Port = 4242, 4300
	converge(t, w, c, n, prior, false)
	for port, svc := range map[uint16]string{4242: "a", 4300: "crashplan"} {
		m, ok := w.table[planner.MappingKey{Protocol: planner.TCP, ExternalPort: port}]
		if !ok || m.Description != "netplan42:nas/"+svc {
			t.Errorf("port %d holds %v (ok %v), want service %s", port, m, ok, svc)
		}
	}
	if _, ok := w.table[planner.MappingKey{Protocol: planner.TCP, ExternalPort: 5000}]; ok {
		t.Error("the vacated port 5000 is still mapped")
	}
}

// A driver that finds the port taken by someone else refuses to delete;
// apply forgets the mapping instead of failing.
func TestDeleteNotOursIsForgotten(t *testing.T) {
	w := newWorld()
	w.checks = true
	c, n := computer()
	c.Services = c.Services[:1]
	prior, _ := converge(t, w, c, n, planner.Prior{}, false)
	k := planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}
	other := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.0.2.11"), InternalPort: 4242, Description: "CrashPlan on h2"}
	w.table[k] = other
	// Destroy from state alone: the planner cannot see the new holder.
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: planner.Observed{At: now}, Prior: prior, Now: now, Destroy: true})
	next, res, err := Apply(context.Background(), p, prior, Drivers{Mapper: w, Rules: w, Via: string(schema.ViaUPnP)}, &memJournal{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.table[k] != other {
		t.Fatal("another host's mapping was deleted")
	}
	if _, ok := next.Lookup(`router_mapping.crashplan["tcp"]`); ok || res.Forgotten != 1 {
		t.Errorf("not forgotten: state %v, result %v", next.Resources, res)
	}
}

// A change of firewall backend removes our objects from the old one.
func TestFirewallBackendSwitch(t *testing.T) {
	w := newWorld()
	c, n := computer()
	prior, _ := converge(t, w, c, n, planner.Prior{}, false)
	old := &world{me: w.me, table: map[planner.MappingKey]planner.Mapping{}, rules: w.rules, hooked: true}
	w.rules, w.hooked, w.kind = nil, false, "nftables"
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Prior: prior, Now: now})
	if p.FirewallCleanup != "iptables" {
		t.Fatalf("FirewallCleanup = %q, want iptables", p.FirewallCleanup)
	}
	if len(p.Drift) != 0 {
		t.Errorf("a backend switch is not drift: %+v", p.Drift)
	}
	next, _, err := Apply(context.Background(), p, prior, Drivers{Mapper: w, Rules: w, Via: string(schema.ViaUPnP), RulesVia: "nftables", OldRules: old}, &memJournal{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(old.rules) != 0 || old.hooked {
		t.Errorf("the old backend still holds %v", old.rules)
	}
	if len(w.rules) != 4 {
		t.Errorf("the new backend holds %d rules, want 4", len(w.rules))
	}
	again := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Prior: next, Now: now})
	if again.HasChanges() {
		t.Errorf("changes after the switch: %+v", again.Changes)
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

// Interrupted while the router makes a mapping, through a driver that
// cannot read a mapping back (NAT-PMP): apply does not claim it either
// way, it says it is unknown; the rest is not attempted.
func TestInterruptedUnknowable(t *testing.T) {
	w := newWorld()
	c, n := computer()
	c.Firewall = schema.FirewallNone
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.made = func(m planner.Mapping) error {
		if m.ExternalPort == 4242 {
			cancel()
			return fmt.Errorf("nat-pmp at 192.0.2.1: %w", context.Canceled)
		}
		return nil
	}
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	var out bytes.Buffer
	next, res, err := Apply(ctx, p, planner.Prior{}, Drivers{Mapper: w, Via: string(schema.ViaNATPMP)}, &memJournal{}, Options{Progress: &out})
	t.Logf("%v\n%v\n%s", res, err, out.String())
	if err == nil || !strings.Contains(err.Error(), "whether the router made it is unknown (this router protocol cannot read a mapping back)") {
		t.Errorf("err %v", err)
	}
	if _, ok := next.Lookup(`router_mapping.crashplan["tcp"]`); ok {
		t.Error("state claims a mapping whose fate is unknown")
	}
	if w.adds != 1 {
		t.Errorf("%d adds after the interrupt, want none but the one in flight", w.adds-1)
	}
}

// A router that stops answering: one timeout, the rest not attempted.
func TestSilentRouterFailsFast(t *testing.T) {
	w := newWorld()
	c, n := computer()
	c.Firewall = schema.FirewallNone
	w.made = func(m planner.Mapping) error {
		delete(w.table, m.Key())
		return fmt.Errorf("upnp AddPortMapping: %w (2s)", planner.ErrNoAnswer)
	}
	p := planner.Compute(planner.Input{Computer: c, Network: n, Observed: w.observe(now), Now: now})
	_, res, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Mapper: w, Via: string(schema.ViaUPnP)}, &memJournal{}, Options{})
	t.Logf("%v\n%v", res, err)
	if w.adds != 1 || err == nil || strings.Count(err.Error(), "did not answer in time") != 1 || strings.Count(err.Error(), "not attempted: the router stopped answering") != 2 {
		t.Errorf("%d adds; err %v", w.adds, err)
	}
}
