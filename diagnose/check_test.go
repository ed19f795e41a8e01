package diagnose

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// fleet is a config of four networks: home (desk, nas), friend (a public
// address and an external port of its own), cgn (a public_address in
// carrier-grade NAT space) and nopub (no public_address).
func fleet() *schema.Config {
	netw := func(name, public string) *schema.Network {
		n := home()
		n.Name, n.PublicAddress = name, public
		return n
	}
	cp := func(port, ext uint16) *schema.Service {
		return &schema.Service{Name: "crashplan", Port: port, ExternalPort: ext, Protocol: schema.TCP, Expose: schema.ExposeInternet}
	}
	pc := func(name, network string, ss ...*schema.Service) *schema.Computer {
		return &schema.Computer{Label: name, Network: network, Hostname: name, Firewall: schema.FirewallAuto, Services: ss}
	}
	d := desk()
	friend := pc("friend-pc", "friend", cp(4242, 14242), &schema.Service{Name: "game", Port: 27015, Protocol: schema.Both, Expose: schema.ExposeInternet},
		&schema.Service{Name: "vnc", Port: 5900, Protocol: schema.TCP, Expose: schema.ExposeLAN})
	return &schema.Config{
		Networks: map[string]*schema.Network{
			"home": home(), "friend": netw("friend", "friend.example.net"), "cgn": netw("cgn", "100.64.1.2"), "nopub": netw("nopub", ""),
		},
		Computers: []*schema.Computer{pc("cgn-pc", "cgn", cp(4242, 0)), d, friend, nas(), pc("nopub-pc", "nopub", cp(4242, 0)), pc("quiet", "home")},
	}
}

