package firewall

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
)

// pf is not run live here (Linux machines). These captures are others'
// published pfctl output:
//
//   - macMainRules and foreignAnchorRules: `sudo firewall status` on macOS,
//     printing `pfctl -sr` and `pfctl -a com.selvansoft -sr`, in the README
//     of github.com/aselvan/scripts (firewall/).
//   - verboseRules: `pfctl -v -s rules` on OpenBSD, quoted on
//     bsd.nomo.au/gateway/firewall/manage/ruleset/ (counter lines).
//   - infoDisabled: a macOS `pfctl -s info` status line quoted in a public
//     project's test fixtures; infoEnabled is the same line as pfctl's
//     print_status writes it when enabled.
//
// ourAnchorRules is our rendered anchor as pfctl prints rules back,
// written by hand in the normalised form seen in those captures
// ("port = N", "flags S/SA keep state" for tcp, "keep state" for udp,
// hosts without /32).
const (
	macMainRules = `scrub-anchor "com.apple/*" all fragment reassemble
anchor "com.apple/*" all
anchor "com.selvansoft" all
`
	foreignAnchorRules = `block return log all
block return out quick from any to <blocked_list>
pass out quick all flags S/SA keep state
pass in proto udp from any to any port = 53 keep state
pass in inet proto tcp from 192.168.1.0/24 to any port = 22 flags S/SA keep state
pass in proto tcp from <dynamic_list> to any port = 22 flags S/SA keep state
block return in quick from <non_routable_list> to any
`
	verboseRules = `scrub in all no-df fragment reassemble
  [ Evaluations: 373620187  Packets: 179290329  Bytes: 45895535624  States: 0     ]
  [ Inserted: uid 0 pid 24100 ]
`
	infoDisabled = "Status: Disabled for 0 days 00:00:12          Debug: Urgent\n\nState Table                          Total             Rate\n  current entries                        0               \n"
	infoEnabled  = "Status: Enabled for 0 days 00:00:12           Debug: Urgent\n\nState Table                          Total             Rate\n  current entries                        0               \n"

	ourAnchorRules = `pass in quick inet proto tcp from any to any port = 4242 flags S/SA keep state label "netplan42:nas/crashplan"
  [ Evaluations: 12        Packets: 40        Bytes: 2400        States: 1     ]
  [ Inserted: uid 0 pid 4242 State Creations: 3     ]
pass in quick inet6 proto tcp from any to any port = 4242 flags S/SA keep state label "netplan42:nas/crashplan"
pass in quick inet proto udp from 192.0.2.0/24 to any port = 4243 keep state label "netplan42:nas/crashplan-lan"
pass in quick inet6 proto udp from 2001:db8:1::/64 to any port = 4243 keep state label "netplan42:nas/crashplan-lan"
pass in quick inet proto tcp from 192.0.2.10 to any port = 4244 flags S/SA keep state label "netplan42:pc/host"
`
)

func TestRenderPFGolden(t *testing.T) {
	golden(t, "pf-anchor.golden", renderPF(expand(captureRules)))
}

func TestParsePFRules(t *testing.T) {
	entries, foreign := parsePFRules([]byte(ourAnchorRules + verboseRules))
	want := append(expand(captureRules), entry{planner.TCP, 4244, netip.MustParsePrefix("192.0.2.10/32"), "netplan42:pc/host"})
	if !sameEntries(entries, want) {
		t.Errorf("entries %+v\nwant %+v", entries, want)
	}
	if !reflect.DeepEqual(foreign, []string{"scrub in all no-df fragment reassemble"}) {
		t.Errorf("foreign %q", foreign)
	}
	// Nothing in someone else's anchor is taken for ours.
	if entries, foreign := parsePFRules([]byte(foreignAnchorRules)); len(entries) != 0 || len(foreign) != 7 {
		t.Errorf("foreign anchor: %d entries, %d foreign lines", len(entries), len(foreign))
	}
	// What we render parses back as what we meant (pfctl adds only what
	// the parser skips).
	if entries, foreign := parsePFRules(renderPF(expand(captureRules))[len("# netplan42 anchor: generated; loaded with pfctl -a netplan42 -f -\n"):]); !sameEntries(entries, expand(captureRules)) || len(foreign) != 0 {
		t.Errorf("round trip: %+v %q", entries, foreign)
	}
}

