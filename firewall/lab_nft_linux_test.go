package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
)

// foreignNft is an admin's native nftables firewall at policy drop, a
// fail2ban-like table (nftables banaction: own table, input hook at
// priority filter - 1, a set of banned addresses), and iptables-nft rules
// beside them: INPUT policy DROP with loopback and SSH (as restored by
// iptables-persistent) and Docker-like FORWARD and NAT chains.
const foreignNft = nativeNft + `
iptables-nft -P INPUT DROP
iptables-nft -A INPUT -i lo -j ACCEPT
iptables-nft -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
iptables-nft -N DOCKER
iptables-nft -N DOCKER-USER
iptables-nft -A FORWARD -j DOCKER-USER
iptables-nft -A FORWARD -o docker0 -j DOCKER
iptables-nft -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
iptables-nft -A DOCKER-USER -j RETURN
iptables-nft -t nat -N DOCKER
iptables-nft -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
iptables-nft -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
`

// nativeNft is the native part of foreignNft: table inet filter at policy
// drop and the fail2ban-like table.
const nativeNft = `
nft -f - <<'NFTRULES'
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		meta l4proto { icmp, ipv6-icmp } accept
		tcp dport 22 accept comment "admin: ssh"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
table inet f2b-table {
	set addr-set-sshd {
		type ipv4_addr
		elements = { 203.0.113.9 }
	}
	chain f2b-chain {
		type filter hook input priority filter - 1; policy accept;
		tcp dport 22 ip saddr @addr-set-sshd reject
	}
}
NFTRULES
`

// foreignFirewalld is modelled on the table firewalld 0.8 writes (as in the
// `nft list ruleset` of a RHEL 8 host quoted in Red Hat Insights'
// nftables parser tests), cut to the input path: zones dispatch, the
// public zone allows SSH, everything else is rejected.
const foreignFirewalld = `
nft -f - <<'NFTRULES'
table inet firewalld {
	chain filter_IN_public_allow {
		tcp dport 22 ct state new,untracked accept
		ip6 daddr fe80::/64 udp dport 546 ct state new,untracked accept
	}
	chain filter_IN_public_deny {
	}
	chain filter_IN_public {
		jump filter_IN_public_deny
		jump filter_IN_public_allow
		meta l4proto { icmp, ipv6-icmp } accept
	}
	chain filter_INPUT_ZONES {
		iifname "eth0" goto filter_IN_public
		goto filter_IN_public
	}
	chain filter_INPUT {
		type filter hook input priority filter + 10; policy accept;
		ct state established,related accept
		ct status dnat accept
		iifname "lo" accept
		jump filter_INPUT_ZONES
		ct state invalid drop
		reject with icmpx type admin-prohibited
	}
}
NFTRULES
`

var nftCountersRE = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// dumpNft returns `nft list ruleset`, normalised: no counters, no blank
// lines.
func dumpNft(t *testing.T, ns *lab.Namespace) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(ns.MustRun(t, "nft", "list", "ruleset"), "\n") {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, nftCountersRE.ReplaceAllString(l, "counter"))
		}
	}
	return strings.Join(keep, "\n")
}

