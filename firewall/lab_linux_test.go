package firewall

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
)

// Lab tests: real iptables and nft in network namespaces made by the test.
// The firewall under test is driven from a child process inside the
// "server" namespace (lab.ChildMain); nothing touches the host's firewall.

func TestMain(m *testing.M) {
	lab.ChildMain(m, map[string]lab.ChildFunc{
		"fw":    childFirewall,
		"serve": childServe,
		"dial":  childDial,

		"legacy-save": childLegacySave,
		"nft-chains":  childNftChains,
		"nft-gen":     childNftGen,

		"bench-sync":  childBenchSync,
		"bench-execs": childBenchExecs,
	})
}

// fwRequest is what the "fw" child is asked to do.
type fwRequest struct {
	Backend string         `json:"backend"`
	Sync    bool           `json:"sync"`
	Rules   []planner.Rule `json:"rules"`
}

type fwReply struct {
	Backend string               `json:"backend"`
	View    planner.FirewallView `json:"view"`
	Err     string               `json:"err,omitempty"`
	SyncDur time.Duration        `json:"sync_dur"`
}

// childFirewall opens the firewall inside the namespace, optionally syncs
// rules, then observes.
func childFirewall(ctx context.Context, args []string) error {
	var req fwRequest
	if err := json.Unmarshal([]byte(args[0]), &req); err != nil {
		return err
	}
	var rep fwReply
	f, err := Open(ctx, Config{Backend: req.Backend})
	if err != nil {
		return err
	}
	rep.Backend = f.Backend()
	if req.Sync {
		start := time.Now()
		if err := f.Sync(ctx, req.Rules); err != nil {
			rep.Err = err.Error()
		}
		rep.SyncDur = time.Since(start)
	}
	if rep.Err == "" {
		rep.View, err = f.Observe(ctx)
		if err != nil {
			rep.Err = err.Error()
		}
	}
	return json.NewEncoder(stdout()).Encode(rep)
}

// childLegacySave prints what machineRun and the tool itself print for
// args[0] (a legacy save tool), and whether machineRun skipped the tool.
func childLegacySave(ctx context.Context, args []string) error {
	skipped := noLegacyTables(os.ReadFile, args[0])
	machine, err := machineRun(ctx, nil, args[0])
	if err != nil {
		return err
	}
	tool, err := execRun(ctx, nil, args[0])
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout()).Encode([]string{fmt.Sprint(skipped), string(machine), string(tool)})
}

// childNftChains prints whether `nft -j list chains` was answered over
// netlink, then machineRun's answer and nft's, one line each.
func childNftChains(ctx context.Context, _ []string) error {
	_, inproc := inProcess("nft", []string{"-j", "list", "chains"})
	machine, err := machineRun(ctx, nil, "nft", "-j", "list", "chains")
	if err != nil {
		return err
	}
	nft, err := execRun(ctx, nil, "nft", "-j", "list", "chains")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout(), "%v\n%s\n%s\n", inproc, bytes.TrimSpace(machine), bytes.TrimSpace(nft))
	return err
}

// childNftGen prints the ruleset's generation ID.
func childNftGen(context.Context, []string) error {
	gen, err := nftGeneration()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout(), gen)
	return err
}

// childServe listens on args[0] (":4242") for args[1] and closes every
// connection it accepts.
func childServe(ctx context.Context, args []string) error {
	d, _ := time.ParseDuration(args[1])
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	time.AfterFunc(d, func() { ln.Close() })
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		c.Close()
	}
}

// childDial connects to args[0] and prints "connected" or the error.
func childDial(ctx context.Context, args []string) error {
	c, err := net.DialTimeout("tcp", args[0], 1500*time.Millisecond)
	if err != nil {
		fmt.Fprint(stdout(), "failed: ", err)
		return nil
	}
	c.Close()
	fmt.Fprint(stdout(), "connected")
	return nil
}

