//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
)

// The scenarios of the router issue, run as a user would: the built
// netplan42 inside lab hosts, against Debian's miniupnpd, checked with the
// independent upnpc client and with real traffic from the internet host.

type labRun struct {
	t     *testing.T
	l     *lab.Lab
	dir   string // config directory, shared by every host like a git checkout
	state string // directory of state files
}

func newLab(t *testing.T, spec lab.Spec, config string) *labRun {
	t.Helper()
	lab.Require(t)
	r := &labRun{t: t, l: lab.StartT(t, spec), dir: writeConfig(t, config), state: t.TempDir()}
	return r
}

// np runs netplan42 in LAN host i as computer hI.
func (r *labRun) np(i int, args ...string) result {
	r.t.Helper()
	return r.npIn(i, "", args...)
}

// npIn is np with standard input.
func (r *labRun) npIn(i int, stdin string, args ...string) result {
	r.t.Helper()
	switch args[0] {
	case "plan", "apply", "destroy", "show":
		args = append(args, "--config", r.dir, "--computer", fmt.Sprintf("h%d", i), "--state", filepath.Join(r.state, fmt.Sprintf("h%d.json", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := r.l.Host(i).Command(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	return runCmd(r.t, cmd, stdin)
}

// upnpcLines returns `upnpc -l` mapping lines seen from host i, without the
// lease column, which counts down.
func (r *labRun) upnpcLines(i int) []string {
	r.t.Helper()
	out := r.l.Host(i).MustRun(r.t, "upnpc", "-u", r.l.RootDescURL(), "-l")
	var lines []string
	re := regexp.MustCompile(`^\s*\d+\s+(TCP|UDP)\s`)
	for _, line := range strings.Split(out, "\n") {
		if re.MatchString(line) {
			f := strings.Fields(line)
			lines = append(lines, strings.Join(f[1:len(f)-1], " "))
		}
	}
	return lines
}

func grepLines(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func (r *labRun) reachable(i int, port uint16) error {
	return r.reach(context.Background(), i, port)
}

// unreachable reports whether a connection to port fails within 1.5 s; a
// working forward answers in milliseconds.
func (r *labRun) unreachable(i int, port uint16) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	return r.reach(ctx, i, port) != nil
}

func (r *labRun) reach(ctx context.Context, i int, port uint16) error {
	from, err := r.l.ProveForward(ctx, i, port, port)
	if err != nil {
		return err
	}
	if from.Addr() != r.l.InternetAddr() {
		return fmt.Errorf("connection arrived from %s, want the internet host %s", from, r.l.InternetAddr())
	}
	return nil
}

func labConfig(protocols, firewall string, computers ...string) string {
	s := fmt.Sprintf("network \"lab\" {\n  router {\n    protocols = %s\n    lease     = \"1h\"\n  }\n}\n", protocols)
	for _, c := range computers {
		s += c
	}
	return strings.ReplaceAll(s, "FIREWALL", firewall)
}

func computerBlock(name, port string) string {
	return fmt.Sprintf("computer %q {\n  network  = \"lab\"\n  firewall = \"FIREWALL\"\n  service \"crashplan\" {\n    port   = %s\n    expose = \"internet\"\n  }\n}\n", name, port)
}

// Scenario 1: plan shows creates; apply maps the port and opens the host
// firewall (INPUT policy DROP); the internet host connects; plan again has
// no changes; destroy removes it all.
func TestLabPlanApplyDestroy(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 1}, labConfig(`["upnp", "natpmp"]`, "iptables", computerBlock("h1", "4242")))
	h := r.l.Host(1)
	// A host firewall like a hardened machine's: drop what is not asked for.
	h.MustRun(t, "iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-P", "INPUT", "DROP")

	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, `+ router_mapping.crashplan["tcp"]`, `+ firewall_rule.crashplan["tcp"]`, "Plan: 2 to add, 0 to change, 0 to destroy, 0 to renew.", "UPnP IGD v2")
	if !r.unreachable(1, 4242) {
		t.Fatal("reachable before apply: the test proves nothing")
	}

	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 2 added")
	if got := grepLines(r.upnpcLines(1), "netplan42:h1/crashplan"); len(got) != 1 || !strings.Contains(got[0], "4242->192.0.2.10:4242") {
		t.Fatalf("upnpc -l shows %q, want our tagged mapping", got)
	}
	if err := r.reachable(1, 4242); err != nil {
		t.Fatalf("not reachable from the internet after apply: %v", err)
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")

	r.np(1, "destroy", "--auto-approve").want(t, 0, "Destroy complete! Resources: 0 added, 0 changed, 2 destroyed")
	if got := grepLines(r.upnpcLines(1), "netplan42"); len(got) != 0 {
		t.Errorf("mappings left after destroy: %q", got)
	}
	if save := h.MustRun(t, "iptables-save"); strings.Contains(save, "NETPLAN42") || strings.Contains(save, "netplan42") {
		t.Errorf("firewall objects left after destroy:\n%s", save)
	}
	if !r.unreachable(1, 4242) {
		t.Error("still reachable after destroy")
	}
}

// Scenario 2: two computers with port = "auto" on one router get different
// ports, both reachable.
func TestLabTwoComputersAuto(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2}, labConfig(`["upnp"]`, "none", computerBlock("h1", `"auto"`), computerBlock("h2", `"auto"`)))
	ports := map[int]uint16{}
	for i := 1; i <= 2; i++ {
		r.np(i, "apply", "--auto-approve").want(t, 0, "Apply complete!")
		var st struct {
			Resources []planner.Managed `json:"resources"`
		}
		out := r.np(i, "show", "--json")
		if err := json.Unmarshal([]byte(out.stdout), &st); err != nil || len(st.Resources) != 1 {
			t.Fatalf("show --json: %v\n%s", err, out.stdout)
		}
		ports[i] = st.Resources[0].Mapping.ExternalPort
	}
	if ports[1] == ports[2] {
		t.Fatalf("both computers got port %d", ports[1])
	}
	for i, p := range ports {
		if err := r.reachable(i, p); err != nil {
			t.Errorf("h%d on port %d: %v", i, p, err)
		}
	}
	lock, _ := os.ReadFile(filepath.Join(r.dir, "netplan42.lock.hcl"))
	for _, p := range ports {
		if !strings.Contains(string(lock), fmt.Sprint(p)) {
			t.Errorf("port %d not in the lock file:\n%s", p, lock)
		}
	}
}

// Scenario 3: each protocol alone.
func TestLabEachProtocol(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      lab.Spec
		protocols string
		detail    string
	}{
		{"upnp-only", lab.Spec{NoNATPMP: true}, `["upnp", "natpmp"]`, "UPnP IGD v2"},
		{"natpmp-only", lab.Spec{NoUPnP: true}, `["upnp", "natpmp"]`, "NAT-PMP"},
		{"igd-v1-only", lab.Spec{IGDv1: true}, `["upnp"]`, "UPnP IGD v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLab(t, tc.spec, labConfig(tc.protocols, "none", computerBlock("h1", "4242")))
			r.np(1, "plan", "--detailed-exitcode").want(t, 2, tc.detail, "Plan: 1 to add")
			r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete! Resources: 1 added")
			if err := r.reachable(1, 4242); err != nil {
				t.Fatalf("not reachable: %v", err)
			}
			r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
			r.np(1, "destroy", "--auto-approve").want(t, 0, "1 destroyed")
			if !r.unreachable(1, 4242) {
				t.Error("still reachable after destroy")
			}
			nat := r.l.Router().MustRun(t, "iptables-legacy", "-t", "nat", "-S", "MINIUPNPD")
			if strings.Contains(nat, "4242") {
				t.Errorf("router still forwards 4242:\n%s", nat)
			}
		})
	}
}

