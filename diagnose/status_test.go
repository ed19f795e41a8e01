package diagnose

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

var (
	t0    = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	me    = netip.MustParseAddr("192.0.2.10")
	other = netip.MustParseAddr("192.0.2.11")
	gw    = netip.MustParseAddr("192.0.2.1")
	wanIP = netip.MustParseAddr("11.0.0.1")
	lan   = netip.MustParsePrefix("192.0.2.0/24")
)

func home() *schema.Network {
	return &schema.Network{
		Name: "home", ListenPorts: schema.PortRange{First: 1024, Last: 5999}, PublicAddress: "11.0.0.1",
		Router: schema.Router{Protocols: []schema.Via{"upnp", "natpmp"}, Lease: 2 * time.Hour},
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

func desk() *schema.Computer {
	return &schema.Computer{
		Label: "desk", Network: "home", Hostname: "desk", Firewall: schema.FirewallAuto,
		Services: []*schema.Service{{Name: "crashplan", Port: 1024, Auto: true, Protocol: schema.TCP, Expose: schema.ExposeInternet}},
	}
}

var (
	upnpProbe   = Probe{Protocol: "upnp", Answered: true, Detail: "UPnP IGD v2 (WANIPConnection:2) at http://192.0.2.1:5000/rootDesc.xml", Version: "v2", URL: "http://192.0.2.1:5000/rootDesc.xml", ExternalAddress: wanIP}
	natpmpProbe = Probe{Protocol: "natpmp", Answered: true, Detail: "NAT-PMP at 192.0.2.1:5351", ExternalAddress: wanIP}
)

func upnpView(ms ...planner.Mapping) *planner.RouterView {
	return &planner.RouterView{Protocol: schema.ViaUPnP, Can: planner.Capabilities{ReadsEntries: true, Describes: true}, Detail: upnpProbe.Detail, Gateway: gw, InternalAddress: me,
		ExternalAddress: wanIP, Listed: true, Mappings: ms}
}

func ours(port uint16, left uint32) planner.Mapping {
	return planner.Mapping{Protocol: planner.TCP, ExternalPort: port, InternalAddress: me, InternalPort: port, Description: "netplan42:nas/crashplan", LeaseSeconds: left}
}

var (
	ruleCP  = planner.Rule{Protocol: planner.TCP, Port: 4242, Sources: planner.AnySource, Comment: "netplan42:nas/crashplan"}
	ruleSMB = planner.Rule{Protocol: planner.TCP, Port: 445, Sources: []netip.Prefix{lan}, Comment: "netplan42:nas/smb"}
)

func fw(hooked bool, rules ...planner.Rule) *planner.FirewallView {
	return &planner.FirewallView{Backend: "iptables (nf_tables)", Hooked: hooked, Rules: rules, LocalPrefixes: []netip.Prefix{lan}}
}

var (
	crashplanJava = Process{PID: 812, Name: "CrashPlanServic", Command: "/usr/local/crashplan/bin/CrashPlanService"}
	smbd          = Process{PID: 640, Name: "smbd", Command: "/usr/sbin/smbd --foreground"}
)

func listen(proto planner.Protocol, addr string, ps ...Process) Listener {
	if ps == nil {
		ps = []Process{}
	}
	return Listener{Protocol: proto, Address: netip.MustParseAddrPort(addr), User: "root", Processes: ps}
}

func healthy() StatusInput {
	return StatusInput{
		Computer: nas(), Network: home(), Computers: []*schema.Computer{desk(), nas()}, Now: t0, Root: true,
		Probes:   []Probe{upnpProbe, natpmpProbe},
		Router:   upnpView(ours(4242, 6000)),
		Firewall: fw(true, ruleCP, ruleSMB),
		Listeners: []Listener{
			listen(planner.TCP, "0.0.0.0:4242", crashplanJava),
			listen(planner.TCP, "127.0.0.1:4243", crashplanJava),
			listen(planner.TCP, "0.0.0.0:445", smbd),
			listen(planner.TCP, "[::]:445", smbd),
		},
		Prior:           &planner.Prior{},
		StatePath:       "/var/lib/netplan42/nas.json",
		PublicAddresses: []netip.Addr{wanIP},
	}
}

// The status cases: each renders to testdata/status-NAME.txt and .json.
func statusCases() map[string]StatusInput {
	cases := map[string]StatusInput{"healthy": healthy()}

	// Everything the guide's steps find, at once.
	in := healthy()
	in.Router = upnpView(
		planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: other, InternalPort: 4242, Description: "CrashPlan on desk", LeaseSeconds: 0},
		planner.Mapping{Protocol: planner.UDP, ExternalPort: 4242, InternalAddress: me, InternalPort: 4242, Description: "CrashPlan", LeaseSeconds: 0},
		planner.Mapping{Protocol: planner.TCP, ExternalPort: 5000, InternalAddress: other, InternalPort: 5000, Description: "Skype"},
	)
	in.Firewall = fw(true, ruleCP)
	in.Firewall.Warnings = []string{`iptables filter INPUT: rule "-A INPUT -s 198.51.100.0/24 -j DROP" drops some new 4242/tcp traffic before netplan42's jump (it matches on source 198.51.100.0/24)`}
	in.Listeners = []Listener{
		listen(planner.TCP, "0.0.0.0:4242", Process{PID: 4711, Name: "nc", Command: "nc -l -k 4242"}),
		listen(planner.TCP, "0.0.0.0:4243", crashplanJava),
	}
	in.Prior = &planner.Prior{Resources: []planner.Managed{{Address: `firewall_rule.smb["tcp"]`, Kind: planner.KindRule, Rule: &ruleSMB}}}
	in.PublicAddresses = []netip.Addr{netip.MustParseAddr("198.51.100.7")}
	in.Network.PublicAddress = "nas.example.net"
	cases["problems"] = in

	// PCP on a dual-stack router: the mapping and the pinhole as state
	// remembers them (PCP reads neither back); a second service's pinhole
	// was never made.
	in = healthy()
	in.Probes = []Probe{{Protocol: "pcp", Answered: true, Detail: "PCP at 192.0.2.1:5351", ExternalAddress: wanIP}}
	me6 := netip.MustParseAddr("2001:db8:1::10")
	in.Router = &planner.RouterView{Protocol: schema.ViaPCP, Detail: "PCP at 192.0.2.1:5351", Gateway: gw, InternalAddress: me,
		InternalAddress6: me6, ExternalAddress: wanIP, Can: planner.Capabilities{Pinholes: true},
		Notes: []string{"PCP cannot list mappings: only state shows what is ours"}}
	pm := ours(4242, 3600)
	ph := planner.Pinhole{Protocol: planner.TCP, InternalAddress: me6, InternalPort: 4242, LeaseSeconds: 3600, Nonce: "0102030405060708090a0b0c"}
	in.Prior = &planner.Prior{Resources: []planner.Managed{
		{Address: `router_mapping.crashplan["tcp"]`, Kind: planner.KindMapping, Mapping: &pm, Via: "pcp", Undescribed: true, Expires: t0.Add(50 * time.Minute)},
		{Address: `router_pinhole.crashplan["tcp"]`, Kind: planner.KindPinhole, Pinhole: &ph, Via: "pcp", Expires: t0.Add(50 * time.Minute)},
	}}
	in.Computer.Services = append(in.Computer.Services, &schema.Service{Name: "web", Port: 8443, Protocol: schema.TCP, Expose: schema.ExposeInternet, IPVersions: []string{schema.IPv6}})
	cases["pcp-pinholes"] = in

	// Behind carrier-grade NAT, with NAT-PMP only: no external address,
	// and only state to tell the mapping's lease.
	in = healthy()
	in.Probes = []Probe{{Protocol: "upnp", Error: "at 192.0.2.1: no SSDP reply from the gateway within 700ms"}, {Protocol: "natpmp", Answered: true, Detail: "NAT-PMP at 192.0.2.1:5351"}}
	in.Router = &planner.RouterView{Protocol: schema.ViaNATPMP, Detail: "NAT-PMP at 192.0.2.1:5351", Gateway: gw, InternalAddress: me,
		Notes: []string{"router reports no external address: nat-pmp result 3 (network failure (no external address))", "NAT-PMP cannot list mappings: only state shows what is ours"}}
	m := ours(4242, 7200)
	in.Prior = &planner.Prior{Resources: []planner.Managed{{Address: `router_mapping.crashplan["tcp"]`, Kind: planner.KindMapping, Mapping: &m, Via: "natpmp", Expires: t0.Add(90 * time.Minute)}}}
	in.Network.PublicAddress = ""
	in.PublicAddresses = nil
	cases["cgnat-natpmp"] = in

	// Without root: no firewall, no owners of other users' sockets.
	in = healthy()
	in.Root = false
	in.Firewall, in.FirewallNeedsRoot = nil, true
	in.HiddenProcesses = 41
	in.Listeners = []Listener{listen(planner.TCP, "0.0.0.0:4242"), listen(planner.TCP, "127.0.0.1:4243"), listen(planner.TCP, "[::]:445")}
	in.Prior, in.StatePath = nil, "/home/ann/.local/state/netplan42/nas.json"
	cases["nonroot"] = in

	// No router protocol answers, on a system where sockets cannot be
	// listed.
	in = healthy()
	in.Probes = []Probe{{Protocol: "upnp", Error: "at 192.0.2.1: no SSDP reply from the gateway within 700ms"}, {Protocol: "natpmp", Error: "at 192.0.2.1:5351: no answer"}}
	in.Router = &planner.RouterView{Protocol: schema.ViaManual, Detail: "manual port forwarding (no UPnP IGD or NAT-PMP answered at 192.0.2.1)", Gateway: gw, InternalAddress: me}
	in.Listeners, in.ListenersError = nil, "not supported on darwin (netplan42 reads Linux's /proc/net)"
	in.Firewall = &planner.FirewallView{Backend: "pf", Hooked: false, Rules: []planner.Rule{ruleCP, ruleSMB}}
	cases["no-router"] = in
	return cases
}

func TestStatusGolden(t *testing.T) {
	for name, in := range statusCases() {
		t.Run(name, func(t *testing.T) {
			r := Status(in)
			var txt, js bytes.Buffer
			if err := RenderStatus(&txt, r, RenderOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := RenderStatusJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "status-"+name+".txt"), txt.Bytes())
			golden.Check(t, filepath.Join("testdata", "status-"+name+".json"), js.Bytes())
			var back StatusReport
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.FormatVersion != FormatVersion {
				t.Errorf("JSON does not read back: %v", err)
			}
		})
	}
}

