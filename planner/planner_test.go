package planner

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/schema"
)

var (
	t0     = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	me     = netip.MustParseAddr("192.0.2.10")
	other  = netip.MustParseAddr("192.0.2.11")
	wanIP  = netip.MustParseAddr("11.0.0.1")
	lanNet = netip.MustParsePrefix("192.0.2.0/24")
)

func home() *schema.Network {
	return &schema.Network{
		Name:        "home",
		ListenPorts: schema.PortRange{First: 1024, Last: 5999},
		Router:      schema.Router{Protocols: []schema.Via{"upnp", "natpmp"}, Lease: 2 * time.Hour},
	}
}

func nas() *schema.Computer {
	return &schema.Computer{
		Label: "nas", Network: "home", Hostname: "nas", Firewall: schema.FirewallIPTables,
		Services: []*schema.Service{
			{Name: "crashplan", Port: 4242, Protocol: schema.TCP, Expose: schema.ExposeInternet},
			{Name: "crashplan-ui", Port: 4243, Protocol: schema.TCP, Expose: schema.ExposeLocalhost},
			{Name: "smb", Port: 445, Protocol: schema.TCP, Expose: schema.ExposeLAN},
		},
	}
}

func upnpView(ms ...Mapping) RouterView {
	return RouterView{
		Protocol: schema.ViaUPnP, Can: Capabilities{ReadsEntries: true, Describes: true}, Detail: "UPnP IGD v2 (WANIPConnection:2) at http://192.0.2.1:5000/rootDesc.xml",
		Gateway: netip.MustParseAddr("192.0.2.1"), InternalAddress: me, ExternalAddress: wanIP,
		Listed: true, Mappings: ms,
	}
}

func fwView(hooked bool, rules ...Rule) FirewallView {
	return FirewallView{Backend: "iptables (nf_tables)", Hooked: hooked, Rules: rules, LocalPrefixes: []netip.Prefix{lanNet}}
}

func ours(port uint16, left uint32) Mapping {
	return Mapping{Protocol: TCP, ExternalPort: port, InternalAddress: me, InternalPort: port, Description: "netplan42:nas/crashplan", LeaseSeconds: left}
}

var (
	ruleCP  = Rule{Protocol: TCP, Port: 4242, Sources: AnySource, Comment: "netplan42:nas/crashplan"}
	ruleSMB = Rule{Protocol: TCP, Port: 445, Sources: []netip.Prefix{lanNet}, Comment: "netplan42:nas/smb"}
)

func appliedPrior() Prior {
	m := ours(4242, 7200)
	return Prior{
		Router: RouterMemo{Protocol: schema.ViaUPnP, External: wanIP},
		Resources: []Managed{
			{Address: `router_mapping.crashplan["tcp"]`, Kind: KindMapping, Mapping: &m, Via: string(schema.ViaUPnP), Expires: t0.Add(2 * time.Hour)},
			{Address: `firewall_rule.crashplan["tcp"]`, Kind: KindRule, Rule: &ruleCP},
			{Address: `firewall_rule.smb["tcp"]`, Kind: KindRule, Rule: &ruleSMB},
		},
	}
}

func skype() Mapping {
	return Mapping{Protocol: UDP, ExternalPort: 5000, InternalAddress: other, InternalPort: 5000, Description: "Skype", LeaseSeconds: 0}
}

type scenario struct {
	name  string
	in    Input
	check func(t *testing.T, p *Plan)
}