// Scenario 4: foreign mappings stay byte-identical; one on our port stops
// the plan with its holder named.
func TestLabForeignMappings(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	url := r.l.RootDescURL()
	r.l.Host(2).MustRun(t, "upnpc", "-u", url, "-e", "Skype", "-a", "192.0.2.11", "5000", "5000", "UDP")
	r.l.Host(1).MustRun(t, "upnpc", "-u", url, "-e", "my game server", "-a", "192.0.2.10", "27015", "27015", "TCP")
	foreign := func() []string {
		var out []string
		for _, l := range r.upnpcLines(1) {
			if !strings.Contains(l, "netplan42") {
				out = append(out, l)
			}
		}
		return out
	}
	before := foreign()
	if len(before) != 2 {
		t.Fatalf("foreign mappings before: %q", before)
	}
	r.np(1, "plan").want(t, 0, "left alone", `"Skype" (not managed by netplan42)`, `"my game server" (not managed by netplan42)`)
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
	if after := foreign(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("foreign mappings changed by apply:\nbefore %q\nafter  %q", before, after)
	}
	r.np(1, "destroy", "--auto-approve").want(t, 0, "1 destroyed")
	if after := foreign(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("foreign mappings changed by destroy:\nbefore %q\nafter  %q", before, after)
	}

	r.l.Host(2).MustRun(t, "upnpc", "-u", url, "-e", "CrashPlan on h2", "-a", "192.0.2.11", "4242", "4242", "TCP")
	r.np(1, "plan").want(t, 1, `external port 4242/tcp is held by 192.0.2.11:4242 ("CrashPlan on h2"), not managed by netplan42`)
	r.np(1, "apply", "--auto-approve").want(t, 1, "held by 192.0.2.11:4242")
	if got := grepLines(r.upnpcLines(1), "4242"); len(got) != 1 || !strings.Contains(got[0], "CrashPlan on h2") {
		t.Errorf("the holder's mapping was touched: %q", got)
	}
}

