package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/apply"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// Router faults miniupnpd never produces, carried through the planner and
// apply as plan, apply and destroy do: a fake IGD behind a real Router.

type memState struct{ saves int }

func (j *memState) Save(planner.Prior) error { j.saves++; return nil }

// trustComputer is a computer "nas" with n TCP services from port 4242,
// every one exposed to the internet, without a firewall.
func trustComputer(n int) (*schema.Computer, *schema.Network) {
	c := &schema.Computer{Label: "nas", Network: "home", Firewall: schema.FirewallNone}
	for i := range n {
		c.Services = append(c.Services, &schema.Service{Name: fmt.Sprintf("s%d", i), Port: uint16(4242 + i), Protocol: schema.TCP, Expose: schema.ExposeInternet})
	}
	return c, &schema.Network{Name: "home", Router: schema.Router{Lease: time.Hour}}
}

// appliedState is state after an apply of c against the fake: each
// service's mapping made to loopback.
func appliedState(c *schema.Computer) (planner.Prior, []planner.Mapping) {
	var p planner.Prior
	var ms []planner.Mapping
	for _, s := range c.Services {
		m := planner.Mapping{Protocol: planner.TCP, ExternalPort: s.Port, InternalAddress: loopback, InternalPort: s.Port,
			Description: planner.Tag("nas", s.Name), LeaseSeconds: 3600}
		ms = append(ms, m)
		p.Resources = append(p.Resources, planner.Managed{Address: planner.Address(planner.KindMapping, s.Name, planner.TCP),
			Kind: planner.KindMapping, Mapping: &m, Via: string(schema.ViaUPnP)})
	}
	p.Router.Protocol = schema.ViaUPnP
	return p, ms
}

func wantKeys(c *schema.Computer, prior planner.Prior) []planner.MappingKey {
	var keys []planner.MappingKey
	for _, s := range c.Services {
		keys = append(keys, planner.MappingKey{Protocol: planner.TCP, ExternalPort: s.Port})
	}
	for _, r := range prior.Resources {
		if r.Mapping != nil && !slices.Contains(keys, r.Mapping.Key()) {
			keys = append(keys, r.Mapping.Key())
		}
	}
	return keys
}

// planAndApply observes r, plans and applies as the CLI does, and returns
// the plan, the new state, the result, apply's error and its output.
func planAndApply(t *testing.T, ctx context.Context, r *Router, c *schema.Computer, n *schema.Network, prior planner.Prior, destroy bool) (*planner.Plan, planner.Prior, apply.Result, error, string) {
	t.Helper()
	v, err := r.Observe(context.Background(), wantKeys(c, prior))
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	p := planner.Compute(planner.Input{Computer: c, Network: n, Prior: prior, Now: time.Now(), Destroy: destroy,
		Observed: planner.Observed{At: time.Now(), Refreshed: true, Router: v}})
	var out bytes.Buffer
	next, res, aerr := apply.Apply(ctx, p, prior, apply.Drivers{Mapper: r, Via: string(schema.ViaUPnP)}, &memState{}, apply.Options{Progress: &out})
	return p, next, res, aerr, out.String()
}

// A lookup the router fails (606, 501, a bare HTTP 500) mid-walk is not
// "absent": destroy keeps the three mappings in state, deletes nothing,
// and the plan has an error on each, so the command fails.
func TestFakeDestroyLookupFaults(t *testing.T) {
	c, n := trustComputer(3)
	for _, code := range []int{606, 501, 500} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			prior, ms := appliedState(c)
			f := &fakeIGD{noList: 401, walkFail: 1, walkCode: code, noSpecific: code,
				entries: append(foreign(1), ms...)}
			r := fakeRouter(t, f, time.Second)
			p, next, res, err, out := planAndApply(t, context.Background(), r, c, n, prior, true)
			t.Logf("apply: %v %v\n%s", res, err, out)
			if b := p.Blocking(); len(b) != 3 {
				t.Errorf("blocking %q, want the three mappings; diagnostics %+v", b, p.Diagnostics)
			}
			if len(next.Resources) != 3 || res.Forgotten != 0 || res.Destroyed != 0 {
				t.Errorf("state after destroy holds %d resources (result %v), want all 3 kept", len(next.Resources), res)
			}
			if f.calls["DeletePortMapping"] != 0 || len(f.entries) != 4 {
				t.Errorf("router changed: calls %v, %d entries", f.calls, len(f.entries))
			}
		})
	}
}