// withoutOurNft drops table inet netplan42, every chain netplan42 (and the
// iptables backend's NETPLAN42, as nft lists iptables-nft's tables) and our
// jumps from a dump.
func withoutOurNft(dump string) string {
	var keep []string
	skipUntil := ""
	for _, l := range strings.Split(dump, "\n") {
		switch {
		case skipUntil != "":
			if l == skipUntil {
				skipUntil = ""
			}
		case l == "table inet netplan42 {":
			skipUntil = "}"
		case strings.TrimSpace(l) == "chain netplan42 {", strings.TrimSpace(l) == "chain NETPLAN42 {":
			skipUntil = l[:strings.Index(l, "chain")] + "}"
		case strings.TrimSpace(l) == `jump netplan42 comment "netplan42"`:
		// The iptables backend's chain and jump in iptables-nft's tables,
		// as nft 1.0.6 prints them (the comment match prints as nothing).
		case strings.TrimSpace(l) == "counter jump NETPLAN42":
		default:
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestLabNftables(t *testing.T) {
	tp := newTopo(t)
	sh(t, tp.server, foreignNft)
	tp.serve(t, 4242)
	before := dumpNft(t, tp.server)

	// 4) Closed by two dropping tables before Sync, open after.
	syncOpens(t, tp, "nftables", "nftables")

	// Foreign tables identical apart from our table, chains and jumps.
	after := dumpNft(t, tp.server)
	if withoutOurNft(after) != before {
		t.Fatalf("foreign rules changed by sync:\n%s", lineDiff(before, withoutOurNft(after)))
	}
	for _, want := range []string{"table inet netplan42 {", "\t\tjump netplan42 comment \"netplan42\"\n\t\tiif \"lo\" accept", "\t\tjump netplan42 comment \"netplan42\"\n\t\tiifname \"lo\" counter accept"} {
		if !strings.Contains(after, want) {
			t.Fatalf("after sync, ruleset lacks %q:\n%s", want, after)
		}
	}
	if strings.Contains(after, "policy accept;\n\t\tjump netplan42") {
		t.Fatal("hooked a table whose input chain does not drop our traffic (the fail2ban-like one)")
	}
	syncOK(t, tp.server, "nftables", []planner.Rule{crashplan})
	if again := dumpNft(t, tp.server); again != after {
		t.Fatalf("second sync of the same rules changed the ruleset:\n%s", lineDiff(after, again))
	}
	// iptables reads the chain nft added to its table as plain rules.
	if save := tp.server.MustRun(t, "iptables-nft-save", "-t", "filter"); !strings.Contains(save, `-A netplan42 -p tcp -m tcp --dport 4242 -m comment --comment "netplan42:nas/crashplan" -j ACCEPT`) {
		t.Fatalf("iptables-nft-save does not read our chain in ip filter:\n%s", save)
	}

	// 3) Someone deletes our table; someone flushes our chain in inet filter.
	sh(t, tp.server, "nft delete table inet netplan42")
	rep := fw(t, tp.server, "nftables", false, nil)
	if rep.View.Hooked || len(rep.View.Rules) != 0 {
		t.Fatalf("observe after deleting our table: hooked=%v rules=%+v", rep.View.Hooked, rep.View.Rules)
	}
	t.Logf("after deleting table inet netplan42: hooked=%v rules=%v", rep.View.Hooked, rep.View.Rules)
	rep = syncOK(t, tp.server, "nftables", []planner.Rule{crashplan})
	if !rep.View.Hooked || withoutOurNft(dumpNft(t, tp.server)) != before {
		t.Fatalf("repair after deleting our table: hooked=%v", rep.View.Hooked)
	}
	sh(t, tp.server, "nft flush chain inet filter netplan42")
	rep = fw(t, tp.server, "nftables", false, nil)
	if rep.View.Hooked {
		t.Fatalf("observe after flushing our chain in inet filter: hooked=true, warnings=%q", rep.View.Warnings)
	}
	t.Logf("after flush of inet filter netplan42: hooked=%v warnings=%q", rep.View.Hooked, rep.View.Warnings)
	mustConnect(t, tp.client, "192.0.2.1:4242", false, "after flush of our chain in inet filter")
	syncOK(t, tp.server, "nftables", []planner.Rule{crashplan})
	mustConnect(t, tp.client, "192.0.2.1:4242", true, "after repair")

	// 6) A foreign drop inserted above our jump is named in Warnings.
	sh(t, tp.server, "nft insert rule inet filter input tcp dport 4242 drop")
	rep = fw(t, tp.server, "nftables", false, nil)
	if !hasWarning(rep.View.Warnings, `"tcp dport 4242 drop"`, "before netplan42's jump", "table inet filter chain input") {
		t.Fatalf("no warning naming the drop before our jump: %q", rep.View.Warnings)
	}
	t.Logf("warning: %s", findWarning(rep.View.Warnings, "tcp dport 4242 drop"))
	mustConnect(t, tp.client, "192.0.2.1:4242", false, "with a foreign drop above our jump")
	h := handleOf(t, tp.server, "inet filter", "tcp dport 4242 drop")
	sh(t, tp.server, "nft delete rule inet filter input handle "+h)

	// 5) allow_from.
	lan := crashplan
	lan.Sources = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	rep = syncOK(t, tp.server, "nftables", []planner.Rule{lan})
	if !sameRules(rep.View.Rules, []planner.Rule{lan}) || !rep.View.Hooked {
		t.Fatalf("observe allow_from: hooked=%v %+v", rep.View.Hooked, rep.View.Rules)
	}
	mustConnect(t, tp.client, "192.0.2.1:4242", true, "allow_from 192.0.2.0/24, client inside")
	mustConnect(t, tp.outsider, "198.51.100.1:4242", false, "allow_from 192.0.2.0/24, outsider")
	mustConnect(t, tp.client, "[2001:db8:1::1]:4242", false, "allow_from 192.0.2.0/24, client over IPv6")

	// Sync(nil): closed, and the ruleset is exactly as before.
	syncNilCloses(t, tp, "nftables")
	if end := dumpNft(t, tp.server); end != before {
		t.Fatalf("Sync(nil) left a difference:\n%s", lineDiff(before, end))
	}
}

// handleOf finds the handle of the rule in table ("family name") whose
// text is text.
func handleOf(t *testing.T, ns *lab.Namespace, table, text string) string {
	t.Helper()
	f := strings.Fields(table)
	out := ns.MustRun(t, "nft", "-a", "list", "table", f[0], f[1])
	for _, l := range strings.Split(out, "\n") {
		if m := nftTextRule.FindStringSubmatch(strings.TrimSpace(l)); m != nil && m[1] == text {
			return m[2]
		}
	}
	t.Fatalf("no rule %q in %s:\n%s", text, table, out)
	return ""
}

// A firewalld table is a manager's: netplan42 leaves it alone and says
// what to run instead; the port really stays closed, as the warning says.
func TestLabNftablesFirewalld(t *testing.T) {
	tp := newTopo(t)
	sh(t, tp.server, foreignFirewalld)
	tp.serve(t, 4242)
	before := dumpNft(t, tp.server)
	rep := syncOK(t, tp.server, "nftables", []planner.Rule{crashplan})
	if !hasWarning(rep.View.Warnings, "table inet firewalld", "firewall-cmd --permanent --add-port=4242/tcp") {
		t.Fatalf("no firewalld warning: %q", rep.View.Warnings)
	}
	t.Logf("warning: %s", findWarning(rep.View.Warnings, "firewalld"))
	after := dumpNft(t, tp.server)
	if withoutOurNft(after) != before || strings.Contains(after, "jump netplan42") {
		t.Fatalf("firewalld's table changed:\n%s", lineDiff(before, after))
	}
	mustConnect(t, tp.client, "192.0.2.1:4242", false, "firewalld rejects, netplan42 leaves it alone")

	// The user follows the advice (the rule firewall-cmd --add-port adds to
	// the zone): the warning goes and the port opens.
	sh(t, tp.server, "nft add rule inet firewalld filter_IN_public_allow tcp dport 4242 ct state new,untracked accept")
	rep = fw(t, tp.server, "nftables", false, nil)
	if hasWarning(rep.View.Warnings, "firewalld") {
		t.Fatalf("firewalld warning after the port was allowed there: %q", rep.View.Warnings)
	}
	mustConnect(t, tp.client, "192.0.2.1:4242", true, "after the firewalld-side allow")
	syncOK(t, tp.server, "nftables", nil)
}

// The iptables backend opens a port that a native nftables table drops as
// well as iptables' INPUT: chain NETPLAN42 and its jump in iptables, and
// chain netplan42 plus one tagged jump in table inet filter. Nothing else
// changes, as nft and as iptables see the ruleset. With iptables-legacy
// the kernel applies both the legacy table and the nftables table, so the
// same holds.
func TestLabIptablesNativeNft(t *testing.T) {
	for _, variant := range []string{"nf_tables", "legacy"} {
		t.Run(variant, func(t *testing.T) {
			tp := newTopo(t)
			ipt := map[string]string{"nf_tables": "iptables-nft", "legacy": "iptables-legacy"}[variant]
			sh(t, tp.server, foreignIptables(ipt)+nativeNft)
			tp.serve(t, 4242)
			beforeNft, beforeIpt := dumpNft(t, tp.server), dumpIptables(t, tp.server, ipt)

			// Closed by iptables' INPUT and by inet filter before Sync, open
			// after, with no warning about a table netplan42 now handles.
			rep := syncOpens(t, tp, "iptables", "iptables ("+variant+")")
			if hasWarning(rep.View.Warnings, "inet filter") || hasWarning(rep.View.Warnings, `backend = "nftables"`) {
				t.Fatalf("warning about a table netplan42 handles: %q", rep.View.Warnings)
			}

			// Identical apart from our chains and jumps, in both views.
			afterNft, afterIpt := dumpNft(t, tp.server), dumpIptables(t, tp.server, ipt)
			if withoutOurNft(afterNft) != beforeNft {
				t.Fatalf("nft list ruleset changed apart from our objects:\n%s", lineDiff(beforeNft, withoutOurNft(afterNft)))
			}
			if withoutOurIptables(afterIpt) != withoutOurIptables(beforeIpt) {
				t.Fatalf("iptables-save changed apart from our objects:\n%s", lineDiff(beforeIpt, withoutOurIptables(afterIpt)))
			}
			if !strings.Contains(afterNft, "policy drop;\n\t\tjump netplan42 comment \"netplan42\"\n\t\tiif \"lo\" accept") {
				t.Fatalf("our jump is not at the top of inet filter input:\n%s", afterNft)
			}
			if strings.Contains(afterNft, "policy accept;\n\t\tjump netplan42") {
				t.Fatal("hooked a table whose input chain does not drop our traffic (the fail2ban-like one)")
			}
			if !strings.Contains(afterIpt, "-A INPUT -m comment --comment netplan42 -j NETPLAN42\n") {
				t.Fatalf("no jump to NETPLAN42 in iptables:\n%s", afterIpt)
			}
			t.Logf("table inet filter after sync:\n%s", tp.server.MustRun(t, "nft", "list", "table", "inet", "filter"))
			syncOK(t, tp.server, "iptables", []planner.Rule{crashplan})
			if again := dumpNft(t, tp.server); again != afterNft {
				t.Fatalf("second sync of the same rules changed the ruleset:\n%s", lineDiff(afterNft, again))
			}

			// Someone deletes our jump in inet filter: Observe says not
			// hooked (a plan shows drift), and Sync puts it back.
			h := handleOf(t, tp.server, "inet filter", `jump netplan42 comment "netplan42"`)
			sh(t, tp.server, "nft delete rule inet filter input handle "+h)
			rep = fw(t, tp.server, "iptables", false, nil)
			if rep.View.Hooked || !sameRules(rep.View.Rules, []planner.Rule{crashplan}) {
				t.Fatalf("observe after deleting our jump in inet filter: hooked=%v rules=%+v", rep.View.Hooked, rep.View.Rules)
			}
			t.Logf("after deleting our jump in inet filter: hooked=%v", rep.View.Hooked)
			mustConnect(t, tp.client, "192.0.2.1:4242", false, "without our jump in inet filter")
			rep = syncOK(t, tp.server, "iptables", []planner.Rule{crashplan})
			if !rep.View.Hooked {
				t.Fatalf("observe after repair: hooked=false, warnings=%q", rep.View.Warnings)
			}
			if again := dumpNft(t, tp.server); again != afterNft {
				t.Fatalf("repair did not restore the synced ruleset:\n%s", lineDiff(afterNft, again))
			}
			mustConnect(t, tp.client, "192.0.2.1:4242", true, "after repair")

			// Someone flushes our chain in inet filter: not hooked either.
			sh(t, tp.server, "nft flush chain inet filter netplan42")
			rep = fw(t, tp.server, "iptables", false, nil)
			if rep.View.Hooked || !hasWarning(rep.View.Warnings, "table inet filter chain netplan42 differs from iptables filter NETPLAN42") {
				t.Fatalf("observe after flushing our chain in inet filter: hooked=%v warnings=%q", rep.View.Hooked, rep.View.Warnings)
			}
			t.Logf("after flush of inet filter netplan42: hooked=%v warnings=%q", rep.View.Hooked, rep.View.Warnings)
			syncOK(t, tp.server, "iptables", []planner.Rule{crashplan})
			mustConnect(t, tp.client, "192.0.2.1:4242", true, "after repair of the flush")

			// Sync(nil): closed, and both views exactly as before.
			syncNilCloses(t, tp, "iptables")
			if end := dumpNft(t, tp.server); end != beforeNft {
				t.Fatalf("Sync(nil) left a difference in nft list ruleset:\n%s", lineDiff(beforeNft, end))
			}
			if end := dumpIptables(t, tp.server, ipt); end != beforeIpt {
				t.Fatalf("Sync(nil) left a difference in iptables-save:\n%s", lineDiff(beforeIpt, end))
			}
		})
	}
}

// A firewalld table is a manager's for the iptables backend too: left
// alone, with firewalld's own command in the warning.
func TestLabIptablesFirewalld(t *testing.T) {
	tp := newTopo(t)
	sh(t, tp.server, foreignIptables("iptables-nft")+foreignFirewalld)
	tp.serve(t, 4242)
	before := dumpNft(t, tp.server)
	rep := syncOK(t, tp.server, "iptables", []planner.Rule{crashplan})
	if !hasWarning(rep.View.Warnings, "table inet firewalld", "firewall-cmd --permanent --add-port=4242/tcp") {
		t.Fatalf("no firewalld warning: %q", rep.View.Warnings)
	}
	t.Logf("warning: %s", findWarning(rep.View.Warnings, "firewalld"))
	if after := dumpNft(t, tp.server); strings.Contains(after, "jump netplan42") || withoutOurNft(after) != before {
		t.Fatalf("firewalld's table changed:\n%s", lineDiff(before, after))
	}
	mustConnect(t, tp.client, "192.0.2.1:4242", false, "firewalld rejects, netplan42 leaves it alone")
	syncOK(t, tp.server, "iptables", nil)
	if end := dumpNft(t, tp.server); end != before {
		t.Fatalf("Sync(nil) left a difference:\n%s", lineDiff(before, end))
	}
}

// TestLabNftChainsNetlink: `nft -j list chains` answered over netlink
// reads as nft's own answer does, table by table and chain by chain, on a
// ruleset with every family, hook and chain type, iptables-nft's tables,
// a dormant table, odd priorities and policies. With an anonymous chain
// bound to a rule (which nft hides) nft answers instead.
func TestLabNftChainsNetlink(t *testing.T) {
	ns := labNamespace(t, "nlc")
	chains := func(when string, netlink bool) {
		t.Helper()
		out, err := ns.Child(context.Background(), "nft-chains")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(strings.TrimSpace(out), "\n", 3)
		if len(lines) != 3 {
			t.Fatalf("%s: nft-chains printed %q", when, out)
		}
		if inproc := lines[0] == "true"; inproc != netlink {
			t.Fatalf("%s: answered over netlink: %v, want %v", when, inproc, netlink)
		}
		got, err := parseNftJSON([]byte(lines[1]))
		if err != nil {
			t.Fatalf("%s: machineRun's answer: %v\n%s", when, err, lines[1])
		}
		want, err := parseNftJSON([]byte(lines[2]))
		if err != nil {
			t.Fatalf("%s: nft's answer: %v\n%s", when, err, lines[2])
		}
		if g, w := chainsOf(got), chainsOf(want); g != w {
			t.Fatalf("%s: machineRun read\n%s\nnft read\n%s", when, g, w)
		}
		t.Logf("%s: %d tables alike", when, len(want.tables))
	}
	chains("empty ruleset", true)
	sh(t, ns, foreignIptables("iptables-nft")+nativeNft+`
ip link add v0 type veth peer name v1
nft -f - <<'NFTRULES'
table ip natx {
	chain pre { type nat hook prerouting priority dstnat; }
	chain post { type nat hook postrouting priority srcnat + 5; policy accept; }
}
table ip6 mangle {
	chain out { type route hook output priority mangle; }
	chain plain { }
}
table bridge br {
	chain incoming { type filter hook input priority -200; policy drop; }
	chain forwarding { type filter hook forward priority 0; }
}
table arp a {
	chain i { type filter hook input priority 0; }
	chain o { type filter hook output priority 7; policy drop; }
}
table netdev nd {
	chain ing { type filter hook ingress device v0 priority -500; }
	chain eg { type filter hook egress device v0 priority 10; }
}
table inet big {
	chain low { type filter hook input priority -2147483648; }
	chain high { type filter hook input priority 2147483647; policy drop; }
	chain plain { }
	chain ing { type filter hook ingress device v1 priority 0; }
}
table ip sleepy {
	flags dormant;
	chain in { type filter hook input priority 0; policy drop; }
}
NFTRULES
`)
	chains("every family", true)
	sh(t, ns, `nft add table ip anon
nft add chain ip anon in '{ type filter hook input priority 0; }'
nft add rule ip anon in jump '{ tcp dport 22 accept; }'
`)
	chains("an anonymous chain", false)
}

// TestLabNftGeneration: the generation ID the netlink listing is checked
// with moves on with every change to the ruleset.
func TestLabNftGeneration(t *testing.T) {
	ns := labNamespace(t, "gen")
	gen := func() string {
		t.Helper()
		out, err := ns.Child(context.Background(), "nft-gen")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	before := gen()
	if again := gen(); again != before {
		t.Fatalf("generation moved without a change: %s, then %s", before, again)
	}
	sh(t, ns, "nft add table ip g")
	if after := gen(); after == before {
		t.Fatalf("generation %s did not move when a table was added", before)
	}
}

// chainsOf prints rs's tables and chains with what a chains listing holds.
func chainsOf(rs *nftRuleset) string {
	var b strings.Builder
	for _, tb := range rs.tables {
		fmt.Fprintf(&b, "%s\n", tb)
		for _, name := range tb.order {
			c := tb.chains[name]
			fmt.Fprintf(&b, "  %s base=%v type=%q hook=%q prio=%d policy=%q rules=%d\n", c.name, c.base, c.typ, c.hook, c.prio, c.policy, len(c.rules))
		}
	}
	return b.String()
}