// Scenario 5: a rogue SSDP responder on the LAN is never contacted.
func TestLabRogueSSDP(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	done := make(chan string, 1)
	go func() {
		out, err := r.l.Host(2).Child(context.Background(), "lab-rogue-ssdp", "4", r.l.HostAddr(2).String())
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	time.Sleep(500 * time.Millisecond) // let the rogue join the multicast group
	r.np(1, "plan").want(t, 0, "UPnP IGD v2 (WANIPConnection:2) at http://192.0.2.1:")
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
	out := strings.TrimSpace(<-done)
	if !strings.HasPrefix(out, "msearch=") || strings.HasPrefix(out, "msearch=0 ") {
		t.Fatalf("rogue heard no search, the test proves nothing: %q", out)
	}
	if !strings.HasSuffix(out, " http=0") {
		t.Fatalf("the rogue's description server was contacted: %q", out)
	}
	t.Logf("rogue: %s", out)
}

// Scenario 6: a router restart that loses its mappings shows as drift; apply
// restores them.
func TestLabRouterRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec lab.Spec
	}{{"upnp", lab.Spec{NoNATPMP: true}}, {"natpmp", lab.Spec{NoUPnP: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLab(t, tc.spec, labConfig(`["upnp", "natpmp"]`, "none", computerBlock("h1", "4242")))
			r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
			// NAT-PMP tells a restart by its epoch running behind the
			// client's clock (RFC 6886 3.6); a router seconds old cannot
			// be told from one restarted, so let some time pass first.
			time.Sleep(5 * time.Second)
			if err := r.l.RestartRouter(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			r.np(1, "plan", "--detailed-exitcode").want(t, 2, "Changed outside netplan42 since the last apply", "missing on the router since the last apply", "Plan: 1 to add")
			r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
			if err := r.reachable(1, 4242); err != nil {
				t.Fatalf("not reachable after repair: %v", err)
			}
			r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
		})
	}
}

// Scenario 7: a WAN address in 100.64.0.0/10 (carrier-grade NAT).
func TestLabCGNAT(t *testing.T) {
	r := newLab(t, lab.Spec{WAN: lab.CGNATWAN}, labConfig(`["upnp", "natpmp"]`, "none", computerBlock("h1", "4242")))
	p := r.np(1, "plan")
	p.want(t, 0, "no usable external address", "carrier-grade NAT")
	r.np(1, "apply", "--auto-approve").want(t, 1, "no public", "CGNAT")
}

