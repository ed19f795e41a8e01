package firewall

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/netplan42/netplan42/lab"
	"github.com/netplan42/netplan42/planner"
)

// BenchmarkSync1000 applies 1000 rules with one Sync and, in another fresh
// namespace of the same run, the same 1000 rules with one `iptables -A`
// exec per rule, for each iptables variant. Both are timed inside the
// namespace, in a child process, so neither pays for `ip netns exec`.
// Run it with bench/firewall.sh or
//
//	go test ./firewall -run '^$' -bench Sync1000 -benchtime 3x
func BenchmarkSync1000(b *testing.B) {
	lab.Require(b)
	for _, variant := range []string{"nf_tables", "legacy"} {
		b.Run(variant, func(b *testing.B) {
			ipt := map[string]string{"nf_tables": "iptables-nft", "legacy": "iptables-legacy"}[variant]
			var sync, open, execs time.Duration
			for i := 0; i < b.N; i++ {
				s, o := benchSync(b, ipt)
				sync, open = sync+s, open+o
				execs += benchExecs(b, ipt)
			}
			n := float64(b.N)
			b.ReportMetric(float64(sync.Microseconds())/n/1000, "sync-ms")
			b.ReportMetric(float64((open+sync).Microseconds())/n/1000, "open+sync-ms")
			b.ReportMetric(float64(execs.Microseconds())/n/1000, "per-rule-execs-ms")
			b.ReportMetric(float64(execs)/float64(sync), "speedup")
			b.Logf("%s: Sync of 1000 rules %v (Open+Sync %v), 1000 `%s -A` execs %v, %.0fx faster",
				variant, sync/time.Duration(b.N), (open+sync)/time.Duration(b.N), ipt, execs/time.Duration(b.N), float64(execs)/float64(sync))
		})
	}
}

func benchRules() []planner.Rule {
	rules := make([]planner.Rule, 1000)
	for i := range rules {
		rules[i] = planner.Rule{Protocol: planner.TCP, Port: uint16(20000 + i),
			Sources: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Comment: fmt.Sprintf("netplan42:pc%d/backup", i)}
	}
	return rules
}

// benchNamespace makes a fresh namespace whose iptables variant ipt holds a
// small foreign ruleset, so auto-detection picks that variant.
func benchNamespace(b *testing.B, ipt string) *lab.Namespace {
	ns, err := lab.NewNamespace("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ns.Close() })
	if _, err := ns.Run(context.Background(), "sh", "-ec", ipt+" -P INPUT DROP; "+ipt+" -A INPUT -p tcp --dport 22 -j ACCEPT"); err != nil {
		b.Fatal(err)
	}
	return ns
}

func benchSync(b *testing.B, ipt string) (sync, open time.Duration) {
	ns := benchNamespace(b, ipt)
	req, _ := json.Marshal(benchRules())
	out, err := ns.Child(context.Background(), "bench-sync", string(req))
	if err != nil {
		b.Fatal(err)
	}
	var d [2]time.Duration
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		b.Fatal(err)
	}
	count, _ := ns.Run(context.Background(), "sh", "-c", ipt+"-save | grep -c '^-A NETPLAN42 '")
	if count != "1000\n" {
		b.Fatalf("after Sync, NETPLAN42 holds %q rules", count)
	}
	return d[0], d[1]
}

func benchExecs(b *testing.B, ipt string) time.Duration {
	ns := benchNamespace(b, ipt)
	out, err := ns.Child(context.Background(), "bench-execs", ipt)
	if err != nil {
		b.Fatal(err)
	}
	d, err := time.ParseDuration(out)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// childBenchSync opens the iptables backend and syncs the rules in
// args[0], printing [sync, open] durations.
func childBenchSync(ctx context.Context, args []string) error {
	var rules []planner.Rule
	if err := json.Unmarshal([]byte(args[0]), &rules); err != nil {
		return err
	}
	t0 := time.Now()
	f, err := Open(ctx, Config{Backend: "iptables"})
	if err != nil {
		return err
	}
	open := time.Since(t0)
	t1 := time.Now()
	if err := f.Sync(ctx, rules); err != nil {
		return err
	}
	return json.NewEncoder(stdout()).Encode([2]time.Duration{time.Since(t1), open})
}

// childBenchExecs adds the same 1000 rules the way a naive tool would: one
// iptables exec per rule (after creating the chain and the jump).
func childBenchExecs(ctx context.Context, args []string) error {
	ipt := args[0]
	t0 := time.Now()
	run := func(a ...string) error {
		if out, err := exec.CommandContext(ctx, ipt, a...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v: %s", ipt, a, err, out)
		}
		return nil
	}
	if err := run("-w", "-N", ChainIptables); err != nil {
		return err
	}
	if err := run("-w", "-I", "INPUT", "1", "-m", "comment", "--comment", HookComment, "-j", ChainIptables); err != nil {
		return err
	}
	for _, r := range benchRules() {
		if err := run("-w", "-A", ChainIptables, "-p", "tcp", "-m", "tcp", "--dport", strconv.Itoa(int(r.Port)),
			"-m", "comment", "--comment", r.Comment, "-j", "ACCEPT"); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout(), time.Since(t0))
	return nil
}
