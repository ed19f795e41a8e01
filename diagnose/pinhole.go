package diagnose

import (
	"fmt"
	"time"

	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// Pinhole states.
const (
	PinholePresent = "present" // the router read it back
	PinholeMissing = "missing" // state holds it, the router does not
	PinholeUnknown = "unknown" // the router cannot read pinholes back (PCP): as state says
	PinholeNone    = "none"    // wanted, never made
)

// PinholeStatus is one IPv6 pinhole the config asks for or state holds.
type PinholeStatus struct {
	Address string           `json:"address"` // router_pinhole.crashplan["tcp"]
	Service string           `json:"service"`
	State   string           `json:"state"`
	Pinhole *planner.Pinhole `json:"pinhole,omitempty"` // as state remembers it
	// LeaseRemainingSeconds is what state says is left; absent when none.
	LeaseRemainingSeconds *int64 `json:"lease_remaining_seconds,omitempty"`
}

// pinholes reports the IPv6 pinholes: this computer's global address,
// each pinhole state holds or the config wants, and findings for one
// missing or whose lease ran out.
func (s *status) pinholes() {
	in, v := s.in, s.in.Router
	if v != nil && v.InternalAddress6.IsValid() {
		s.r.Host.InternalAddress6 = v.InternalAddress6
	}
	held := map[string]planner.Managed{}
	if in.Prior != nil {
		for _, r := range in.Prior.Resources {
			if r.Kind == planner.KindPinhole && r.Pinhole != nil {
				held[r.Address] = r
			}
		}
	}
	present := map[planner.PinholeKey]bool{}
	if v != nil {
		for _, p := range v.Pinholes {
			present[p.Key()] = true
		}
	}
	offered := v != nil && v.Can.Pinholes
	for _, sv := range in.Computer.Services {
		if sv.Expose != schema.ExposeInternet || !sv.WantsIPv6() {
			continue
		}
		for _, proto := range sv.Protocols() {
			addr := planner.Address(planner.KindPinhole, sv.Name, planner.Protocol(proto))
			r, ok := held[addr]
			delete(held, addr)
			if !ok {
				if offered {
					s.r.Pinholes = append(s.r.Pinholes, PinholeStatus{Address: addr, Service: sv.Name, State: PinholeNone})
					s.find(Warning, addr, fmt.Sprintf("no IPv6 pinhole for service %q: the router offers them, but none was made", sv.Name),
						"netplan42 apply --computer "+s.name())
				}
				continue
			}
			s.r.Pinholes = append(s.r.Pinholes, s.pinholeStatus(addr, sv.Name, r, present))
		}
	}
	for addr, r := range held {
		ps := s.pinholeStatus(addr, "", r, present)
		s.r.Pinholes = append(s.r.Pinholes, ps)
	}
}

func (s *status) pinholeStatus(addr, service string, r planner.Managed, present map[planner.PinholeKey]bool) PinholeStatus {
	v := s.in.Router
	ps := PinholeStatus{Address: addr, Service: service, State: PinholeUnknown, Pinhole: r.Pinhole}
	if !r.Expires.IsZero() {
		left := int64(r.Expires.Sub(s.in.Now) / time.Second)
		ps.LeaseRemainingSeconds = &left
		if left <= 0 {
			s.find(Error, addr, fmt.Sprintf("state says the IPv6 pinhole %s ended %s ago; the router has closed it", r.Pinhole, planner.LeaseText(uint32(-left))),
				"netplan42 apply --computer "+s.name()+" opens it again")
		}
	}
	if v != nil && v.Can.ReadsPinholes {
		ps.State = PinholeMissing
		if present[r.Pinhole.Key()] {
			ps.State = PinholePresent
		} else {
			s.find(Error, addr, fmt.Sprintf("the router no longer holds the IPv6 pinhole %s", r.Pinhole),
				"netplan42 apply --computer "+s.name()+" opens it again")
		}
	}
	if v != nil && v.InternalAddress6.IsValid() && r.Pinhole.InternalAddress != v.InternalAddress6 {
		s.find(Warning, addr, fmt.Sprintf("the IPv6 pinhole is for %s, but this computer's global address is now %s", r.Pinhole.InternalAddress, v.InternalAddress6),
			"netplan42 apply --computer "+s.name()+" moves it")
	}
	return ps
}

func (p *printer) statusPinholes(r *StatusReport) {
	if len(r.Pinholes) == 0 {
		return
	}
	p.F("\n%s\n", p.Paint(textout.Bold, "IPv6 pinholes:"))
	for _, ph := range r.Pinholes {
		lease := "lease unknown"
		if l := ph.LeaseRemainingSeconds; l != nil {
			lease = fmt.Sprintf("lease %s left", planner.LeaseText(uint32(max(*l, 0))))
			if *l <= 0 {
				lease = "lease ended"
			}
		}
		switch ph.State {
		case PinholeNone:
			p.F("  %s  %s\n", ph.Address, p.Paint(textout.Red, "not made"))
		case PinholePresent:
			p.F("  %s  %s  present, %s\n", ph.Address, ph.Pinhole, lease)
		case PinholeMissing:
			p.F("  %s  %s  %s\n", ph.Address, ph.Pinhole, p.Paint(textout.Red, "missing"))
		default:
			p.F("  %s  %s  unknown on the router (it cannot read pinholes back); state: %s\n", ph.Address, ph.Pinhole, lease)
		}
	}
}