// topo is the lab: server (192.0.2.1, 2001:db8:1::1 towards the client;
// 198.51.100.1 towards the outsider), client (192.0.2.10, 2001:db8:1::10)
// and outsider (198.51.100.20).
type topo struct {
	server, client, outsider *lab.Namespace
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	tp := &topo{server: labNamespace(t, "srv"), client: labNamespace(t, "cli"), outsider: labNamespace(t, "out")}
	if err := lab.Veth(tp.server, "eth0", tp.client, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := lab.Veth(tp.server, "eth1", tp.outsider, "eth0"); err != nil {
		t.Fatal(err)
	}
	tp.server.MustRun(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	tp.server.MustRun(t, "ip", "addr", "add", "2001:db8:1::1/64", "dev", "eth0", "nodad")
	tp.server.MustRun(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "eth1")
	tp.client.MustRun(t, "ip", "addr", "add", "192.0.2.10/24", "dev", "eth0")
	tp.client.MustRun(t, "ip", "addr", "add", "2001:db8:1::10/64", "dev", "eth0", "nodad")
	tp.outsider.MustRun(t, "ip", "addr", "add", "198.51.100.20/24", "dev", "eth0")
	return tp
}

// labNamespace makes a namespace for role, closed when the test ends.
func labNamespace(t *testing.T, role string) *lab.Namespace {
	t.Helper()
	lab.Require(t)
	ns, err := lab.NewNamespace(role)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// serve starts a listener on the server for the rest of the test.
func (tp *topo) serve(t *testing.T, port int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go tp.server.Child(ctx, "serve", fmt.Sprintf(":%d", port), "120s")
	for i := 0; i < 100; i++ {
		out, _ := tp.server.Run(context.Background(), "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		if strings.TrimSpace(out) != "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("listener on :%d did not start", port)
}

// connects reports whether ns can open a TCP connection to addr.
func connects(t *testing.T, ns *lab.Namespace, addr string) bool {
	t.Helper()
	out, err := ns.Child(context.Background(), "dial", addr)
	if err != nil {
		t.Fatal(err)
	}
	return out == "connected"
}

func mustConnect(t *testing.T, ns *lab.Namespace, addr string, want bool, when string) {
	t.Helper()
	if got := connects(t, ns, addr); got != want {
		t.Fatalf("%s: %s -> %s connected=%v, want %v", when, ns.Name, addr, got, want)
	}
	t.Logf("%s: %s -> %s connected=%v (as expected)", when, strings.TrimPrefix(ns.Name, lab.Prefix), addr, want)
}

// fw drives the firewall inside ns.
func fw(t *testing.T, ns *lab.Namespace, backend string, sync bool, rules []planner.Rule) fwReply {
	t.Helper()
	req, _ := json.Marshal(fwRequest{Backend: backend, Sync: sync, Rules: rules})
	out, err := ns.Child(context.Background(), "fw", string(req))
	if err != nil {
		t.Fatal(err)
	}
	var rep fwReply
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("fw reply %q: %v", out, err)
	}
	return rep
}

func syncOK(t *testing.T, ns *lab.Namespace, backend string, rules []planner.Rule) fwReply {
	t.Helper()
	rep := fw(t, ns, backend, true, rules)
	if rep.Err != "" {
		t.Fatalf("sync %d rules: %s", len(rules), rep.Err)
	}
	return rep
}

// syncOpens checks that port 4242 on the server is closed, that a Sync of
// crashplan with backend opens it over IPv4 and IPv6, and that Observe
// reads the rule back, hooked; want is the Backend Open should pick.
func syncOpens(t *testing.T, tp *topo, backend, want string) fwReply {
	t.Helper()
	mustConnect(t, tp.client, "192.0.2.1:4242", false, "before sync")
	rep := syncOK(t, tp.server, backend, []planner.Rule{crashplan})
	if rep.Backend != want {
		t.Fatalf("backend %q, want %q", rep.Backend, want)
	}
	t.Logf("backend %s, sync took %v", rep.Backend, rep.SyncDur)
	mustConnect(t, tp.client, "192.0.2.1:4242", true, "after sync")
	mustConnect(t, tp.client, "[2001:db8:1::1]:4242", true, "after sync (IPv6)")
	if !rep.View.Hooked || !sameRules(rep.View.Rules, []planner.Rule{crashplan}) {
		t.Fatalf("observe after sync: hooked=%v rules=%+v warnings=%q", rep.View.Hooked, rep.View.Rules, rep.View.Warnings)
	}
	t.Logf("observe: hooked=%v rules=%+v warnings=%q", rep.View.Hooked, rep.View.Rules, rep.View.Warnings)
	return rep
}

// syncNilCloses checks that Sync(nil) with backend closes port 4242 again
// and leaves nothing to observe.
func syncNilCloses(t *testing.T, tp *topo, backend string) {
	t.Helper()
	rep := syncOK(t, tp.server, backend, nil)
	if rep.View.Hooked || len(rep.View.Rules) != 0 {
		t.Fatalf("observe after Sync(nil): %+v", rep.View)
	}
	mustConnect(t, tp.client, "192.0.2.1:4242", false, "after Sync(nil)")
}

func sh(t *testing.T, ns *lab.Namespace, script string) {
	t.Helper()
	if out, err := ns.Run(context.Background(), "sh", "-ec", script); err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
}

// foreignIptables is an admin's iptables: INPUT policy DROP, loopback and
// established accepted, SSH allowed, a Docker-like DOCKER chain with its
// jumps and NAT, and a fail2ban-like f2b-sshd chain jumped to from the top
// of INPUT. ipt is "iptables" or "iptables-legacy".
func foreignIptables(ipt string) string {
	ip6 := strings.Replace(ipt, "iptables", "ip6tables", 1)
	return strings.NewReplacer("IPT", ipt, "IP6T", ip6).Replace(`
IPT -P INPUT DROP
IPT -A INPUT -i lo -j ACCEPT
IPT -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
IPT -A INPUT -p tcp -m tcp --dport 22 -m comment --comment "admin: ssh" -j ACCEPT
IPT -N DOCKER
IPT -N DOCKER-USER
IPT -N DOCKER-ISOLATION-STAGE-1
IPT -A FORWARD -j DOCKER-USER
IPT -A FORWARD -j DOCKER-ISOLATION-STAGE-1
IPT -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
IPT -A FORWARD -o docker0 -j DOCKER
IPT -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
IPT -A DOCKER-ISOLATION-STAGE-1 -j RETURN
IPT -A DOCKER-USER -j RETURN
IPT -t nat -N DOCKER
IPT -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
IPT -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
IPT -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
IPT -N f2b-sshd
IPT -A f2b-sshd -s 203.0.113.9/32 -j REJECT --reject-with icmp-port-unreachable
IPT -A f2b-sshd -j RETURN
IPT -I INPUT 1 -p tcp -m multiport --dports 22 -j f2b-sshd
IP6T -P INPUT DROP
IP6T -A INPUT -i lo -j ACCEPT
IP6T -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
IP6T -A INPUT -p ipv6-icmp -j ACCEPT
IP6T -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
`)
}

var countersRE = regexp.MustCompile(`\[\d+:\d+\]`)

// dump returns the whole iptables ruleset (all tables, both families) of
// one variant, normalised: no comments, no counters.
func dumpIptables(t *testing.T, ns *lab.Namespace, ipt string) string {
	t.Helper()
	var b strings.Builder
	for _, tool := range []string{ipt + "-save", strings.Replace(ipt, "iptables", "ip6tables", 1) + "-save"} {
		out := ns.MustRun(t, tool)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "#") || l == "" {
				continue
			}
			b.WriteString(countersRE.ReplaceAllString(l, "[]") + "\n")
		}
	}
	return b.String()
}

// withoutOurIptables drops our chain, its rules and our jump from a dump.
func withoutOurIptables(dump string) string {
	var keep []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, ":NETPLAN42 ") || strings.HasPrefix(l, "-A NETPLAN42 ") || l == "-A INPUT -m comment --comment netplan42 -j NETPLAN42" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func TestLabIptables(t *testing.T) {
	for _, variant := range []string{"nf_tables", "legacy"} {
		t.Run(variant, func(t *testing.T) {
			tp := newTopo(t)
			ipt := map[string]string{"nf_tables": "iptables-nft", "legacy": "iptables-legacy"}[variant]
			sh(t, tp.server, foreignIptables(ipt))
			tp.serve(t, 4242)
			before := dumpIptables(t, tp.server, ipt)

			// 1) Closed by policy DROP before Sync, open after.
			syncOpens(t, tp, "iptables", "iptables ("+variant+")")

			// 2) Foreign rules untouched, apart from our chain and jump.
			after := dumpIptables(t, tp.server, ipt)
			if withoutOurIptables(after) != before {
				t.Fatalf("foreign rules changed by sync:\n%s", lineDiff(before, withoutOurIptables(after)))
			}
			if !strings.Contains(after, "-A INPUT -m comment --comment netplan42 -j NETPLAN42\n-A INPUT -p tcp -m multiport") {
				t.Fatalf("our jump is not at the top of INPUT:\n%s", after)
			}
			syncOK(t, tp.server, "iptables", []planner.Rule{crashplan})
			if again := dumpIptables(t, tp.server, ipt); again != after {
				t.Fatalf("second sync of the same rules changed the ruleset:\n%s\nthen:\n%s", after, again)
			}

			// 3) Someone flushes our chain, then deletes our jump.
			sh(t, tp.server, ipt+" -F NETPLAN42")
			rep := fw(t, tp.server, "iptables", false, nil)
			if sameRules(rep.View.Rules, []planner.Rule{crashplan}) {
				t.Fatalf("observe after flush still shows the rule: %+v", rep.View.Rules)
			}
			t.Logf("after flush of NETPLAN42 (IPv4): rules=%+v hooked=%v", rep.View.Rules, rep.View.Hooked)
			sh(t, tp.server, ipt+" -D INPUT -m comment --comment netplan42 -j NETPLAN42")
			rep = fw(t, tp.server, "iptables", false, nil)
			if rep.View.Hooked {
				t.Fatal("observe after deleting our jump: hooked=true")
			}
			mustConnect(t, tp.client, "192.0.2.1:4242", false, "after flush and unhook")
			rep = syncOK(t, tp.server, "iptables", []planner.Rule{crashplan})
			if !rep.View.Hooked || !sameRules(rep.View.Rules, []planner.Rule{crashplan}) {
				t.Fatalf("observe after repair: hooked=%v rules=%+v", rep.View.Hooked, rep.View.Rules)
			}
			mustConnect(t, tp.client, "192.0.2.1:4242", true, "after repair")

			// 6) A foreign DROP inserted above our jump is named in Warnings.
			sh(t, tp.server, ipt+" -I INPUT 1 -p tcp -m tcp --dport 4242 -j DROP")
			rep = fw(t, tp.server, "iptables", false, nil)
			if !hasWarning(rep.View.Warnings, "-A INPUT -p tcp -m tcp --dport 4242 -j DROP", "before netplan42's jump") {
				t.Fatalf("no warning naming the DROP before our jump: %q", rep.View.Warnings)
			}
			t.Logf("warning: %s", findWarning(rep.View.Warnings, "--dport 4242 -j DROP"))
			mustConnect(t, tp.client, "192.0.2.1:4242", false, "with a foreign DROP above our jump")
			sh(t, tp.server, ipt+" -D INPUT -p tcp -m tcp --dport 4242 -j DROP")

			// 5) allow_from: inside the CIDR connects, outside does not.
			lan := crashplan
			lan.Sources = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			rep = syncOK(t, tp.server, "iptables", []planner.Rule{lan})
			if !sameRules(rep.View.Rules, []planner.Rule{lan}) {
				t.Fatalf("observe allow_from: %+v", rep.View.Rules)
			}
			mustConnect(t, tp.client, "192.0.2.1:4242", true, "allow_from 192.0.2.0/24, client inside")
			mustConnect(t, tp.outsider, "198.51.100.1:4242", false, "allow_from 192.0.2.0/24, outsider")

			// Sync(nil): closed again, and the ruleset is as before, exactly.
			syncNilCloses(t, tp, "iptables")
			if end := dumpIptables(t, tp.server, ipt); end != before {
				t.Fatalf("Sync(nil) left a difference:\n%s", lineDiff(before, end))
			}
		})
	}
}

func findWarning(ws []string, part string) string {
	for _, w := range ws {
		if strings.Contains(w, part) {
			return w
		}
	}
	return ""
}

// lineDiff shows which lines differ between two dumps, in a compact form.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			i++
			j++
		case j < len(bl) && !slices.Contains(al[i:], bl[j]):
			fmt.Fprintf(&out, "+ %s\n", bl[j])
			j++
		case i < len(al):
			fmt.Fprintf(&out, "- %s\n", al[i])
			i++
		default:
			fmt.Fprintf(&out, "+ %s\n", bl[j])
			j++
		}
	}
	return out.String()
}

