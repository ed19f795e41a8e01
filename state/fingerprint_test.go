package state

import (
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/netplan42/netplan42/planner"
)

func TestFingerprintAndDescribeChanges(t *testing.T) {
	skype4242 := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.0.2.11"),
		InternalPort: 4242, Description: "Skype", LeaseSeconds: 3600}
	ruleSMB := planner.Rule{Protocol: planner.TCP, Port: 445, Sources: []netip.Prefix{lan}, Comment: "netplan42:nas/smb"}

	for _, tc := range []struct {
		name string
		edit func(o *planner.Observed)
		want []string // nil: same fingerprint
	}{
		{"nothing", func(o *planner.Observed) {}, nil},
		{"time, leases, epoch, notes", func(o *planner.Observed) {
			o.At = o.At.Add(time.Minute)
			o.Router.Mappings[0].LeaseSeconds = 99
			o.Router.Epoch, o.Router.HasEpoch = 12345, true
			o.Router.Notes = []string{"fell back to NAT-PMP"}
			o.Router.Detail = "something else"
			o.Firewall.Warnings = []string{"ufw owns a table"}
			o.Refreshed = false
		}, nil},
		{"order of mappings, rules and sources", func(o *planner.Observed) {
			o.Router.Mappings = append(o.Router.Mappings, crashplan(10))
			slices.Reverse(o.Router.Mappings)
			o.Firewall.Rules = []planner.Rule{
				{Protocol: planner.TCP, Port: 4242, Sources: []netip.Prefix{planner.AnySource[1], planner.AnySource[0]}, Comment: ruleCP.Comment},
			}
		}, []string{`router mapping 4242/tcp -> 192.0.2.10:4242 "netplan42:nas/crashplan" appeared`}},
		{"foreign mapping appeared", func(o *planner.Observed) {
			o.Router.Mappings = append(o.Router.Mappings, skype4242)
		}, []string{`router mapping 4242/tcp -> 192.0.2.11:4242 "Skype" appeared`}},
		{"mapping disappeared", func(o *planner.Observed) {
			o.Router.Mappings = nil
		}, []string{`router mapping 5000/udp -> 192.0.2.11:5000 "Skype" disappeared`}},
		{"mapping moved and disabled", func(o *planner.Observed) {
			o.Router.Mappings[0].InternalAddress = me
			o.Router.Mappings[0].Disabled = true
		}, []string{`router mapping 5000/udp now points to 192.0.2.10:5000 "Skype" (disabled), not 192.0.2.11:5000 "Skype"`}},
		{"same port for one remote host", func(o *planner.Observed) {
			m := o.Router.Mappings[0]
			m.RemoteHost = "198.51.100.7"
			o.Router.Mappings = append(o.Router.Mappings, m)
		}, []string{`router mapping 5000/udp from 198.51.100.7 -> 192.0.2.11:5000 "Skype" appeared`}},
		{"router addresses and identity", func(o *planner.Observed) {
			o.Router.ExternalAddress = netip.MustParseAddr("11.0.0.2")
			o.Router.InternalAddress = netip.MustParseAddr("192.0.2.20")
			o.Router.Identity = "http://192.0.2.1:5000/rootDesc.xml#8"
		}, []string{
			"router external address changed 11.0.0.1 → 11.0.0.2",
			"this host's address towards the router changed 192.0.2.10 → 192.0.2.20",
			"router identity (restarted or replaced) changed http://192.0.2.1:5000/rootDesc.xml#7 → http://192.0.2.1:5000/rootDesc.xml#8",
		}},
		{"router protocol and gateway", func(o *planner.Observed) {
			o.Router.Protocol = schema.ViaNATPMP
			o.Router.Gateway = netip.Addr{}
		}, []string{
			"router protocol changed upnp → natpmp",
			"router gateway changed 192.0.2.1 → (none)",
		}},
		{"jump missing", func(o *planner.Observed) {
			o.Firewall.Hooked = false
		}, []string{"jump into our chain missing"}},
		{"pf anchor missing", func(o *planner.Observed) {
			o.Firewall.Backend, o.Firewall.Hooked = "pf", false
		}, []string{"firewall backend changed iptables (nf_tables) → pf", "anchor reference to our rules missing"}},
		{"rule gone, rule came", func(o *planner.Observed) {
			o.Firewall.Rules = []planner.Rule{ruleSMB}
		}, []string{
			"firewall rule netplan42:nas/crashplan tcp 4242 disappeared",
			"firewall rule netplan42:nas/smb tcp 445 from 192.0.2.0/24 appeared",
		}},
		{"rule sources changed", func(o *planner.Observed) {
			o.Firewall.Rules[0].Sources = []netip.Prefix{lan}
		}, []string{"firewall rule netplan42:nas/crashplan tcp 4242 sources changed 0.0.0.0/0, ::/0 → 192.0.2.0/24"}},
		{"same rule twice", func(o *planner.Observed) {
			o.Firewall.Rules = append(o.Firewall.Rules, ruleCP)
		}, []string{"firewall rule netplan42:nas/crashplan tcp 4242 appeared"}},
		{"local network", func(o *planner.Observed) {
			o.Firewall.LocalPrefixes = append(o.Firewall.LocalPrefixes, netip.MustParsePrefix("172.18.0.0/16"))
		}, []string{"local network 172.18.0.0/16 appeared"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, new := observed(), observed()
			tc.edit(&new)
			same := Fingerprint(old) == Fingerprint(new)
			if same != (tc.want == nil) {
				t.Errorf("fingerprints equal = %v; want %v", same, tc.want == nil)
			}
			got := DescribeChanges(old, new)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("DescribeChanges (-want +got):\n%s", d)
			}
			if same != (len(got) == 0) {
				t.Errorf("fingerprints equal = %v but DescribeChanges says %q", same, got)
			}
			if back := DescribeChanges(new, old); len(back) != len(got) {
				t.Errorf("DescribeChanges backwards says %q; want as many sentences as %q", back, got)
			}
		})
	}
}
