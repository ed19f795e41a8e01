package planner

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/netplan42/netplan42/schema"
)

// KindPinhole is an IPv6 pinhole on the router: inbound traffic to this
// computer's global IPv6 address and a service's port, which needs no
// NAT, let through the router's IPv6 firewall (PCP MAP over IPv6, UPnP
// WANIPv6FirewallControl).
const KindPinhole Kind = "router_pinhole"

// Pinhole is one IPv6 pinhole, as asked for, granted, or remembered.
type Pinhole struct {
	Protocol        Protocol   `json:"protocol"`
	InternalAddress netip.Addr `json:"internal_address"`
	InternalPort    uint16     `json:"internal_port"`
	// LeaseSeconds is asked for in a desired pinhole and granted in
	// state; pinholes always have a lease.
	LeaseSeconds uint32 `json:"lease_seconds"`
	// ID is the UPnP pinhole's UniqueID; Nonce the PCP mapping nonce
	// (hex). The router knows the pinhole by it, so state keeps it and
	// renewals and the delete reuse it. Zero and "" until granted.
	ID    uint16 `json:"id,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// PinholeKey identifies a pinhole on the router.
type PinholeKey struct {
	Protocol        Protocol
	InternalAddress netip.Addr
	InternalPort    uint16
}

// Key returns p's key.
func (p Pinhole) Key() PinholeKey { return PinholeKey{p.Protocol, p.InternalAddress, p.InternalPort} }

func (k PinholeKey) String() string {
	return fmt.Sprintf("[%s]:%d/%s", k.InternalAddress, k.InternalPort, k.Protocol)
}

func (p Pinhole) String() string { return p.Key().String() }

func pinholeObj(p Pinhole) *Object { return &Object{Pinhole: &p} }

// defaultPinholeLease is asked for when the network asks for permanent
// mappings: pinholes have none (UPnP's lease is 1 to 86400 s, PCP's
// lifetime 0 deletes).
const defaultPinholeLease = 7200

// maxPinholeLease is UPnP's limit on a pinhole's lease (WANIPv6FirewallControl:1,
// AddPinhole's LeaseTime).
const maxPinholeLease = 86400

// desiredPinholes returns the pinholes the config asks for, by address:
// every protocol of each service exposed to the internet whose
// ip_versions hold "ipv6", for this computer's global IPv6 address. It
// returns nil when the router offers no pinholes or this computer has no
// global IPv6 address; why then says which, when a service lists "ipv6"
// in ip_versions itself (by default IPv6 is taken where it is offered,
// and its absence is no news).
func (pl *planning) desiredPinholes() (want []Change, why string) {
	if pl.Destroy {
		return nil, ""
	}
	v := pl.Observed.Router
	asked := false
	for _, s := range pl.Computer.Services {
		if s.Expose == schema.ExposeInternet && s.IPVersions != nil && s.WantsIPv6() {
			asked = true
		}
	}
	switch {
	case v.Can.Pinholes && v.InternalAddress6.IsValid():
	case !asked:
		return nil, ""
	case !v.Can.Pinholes && v.NoPinholes != "":
		return nil, v.NoPinholes
	case !v.Can.Pinholes:
		return nil, fmt.Sprintf("the router (%s) offers no IPv6 pinholes", orDash(v.Protocol.Title(), "not observed"))
	case !v.InternalAddress6.IsValid():
		return nil, "this computer has no global IPv6 address towards the router"
	}
	lease := uint32(pl.Network.Router.Lease / time.Second)
	if lease == 0 {
		lease = defaultPinholeLease
	}
	lease = min(lease, maxPinholeLease)
	for _, s := range pl.Computer.Services {
		if s.Expose != schema.ExposeInternet || !s.WantsIPv6() {
			continue
		}
		for _, proto := range s.Protocols() {
			p := Pinhole{Protocol: Protocol(proto), InternalAddress: v.InternalAddress6, InternalPort: s.Port, LeaseSeconds: lease}
			want = append(want, Change{Address: Address(KindPinhole, s.Name, p.Protocol), Kind: KindPinhole, After: pinholeObj(p)})
		}
	}
	return want, ""
}

// pinholes plans the computer's IPv6 pinholes. Like NAT-PMP mappings, a
// pinhole cannot be listed: what state remembers is the truth, checked
// against the router where it can read a pinhole back (Observed.Router.
// Pinholes, when Can.ReadsPinholes), against its lease, and against a
// router restart.
func (pl *planning) pinholes() {
	v := pl.Observed.Router
	want, why := pl.desiredPinholes()
	if why != "" && pl.Observed.Refreshed {
		pl.diag(Diagnostic{Severity: Warning, Summary: "no IPv6 pinholes: " + why,
			Detail: "a service lists \"ipv6\" in ip_versions, but it cannot be reached over IPv6 from the internet: a pinhole needs PCP or UPnP IGD with IPv6 on the router, and a global IPv6 address on this computer"})
	}
	if !pl.Observed.Refreshed && !pl.Destroy {
		// Planned from state: keep what state holds, as it is.
		for _, r := range pl.Prior.Resources {
			if r.Kind == KindPinhole && r.Pinhole != nil {
				pl.add(Change{Address: r.Address, Kind: KindPinhole, Action: NoOp, Before: pinholeObj(*r.Pinhole), After: pinholeObj(*r.Pinhole), Reason: "planned from state"})
			}
		}
		return
	}
	present := map[PinholeKey]Pinhole{}
	for _, p := range v.Pinholes {
		present[p.Key()] = p
	}
	restarted, restartWhy := pl.routerRestarted()
	gone := func(r Managed) (bool, string) {
		switch {
		case v.Can.ReadsPinholes:
			if _, ok := present[r.Pinhole.Key()]; !ok {
				return true, "missing on the router since the last apply"
			}
		case restarted:
			return true, "missing on the router since the last apply (" + restartWhy + ")"
		}
		if !r.Expires.IsZero() && !pl.Now.Before(r.Expires) {
			return true, fmt.Sprintf("lease expired at %s", r.Expires.UTC().Format(time.RFC3339))
		}
		return false, ""
	}
	wanted := map[string]bool{}
	for _, c := range want {
		wanted[c.Address] = true
		d := *c.After.Pinhole
		prior, inPrior := pl.Prior.Lookup(c.Address)
		inPrior = inPrior && prior.Pinhole != nil
		switch {
		case !inPrior:
			c.Action, c.Reason = Create, "new: IPv6 pinhole for this computer's global address"
		case prior.Pinhole.Key() != d.Key():
			c.Action, c.Before = Update, pinholeObj(*prior.Pinhole)
			c.Reason = fmt.Sprintf("%s → %s", prior.Pinhole.Key(), d.Key())
		default:
			d.ID, d.Nonce = prior.Pinhole.ID, prior.Pinhole.Nonce
			c.After = pinholeObj(d)
			c.Before = pinholeObj(*prior.Pinhole)
			if g, why := gone(prior); g {
				c.Action, c.Before, c.Reason = Create, nil, why
				pl.drift(Drift{Address: c.Address, Kind: KindPinhole, Reason: why, Before: pinholeObj(*prior.Pinhole)})
			} else if granted := secs(prior.Pinhole.LeaseSeconds); !prior.Expires.IsZero() && prior.Expires.Sub(pl.Now) < granted/2 {
				c.Action = Renew
				c.Reason = fmt.Sprintf("lease expires in %s (less than half of %s left)", human(prior.Expires.Sub(pl.Now)), human(granted))
			} else {
				c.Action, c.Reason = NoOp, "up to date"
				c.After = pinholeObj(*prior.Pinhole)
			}
		}
		pl.add(c)
	}
	for _, r := range pl.Prior.Resources {
		if r.Kind != KindPinhole || r.Pinhole == nil || wanted[r.Address] {
			continue
		}
		c := Change{Address: r.Address, Kind: KindPinhole, Action: Delete, Before: pinholeObj(*r.Pinhole), Reason: pl.removedReason()}
		if g, goneWhy := gone(r); g {
			c.StateOnly = true
			c.Reason = goneWhy + "; removing it from state"
		} else if !v.Can.Pinholes {
			// The router cannot be asked about pinholes now (this
			// computer lost its IPv6 address, or the router stopped
			// answering over IPv6): a delete could only fail, run after
			// run. The pinhole ends with its lease.
			c.StateOnly = true
			c.Reason = fmt.Sprintf("no IPv6 pinhole can be made or removed now (%s): forgotten, it ends with its lease", orDash(v.NoPinholes, "the router cannot be asked about pinholes"))
			if pl.Destroy {
				c.Reason = "netplan42 destroy; " + c.Reason
			}
		}
		pl.add(c)
	}
}

// PriorPinholes returns the pinholes state remembers, for a driver to
// read back.
func PriorPinholes(p Prior) []Pinhole {
	var out []Pinhole
	for _, r := range p.Resources {
		if r.Kind == KindPinhole && r.Pinhole != nil {
			out = append(out, *r.Pinhole)
		}
	}
	slices.SortFunc(out, func(a, b Pinhole) int {
		return cmp.Or(a.InternalAddress.Compare(b.InternalAddress), cmp.Compare(a.InternalPort, b.InternalPort), cmp.Compare(a.Protocol, b.Protocol))
	})
	return out
}