// Scenario 8: apply killed between two mappings; the next plan shows exactly
// the remaining work and nothing is left untracked.
func TestLabKilledApply(t *testing.T) {
	const n = 40
	var c strings.Builder
	c.WriteString("computer \"h1\" {\n  network = \"lab\"\n  firewall = \"none\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&c, "  service \"s%02d\" {\n    port = %d\n    expose = \"internet\"\n  }\n", i, 5000+i)
	}
	c.WriteString("}\n")
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", c.String()))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := r.l.Host(1).Command(ctx, binary, "apply", "--auto-approve", "--config", r.dir, "--computer", "h1", "--state", filepath.Join(r.state, "h1.json"))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	complete := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Creation complete") {
			complete++
			if complete == 3 {
				// ip netns exec runs netplan42 as its child: kill the group.
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				cmd.Process.Kill()
				syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
				exec.Command("pkill", "-KILL", "-f", binary+" apply").Run()
				break
			}
		}
	}
	cmd.Wait()
	onRouter := len(grepLines(r.upnpcLines(1), "netplan42:h1/"))
	if onRouter == 0 || onRouter == n {
		t.Fatalf("%d of %d mappings made before the kill: not between two mappings", onRouter, n)
	}

	js := r.np(1, "plan", "--json", "--detailed-exitcode")
	js.want(t, 2)
	var p planner.Plan
	if err := json.Unmarshal([]byte(js.stdout), &p); err != nil {
		t.Fatal(err)
	}
	counts := p.Counts()
	if counts[planner.Create] != n-onRouter || counts[planner.NoOp] != onRouter || counts[planner.Delete] != 0 {
		t.Fatalf("after the kill %d mappings are on the router; plan has %v, want %d creates and %d no-ops", onRouter, counts, n-onRouter, onRouter)
	}
	t.Logf("killed after %d of %d mappings; plan: %d to create, %d tracked", onRouter, n, counts[planner.Create], counts[planner.NoOp])
	r.np(1, "apply", "--auto-approve").want(t, 0, fmt.Sprintf("%d added", n-onRouter))
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
	if got := len(grepLines(r.upnpcLines(1), "netplan42:h1/")); got != n {
		t.Errorf("%d mappings on the router, want %d", got, n)
	}
}

// A saved plan is applied exactly, and refused once the router or the
// state moved on; apply asks for "yes".
func TestLabSavedPlanAndPrompt(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2, NoNATPMP: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	planFile := filepath.Join(r.state, "h1.plan")

	r.npIn(1, "no\n", "apply").want(t, 1, "Only 'yes' will be accepted", "Apply cancelled.")
	if got := grepLines(r.upnpcLines(1), "netplan42"); len(got) != 0 {
		t.Fatalf("cancelled apply mapped %q", got)
	}

	r.np(1, "plan", "--out", planFile).want(t, 0, "Saved the plan to "+planFile)
	r.np(1, "show", planFile).want(t, 0, `+ router_mapping.crashplan["tcp"]`, "Plan: 1 to add")
	r.np(1, "show", "--json", planFile).want(t, 0, `"format_version": "1.0"`, `"action": "create"`)

	// Someone maps a port on the router: the plan saw a different table.
	r.l.Host(2).MustRun(t, "upnpc", "-u", r.l.RootDescURL(), "-e", "Skype", "-a", "192.0.2.11", "5000", "5000", "UDP")
	// No --state: the plan file remembers its state file.
	r.np(1, "apply", planFile).want(t, 1, "the saved plan is stale: the router or the firewall changed since it was made", `5000/udp -> 192.0.2.11:5000 "Skype" appeared`)
	if got := grepLines(r.upnpcLines(1), "netplan42"); len(got) != 0 {
		t.Fatalf("a stale plan was applied: %q", got)
	}

	r.np(1, "plan", "--out", planFile).want(t, 0)
	r.np(1, "apply", planFile).want(t, 0, "Apply complete! Resources: 1 added")
	// The state was written since: the same plan must not run twice.
	r.np(1, "apply", planFile).want(t, 1, "the saved plan is stale: it was made with no state, and there is state")

	r.npIn(1, "yes\n", "destroy").want(t, 0, "Destroy complete!")
	r.np(1, "show").want(t, 0, "nothing is managed")
}

