package planner

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/schema"
)

// WriteFleet writes byte for byte what RenderFleet writes of Fleet, on the
// project's example configs, in color and without.
func TestWriteFleetSameAsRender(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	n := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		cfg, diags := schema.Load(dir, schema.Options{})
		if diags.HasErrors() {
			continue
		}
		if _, _, diags := schema.Allocate(cfg, &schema.Lock{}, false); diags.HasErrors() {
			continue
		}
		for _, color := range []bool{false, true} {
			var a, b bytes.Buffer
			if err := RenderFleet(&a, Fleet(cfg), RenderOptions{Color: color}); err != nil {
				t.Fatal(err)
			}
			if err := WriteFleet(&b, cfg, RenderOptions{Color: color}); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Errorf("%s: WriteFleet differs from RenderFleet:\n%s\n---\n%s", dir, b.String(), a.String())
			}
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d example configs loaded", n)
	}
}

// The fleet renderer's appended lines are the bytes the Fprintf formats
// noted in it give, for names longer than their columns, quotes and
// non-ASCII in names, auto and external ports, sources, and color.
func TestFleetLinesAsFprintf(t *testing.T) {
	src := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}
	c := &FleetComputer{Computer: "computer.pc-ü", Hostname: "pc.example", Firewall: "auto", Services: []FleetService{
		{Name: "crashplan", Port: 4242, Protocol: "TCP", Expose: "internet"},
		{Name: `a "quoted" name, longer than sixteen`, Port: 20001, Auto: true, Protocol: "Both", Expose: "lan", ExternalPort: 30001},
		{Name: "ünïcode", Port: 1, Protocol: "UDPX", Expose: "localhost"},
	}, Changes: []Change{
		{Address: "router_mapping.crashplan[\"tcp\"]", After: &Object{Mapping: &Mapping{Protocol: TCP, ExternalPort: 4242, InternalPort: 4242, LeaseSeconds: 7200}}},
		{Address: "router_mapping.x", After: &Object{Mapping: &Mapping{Protocol: UDP, ExternalPort: 1, InternalPort: 2}}},
		{Address: "firewall_rule.a", After: &Object{Rule: &Rule{Protocol: TCP, Port: 4242, Sources: src}}},
		{Address: "firewall_rule.b", After: &Object{Rule: &Rule{Protocol: UDP, Port: 9}}},
	}}
	for _, color := range []bool{false, true} {
		var got, want bytes.Buffer
		fr := &fleetRenderer{p: &printer{textout.Printer{W: &got, Color: color}}}
		fr.computer(c)
		p := &printer{textout.Printer{W: &want, Color: color}}
		p.F("  %s (hostname %s, firewall %s)\n", p.Paint(textout.Bold, c.Computer), c.Hostname, c.Firewall)
		for _, s := range c.Services {
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
			if m := ch.After.Mapping; m != nil {
				p.F("    %s %s: %s %d -> %s:%d, lease %s\n", mark, ch.Address, m.Protocol.Upper(), m.ExternalPort, c.Hostname, m.InternalPort, LeaseText(m.LeaseSeconds))
			} else if r := ch.After.Rule; r != nil {
				src := "this computer's local networks"
				if r.Sources != nil {
					src = prefixList(r.Sources)
				}
				p.F("    %s %s: allow %s %d from %s\n", mark, ch.Address, r.Protocol, r.Port, src)
			}
		}
		p.F("\n")
		if got.String() != want.String() {
			t.Errorf("color %v:\n%s\nwant\n%s", color, got.String(), want.String())
		}
	}
}
