package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`-A INPUT -j ACCEPT`, []string{"-A", "INPUT", "-j", "ACCEPT"}},
		{`-A X -m comment --comment "netplan42:nas/crashplan" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", "netplan42:nas/crashplan", "-j", "ACCEPT"}},
		{`-A X -m comment --comment "admin: ssh" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", "admin: ssh", "-j", "ACCEPT"}},
		{`-j LOG --log-prefix "[UFW \"BLOCK\"] "`, []string{"-j", "LOG", "--log-prefix", `[UFW "BLOCK"] `}},
		{`a  b`, []string{"a", "b"}},
	} {
		got, err := splitArgs(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := splitArgs(`-m comment --comment "open`); err == nil {
		t.Error("unterminated quote: no error")
	}
}

// What a foreign iptables rule does to new incoming 4242/tcp.
func TestIptablesRuleEffect(t *testing.T) {
	k := key{planner.TCP, 4242}
	for _, tc := range []struct {
		rule string
		want effect
	}{
		{"-A INPUT -j DROP", allEffect},
		{"-A INPUT -p tcp -m tcp --dport 4242 -j DROP", allEffect},
		{"-A INPUT -p tcp -m multiport --dports 4000:5000 -j REJECT --reject-with tcp-reset", allEffect},
		{"-A INPUT -p tcp -m multiport --dports 22,80,443 -j f2b-sshd", noEffect},
		{"-A INPUT -p tcp -m tcp ! --dport 22 -j DROP", allEffect},
		{"-A INPUT -p tcp -m tcp ! --dport 4242 -j DROP", noEffect},
		{"-A INPUT -p udp -m udp --dport 4242 -j DROP", noEffect},
		{"-A INPUT ! -p tcp -j DROP", noEffect},
		{"-A INPUT -i lo -j ACCEPT", noEffect},
		{"-A INPUT -i eth1 -j DROP", someEffect},
		{"-A INPUT -s 203.0.113.9/32 -j DROP", someEffect},
		{"-A INPUT -m conntrack --ctstate INVALID -j DROP", noEffect},
		{"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", noEffect},
		{"-A INPUT -m conntrack --ctstate NEW -j DROP", allEffect},
		{"-A INPUT -m conntrack ! --ctstate NEW -j DROP", noEffect},
		{"-A INPUT -m set --match-set blocklist src -j DROP", someEffect},
		{"-A INPUT -p all -j DROP", allEffect},
	} {
		args, _ := splitArgs(tc.rule)
		f := parseArgs(args[2:]).frule(tc.rule, ChainIptables)
		if got := f.effect(k); got != tc.want {
			t.Errorf("%s: effect %d, want %d (%+v)", tc.rule, got, tc.want, f)
		}
	}
}

func capturedIptables(t *testing.T, variant string, v4, v6 string) (*iptablesBackend, *fakeRun) {
	t.Helper()
	suffix := map[string]string{"nf_tables": "-nft", "legacy": "-legacy"}[variant]
	fr := &fakeRun{out: map[string]string{}}
	if v4 != "" {
		fr.out["iptables"+suffix+"-save"] = string(readTestdata(t, v4))
	}
	if v6 != "" {
		fr.out["ip6tables"+suffix+"-save"] = string(readTestdata(t, v6))
	} else {
		fr.out["ip6tables"+suffix+"-save"] = ""
	}
	b := &iptablesBackend{variant: variant, run: fr.run, fams: []ipFamily{
		{false, "iptables", "iptables" + suffix + "-save", "iptables" + suffix + "-restore"},
		{true, "ip6tables", "ip6tables" + suffix + "-save", "ip6tables" + suffix + "-restore"},
	}}
	return b, fr
}

// Observe on captures of this machine's iptables-nft and iptables-legacy
// after a Sync of captureRules (see capture_test.go).
func TestObserveIptablesCaptures(t *testing.T) {
	for _, tc := range []struct {
		variant, v4, v6 string
		rules           []planner.Rule
		hooked          bool
		warn            string
	}{
		{"nf_tables", "iptables-save-nft.txt", "ip6tables-save-nft.txt", captureRules, true, ""},
		{"legacy", "iptables-save-legacy.txt", "ip6tables-save-legacy.txt", captureRules, true, ""},
		// Only the IPv4 table captured: IPv6 has no chain, so not hooked.
		{"nf_tables", "iptables-save-ufw.txt", "", []planner.Rule{
			crashplan4(), {Protocol: planner.UDP, Port: 4243, Comment: "netplan42:nas/crashplan-lan", Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		}, false, "managed by ufw"},
	} {
		t.Run(tc.v4, func(t *testing.T) {
			b, _ := capturedIptables(t, tc.variant, tc.v4, tc.v6)
			v, err := b.observe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !sameRules(v.Rules, tc.rules) || v.Hooked != tc.hooked {
				t.Errorf("rules %+v hooked %v; want %+v hooked %v", v.Rules, v.Hooked, tc.rules, tc.hooked)
			}
			if tc.warn == "" && len(v.Warnings) > 0 || tc.warn != "" && !hasWarning(v.Warnings, tc.warn) {
				t.Errorf("warnings %q, want one with %q", v.Warnings, tc.warn)
			}
			if v.Backend != "iptables ("+tc.variant+")" {
				t.Errorf("backend %q", v.Backend)
			}
		})
	}
}

func crashplan4() planner.Rule {
	r := crashplan
	r.Sources = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	return r
}

// Rules above our jump that decide our traffic are named; rules below that
// our accept overrides are named when they are specific.
func TestIptablesWarnings(t *testing.T) {
	save := `*filter
:INPUT DROP [0:0]
:NETPLAN42 - [0:0]
:blocklist - [0:0]
-A INPUT -s 198.51.100.0/24 -j DROP
-A INPUT -j blocklist
-A INPUT -m comment --comment netplan42 -j NETPLAN42
-A INPUT -p tcp -m tcp --dport 4242 -j REJECT --reject-with tcp-reset
-A INPUT -j DROP
-A NETPLAN42 -p tcp -m tcp --dport 4242 -m comment --comment "netplan42:nas/crashplan" -j ACCEPT
-A blocklist -s 203.0.113.0/24 -j DROP
COMMIT
`
	fr := &fakeRun{out: map[string]string{"iptables-save": save}}
	b := &iptablesBackend{variant: "nf_tables", run: fr.run, fams: []ipFamily{{false, "iptables", "iptables-save", "iptables-restore"}}}
	v, err := b.observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{
		{`"-A INPUT -s 198.51.100.0/24 -j DROP"`, "drops some new 4242/tcp traffic before netplan42's jump", "source 198.51.100.0/24"},
		{`"-A blocklist -s 203.0.113.0/24 -j DROP" in chain blocklist`, "before netplan42's jump"},
		{`"-A INPUT -p tcp -m tcp --dport 4242 -j REJECT --reject-with tcp-reset"`, "netplan42's jump comes first"},
	} {
		if !hasWarning(v.Warnings, want...) {
			t.Errorf("no warning with %q in %q", want, v.Warnings)
		}
	}
	if hasWarning(v.Warnings, `"-A INPUT -j DROP"`) {
		t.Errorf("the catch-all DROP after our jump is normal and needs no warning: %q", v.Warnings)
	}
	if len(v.Warnings) != 3 {
		t.Errorf("%d warnings, want 3: %q", len(v.Warnings), v.Warnings)
	}
}

func TestRenderRestoreGolden(t *testing.T) {
	entries := expand(captureRules)
	for _, tc := range []struct {
		name    string
		entries []entry
		st      ipState
		remove  bool
	}{
		{"restore-first-v4.golden", forFamily(entries, false), ipState{}, false},
		{"restore-update-v6.golden", forFamily(entries, true), ipState{chainExists: true, jumps: 1}, false},
		{"restore-extra-jumps.golden", forFamily(entries, false), ipState{chainExists: true, jumps: 3}, false},
		{"restore-empty-family.golden", nil, ipState{}, false},
		{"restore-remove.golden", nil, ipState{chainExists: true, jumps: 1}, true},
	} {
		golden(t, tc.name, renderRestore(tc.entries, tc.st, tc.remove))
	}
	if got := renderRestore(nil, ipState{}, true); got != nil {
		t.Errorf("remove with nothing there: %q, want nothing to run", got)
	}
}

// Sync runs one save and one restore per family, never a command per rule.
func TestSyncIptablesCommands(t *testing.T) {
	b, fr := capturedIptables(t, "nf_tables", "iptables-save-nft.txt", "ip6tables-save-nft.txt")
	fr.out["iptables-nft-restore --noflush --wait"] = ""
	fr.out["ip6tables-nft-restore --noflush --wait"] = ""
	many := make([]planner.Rule, 1000)
	for i := range many {
		many[i] = planner.Rule{Protocol: planner.TCP, Port: uint16(10000 + i), Sources: planner.AnySource, Comment: fmt.Sprintf("netplan42:pc%d/svc", i)}
	}
	if err := b.sync(context.Background(), many); err != nil {
		t.Fatal(err)
	}
	want := []string{"iptables-nft-save", "iptables-nft-restore --noflush --wait", "ip6tables-nft-save", "ip6tables-nft-restore --noflush --wait"}
	if !reflect.DeepEqual(fr.calls, want) {
		t.Fatalf("calls %q, want %q", fr.calls, want)
	}
	if n := strings.Count(fr.stdin[1], "\n-A NETPLAN42 "); n != 1000 {
		t.Errorf("restore input holds %d rules, want 1000", n)
	}
	if strings.Contains(fr.stdin[1], "-I INPUT") {
		t.Error("jump inserted again though the capture has it")
	}
}

func TestSyncIptablesErrors(t *testing.T) {
	b, fr := capturedIptables(t, "nf_tables", "iptables-save-nft.txt", "ip6tables-save-nft.txt")
	fr.out["iptables-nft-restore --noflush --wait"] = ""
	err := b.sync(context.Background(), []planner.Rule{crashplan})
	if err == nil || !strings.Contains(err.Error(), "ip6tables-nft-restore --noflush --wait") || !strings.Contains(err.Error(), "not in fake") {
		t.Errorf("error %v: want the command and its stderr", err)
	}
	perm := &cmdError{cmd: "iptables-nft-save", err: errors.New("exit status 4"), stderr: "iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)"}
	if !errors.Is(perm, ErrPermission) || !strings.Contains(perm.Error(), "run as root or with CAP_NET_ADMIN") {
		t.Errorf("permission error %q not recognised", perm)
	}
}

func TestVariantOf(t *testing.T) {
	for in, want := range map[string]string{
		"iptables v1.8.9 (nf_tables)\n": "nf_tables",
		"iptables v1.8.9 (legacy)\n":    "legacy",
		"iptables v1.6.1\n":             "legacy",
	} {
		if got := variantOf(in); got != want {
			t.Errorf("variantOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSave(f *testing.F) {
	for _, name := range []string{"iptables-save-nft.txt", "iptables-save-legacy.txt", "iptables-save-ufw.txt", "ip6tables-save-nft.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("*filter\n[1:2] -A \"x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tables, err := parseSave(b)
		if err != nil {
			return
		}
		for _, tb := range tables {
			ft := ipTable(tb)
			ft.walk("INPUT", key{planner.TCP, 4242})
			for _, r := range tb.rules {
				ownEntry(r, false)
			}
		}
	})
}