type breakage struct {
	cmd    []string
	closes bool // whether it closes the port
}

// Firewall drift, end to end: a host whose firewall drops unsolicited
// traffic; someone flushes our chain, removes our jump or deletes our
// table; the next plan shows it and apply repairs it, proven by traffic.
func TestLabFirewallDrift(t *testing.T) {
	for _, tc := range []struct {
		backend string
		harden  [][]string
		breaks  []breakage
	}{
		{"iptables",
			[][]string{
				{"iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"},
				{"iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
				{"iptables", "-P", "INPUT", "DROP"},
			},
			[]breakage{
				{[]string{"iptables", "-F", "NETPLAN42"}, true},
				{[]string{"iptables", "-D", "INPUT", "-m", "comment", "--comment", "netplan42", "-j", "NETPLAN42"}, true},
			}},
		{"nftables",
			[][]string{
				{"nft", "add table inet filter"},
				{"nft", "add chain inet filter input { type filter hook input priority 0; policy drop; }"},
				{"nft", "add rule inet filter input iif lo accept"},
				{"nft", "add rule inet filter input ct state established,related accept"},
			},
			[]breakage{
				{[]string{"nft", "flush chain inet filter netplan42"}, true},
				// The accepts that matter live in inet filter's chain: the
				// port stays open, but the plan must still see the loss.
				{[]string{"nft", "delete table inet netplan42"}, false},
			}},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, tc.backend, computerBlock("h1", "4242")))
			h := r.l.Host(1)
			for _, c := range tc.harden {
				h.MustRun(t, c[0], c[1:]...)
			}
			r.np(1, "apply", "--auto-approve").want(t, 0, "2 added")
			if err := r.reachable(1, 4242); err != nil {
				t.Fatalf("not reachable after apply: %v", err)
			}
			for _, brk := range tc.breaks {
				h.MustRun(t, brk.cmd[0], brk.cmd[1:]...)
				if brk.closes && !r.unreachable(1, 4242) {
					t.Fatalf("%v did not close the port: the test proves nothing", brk.cmd)
				}
				p := r.np(1, "plan", "--detailed-exitcode")
				p.want(t, 2, `firewall_rule.crashplan["tcp"]`)
				if !strings.Contains(p.stdout, "Changed outside netplan42 since the last apply") {
					t.Errorf("after %v the plan shows no drift:\n%s", brk, p.stdout)
				}
				r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
				if err := r.reachable(1, 4242); err != nil {
					t.Fatalf("not reachable after repairing %v: %v", brk, err)
				}
				r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
			}
			r.np(1, "destroy", "--auto-approve").want(t, 0, "2 destroyed")
			if !r.unreachable(1, 4242) {
				t.Error("still reachable after destroy")
			}
		})
	}
}

// Switching firewall backend removes every object of ours from the old one,
// and the port stays open through the new one (review finding H1).
func TestLabFirewallBackendSwitch(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "iptables", computerBlock("h1", "4242")))
	h := r.l.Host(1)
	h.MustRun(t, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-P", "INPUT", "DROP")
	r.np(1, "apply", "--auto-approve").want(t, 0, "2 added")
	if !strings.Contains(h.MustRun(t, "iptables-save"), "NETPLAN42") {
		t.Fatal("no iptables chain after apply: the test proves nothing")
	}
	cfg := filepath.Join(r.dir, "main.hcl")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), `firewall = "iptables"`, `firewall = "nftables"`, 1)), 0o644)
	p := r.np(1, "plan", "--detailed-exitcode")
	p.want(t, 2, "netplan42's chain, table or anchor in iptables, and the jumps into it, will be removed", "firewall backend changed from iptables to nftables")
	if strings.Contains(p.stdout, "Changed outside netplan42") {
		t.Errorf("a backend switch reported as drift:\n%s", p.stdout)
	}
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	// The iptables backend's chain is gone; what iptables-save may show now
	// is the nftables backend's own chain in iptables-nft's dropping table.
	if save := h.MustRun(t, "iptables-save"); strings.Contains(save, "NETPLAN42") {
		t.Errorf("the iptables backend's objects are left after switching to nftables:\n%s", save)
	}
	if err := r.reachable(1, 4242); err != nil {
		t.Fatalf("not reachable through nftables: %v", err)
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
	r.np(1, "destroy", "--auto-approve").want(t, 0, "Destroy complete!")
	if rs := h.MustRun(t, "nft", "list", "ruleset"); strings.Contains(rs, "netplan42") || strings.Contains(rs, "NETPLAN42") {
		t.Errorf("objects of ours left after destroy:\n%s", rs)
	}
}

