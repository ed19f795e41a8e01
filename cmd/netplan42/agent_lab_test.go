//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netplan42/netplan42/lab"
)

// The agent's scenarios (issue 5), against miniupnpd in the lab.

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type runningAgent struct {
	cmd  *exec.Cmd
	logs *syncBuf
	done chan error
}

// startAgent runs `netplan42 agent` as computer h1 in host 1.
func (r *labRun) startAgent(t *testing.T, extra ...string) *runningAgent {
	t.Helper()
	args := append([]string{"agent", "--config", r.dir, "--computer", "h1", "--state", filepath.Join(r.state, "h1.json")}, extra...)
	cmd := r.l.Host(1).Command(context.Background(), binary, args...)
	a := &runningAgent{cmd: cmd, logs: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs.String())
		}
	})
	return a
}

// stop signals the agent and waits for it to exit.
func (a *runningAgent) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	a.cmd.Process.Signal(sig)
	select {
	case err := <-a.done:
		a.done <- err // for Cleanup
		if err != nil {
			t.Fatalf("agent exited with %v\n%s", err, a.logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("agent did not stop on %v", sig)
	}
}

// eventually polls cond every 250 ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within %s: %s", within, what)
}

func (r *labRun) ours(t *testing.T) int {
	return len(grepLines(r.upnpcLines(1), "netplan42:h1/"))
}

// metrics scrapes the agent's /metrics inside host 1.
func (r *labRun) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	out, err := r.l.Host(1).Child(context.Background(), "http-get", "http://127.0.0.1:9442/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	vals := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += fmt.Sprintf(`{%s=%q}`, l.GetName(), l.GetValue())
			}
			vals[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return vals
}

