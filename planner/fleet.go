package planner

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	for _, fn := range fleetNetworks(cfg) {
		n := fn.network
		for _, c := range fn.computers {
			n.Computers = append(n.Computers, fleetComputer(cfg, c))
		}
		v.Networks = append(v.Networks, n)
	}
	return v
}

// fleetNet is a network of the fleet view and its computers, in config
// order.
type fleetNet struct {
	network   FleetNetwork
	computers []*schema.Computer
}

// fleetNetworks returns cfg's networks by name, each with its computers.
func fleetNetworks(cfg *schema.Config) []*fleetNet {
	names := make([]string, 0, len(cfg.Networks))
	for name := range cfg.Networks {
		names = append(names, name)
	}
	slices.Sort(names)
	nets := make([]*fleetNet, len(names))
	byNet := make(map[string]*fleetNet, len(names))
	for i, name := range names {
		n := cfg.Networks[name]
		nets[i] = &fleetNet{network: FleetNetwork{
			Name: name, ListenPorts: n.ListenPorts.String(), ReservedPorts: n.ReservedPorts,
			Protocols: n.Router.Protocols, LeaseSeconds: uint32(n.Router.Lease / time.Second),
		}}
		byNet[name] = nets[i]
	}
	for _, c := range cfg.Computers {
		if fn := byNet[c.Network]; fn != nil {
			fn.computers = append(fn.computers, c)
		}
	}
	return nets
}

// fleetComputer is the offline view of one computer.
func fleetComputer(cfg *schema.Config, c *schema.Computer) FleetComputer {
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
	return fc
}

// RenderFleet writes the fleet view for people.
func RenderFleet(w io.Writer, v *FleetView, opts RenderOptions) error {
	fr := &fleetRenderer{p: &printer{textout.Printer{W: w, Color: opts.Color}}}
	for i := range v.Networks {
		n := &v.Networks[i]
		fr.network(n)
		for j := range n.Computers {
			fr.computer(&n.Computers[j])
		}
	}
	return fr.end(len(v.Networks))
}

// WriteFleet writes what RenderFleet(w, Fleet(cfg), opts) writes, one
// computer's view at a time: a fleet of thousands never holds its whole
// view.
func WriteFleet(w io.Writer, cfg *schema.Config, opts RenderOptions) error {
	fr := &fleetRenderer{p: &printer{textout.Printer{W: w, Color: opts.Color}}}
	nets := fleetNetworks(cfg)
	for _, fn := range nets {
		fr.network(&fn.network)
		for _, c := range fn.computers {
			fc := fleetComputer(cfg, c)
			fr.computer(&fc)
		}
	}
	return fr.end(len(nets))
}

// fleetRenderer writes the fleet view's text and counts what it wrote.
type fleetRenderer struct {
	p                                    *printer
	buf                                  []byte
	computers, services, mappings, rules int
}

func (fr *fleetRenderer) network(n *FleetNetwork) {
	p := fr.p
	reserved := make([]string, len(n.ReservedPorts))
	for i, r := range n.ReservedPorts {
		reserved[i] = fmt.Sprint(r)
	}
	p.F("%s: ports %s (reserved %s), router %s, lease %s\n\n", p.Paint(textout.Bold, fmt.Sprintf("network %q", n.Name)),
		n.ListenPorts, orDash(strings.Join(reserved, ", "), "none"), joinVias(n.Protocols), LeaseText(n.LeaseSeconds))
}

func (fr *fleetRenderer) computer(c *FleetComputer) {
	// Hundreds of thousands of lines: appended to one buffer with strconv
	// rather than formatted one by one (the same bytes as Fprintf's verbs
	// noted beside each line; TestFleetLinesAsFprintf).
	p, b := fr.p, fr.buf[:0]
	fr.computers++
	// "  %s (hostname %s, firewall %s)\n"
	b = append(b, "  "...)
	b = append(b, p.Paint(textout.Bold, c.Computer)...)
	b = append(append(append(append(append(b, " (hostname "...), c.Hostname...), ", firewall "...), c.Firewall...), ")\n"...)
	for _, s := range c.Services {
		fr.services++
		// "    service %-16q %-4s %-22s expose %s\n"
		b = append(b, "    service "...)
		b = padRight(strconv.AppendQuote(b, s.Name), len(b), 16)
		b = append(b, ' ')
		b = padRight(append(b, s.Protocol...), len(b), 4)
		b = append(b, ' ')
		from := len(b)
		b = strconv.AppendUint(b, uint64(s.Port), 10)
		if s.Auto {
			b = append(b, " (auto)"...)
		}
		if s.ExternalPort != 0 {
			b = strconv.AppendUint(append(b, ", external "...), uint64(s.ExternalPort), 10)
		}
		b = padRight(b, from, 22)
		b = append(append(append(b, " expose "...), s.Expose...), '\n')
	}
	mark := p.Paint(textout.Green, "+")
	for _, ch := range c.Changes {
		switch {
		case ch.After.Mapping != nil:
			fr.mappings++
			m := ch.After.Mapping
			// "    %s %s: %s %d -> %s:%d, lease %s\n"
			b = append(append(append(append(append(b, "    "...), mark...), ' '), ch.Address...), ": "...)
			b = strconv.AppendUint(append(append(b, m.Protocol.Upper()...), ' '), uint64(m.ExternalPort), 10)
			b = strconv.AppendUint(append(append(append(b, " -> "...), c.Hostname...), ':'), uint64(m.InternalPort), 10)
			b = append(append(append(b, ", lease "...), LeaseText(m.LeaseSeconds)...), '\n')
		case ch.After.Rule != nil:
			fr.rules++
			r := ch.After.Rule
			src := "this computer's local networks"
			if r.Sources != nil {
				src = prefixList(r.Sources)
			}
			// "    %s %s: allow %s %d from %s\n"
			b = append(append(append(append(append(b, "    "...), mark...), ' '), ch.Address...), ": allow "...)
			b = strconv.AppendUint(append(append(b, r.Protocol...), ' '), uint64(r.Port), 10)
			b = append(append(append(b, " from "...), src...), '\n')
		}
	}
	b = append(b, '\n')
	fr.buf = b
	if p.Err == nil {
		_, p.Err = p.W.Write(b)
	}
}

// padRight pads b, whose text from from on is a field, with spaces to
// width runes, as fmt's %-Ns does.
func padRight(b []byte, from, width int) []byte {
	for n := utf8.RuneCount(b[from:]); n < width; n++ {
		b = append(b, ' ')
	}
	return b
}

func (fr *fleetRenderer) end(networks int) error {
	fr.p.F("Fleet: %s, %s, %s, %s, %s.\n", count(networks, "network"), count(fr.computers, "computer"),
		count(fr.services, "service"), count(fr.mappings, "router mapping"), count(fr.rules, "firewall rule"))
	return fr.p.Err
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