func scenarios() []scenario {
	base := func() Input {
		return Input{Computer: nas(), Network: home(), Now: t0,
			Observed: Observed{At: t0, Refreshed: true, Router: upnpView(skype()), Firewall: fwView(false)}}
	}
	var s []scenario

	in := base()
	s = append(s, scenario{"fresh", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 3, 0, 0, 0)
		if len(p.Foreign) != 1 {
			t.Errorf("foreign = %v, want the Skype mapping", p.Foreign)
		}
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Observed.Router = upnpView(ours(4242, 6000), skype())
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"up-to-date", in, func(t *testing.T, p *Plan) {
		if p.HasChanges() {
			t.Errorf("changes on an up-to-date world: %+v", p.Changes)
		}
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"drift-router-restarted", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 1, 0, 0, 0)
		if len(p.Drift) != 1 {
			t.Errorf("drift = %+v, want the lost mapping", p.Drift)
		}
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Observed.Router = upnpView(ours(4242, 6000))
	in.Observed.Firewall = fwView(true)
	s = append(s, scenario{"drift-chain-flushed", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 2, 0, 0, 0)
		if len(p.Drift) != 2 {
			t.Errorf("drift = %+v, want both rules", p.Drift)
		}
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Observed.Router = upnpView(ours(4242, 6000))
	in.Observed.Firewall = fwView(false, ruleCP, ruleSMB)
	s = append(s, scenario{"drift-jump-removed", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 2, 0, 0)
	}})

	in = base()
	in.Observed.Router = upnpView(Mapping{Protocol: TCP, ExternalPort: 4242, InternalAddress: other, InternalPort: 4242, Description: "CrashPlan", LeaseSeconds: 3600})
	s = append(s, scenario{"conflict-foreign", in, func(t *testing.T, p *Plan) {
		if !p.HasErrors() {
			t.Fatal("no error for a foreign mapping on our port")
		}
		if !strings.Contains(p.Diagnostics[0].Summary, "192.0.2.11:4242") || !strings.Contains(p.Diagnostics[0].Summary, "CrashPlan") {
			t.Errorf("holder not named: %s", p.Diagnostics[0].Summary)
		}
	}})

	in = base()
	in.Observed.Router = upnpView(Mapping{Protocol: TCP, ExternalPort: 4242, InternalAddress: other, InternalPort: 4242, Description: "netplan42:desktop/crashplan", LeaseSeconds: 3600})
	s = append(s, scenario{"conflict-other-computer", in, func(t *testing.T, p *Plan) {
		if !p.HasErrors() || !strings.Contains(p.Diagnostics[0].Summary, `"desktop"`) {
			t.Errorf("diagnostics = %+v", p.Diagnostics)
		}
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Observed.Router = upnpView(ours(4242, 3000), skype())
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"renew", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 0, 1)
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Computer.Services = in.Computer.Services[1:2]
	in.Observed.Router = upnpView(ours(4242, 6000), skype())
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"service-removed", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 3, 0)
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Computer.Services[0].Port = 4252
	in.Observed.Router = upnpView(ours(4242, 6000))
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"port-changed", in, func(t *testing.T, p *Plan) {
		// The external port moves too (it defaults to the listen port):
		// one update per resource, never a second resource at the address.
		wantCounts(t, p, 0, 2, 0, 0)
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Destroy = true
	in.Observed.Router = upnpView(ours(4242, 6000), skype())
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"destroy", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 3, 0)
	}})

	in = base()
	in.Observed.Router = upnpView(ours(4242, 6000), Mapping{Protocol: UDP, ExternalPort: 4242, InternalAddress: me, InternalPort: 4242, Description: "netplan42:nas/crashplan", LeaseSeconds: 500})
	in.Observed.Firewall = fwView(true)
	s = append(s, scenario{"untracked-ours", in, func(t *testing.T, p *Plan) {
		// tcp is adopted; the udp one is ours by tag but not wanted.
		wantCounts(t, p, 2, 0, 1, 0)
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Prior.Router = RouterMemo{Protocol: schema.ViaNATPMP, Epoch: 5000, EpochAt: t0.Add(-10 * time.Minute), External: wanIP}
	in.Prior.Resources[0].Via, in.Prior.Resources[0].Undescribed = string(schema.ViaNATPMP), true
	in.Observed.Router = RouterView{Protocol: schema.ViaNATPMP, Detail: "NAT-PMP at 192.0.2.1:5351", InternalAddress: me, ExternalAddress: wanIP, HasEpoch: true, Epoch: 12}
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"natpmp-epoch-reset", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 1, 0, 0, 0)
		if len(p.Drift) != 1 || !strings.Contains(p.Drift[0].Reason, "epoch") {
			t.Errorf("drift = %+v, want the epoch reset named", p.Drift)
		}
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Prior.Router = RouterMemo{Protocol: schema.ViaNATPMP, Epoch: 5000, EpochAt: t0.Add(-10 * time.Minute), External: wanIP}
	in.Observed.Router = RouterView{Protocol: schema.ViaNATPMP, InternalAddress: me, ExternalAddress: wanIP, HasEpoch: true, Epoch: 5600}
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"natpmp-steady", in, func(t *testing.T, p *Plan) {
		if p.HasChanges() {
			t.Errorf("changes: %+v", p.Changes)
		}
	}})

	in = base()
	in.Observed.Router = RouterView{Protocol: schema.ViaManual, InternalAddress: me, Notes: []string{"no UPnP IGD or NAT-PMP answered at 192.0.2.1"}}
	s = append(s, scenario{"manual", in, func(t *testing.T, p *Plan) {
		if len(p.Manual) != 1 || !strings.Contains(p.Manual[0].Text, "TCP port 4242 to 192.0.2.10 port 4242") {
			t.Errorf("manual = %+v", p.Manual)
		}
		wantCounts(t, p, 2, 0, 0, 0)
	}})

	in = base()
	in.Observed.Router.ExternalAddress = netip.MustParseAddr("100.64.0.1")
	s = append(s, scenario{"cgnat", in, func(t *testing.T, p *Plan) {
		if len(p.Diagnostics) == 0 || !strings.Contains(p.Diagnostics[0].Detail, "carrier-grade NAT") {
			t.Errorf("diagnostics = %+v", p.Diagnostics)
		}
	}})

	// Made over NAT-PMP (no description), seen now through UPnP.
	in = base()
	in.Prior = appliedPrior()
	in.Prior.Resources[0].Via, in.Prior.Resources[0].Undescribed = string(schema.ViaNATPMP), true
	untagged := ours(4242, 6000)
	untagged.Description = "NAT-PMP 4242 tcp"
	in.Observed.Router = upnpView(untagged)
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"natpmp-then-upnp", in, func(t *testing.T, p *Plan) {
		if p.HasErrors() {
			t.Fatalf("our own NAT-PMP mapping seen as foreign: %+v", p.Diagnostics)
		}
		wantCounts(t, p, 0, 1, 0, 0)
	}})

	// NAT-PMP gave another external port than asked: the plan settles,
	// and says which port peers must use.
	in = base()
	in.Prior = appliedPrior()
	in.Prior.Router = RouterMemo{Protocol: schema.ViaNATPMP, Epoch: 5000, EpochAt: t0.Add(-10 * time.Minute), External: wanIP}
	granted := ours(4243, 7200)
	granted.InternalPort = 4242
	in.Prior.Resources[0].Mapping, in.Prior.Resources[0].Requested, in.Prior.Resources[0].Via, in.Prior.Resources[0].Undescribed = &granted, 4242, string(schema.ViaNATPMP), true
	in.Observed.Router = RouterView{Protocol: schema.ViaNATPMP, InternalAddress: me, ExternalAddress: wanIP, HasEpoch: true, Epoch: 5600}
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"natpmp-other-port", in, func(t *testing.T, p *Plan) {
		if p.HasChanges() {
			t.Errorf("a substituted port must not be moved back every time: %+v", p.Changes)
		}
		if len(p.Diagnostics) != 1 || !strings.Contains(p.Diagnostics[0].Summary, "gave external port 4243 instead of 4242") {
			t.Errorf("diagnostics = %+v", p.Diagnostics)
		}
	}})

	// NAT-PMP: this host's address changed since the mapping was made.
	in = base()
	in.Prior = appliedPrior()
	in.Prior.Router = RouterMemo{Protocol: schema.ViaNATPMP, Epoch: 5000, EpochAt: t0.Add(-10 * time.Minute), External: wanIP}
	in.Prior.Resources[0].Via, in.Prior.Resources[0].Undescribed = string(schema.ViaNATPMP), true
	in.Observed.Router = RouterView{Protocol: schema.ViaNATPMP, InternalAddress: netip.MustParseAddr("192.0.2.12"), ExternalAddress: wanIP, HasEpoch: true, Epoch: 5600}
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"natpmp-address-changed", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 1, 0, 0)
	}})

	// A router that reports the lease granted, not what is left: state's
	// clock decides.
	in = base()
	in.Prior = appliedPrior()
	in.Prior.Resources[0].Expires = t0.Add(30 * time.Minute)
	in.Observed.Router = upnpView(ours(4242, 7200))
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"renew-router-reports-granted", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 0, 1)
	}})

	in = base()
	in.Prior = appliedPrior()
	in.Observed = Observed{At: t0}
	s = append(s, scenario{"no-refresh", in, func(t *testing.T, p *Plan) {
		if p.HasChanges() {
			t.Errorf("changes from state alone: %+v", p.Changes)
		}
	}})

	// Another host (on a router without secure mode) holds our port with a
	// description imitating this computer's tag: a foreign holder, named,
	// never re-made to this computer.
	lookalike := Mapping{Protocol: TCP, ExternalPort: 4242, InternalAddress: other, InternalPort: 4242, Description: "netplan42:nas/crashplan", LeaseSeconds: 3600}
	in = base()
	in.Observed.Router = upnpView(lookalike, Mapping{Protocol: UDP, ExternalPort: 5001, InternalAddress: other, InternalPort: 5001, Description: "netplan42:nas/game"})
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"lookalike-tag", in, func(t *testing.T, p *Plan) {
		for _, c := range p.Changes {
			if c.Kind == KindMapping {
				t.Errorf("a change to a look-alike mapping: %+v", c)
			}
		}
		if !p.HasErrors() || p.Blocked() || !strings.Contains(p.Diagnostics[0].Summary, "192.0.2.11:4242 with this computer's tag") || p.Diagnostics[0].Address != `router_mapping.crashplan["tcp"]` {
			t.Errorf("diagnostics = %+v, want the holder named on the mapping", p.Diagnostics)
		}
		if len(p.Foreign) != 1 || !strings.Contains(p.Foreign[0].Holder, "forwards to 192.0.2.11, not this computer") {
			t.Errorf("foreign = %+v, want the untracked look-alike named", p.Foreign)
		}
	}})

	// destroy: ours went away and a look-alike took the port since.
	in = base()
	in.Prior = appliedPrior()
	in.Destroy = true
	in.Observed.Router = upnpView(lookalike)
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"lookalike-destroy", in, func(t *testing.T, p *Plan) {
		for _, c := range p.Changes {
			if c.Kind == KindMapping && (!c.StateOnly || c.Before.Mapping.InternalAddress != me) {
				t.Errorf("destroy would touch the look-alike: %+v", c)
			}
		}
	}})

	// DHCP gave this computer another address: state says netplan42 made
	// the mapping at the old one, so it is ours and is re-made.
	in = base()
	in.Prior = appliedPrior()
	oldAddr := ours(4242, 6000)
	oldAddr.InternalAddress = netip.MustParseAddr("192.0.2.5")
	in.Prior.Resources[0].Mapping = &oldAddr
	in.Observed.Router = upnpView(oldAddr)
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"address-changed", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 1, 0, 0)
		if p.HasErrors() {
			t.Errorf("diagnostics = %+v", p.Diagnostics)
		}
	}})

	// The router failed the lookup of a key (a 606/501/500 fault): unknown
	// is not absent. destroy keeps the resource and says so.
	in = base()
	in.Prior = appliedPrior()
	in.Destroy = true
	in.Observed.Router = upnpView()
	in.Observed.Router.Listed = false
	in.Observed.Router.Unknown = []UnknownKey{{Key: MappingKey{TCP, 4242}, Why: "upnp GetSpecificPortMappingEntry 4242/tcp: upnp error 606 Action not authorized"}}
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"lookup-failed", in, func(t *testing.T, p *Plan) {
		for _, c := range p.Changes {
			if c.Kind == KindMapping {
				t.Errorf("a change to a mapping the router would not describe: %+v", c)
			}
		}
		if !p.HasErrors() || p.Blocked() || !strings.Contains(p.Diagnostics[0].Summary, "606") {
			t.Errorf("diagnostics = %+v", p.Diagnostics)
		}
		wantCounts(t, p, 0, 0, 2, 0)
	}})
	// miniupnpd restarted without its lease file: our mapping is back,
	// described "miniupnpd" with lease 0. Ours, re-tagged; never foreign.
	in = base()
	in.Prior = appliedPrior()
	restoredM := ours(4242, 0)
	restoredM.Description = "miniupnpd"
	in.Observed.Router = upnpView(restoredM, skype())
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"restored-after-restart", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 1, 0, 0)
		if p.HasErrors() || len(p.Foreign) != 1 {
			t.Errorf("diagnostics %+v, foreign %+v", p.Diagnostics, p.Foreign)
		}
	}})
	in = base()
	in.Prior = appliedPrior()
	in.Destroy = true
	in.Observed.Router = upnpView(restoredM)
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	s = append(s, scenario{"restored-destroy", in, func(t *testing.T, p *Plan) {
		c := findChange(p, `router_mapping.crashplan["tcp"]`)
		if c == nil || c.StateOnly || c.Action != Delete {
			t.Errorf("destroy must delete our restored mapping: %+v", c)
		}
	}})
	s = append(s, pinholeScenarios(base)...)
	return s
}