// Scenarios 1 and 6: a router restart that flushes its table is repaired
// within one interval and counted; /metrics parses as Prometheus text.
func TestLabAgentRouterRestart(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")))
	const interval = 5 * time.Second
	a := r.startAgent(t, "--interval", interval.String())
	eventually(t, 10*time.Second, "the agent maps the port at start", func() bool { return r.ours(t) == 1 })
	m := r.metrics(t)
	if m["netplan42_managed_mappings"] != 1 || m[`netplan42_reconciles_total{result="ok"}`] < 1 {
		t.Fatalf("metrics after start: mappings %v, ok reconciles %v", m["netplan42_managed_mappings"], m[`netplan42_reconciles_total{result="ok"}`])
	}

	if err := r.l.RestartRouter(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	if r.ours(t) != 0 {
		t.Fatal("the restart kept the mapping: the test proves nothing")
	}
	eventually(t, interval+3*time.Second, "the mapping is back within one interval", func() bool { return r.ours(t) == 1 })
	t.Logf("mapping restored %s after the router restart", time.Since(restarted).Round(100*time.Millisecond))
	if err := r.reachable(1, 4242); err != nil {
		t.Fatalf("not reachable after the repair: %v", err)
	}
	m = r.metrics(t)
	if m["netplan42_router_reboots_total"] != 1 || m[`netplan42_drift_repairs_total{kind="router_mapping"}`] != 1 {
		t.Errorf("reboots %v, drift repairs %v; want 1 and 1", m["netplan42_router_reboots_total"], m[`netplan42_drift_repairs_total{kind="router_mapping"}`])
	}
	a.stop(t, syscall.SIGTERM)
	if r.ours(t) != 1 {
		t.Error("without --release-on-exit the mapping must stay")
	}
	if !strings.Contains(a.logs.String(), "router restart detected") {
		t.Errorf("no log line for the restart:\n%s", a.logs.String())
	}
}

// Scenario 2: a 60 s lease is renewed before it expires, over several
// lease periods, and the port stays reachable throughout.
func TestLabAgentShortLease(t *testing.T) {
	cfg := strings.Replace(labConfig(`["upnp"]`, "none", computerBlock("h1", "4242")), `lease     = "1h"`, `lease     = "1m"`, 1)
	r := newLab(t, lab.Spec{NoNATPMP: true}, cfg)
	a := r.startAgent(t, "--interval", "1h") // renewals come from the lease, not the interval
	eventually(t, 10*time.Second, "the agent maps the port", func() bool { return r.ours(t) == 1 })

	leaseRE := regexp.MustCompile(`netplan42:h1/crashplan' '' (\d+)`)
	lease := func() int {
		out := r.l.Host(1).MustRun(t, "upnpc", "-u", r.l.RootDescURL(), "-l")
		m := leaseRE.FindStringSubmatch(out)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	const periods = 2.5
	end := time.Now().Add(time.Duration(periods * float64(time.Minute)))
	renewals, last, lowest := 0, lease(), 60
	for time.Now().Before(end) {
		time.Sleep(3 * time.Second)
		l := lease()
		if l < 0 {
			t.Fatalf("the mapping vanished from the router (renewals so far: %d)", renewals)
		}
		if l > last+5 {
			renewals++
		}
		last, lowest = l, min(lowest, l)
		if err := r.reachable(1, 4242); err != nil {
			t.Fatalf("a gap in reachability: %v", err)
		}
	}
	t.Logf("over %.1f lease periods: %d renewals seen by upnpc, lowest remaining lease %d s", periods, renewals, lowest)
	if renewals < 2 {
		t.Errorf("%d renewals in %.1f periods of a 60 s lease", renewals, periods)
	}
	if lowest < 10 {
		t.Errorf("the lease ran down to %d s before renewal", lowest)
	}
	if n := r.metrics(t)["netplan42_renewals_total"]; n < 2 {
		t.Errorf("renewals metric %v", n)
	}
	a.stop(t, syscall.SIGTERM)
}

// Scenario 3: our iptables chain flushed by hand is repaired within one
// interval.
func TestLabAgentFirewallRepair(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "iptables", computerBlock("h1", "4242")))
	h := r.l.Host(1)
	h.MustRun(t, "iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	h.MustRun(t, "iptables", "-P", "INPUT", "DROP")
	const interval = 5 * time.Second
	a := r.startAgent(t, "--interval", interval.String())
	ruled := func() bool {
		// Before the first pass the chain does not exist (iptables-nft
		// then calls it "incompatible"): not there yet.
		out, err := h.Run(context.Background(), "iptables", "-S", "NETPLAN42")
		return err == nil && strings.Contains(out, "--dport 4242")
	}
	eventually(t, 10*time.Second, "our rule at start", ruled)
	h.MustRun(t, "iptables", "-F", "NETPLAN42")
	if !r.unreachable(1, 4242) {
		t.Fatal("flushing did not close the port: the test proves nothing")
	}
	eventually(t, interval+3*time.Second, "the rule is back within one interval", ruled)
	if err := r.reachable(1, 4242); err != nil {
		t.Fatalf("not reachable after the repair: %v", err)
	}
	if n := r.metrics(t)[`netplan42_drift_repairs_total{kind="firewall_rule"}`]; n != 1 {
		t.Errorf("firewall drift repairs = %v, want 1", n)
	}
	a.stop(t, syscall.SIGTERM)
}

// Scenarios 4 and 5: SIGHUP after adding a service makes its mapping and
// rule appear; a syntax error is logged and nothing is removed. SIGTERM
// with --release-on-exit removes everything.
func TestLabAgentReloadAndRelease(t *testing.T) {
	r := newLab(t, lab.Spec{NoNATPMP: true}, labConfig(`["upnp"]`, "iptables", computerBlock("h1", "4242")))
	h := r.l.Host(1)
	a := r.startAgent(t, "--interval", "1h", "--release-on-exit")
	eventually(t, 10*time.Second, "the first mapping", func() bool { return r.ours(t) == 1 })

	cfgPath := filepath.Join(r.dir, "main.hcl")
	two := labConfig(`["upnp"]`, "iptables", strings.Replace(computerBlock("h1", "4242"), "}\n}\n",
		"}\n  service \"web\" {\n    port   = 8080\n    expose = \"internet\"\n  }\n}\n", 1))
	if err := os.WriteFile(cfgPath, []byte(two), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the new service's mapping and rule", func() bool {
		out, err := h.Run(context.Background(), "iptables", "-S", "NETPLAN42")
		return r.ours(t) == 2 && err == nil && strings.Contains(out, "--dport 8080")
	})

	if err := os.WriteFile(cfgPath, []byte(two+"\ncomputer \"broken\" {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the diagnostic in the log", func() bool {
		return strings.Contains(a.logs.String(), "keeping the last good config") && strings.Contains(a.logs.String(), "main.hcl")
	})
	time.Sleep(3 * time.Second) // a reconcile with the last good config has run
	if n := r.ours(t); n != 2 {
		t.Fatalf("after a bad config %d mappings remain, want 2", n)
	}

	a.stop(t, syscall.SIGTERM)
	if n := r.ours(t); n != 0 {
		t.Errorf("%d mappings after SIGTERM with --release-on-exit", n)
	}
	if save := h.MustRun(t, "iptables-save"); strings.Contains(save, "NETPLAN42") {
		t.Errorf("firewall objects after release:\n%s", save)
	}
}