func TestPFAnchorAndStatus(t *testing.T) {
	if ref, _ := pfAnchorReferenced([]byte(macMainRules)); ref {
		t.Error("anchor netplan42 found in a ruleset without it")
	}
	withOurs := macMainRules + "block drop in quick proto tcp from any to any port = 4242\nanchor \"netplan42\" all\n"
	ref, blocks := pfAnchorReferenced([]byte(withOurs))
	if !ref || len(blocks) != 1 || !pfBlocks(blocks[0], key{planner.TCP, 4242}) || pfBlocks(blocks[0], key{planner.TCP, 22}) {
		t.Errorf("ref %v blocks %q", ref, blocks)
	}
	if pfEnabled([]byte(infoDisabled)) || !pfEnabled([]byte(infoEnabled)) {
		t.Error("pf status misread")
	}
}

// The command path, through an injected runner: syntax check, then load;
// removal flushes the anchor; Observe tells the user what to add to
// pf.conf.
func TestPFCommands(t *testing.T) {
	fr := &fakeRun{out: map[string]string{
		"pfctl -n -a netplan42 -f -":  "",
		"pfctl -a netplan42 -f -":     "",
		"pfctl -a netplan42 -F rules": "",
		"pfctl -a netplan42 -sr":      ourAnchorRules,
		"pfctl -sr":                   macMainRules,
		"pfctl -s info":               infoDisabled,
	}}
	b := &pfBackend{run: fr.run}
	ctx := context.Background()
	if err := b.sync(ctx, captureRules); err != nil {
		t.Fatal(err)
	}
	if err := b.sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"pfctl -n -a netplan42 -f -", "pfctl -a netplan42 -f -", "pfctl -a netplan42 -F rules"}
	if !reflect.DeepEqual(fr.calls, want) {
		t.Fatalf("calls %q, want %q", fr.calls, want)
	}
	if fr.stdin[0] != string(renderPF(expand(captureRules))) || fr.stdin[0] != fr.stdin[1] {
		t.Error("syntax check and load did not get the rendered anchor")
	}
	v, err := b.observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Hooked || len(v.Rules) != 3 {
		t.Errorf("hooked %v rules %+v", v.Hooked, v.Rules)
	}
	if !hasWarning(v.Warnings, `add the line anchor "netplan42" to /etc/pf.conf`) || !hasWarning(v.Warnings, "pf is disabled") {
		t.Errorf("warnings %q", v.Warnings)
	}

	// A syntax error stops before loading and carries pfctl's message.
	fr = &fakeRun{out: map[string]string{}}
	b = &pfBackend{run: fr.run}
	err = b.sync(ctx, captureRules)
	if err == nil || !strings.Contains(err.Error(), "syntax check") || len(fr.calls) != 1 {
		t.Errorf("err %v calls %q", err, fr.calls)
	}
	long := crashplan
	long.Comment = "netplan42:" + strings.Repeat("x", 60) + "/svc"
	if err := b.sync(ctx, []planner.Rule{long}); err == nil || !strings.Contains(err.Error(), "at most 63") {
		t.Errorf("long label: %v", err)
	}
}

func FuzzParsePFRules(f *testing.F) {
	f.Add([]byte(ourAnchorRules))
	f.Add([]byte(foreignAnchorRules))
	f.Add([]byte("pass in quick proto tcp from any to any port = label \"x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parsePFRules(b)
		pfAnchorReferenced(b)
		pfEnabled(b)
	})
}