var me6 = netip.MustParseAddr("2001:db8:1::10")

func pcpView() RouterView {
	return RouterView{
		Protocol: schema.ViaPCP, Can: Capabilities{Pinholes: true}, Detail: "PCP at 192.0.2.1:5351",
		Gateway: netip.MustParseAddr("192.0.2.1"), InternalAddress: me, InternalAddress6: me6, ExternalAddress: wanIP,
		HasEpoch: true, Epoch: 5000,
	}
}

func pinholeCP(lease uint32) Pinhole {
	return Pinhole{Protocol: TCP, InternalAddress: me6, InternalPort: 4242, LeaseSeconds: lease, Nonce: "0102030405060708090a0b0c"}
}

// pinholeScenarios: IPv6 pinholes over PCP, next to the IPv4 mapping.
func pinholeScenarios(base func() Input) []scenario {
	var s []scenario
	in := base()
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	s = append(s, scenario{"pinhole-fresh", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 4, 0, 0, 0)
		c := findChange(p, `router_pinhole.crashplan["tcp"]`)
		if c == nil || c.After.Pinhole == nil || c.After.Pinhole.InternalAddress != me6 || c.After.Pinhole.LeaseSeconds != 7200 {
			t.Errorf("pinhole change %+v", c)
		}
	}})

	applied := func() Prior {
		pr := appliedPrior()
		pr.Router = RouterMemo{Protocol: schema.ViaPCP, Epoch: 4000, EpochAt: t0.Add(-1000 * time.Second)}
		m := ours(4242, 7200)
		m.Nonce = "0c0b0a090807060504030201"
		pr.Resources[0].Mapping, pr.Resources[0].Via, pr.Resources[0].Undescribed = &m, string(schema.ViaPCP), true
		ph := pinholeCP(7200)
		pr.Resources = append(pr.Resources, Managed{Address: `router_pinhole.crashplan["tcp"]`, Kind: KindPinhole, Pinhole: &ph, Via: string(schema.ViaPCP), Expires: t0.Add(2 * time.Hour)})
		return pr
	}
	in = base()
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	in.Prior = applied()
	s = append(s, scenario{"pinhole-steady", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 0, 0)
	}})

	in = base()
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	in.Prior = applied()
	in.Prior.Resources[3].Expires = t0.Add(20 * time.Minute)
	in.Prior.Resources[0].Expires = t0.Add(20 * time.Minute)
	s = append(s, scenario{"pinhole-renew", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 0, 2)
		c := findChange(p, `router_pinhole.crashplan["tcp"]`)
		if c == nil || c.After.Pinhole.Nonce != "0102030405060708090a0b0c" {
			t.Errorf("renewal must keep the nonce: %+v", c)
		}
		m := findChange(p, `router_mapping.crashplan["tcp"]`)
		if m == nil || m.After.Mapping.Nonce != "0c0b0a090807060504030201" {
			t.Errorf("mapping renewal must keep the nonce: %+v", m)
		}
	}})

	// The router restarted (its epoch went back): both are re-made.
	in = base()
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	in.Observed.Router.Epoch = 30
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	in.Prior = applied()
	s = append(s, scenario{"pinhole-router-restarted", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 2, 0, 0, 0)
		if len(p.Drift) != 2 {
			t.Errorf("drift = %+v", p.Drift)
		}
	}})

	in = base()
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	in.Prior = applied()
	in.Destroy = true
	s = append(s, scenario{"pinhole-destroy", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 0, 0, 4, 0)
	}})

	// This computer lost its IPv6 address (a laptop on an IPv4-only
	// network): the pinhole cannot be deleted, so it is forgotten and
	// ends with its lease, instead of an apply that fails every time.
	in = base()
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	in.Observed.Router.Can.Pinholes, in.Observed.Router.InternalAddress6 = false, netip.Addr{}
	in.Observed.Router.NoPinholes = "this host has no IPv6 default route or no global IPv6 address"
	in.Observed.Firewall = fwView(true, ruleCP, ruleSMB)
	in.Prior = applied()
	s = append(s, scenario{"pinhole-ipv6-lost", in, func(t *testing.T, p *Plan) {
		c := findChange(p, `router_pinhole.crashplan["tcp"]`)
		if c == nil || c.Action != Delete || !c.StateOnly || !strings.Contains(c.Reason, "no global IPv6 address") {
			t.Errorf("pinhole change %+v", c)
		}
		if p.HasErrors() {
			t.Errorf("diagnostics %+v", p.Diagnostics)
		}
	}})

	// ip_versions = ["ipv6"]: a pinhole, no mapping; on a router without
	// pinholes it warns.
	in = base()
	in.Computer.Services[0].IPVersions = []string{schema.IPv6}
	in.Network.Router.Protocols = []schema.Via{schema.ViaPCP}
	in.Observed.Router = pcpView()
	s = append(s, scenario{"pinhole-ipv6-only", in, func(t *testing.T, p *Plan) {
		wantCounts(t, p, 3, 0, 0, 0)
		if findChange(p, `router_mapping.crashplan["tcp"]`) != nil {
			t.Error("a mapping for an IPv6-only service")
		}
	}})
	in = base()
	in.Computer.Services[0].IPVersions = []string{schema.IPv6}
	s = append(s, scenario{"pinhole-not-offered", in, func(t *testing.T, p *Plan) {
		if len(p.Diagnostics) != 1 || !strings.Contains(p.Diagnostics[0].Summary, "no IPv6 pinholes") {
			t.Errorf("diagnostics = %+v", p.Diagnostics)
		}
	}})
	return s
}