// TestLabLegacySaveSkipped: in a namespace whose kernel holds no legacy
// table, machineRun answers the legacy save tools empty without running
// them, as the tools print nothing; once a legacy rule exists it runs
// them and reads the rule.
func TestLabLegacySaveSkipped(t *testing.T) {
	ns := labNamespace(t, "leg")
	save := func(tool string) (skipped bool, machine, exec string) {
		t.Helper()
		out, err := ns.Child(context.Background(), "legacy-save", tool)
		if err != nil {
			t.Fatal(err)
		}
		var rep []string
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep) != 3 {
			t.Fatalf("legacy-save reply %q: %v", out, err)
		}
		return rep[0] == "true", rep[1], rep[2]
	}
	for _, v := range []struct{ save, tool, rule string }{
		{"iptables-legacy-save", "iptables-legacy", "-A INPUT -p tcp -m tcp --dport 4242 -j DROP"},
		{"ip6tables-legacy-save", "ip6tables-legacy", "-A INPUT -p tcp -m tcp --dport 4242 -j DROP"},
	} {
		skipped, machine, exec := save(v.save)
		if !skipped || machine != "" || exec != "" {
			t.Fatalf("%s in a fresh namespace: skipped=%v, machineRun %q, the tool %q", v.save, skipped, machine, exec)
		}
		ns.MustRun(t, v.tool, strings.Fields(v.rule)...)
		skipped, machine, exec = save(v.save)
		if skipped || !strings.Contains(machine, v.rule+"\n") || !strings.Contains(exec, v.rule+"\n") {
			t.Fatalf("%s with a legacy rule: skipped=%v, machineRun %q, the tool %q", v.save, skipped, machine, exec)
		}
	}
}