// Renaming a service re-tags its mapping on the router; it is never left
// deleted (review finding H3).
func TestLabRenameService(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
	cfg := filepath.Join(r.dir, "main.hcl")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), `service "crashplan"`, `service "backup"`, 1)), 0o644)
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	if got := grepLines(r.upnpcLines(1), "netplan42:h1/"); len(got) != 1 || !strings.Contains(got[0], "netplan42:h1/backup") {
		t.Fatalf("after the rename the router holds %q", got)
	}
	if err := r.reachable(1, 4242); err != nil {
		t.Fatalf("not reachable after the rename: %v", err)
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
}

// A second apply fails at once, naming the first, while the first waits at
// its prompt; Ctrl-C at the prompt cancels (issue 2's locking contract).
func TestLabSecondApplyFailsAtOnce(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := r.l.Host(1).Command(ctx, binary, "apply", "--config", r.dir, "--computer", "h1", "--state", filepath.Join(r.state, "h1.json"))
	stdin, _ := first.StdinPipe()
	stdout, _ := first.StdoutPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	buf := make([]byte, 64*1024)
	seen := ""
	for !strings.Contains(seen, "Enter a value") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("first apply ended before its prompt: %v\n%s", err, seen)
		}
		seen += string(buf[:n])
	}
	start := time.Now()
	second := r.np(1, "apply", "--auto-approve")
	second.want(t, 1, fmt.Sprintf("pid %d", first.Process.Pid), "by apply")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the second apply took %s to fail; it must fail at once", d)
	}
	first.Process.Signal(syscall.SIGINT)
	stdin.Close()
	io.Copy(io.Discard, stdout)
	if err := first.Wait(); err == nil {
		t.Error("the first apply succeeded after Ctrl-C at its prompt")
	}
	if got := grepLines(r.upnpcLines(1), "netplan42"); len(got) != 0 {
		t.Errorf("a cancelled apply mapped %q", got)
	}
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
}

// servicesBlock is computer h1 with n services from port 5000, each
// exposed to the internet.
func servicesBlock(n int) string {
	var c strings.Builder
	c.WriteString("computer \"h1\" {\n  network = \"lab\"\n  firewall = \"none\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&c, "  service \"s%02d\" {\n    port = %d\n    expose = \"internet\"\n  }\n", i, 5000+i)
	}
	c.WriteString("}\n")
	return c.String()
}

// ownedOnRouter counts h1's mappings on the router, as upnpc lists them.
func (r *labRun) ownedOnRouter() int {
	return len(grepLines(r.upnpcLines(1), "netplan42:h1/"))
}

// A router without secure mode lets host2 map our port to itself with a
// description imitating h1's tag. The tag alone does not make it h1's:
// plan names it as the holder and apply leaves it byte-identical.
func TestLabLookalikeTag(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2, NoNATPMP: true, SecureModeOff: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	lookalike := []string{"upnpc", "-u", r.l.RootDescURL(), "-e", "netplan42:h1/crashplan", "-a", "192.0.2.11", "4242", "4242", "TCP"}
	r.l.Host(2).MustRun(t, lookalike[0], lookalike[1:]...)
	before := r.upnpcLines(1)
	if len(before) != 1 || !strings.Contains(before[0], "4242->192.0.2.11:4242") {
		t.Fatalf("upnpc -l before: %q", before)
	}
	r.np(1, "plan").want(t, 1, `external port 4242/tcp is held by 192.0.2.11:4242 with this computer's tag ("netplan42:h1/crashplan"), but it does not forward to this computer (192.0.2.10)`)
	r.np(1, "apply", "--auto-approve").want(t, 1, "held by 192.0.2.11:4242", "Blocked: router_mapping.crashplan")
	if after := r.upnpcLines(1); !slices.Equal(after, before) {
		t.Fatalf("apply changed the look-alike:\nbefore %q\nafter  %q", before, after)
	}
}