// The router answers OK to AddPortMapping but keeps another client's
// entry on the key, or keeps nothing: the mapping does not forward to
// this computer, so it is an error, never "Creation complete", and state
// does not claim it.
func TestFakeAddReadBack(t *testing.T) {
	holder := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("127.0.0.2"), InternalPort: 4242, Description: "CrashPlan on h2"}
	for _, tc := range []struct {
		name     string
		f        *fakeIGD
		err      string
		conflict bool
	}{
		{"keeps another client's entry", &fakeIGD{addKeepsHolder: true, entries: []planner.Mapping{holder}}, `forwards 4242/tcp to 127.0.0.2:4242 ("CrashPlan on h2"), not to 127.0.0.1:4242`, true},
		{"keeps nothing", &fakeIGD{addDropped: true}, "holds nothing on 4242/tcp", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.f.entries)
			r := fakeRouter(t, tc.f, time.Second)
			g, err := r.Add(context.Background(), ours(4242, 3600))
			t.Logf("grant %+v, err %v", g, err)
			if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrConflict) != tc.conflict {
				t.Errorf("err %v, want %q (conflict %v)", err, tc.err, tc.conflict)
			}
			// Planned by a computer that saw the port free (a race, or a
			// router listing less than it holds).
			c, n := trustComputer(1)
			p := planner.Compute(planner.Input{Computer: c, Network: n, Now: time.Now(),
				Observed: planner.Observed{Refreshed: true, Router: planner.RouterView{Protocol: schema.ViaUPnP, Can: planner.Capabilities{ReadsEntries: true, Describes: true}, InternalAddress: loopback, Listed: true}}})
			var out bytes.Buffer
			next, res, aerr := apply.Apply(context.Background(), p, planner.Prior{}, apply.Drivers{Mapper: r, Via: string(schema.ViaUPnP)}, &memState{}, apply.Options{Progress: &out})
			t.Logf("apply: %v %v\n%s", res, aerr, out.String())
			if aerr == nil || strings.Contains(out.String(), "Creation complete") || res.Added != 0 || len(next.Resources) != 0 {
				t.Errorf("apply reported %v (err %v), state %v:\n%s", res, aerr, next.Resources, out.String())
			}
			if !slices.Equal(tc.f.entries, before) {
				t.Errorf("router table %v, was %v", tc.f.entries, before)
			}
		})
	}
}

// An add the router accepts but whose read-back fails, or does not name
// the client, is reported as not verified, not as a plain success.
func TestFakeAddUnverified(t *testing.T) {
	for _, tc := range []struct {
		f    *fakeIGD
		note string
	}{
		{&fakeIGD{noSpecific: 501}, "could not read the mapping back"},
		{&fakeIGD{blankClient: true}, "without naming a valid internal client"},
	} {
		r := fakeRouter(t, tc.f, time.Second)
		c, n := trustComputer(1)
		p := planner.Compute(planner.Input{Computer: c, Network: n, Now: time.Now(),
			Observed: planner.Observed{Refreshed: true, Router: planner.RouterView{Protocol: schema.ViaUPnP, Can: planner.Capabilities{ReadsEntries: true, Describes: true}, InternalAddress: loopback, Listed: true}}})
		var out bytes.Buffer
		_, res, err := apply.Apply(context.Background(), p, planner.Prior{}, apply.Drivers{Mapper: r, Via: string(schema.ViaUPnP)}, &memState{}, apply.Options{Progress: &out})
		t.Logf("%v %v\n%s", res, err, out.String())
		if err != nil || !strings.Contains(out.String(), "Creation complete, not verified") || !strings.Contains(out.String(), tc.note) {
			t.Errorf("apply said:\n%s", out.String())
		}
	}
}

// A table that never ends: GetListOfPortMappings hands out the same full
// page whatever the start port, and every walk index has an entry. The
// listing stops on the second page, the walk at MaxWalk, and a wanted
// key is still looked up.
func TestFakeEndlessTable(t *testing.T) {
	f := &fakeIGD{endless: true}
	r := fakeRouter(t, f, time.Second)
	want := planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}
	v, err := r.Observe(context.Background(), []planner.MappingKey{want})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(v.Notes, "; ")
	t.Logf("calls %v; notes %s", f.calls, notes)
	if n := f.calls["GetListOfPortMappings"]; n > 2 {
		t.Errorf("%d GetListOfPortMappings calls for a router that ignores the start port, want 2", n)
	}
	if n := f.calls["GetGenericPortMappingEntry"]; n > MaxWalk+1 {
		t.Errorf("%d GetGenericPortMappingEntry calls, more than the cap %d", n, MaxWalk)
	}
	if v.Listed || !strings.Contains(notes, "the router listed port 10000") || !strings.Contains(notes, "(the cap)") || f.calls["GetSpecificPortMappingEntry"] != 1 {
		t.Errorf("listed %v, %d lookups, notes %s", v.Listed, f.calls["GetSpecificPortMappingEntry"], notes)
	}
}

