package planner

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/schema"
)

// FleetView is the offline view of a whole config: every computer's ports,
// and the mappings and rules it would ask for, without discovery.
type FleetView struct {
	FormatVersion string         `json:"format_version"`
	Networks      []FleetNetwork `json:"networks"`
}

// FleetNetwork is one network of a FleetView.
type FleetNetwork struct {
	Name          string          `json:"name"`
	ListenPorts   string          `json:"listen_ports"`
	ReservedPorts []uint16        `json:"reserved_ports"`
	Protocols     []schema.Via    `json:"router_protocols"`
	LeaseSeconds  uint32          `json:"lease_seconds"`
	Computers     []FleetComputer `json:"computers"`
}

// FleetComputer is one computer of a FleetView. Internal addresses are not
// known offline; rules for expose = "lan" have no sources yet.
type FleetComputer struct {
	Computer string         `json:"computer"`
	Hostname string         `json:"hostname"`
	Firewall string         `json:"firewall"`
	Services []FleetService `json:"services"`
	Changes  []Change       `json:"resources"`
}

// FleetService is one service of a FleetComputer.
type FleetService struct {
	Name         string `json:"name"`
	Port         uint16 `json:"port"`
	Auto         bool   `json:"auto"`
	Protocol     string `json:"protocol"`
	Expose       string `json:"expose"`
	ExternalPort uint16 `json:"external_port,omitempty"`
}

// Fleet computes the offline view of cfg, whose ports must be allocated.
func Fleet(cfg *schema.Config) *FleetView {
	v := &FleetView{FormatVersion: FormatVersion}
	byNet := map[string]*FleetNetwork{}
	names := make([]string, 0, len(cfg.Networks))
	for name := range cfg.Networks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n := cfg.Networks[name]
		v.Networks = append(v.Networks, FleetNetwork{
			Name: name, ListenPorts: n.ListenPorts.String(), ReservedPorts: n.ReservedPorts,
			Protocols: n.Router.Protocols, LeaseSeconds: uint32(n.Router.Lease / time.Second),
		})
	}
	for i := range v.Networks {
		byNet[v.Networks[i].Name] = &v.Networks[i]
	}
	for _, c := range cfg.Computers {
		fn := byNet[c.Network]
		if fn == nil {
			continue
		}
		pl := &planning{Input: Input{Computer: c, Network: cfg.Networks[c.Network]}}
		fc := FleetComputer{Computer: c.Address(), Hostname: c.Hostname, Firewall: c.Firewall}
		for _, s := range c.Services {
			fs := FleetService{Name: s.Name, Port: s.Port, Auto: s.Auto, Protocol: s.Protocol, Expose: s.Expose}
			if s.ExternalPort != 0 {
				fs.ExternalPort = s.ExternalPort
			}
			fc.Services = append(fc.Services, fs)
		}
		for _, ch := range append(pl.desiredMappings(), pl.desiredRules()...) {
			ch.Action, ch.Reason = Create, "desired"
			fc.Changes = append(fc.Changes, ch)
		}
		fn.Computers = append(fn.Computers, fc)
	}
	return v
}

// RenderFleet writes the fleet view for people.
func RenderFleet(w io.Writer, v *FleetView, opts RenderOptions) error {
	p := &printer{textout.Printer{W: w, Color: opts.Color}}
	var computers, services, mappings, rules int
	for _, n := range v.Networks {
		reserved := make([]string, len(n.ReservedPorts))
		for i, r := range n.ReservedPorts {
			reserved[i] = fmt.Sprint(r)
		}
		p.F("%s: ports %s (reserved %s), router %s, lease %s\n\n", p.Paint(textout.Bold, fmt.Sprintf("network %q", n.Name)),
			n.ListenPorts, orDash(strings.Join(reserved, ", "), "none"), joinVias(n.Protocols), LeaseText(n.LeaseSeconds))
		for _, c := range n.Computers {
			computers++
			p.F("  %s (hostname %s, firewall %s)\n", p.Paint(textout.Bold, c.Computer), c.Hostname, c.Firewall)
			for _, s := range c.Services {
				services++
				port := fmt.Sprint(s.Port)
				if s.Auto {
					port += " (auto)"
				}
				if s.ExternalPort != 0 {
					port += fmt.Sprintf(", external %d", s.ExternalPort)
				}
				p.F("    service %-16q %-4s %-22s expose %s\n", s.Name, s.Protocol, port, s.Expose)
			}
			for _, ch := range c.Changes {
				mark := p.Paint(textout.Green, "+")
				switch {
				case ch.After.Mapping != nil:
					mappings++
					m := ch.After.Mapping
					p.F("    %s %s: %s %d -> %s:%d, lease %s\n", mark, ch.Address, m.Protocol.Upper(), m.ExternalPort, c.Hostname, m.InternalPort, LeaseText(m.LeaseSeconds))
				case ch.After.Rule != nil:
					rules++
					r := ch.After.Rule
					src := "this computer's local networks"
					if r.Sources != nil {
						src = prefixList(r.Sources)
					}
					p.F("    %s %s: allow %s %d from %s\n", mark, ch.Address, r.Protocol, r.Port, src)
				}
			}
			p.F("\n")
		}
	}
	p.F("Fleet: %s, %s, %s, %s, %s.\n", count(len(v.Networks), "network"), count(computers, "computer"),
		count(services, "service"), count(mappings, "router mapping"), count(rules, "firewall rule"))
	return p.Err
}

// RenderFleetJSON writes the fleet view as JSON.
func RenderFleetJSON(w io.Writer, v *FleetView) error { return textout.JSON(w, v) }

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func joinVias(vs []schema.Via) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