// destroy after h1's own mapping was replaced by a look-alike (no secure
// mode stops host2 removing it): h1's is forgotten, the look-alike left
// byte-identical.
func TestLabLookalikeTagDestroy(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2, NoNATPMP: true, SecureModeOff: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	url := r.l.RootDescURL()
	lookalike := []string{"upnpc", "-u", url, "-e", "netplan42:h1/crashplan", "-a", "192.0.2.11", "4242", "4242", "TCP"}
	r.np(1, "apply", "--auto-approve").want(t, 0, "1 added")
	if got := grepLines(r.upnpcLines(1), "4242->192.0.2.10:4242"); len(got) != 1 {
		t.Fatalf("h1's mapping not on the router: %q", r.upnpcLines(1))
	}
	r.l.Host(2).MustRun(t, "upnpc", "-u", url, "-d", "4242", "TCP")
	r.l.Host(2).MustRun(t, lookalike[0], lookalike[1:]...)
	before := r.upnpcLines(1)
	if len(before) != 1 || !strings.Contains(before[0], "4242->192.0.2.11:4242") {
		t.Fatalf("upnpc -l before destroy: %q", before)
	}
	r.np(1, "destroy", "--auto-approve").want(t, 0, `replaced on the router by 192.0.2.11:4242 "netplan42:h1/crashplan", which netplan42 does not own`, "1 forgotten")
	if after := r.upnpcLines(1); !slices.Equal(after, before) {
		t.Fatalf("destroy changed the look-alike:\nbefore %q\nafter  %q", before, after)
	}
	r.np(1, "show").want(t, 0, "nothing is managed")
}

// miniupnpd goes silent (SIGSTOP) in the middle of an apply: the call it
// does not answer times out once, the rest fail at once, and the apply
// ends incomplete. Once it answers again, plan shows exactly the rest.
func TestLabRouterGoesSilent(t *testing.T) {
	const n = 10
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", servicesBlock(n)))
	pid := r.l.PID()
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := r.l.Host(1).Command(ctx, binary, "apply", "--auto-approve", "--config", r.dir, "--computer", "h1", "--state", filepath.Join(r.state, "h1.json"))
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	sc := bufio.NewScanner(out)
	complete := 0
	for sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Creation complete") {
			if complete++; complete == 3 {
				syscall.Kill(pid, syscall.SIGSTOP)
			}
		}
	}
	err := cmd.Wait()
	all := stdout.String() + stderr.String()
	t.Logf("apply against a router gone silent:\n%s", all)
	if err == nil || !strings.Contains(all, "Apply incomplete!") {
		t.Fatalf("apply did not fail: %v", err)
	}
	if got := strings.Count(all, "did not answer in time"); got != 1 {
		t.Errorf("%d timeouts, want one", got)
	}
	if got := strings.Count(all, "not attempted: the router stopped answering"); got < n-5 {
		t.Errorf("%d changes not attempted, want at least %d", got, n-5)
	}
	syscall.Kill(pid, syscall.SIGCONT)

	// miniupnpd may carry out the request it had queued when it stopped.
	onRouter := r.ownedOnRouter()
	js := r.np(1, "plan", "--json", "--detailed-exitcode")
	js.want(t, 2)
	var p planner.Plan
	if err := json.Unmarshal([]byte(js.stdout), &p); err != nil {
		t.Fatal(err)
	}
	if c := p.Counts(); c[planner.Create] != n-onRouter || c[planner.NoOp] != onRouter {
		t.Errorf("%d of ours on the router; plan has %v, want %d creates", onRouter, c, n-onRouter)
	}
	r.np(1, "apply", "--auto-approve").want(t, 0, "Apply complete!")
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "No changes.")
}