// findings returns the report's findings as "severity subject: summary".
func findings(r *StatusReport) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(string(f.Severity) + " " + f.Subject + ": " + f.Summary + "\n")
	}
	return b.String()
}

func TestStatusFindings(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   func() StatusInput
		want []string // substrings of findings()
		none bool     // no findings at all
	}{
		{"healthy", healthy, nil, true},
		{"mapping missing", func() StatusInput {
			in := healthy()
			in.Router = upnpView()
			return in
		}, []string{`error router_mapping.crashplan["tcp"]: no mapping for 4242/tcp on the router (not applied yet`}, false},
		{"mapping lost since the last apply", func() StatusInput {
			in := healthy()
			in.Router = upnpView()
			m := ours(4242, 7200)
			in.Prior = &planner.Prior{Resources: []planner.Managed{{Address: `router_mapping.crashplan["tcp"]`, Kind: planner.KindMapping, Mapping: &m}}}
			return in
		}, []string{"state says it was made: the router lost it"}, false},
		{"mapping to an old address", func() StatusInput {
			in := healthy()
			m := ours(4242, 7200)
			m.InternalAddress = netip.MustParseAddr("192.0.2.99")
			in.Router = upnpView(m)
			in.Prior = &planner.Prior{Resources: []planner.Managed{{Address: `router_mapping.crashplan["tcp"]`, Kind: planner.KindMapping, Mapping: &m}}}
			return in
		}, []string{"is netplan42's but forwards to 192.0.2.99:4242, not to this computer's 192.0.2.10:4242"}, false},
		{"look-alike of this computer's tag", func() StatusInput {
			in := healthy()
			m := ours(4242, 7200)
			m.InternalAddress = other
			in.Router = upnpView(m)
			return in
		}, []string{`held by a mapping to 192.0.2.11:4242 ("netplan42:nas/crashplan"`}, false},
		{"lookup failed", func() StatusInput {
			in := healthy()
			in.Router = upnpView()
			in.Router.Listed = false
			in.Router.Unknown = []planner.UnknownKey{{Key: planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}, Why: "upnp error 606"}}
			return in
		}, []string{`the router did not say what it holds on 4242/tcp: upnp error 606`}, false},
		{"held by another netplan42 computer", func() StatusInput {
			in := healthy()
			in.Router = upnpView(planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: other, InternalPort: 1024, Description: "netplan42:desk/crashplan"})
			return in
		}, []string{`held by a mapping to 192.0.2.11:1024 ("netplan42:desk/crashplan", managed by netplan42 for computer.desk service "crashplan")`}, false},
		{"lease nearly over", func() StatusInput {
			in := healthy()
			in.Router = upnpView(ours(4242, 300))
			return in
		}, []string{"info router_mapping.crashplan[\"tcp\"]: the mapping's lease ends in 5m"}, false},
		{"loopback only", func() StatusInput {
			in := healthy()
			in.Listeners[0] = listen(planner.TCP, "127.0.0.1:4242", crashplanJava)
			return in
		}, []string{`listens on 127.0.0.1:4242 only (loopback)`}, false},
		{"another address only", func() StatusInput {
			in := healthy()
			in.Listeners[0] = listen(planner.TCP, "10.8.0.2:4242", crashplanJava)
			return in
		}, []string{`listens on 10.8.0.2:4242, not on this computer's LAN address 192.0.2.10`}, false},
		{"several programs", func() StatusInput {
			in := healthy()
			in.Listeners = append(in.Listeners, listen(planner.TCP, "[::]:4242", Process{PID: 9, Name: "nc"}))
			return in
		}, []string{`held by several programs: CrashPlanServic (pid 812), nc (pid 9)`}, false},
		{"rule not reached", func() StatusInput {
			in := healthy()
			in.Firewall.Hooked = false
			return in
		}, []string{"rules are not hooked into the input path"}, false},
		{"rule sources differ", func() StatusInput {
			in := healthy()
			r := ruleCP
			r.Sources = []netip.Prefix{netip.MustParsePrefix("::/0")}
			in.Firewall = fw(true, r, ruleSMB)
			return in
		}, []string{`netplan42's firewall rule for 4242/tcp is not as the config says (sources ::/0 → 0.0.0.0/0, ::/0)`}, false},
		{"public_address unresolvable", func() StatusInput {
			in := healthy()
			in.Network.PublicAddress, in.PublicAddresses, in.PublicAddressError = "nas.example.net", nil, "lookup nas.example.net: no such name"
			return in
		}, []string{`public_address "nas.example.net" of network "home" does not resolve`}, false},
		{"private external address", func() StatusInput {
			in := healthy()
			in.Router.ExternalAddress = netip.MustParseAddr("192.168.178.20")
			in.Probes = nil
			return in
		}, []string{"error router: double NAT: the router's external address 192.168.178.20 is private"}, false},
		{"shared external address", func() StatusInput {
			in := healthy()
			in.Router.ExternalAddress = netip.MustParseAddr("100.64.12.7")
			in.Probes = nil
			return in
		}, []string{"error router: double NAT (carrier-grade NAT)"}, false},
		{"manual by config", func() StatusInput {
			in := healthy()
			in.Network.Router.Protocols = []schema.Via{schema.ViaManual}
			in.Probes = nil
			in.Router = &planner.RouterView{Protocol: schema.ViaManual, Gateway: gw, InternalAddress: me}
			return in
		}, []string{`info router: network "home"'s router is set up by hand`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findings(Status(tc.in()))
			if tc.none && got != "" {
				t.Errorf("want no findings, got:\n%s", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("findings lack %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestLooksLike(t *testing.T) {
	for _, tc := range []struct {
		service string
		p       Process
		want    bool
	}{
		{"crashplan", crashplanJava, true},
		{"crashplan", Process{Name: "java", Command: "/usr/local/crashplan/jre/bin/java -Dapp=CrashPlanService"}, true},
		{"ssh", Process{Name: "sshd"}, true},
		{"syncthing", Process{Name: "syncthing"}, true},
		{"crashplan", Process{Name: "nc", Command: "nc -l 4242"}, false},
		{"crashplan-ui", crashplanJava, true},
		{"my-ui", Process{Name: "nc"}, false},
		{"web", Process{Name: "nginx"}, false},
	} {
		if got := looksLike(tc.service, []Process{tc.p}); got != tc.want {
			t.Errorf("looksLike(%q, %+v) = %v", tc.service, tc.p, got)
		}
	}
}
