package cli

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// TestCheckAddressLookalike: check must not aim at a host that merely
// imitates the target's netplan42 tag on the router.
func TestCheckAddressLookalike(t *testing.T) {
	cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(`
network "home" {}
computer "alpha" {
  network = "home"
  service "sync" {
    port = 5000
  }
}
`)}, "", schema.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	alpha := cfg.Computer("alpha")
	real := netip.MustParseAddr("192.0.2.10")
	fake := netip.MustParseAddr("192.0.2.66")
	mapping := func(a netip.Addr) planner.Mapping {
		return planner.Mapping{Protocol: planner.TCP, ExternalPort: 5000, InternalAddress: a, InternalPort: 5000, Description: planner.Tag(alpha.Tag(), "sync")}
	}
	local := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	for _, tc := range []struct {
		name     string
		mappings []planner.Mapping
		dns      []netip.Addr
		want     netip.Addr
		note     string
	}{
		{"one mapping", []planner.Mapping{mapping(real)}, nil, real, ""},
		{"two tagged addresses", []planner.Mapping{mapping(fake), mapping(real)}, nil, netip.Addr{}, "imitation"},
		{"two tagged addresses, DNS", []planner.Mapping{mapping(fake), mapping(real)}, []netip.Addr{real}, real, "imitation"},
		{"mapping disagrees with DNS", []planner.Mapping{mapping(fake)}, []netip.Addr{real}, real, "trusting DNS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &checkRun{c: diagnose.Check{Target: alpha, Path: diagnose.Internal}}
			view := &planner.RouterView{Protocol: schema.ViaUPnP, Can: planner.Capabilities{ReadsEntries: true, Describes: true}, Mappings: tc.mappings}
			(&gather{}).address(r, view, tc.dns, nil, local)
			if r.e.Addr != tc.want {
				t.Errorf("address = %v (%s), want %v", r.e.Addr, r.e.AddrSource, tc.want)
			}
			if notes := strings.Join(r.e.Notes, "\n"); !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q lack %q", notes, tc.note)
			}
		})
	}
}