// Ctrl-C while the router has made a mapping but its answer has not
// arrived (the router drops its AddPortMapping answers): the closing
// message counts what the router holds, and state records it.
func TestLabInterruptedApply(t *testing.T) {
	const n = 4
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", servicesBlock(n)))
	u, err := url.Parse(r.l.RootDescURL())
	if err != nil {
		t.Fatal(err)
	}
	drop := []string{"OUTPUT", "-p", "tcp", "--sport", u.Port(), "-m", "string", "--string", "AddPortMappingResponse", "--algo", "bm", "-j", "DROP"}
	r.l.Router().MustRun(t, "iptables-legacy", append([]string{"-I"}, drop...)...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := r.l.Host(1).Command(ctx, binary, "apply", "--auto-approve", "--config", r.dir, "--computer", "h1", "--state", filepath.Join(r.state, "h1.json"))
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Creating...") {
			// The request is out; its answer is dropped. The driver
			// would wait 2 s for it: interrupt well before.
			time.Sleep(500 * time.Millisecond)
			cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	for sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
	}
	werr := cmd.Wait()
	all := stdout.String() + stderr.String()
	t.Logf("interrupted apply:\n%s", all)
	onRouter := r.ownedOnRouter()
	if onRouter != 1 {
		t.Fatalf("the router holds %d of ours, want the one in flight: the test proves nothing", onRouter)
	}
	if werr == nil || !strings.Contains(all, "Interrupted: apply incomplete! Resources: 1 added") || !strings.Contains(all, "interrupted, but the router made the mapping") {
		t.Errorf("the closing message does not match the router, which holds %d of ours (exit %v)", onRouter, werr)
	}

	r.l.Router().MustRun(t, "iptables-legacy", append([]string{"-D"}, drop...)...)
	js := r.np(1, "plan", "--json", "--detailed-exitcode")
	var p planner.Plan
	if err := json.Unmarshal([]byte(js.stdout), &p); err != nil {
		t.Fatal(err)
	}
	if c := p.Counts(); c[planner.Create] != n-1 || c[planner.NoOp] != 1 {
		t.Errorf("plan after the interrupted apply: %v, want %d creates and the one made tracked", c, n-1)
	}
	for _, c := range p.Changes {
		if c.Action == planner.NoOp && !strings.Contains(c.Reason, "up to date") {
			t.Errorf("%s: %s: state did not record the mapping made", c.Address, c.Reason)
		}
	}
}

// NAT-PMP grants another external port when another host holds the one
// asked for: apply says which, state remembers it, and the next plan
// settles while naming the port peers must use.
func TestLabNATPMPOtherPort(t *testing.T) {
	r := newLab(t, lab.Spec{Hosts: 2}, labConfig(`["natpmp"]`, "none", computerBlock("h1", "4242")))
	r.l.Host(2).MustRun(t, "upnpc", "-u", r.l.RootDescURL(), "-e", "CrashPlan on h2", "-a", "192.0.2.11", "4242", "4242", "TCP", "0")
	a := r.np(1, "apply", "--auto-approve")
	a.want(t, 0, "1 added", "the router gave external port")
	m := regexp.MustCompile(`the router gave external port (\d+) instead of 4242`).FindStringSubmatch(a.stdout)
	if m == nil || m[1] == "4242" {
		t.Fatalf("no other port named:\n%s", a.stdout)
	}
	if got := grepLines(r.upnpcLines(1), m[1]+"->192.0.2.10:4242"); len(got) != 1 {
		t.Errorf("upnpc -l does not show port %s to h1: %q", m[1], r.upnpcLines(1))
	}
	r.np(1, "plan", "--detailed-exitcode").want(t, 0, "the router gave external port "+m[1]+" instead of 4242", "No changes.")
	if got := grepLines(r.upnpcLines(1), "4242->192.0.2.11:4242"); len(got) != 1 {
		t.Errorf("host2's mapping changed: %q", r.upnpcLines(1))
	}
}