func TestPlanChecks(t *testing.T) {
	cfg := fleet()
	from := cfg.Computer("desk")
	targets, err := Targets(cfg, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range targets {
		names = append(names, c.Name())
	}
	if got := strings.Join(names, " "); got != "cgn-pc friend-pc nas nopub-pc" {
		t.Errorf("default targets %q: want every other computer exposing something", got)
	}
	checks, skipped := PlanChecks(cfg, from, append(targets, cfg.Computer("quiet")))
	var got []string
	for _, c := range checks {
		got = append(got, c.Target.Name()+" "+c.Service.Name+" "+string(c.Protocol)+" "+string(c.Path)+" "+strconv.Itoa(int(c.Port)))
	}
	want := []string{
		"cgn-pc crashplan tcp public 4242",
		"friend-pc crashplan tcp public 14242",
		"friend-pc game tcp public 27015",
		"friend-pc game udp public 27015",
		"nas crashplan tcp internal 4242",
		"nas crashplan tcp router 4242",
		"nas smb tcp internal 445",
		"nopub-pc crashplan tcp public 4242",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "computer.quiet exposes nothing") {
		t.Errorf("skipped %q", skipped)
	}
	if _, err := Targets(cfg, from, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "nas") {
		t.Errorf("unknown target: %v", err)
	}
}

// checkCase is one check with its evidence and the verdict it must get.
type checkCase struct {
	name    string
	target  string
	service string
	proto   planner.Protocol
	path    Path
	e       Evidence
	want    Verdict
	says    string // a substring of the cause or detail
}

func checkCases() []checkCase {
	nasAddr := Evidence{Addr: me, AddrSource: `from the router's mapping "netplan42:nas/crashplan"`}
	with := func(e Evidence, f func(*Evidence)) Evidence { f(&e); return e }
	router := func(m *planner.Mapping) Evidence {
		return Evidence{Addr: me, AddrSource: `from DNS "nas"`, RouterProtocol: schema.ViaUPnP, RouterKnows: true, OnKey: m, Computers: fleet().Computers}
	}
	friend := Evidence{Addr: netip.MustParseAddr("198.51.100.20"), AddrSource: `public_address "friend.example.net"`}
	m := ours(4242, 3500)
	moved := ours(4242, 3500)
	moved.InternalAddress = netip.MustParseAddr("192.0.2.99")
	skype := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: other, InternalPort: 4242, Description: "CrashPlan on desk"}
	return []checkCase{
		{"internal ok", "nas", "crashplan", planner.TCP, Internal, with(nasAddr, func(e *Evidence) { e.Outcome, e.Elapsed = Connected, 2*time.Millisecond }), OK, "connected in 2ms"},
		{"internal refused", "nas", "crashplan", planner.TCP, Internal, with(nasAddr, func(e *Evidence) { e.Outcome = Refused }), VRefused, "nothing listens on 4242/tcp there"},
		{"internal drop, host up", "nas", "crashplan", planner.TCP, Internal, with(nasAddr, func(e *Evidence) { e.Outcome, e.Neighbor = TimedOut, NeighborResolved }), VTimeout, "is up (it answers ARP) but not on 4242/tcp"},
		{"internal silence, no ARP", "nas", "crashplan", planner.TCP, Internal, with(nasAddr, func(e *Evidence) { e.Outcome, e.Neighbor = TimedOut, NeighborUnresolved }), VUnreach, "does not answer ARP"},
		{"internal silence, ARP unknown", "nas", "smb", planner.TCP, Internal, with(nasAddr, func(e *Evidence) { e.Outcome = TimedOut; e.AddrSource = "from --address" }), VTimeout, "a firewall there drops 445/tcp (DROP), or the computer is off"},
		{"internal no route", "nas", "smb", planner.TCP, Internal, with(nasAddr, func(e *Evidence) { e.Outcome = Unreachable }), VUnreach, "no longer has this address"},
		{"internal no address", "nas", "crashplan", planner.TCP, Internal, Evidence{AddrError: `the router holds no netplan42 mapping of nas, and "nas" does not resolve (no such name)`}, NoAddress, "LAN address is unknown"},
		{"internal odd error", "nas", "crashplan", planner.TCP, Internal, with(nasAddr, func(e *Evidence) {
			e.Outcome, e.Error = DialError, "dial tcp 192.0.2.10:4242: socket: too many open files"
		}), VError, "too many open files"},
		{"router ok", "nas", "crashplan", planner.TCP, RouterPath, router(&m), OK, "the router forwards 4242/tcp to 192.0.2.10:4242 (netplan42:nas/crashplan, lease 58m20s left)"},
		{"router no mapping", "nas", "crashplan", planner.TCP, RouterPath, router(nil), NoMapping, "no mapping for 4242/tcp on this network's router"},
		{"router foreign holder", "nas", "crashplan", planner.TCP, RouterPath, router(&skype), WrongPeer, `the router forwards 4242/tcp to 192.0.2.11:4242 ("CrashPlan on desk", not managed by netplan42), not to nas`},
		{"router stale address", "nas", "crashplan", planner.TCP, RouterPath, router(&moved), WrongPeer, "its address changed since the last apply"},
		{"router natpmp", "nas", "crashplan", planner.TCP, RouterPath, Evidence{RouterProtocol: schema.ViaNATPMP}, VUnknown, "cannot list its mappings"},
		{"router manual", "nas", "crashplan", planner.TCP, RouterPath, Evidence{RouterProtocol: schema.ViaManual}, VUnknown, "it should forward TCP 4242 to nas's address port 4242"},
		{"router not read", "nas", "crashplan", planner.TCP, RouterPath, Evidence{RouterError: "router: gateway 2001:db8::1 is not IPv4"}, VUnknown, "could not be read"},
		{"public ok", "friend-pc", "crashplan", planner.TCP, Public, with(friend, func(e *Evidence) { e.Outcome, e.Elapsed = Connected, 31*time.Millisecond }), OK, "connected in 31ms"},
		{"public refused", "friend-pc", "crashplan", planner.TCP, Public, with(friend, func(e *Evidence) { e.Outcome = Refused }), VRefused, `no mapping for 14242/tcp on network "friend"'s router`},
		{"public timeout", "friend-pc", "crashplan", planner.TCP, Public, with(friend, func(e *Evidence) { e.Outcome = TimedOut }), VTimeout, "no mapping for 14242/tcp"},
		{"public no route", "friend-pc", "crashplan", planner.TCP, Public, with(friend, func(e *Evidence) { e.Outcome = Unreachable }), VUnreach, "cannot be reached from here"},
		{"public udp", "friend-pc", "game", planner.UDP, Public, friend, VSkipped, "UDP has no handshake"},
		{"public does not resolve", "friend-pc", "crashplan", planner.TCP, Public, Evidence{AddrError: "lookup friend.example.net: no such name"}, NoAddress, `public_address "friend.example.net" of network "friend" does not resolve`},
		{"public not set", "nopub-pc", "crashplan", planner.TCP, Public, Evidence{}, NoAddress, `network "nopub" has no public_address`},
		{"public in CGNAT space", "cgn-pc", "crashplan", planner.TCP, Public, Evidence{Addr: netip.MustParseAddr("100.64.1.2"), AddrSource: `public_address "100.64.1.2"`, Outcome: TimedOut}, VTimeout, "is in carrier-grade NAT space (100.64.0.0/10)"},
	}
}