func findChange(p *Plan, addr string) *Change {
	for i := range p.Changes {
		if p.Changes[i].Address == addr {
			return &p.Changes[i]
		}
	}
	return nil
}

func wantCounts(t *testing.T, p *Plan, add, change, destroy, renew int) {
	t.Helper()
	n := p.Counts()
	if n[Create] != add || n[Update] != change || n[Delete] != destroy || n[Renew] != renew {
		t.Errorf("counts = +%d ~%d -%d >%d, want +%d ~%d -%d >%d", n[Create], n[Update], n[Delete], n[Renew], add, change, destroy, renew)
	}
}

func TestPlanGolden(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			p := Compute(sc.in)
			sc.check(t, p)
			var human, js bytes.Buffer
			if err := Render(&human, p, RenderOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := RenderJSON(&js, p); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", sc.name+".txt"), human.Bytes())
			golden.Check(t, filepath.Join("testdata", sc.name+".json"), js.Bytes())
		})
	}
}

// TestPlanJSONRoundTrip checks that a JSON plan reads back as it was: saved
// plans depend on it.
func TestPlanJSONRoundTrip(t *testing.T) {
	for _, sc := range scenarios() {
		p := Compute(sc.in)
		b, _ := json.Marshal(p)
		var back Plan
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		b2, _ := json.Marshal(&back)
		if !bytes.Equal(b, b2) {
			t.Errorf("%s: round trip differs:\n%s\n%s", sc.name, b, b2)
		}
	}
}