// A walk that would go on longer than listBudget stops there, whatever
// the count: a router answering each call within its timeout cannot hold
// an observation for hours.
func TestFakeWalkBudget(t *testing.T) {
	old := listBudget
	listBudget = 100 * time.Millisecond
	defer func() { listBudget = old }()
	f := &fakeIGD{endless: true, noList: 401, delay: time.Millisecond}
	r := fakeRouter(t, f, time.Second)
	v, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(v.Notes, "; ")
	// A call cut off by the budget may still be in the fake: read its
	// counts under its lock.
	walked := f.count("GetGenericPortMappingEntry")
	t.Logf("%d entries walked; notes %s", walked, notes)
	if v.Listed || walked >= MaxWalk || !strings.Contains(notes, "it took longer than 100ms") {
		t.Errorf("listed %v after %d entries; notes %s", v.Listed, walked, notes)
	}
}

// The router goes silent in the middle of an apply of six mappings, on
// the third add or on reading the third back: the call it does not
// answer times out, the rest fail at once without asking it (one
// timeout, not four).
func TestFakeSilentMidApply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after bool // silent after carrying out the third add
		made  int
	}{{"on an add", false, 2}, {"on a read-back", true, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeIGD{silentAt: 3, silentAfter: tc.after}
			r := fakeRouter(t, f, time.Second) // generous: a busy machine must not time out the answered calls
			c, n := trustComputer(6)
			_, next, res, err, out := planAndApply(t, context.Background(), r, c, n, planner.Prior{}, false)
			t.Logf("%v\n%v\n%s", res, err, out)
			if err == nil {
				t.Fatal("apply succeeded against a silent router")
			}
			all := err.Error() + out
			if got := strings.Count(all, "did not answer in time"); got != 1 {
				t.Errorf("%d timeouts, want 1", got)
			}
			if got := strings.Count(all, "not attempted: the router stopped answering"); got != 3 {
				t.Errorf("%d changes not attempted, want 3", got)
			}
			if res.Added != tc.made || len(next.Resources) != tc.made {
				t.Errorf("result %v, state %d resources; want the %d made", res, len(next.Resources), tc.made)
			}
			// The call that got no answer never synchronised with this
			// goroutine: read the counts under the fake's lock.
			if got := f.count("AddPortMapping"); got != 3 {
				t.Errorf("%d AddPortMapping calls, want 3", got)
			}
		})
	}
}

// Interrupted (SIGINT) while the router made a mapping but before its
// answer arrived: what apply reports and state records is what the router
// holds.
func TestFakeInterruptedApply(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	adds := 0
	f := &fakeIGD{}
	f.after = func(action string) bool {
		if action != "AddPortMapping" {
			return false
		}
		adds++
		if adds == 3 {
			cancel() // Ctrl-C while the answer is on its way
			return true
		}
		return false
	}
	r := fakeRouter(t, f, time.Second)
	c, n := trustComputer(5)
	_, next, res, err, out := planAndApply(t, ctx, r, c, n, planner.Prior{}, false)
	t.Logf("%v\n%v\n%s", res, err, out)
	ourEntries := 0
	for _, m := range f.entries {
		if strings.HasPrefix(m.Description, "netplan42:nas/") {
			ourEntries++
		}
	}
	if ourEntries != 3 {
		t.Fatalf("the router holds %d of ours, want 3: the test proves nothing", ourEntries)
	}
	if res.Added != ourEntries || len(next.Resources) != ourEntries {
		t.Errorf("apply says %d added, state holds %d, the router holds %d", res.Added, len(next.Resources), ourEntries)
	}
	if err == nil || !strings.Contains(out, "interrupted, but the router made the mapping") {
		t.Errorf("err %v; output:\n%s", err, out)
	}

	// destroy, interrupted the same way on its second delete.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	dels := 0
	f.after = func(action string) bool {
		if action != "DeletePortMapping" {
			return false
		}
		dels++
		if dels == 2 {
			cancel()
			return true
		}
		return false
	}
	_, next, res, err, out = planAndApply(t, ctx, r, c, n, next, true)
	t.Logf("%v\n%v\n%s", res, err, out)
	left := 0
	for _, m := range f.entries {
		if strings.HasPrefix(m.Description, "netplan42:nas/") {
			left++
		}
	}
	if left != 1 || res.Destroyed != 2 || len(next.Resources) != left {
		t.Errorf("destroy says %d destroyed, state holds %d, the router holds %d of ours", res.Destroyed, len(next.Resources), left)
	}
}