func judgeCases(t *testing.T) []Result {
	cfg := fleet()
	from := cfg.Computer("desk")
	var out []Result
	for _, tc := range checkCases() {
		target := cfg.Computer(tc.target)
		var svc *schema.Service
		for _, s := range target.Services {
			if s.Name == tc.service {
				svc = s
			}
		}
		checks, _ := PlanChecks(cfg, from, []*schema.Computer{target})
		var c *Check
		for i := range checks {
			if checks[i].Service == svc && checks[i].Protocol == tc.proto && checks[i].Path == tc.path {
				c = &checks[i]
			}
		}
		if c == nil {
			t.Fatalf("%s: no such check planned", tc.name)
		}
		r := Judge(*c, tc.e)
		if r.Verdict != tc.want || r.OK != (tc.want == OK) {
			t.Errorf("%s: verdict %q (ok %v), want %q", tc.name, r.Verdict, r.OK, tc.want)
		}
		if text := r.Detail + " " + r.Cause; !strings.Contains(text, tc.says) {
			t.Errorf("%s: %q lacks %q", tc.name, text, tc.says)
		}
		if r.Verdict.Failed() && r.Fix == "" && r.Verdict != VError {
			t.Errorf("%s: a failure without a fix", tc.name)
		}
		out = append(out, r)
	}
	return out
}

func TestJudgeGolden(t *testing.T) {
	results := judgeCases(t)
	cfg := fleet()
	rep := NewCheckReport(cfg.Computer("desk"), 3*time.Second, results, []string{"computer.quiet exposes nothing to other computers"}, []string{"neighbour (ARP) table: not supported on darwin (netplan42 reads Linux's /proc/net)"})
	if !rep.HasFailures() || rep.Passed != 3 || rep.Unknown != 4 || rep.Failed != len(results)-7 {
		t.Errorf("counts: passed %d failed %d unknown %d of %d", rep.Passed, rep.Failed, rep.Unknown, len(results))
	}
	var txt, js bytes.Buffer
	if err := RenderCheck(&txt, rep, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := RenderCheckJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "check-all.txt"), txt.Bytes())
	golden.Check(t, filepath.Join("testdata", "check-all.json"), js.Bytes())
	var back CheckReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.FormatVersion != FormatVersion || len(back.Results) != len(results) {
		t.Errorf("JSON does not read back: %v", err)
	}
	// A passing run.
	ok := NewCheckReport(cfg.Computer("desk"), time.Second, results[:1], nil, nil)
	txt.Reset()
	if err := RenderCheck(&txt, ok, RenderOptions{}); err != nil || ok.HasFailures() {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "check-pass.txt"), txt.Bytes())
}

// On a network whose router netplan42 administers over SSH, the router
// path says "forward", and the fix names both ways to apply it: for the
// whole network, or on the target.
func TestJudgeAdministered(t *testing.T) {
	office := &schema.Network{Name: "office", Router: schema.Router{Protocols: []schema.Via{"ssh"}, SSH: &schema.SSHRouter{Host: "192.0.2.1", Flavor: "linux"}}}
	web := &schema.Service{Name: "web", Port: 4300, Protocol: schema.TCP, Expose: schema.ExposeInternet}
	beta := &schema.Computer{Label: "beta", Network: "office", LANAddress: netip.MustParseAddr("192.0.2.11"), Firewall: schema.FirewallNone, Services: []*schema.Service{web}}
	alpha := &schema.Computer{Label: "alpha", Network: "office", LANAddress: netip.MustParseAddr("192.0.2.10"), Firewall: schema.FirewallNone}
	cfg := &schema.Config{Networks: map[string]*schema.Network{"office": office}, Computers: []*schema.Computer{alpha, beta}}
	checks, _ := PlanChecks(cfg, alpha, []*schema.Computer{beta})
	var c *Check
	for i := range checks {
		if checks[i].Path == RouterPath {
			c = &checks[i]
		}
	}
	if c == nil {
		t.Fatalf("no router check planned: %+v", checks)
	}
	e := Evidence{Addr: beta.LANAddress, AddrSource: "from its address in the config", RouterProtocol: "ssh", RouterKnows: true, Computers: cfg.Computers}
	r := Judge(*c, e)
	if r.Verdict != NoMapping || r.Detail != "the router holds no forward for 4300/tcp" ||
		r.Fix != "netplan42 apply --network office creates it (or on beta: netplan42 apply)" {
		t.Errorf("no forward: %q %q %q", r.Verdict, r.Detail, r.Fix)
	}
	moved := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4300, InternalAddress: netip.MustParseAddr("192.0.2.99"), InternalPort: 4300, Description: planner.Tag("beta", "web")}
	e.OnKey = &moved
	r = Judge(*c, e)
	if r.Verdict != WrongPeer || r.Fix != "netplan42 apply --network office moves the forward to its address (or on beta: netplan42 apply)" {
		t.Errorf("moved: %q %q", r.Verdict, r.Fix)
	}
}