func TestColorOnlyWhenAsked(t *testing.T) {
	p := Compute(scenarios()[0].in)
	var plain, color bytes.Buffer
	Render(&plain, p, RenderOptions{})
	Render(&color, p, RenderOptions{Color: true})
	if bytes.Contains(plain.Bytes(), []byte("\x1b[")) {
		t.Error("escape codes without color")
	}
	if !bytes.Contains(color.Bytes(), []byte("\x1b[32m+")) {
		t.Error("no green + with color")
	}
}

// TestSourcesMasked: firewalls report 192.0.2.0/24 for 192.0.2.10/24, so
// the planner must ask for the same, or a plan never settles.
func TestSourcesMasked(t *testing.T) {
	c := nas()
	c.Services[0].AllowFrom = []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.0.0.0/8")}
	p := Compute(Input{Computer: c, Network: home(), Now: t0, Observed: Observed{Refreshed: true, Router: upnpView(), Firewall: fwView(true)}})
	for _, ch := range p.Changes {
		if ch.Address == `firewall_rule.crashplan["tcp"]` {
			if got := prefixList(ch.After.Rule.Sources); got != "10.0.0.0/8, 192.0.2.0/24" {
				t.Errorf("sources = %s", got)
			}
			return
		}
	}
	t.Fatal("no crashplan rule planned")
}

func TestClassify(t *testing.T) {
	for a, want := range map[string]AddressClass{
		"11.0.0.1": Public, "100.64.0.1": Shared, "100.127.255.254": Shared, "192.168.1.2": Private,
		"10.1.2.3": Private, "172.16.0.1": Private, "192.0.2.1": Reserved, "198.18.0.1": Reserved,
		"2001:db8::1": Reserved, "2a00:1450::1": Public, "fd00::1": Private, "8.8.8.8": Public,
	} {
		if got, _ := Classify(netip.MustParseAddr(a)); got != want {
			t.Errorf("Classify(%s) = %s, want %s", a, got, want)
		}
	}
}

func TestTag(t *testing.T) {
	tag := Tag(`desk[alice]`, "crashplan")
	c, s, ok := ParseTag(tag)
	if !ok || c != "desk[alice]" || s != "crashplan" {
		t.Errorf("ParseTag(%q) = %q %q %v", tag, c, s, ok)
	}
	for _, bad := range []string{"Skype", "netplan42:", "netplan42:nas", "netplan42:/x", "netplan42:nas/"} {
		if _, _, ok := ParseTag(bad); ok {
			t.Errorf("ParseTag(%q) accepted", bad)
		}
	}
}

func TestLeaseText(t *testing.T) {
	for s, want := range map[uint32]string{0: "permanent", 60: "1m", 90: "1m30s", 600: "10m", 3600: "1h", 5400: "1h30m", 7200: "2h", 3661: "1h1m"} {
		if got := LeaseText(s); got != want {
			t.Errorf("LeaseText(%d) = %q, want %q", s, got, want)
		}
	}
}
