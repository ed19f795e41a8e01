package firewall

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
	"sigs.k8s.io/knftables"
)

// The iptables backend beside native nftables tables, on captures of the
// iptables-native scenario (capture_test.go): iptables-nft rules at
// INPUT policy DROP, a native table inet filter at policy drop and a
// fail2ban-like table at policy accept, before and after a Sync of
// captureRules.

// nativeIptables is the nf_tables backend on the captures; after picks the
// captures after Sync, else those before it.
func nativeIptables(t *testing.T, after bool) (*iptablesBackend, *fakeRun, *recordingNft) {
	t.Helper()
	b, fr := capturedIptables(t, "nf_tables", "iptables-save-native.txt", "ip6tables-save-native.txt")
	suffix := "-before.json"
	if after {
		suffix = ".json"
	}
	fr.out["nft -j list chains"] = string(readTestdata(t, "nft-ipt-chains"+suffix))
	fr.out["nft -j list table inet filter"] = string(readTestdata(t, "nft-ipt-inet-filter"+suffix))
	fr.out["nft -j list table inet f2b-table"] = string(readTestdata(t, "nft-ipt-f2b"+suffix))
	if after {
		fr.out["nft -a list table inet filter"] = string(readTestdata(t, "nft-ipt-inet-filter.txt"))
	}
	fr.out["iptables-nft-restore --noflush --wait"] = ""
	fr.out["ip6tables-nft-restore --noflush --wait"] = ""
	runner := &recordingNft{}
	b.nft, b.nftRun = true, runner
	return b, fr, runner
}

// Observe reads the native tables that filter input and only those:
// iptables-nft's tables are iptables-save's to read.
func TestObserveIptablesNative(t *testing.T) {
	b, fr, _ := nativeIptables(t, true)
	v, err := b.observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Hooked || !sameRules(v.Rules, captureRules) || len(v.Warnings) > 0 {
		t.Errorf("hooked %v rules %+v warnings %q; want hooked, captureRules, no warnings", v.Hooked, v.Rules, v.Warnings)
	}
	for _, c := range fr.calls {
		if strings.Contains(c, "list table ip") || c == "nft -j list ruleset" {
			t.Errorf("observe ran %q: iptables-nft's tables are read with iptables-save", c)
		}
	}

	// Our chain and jump gone from inet filter (its listing before Sync):
	// not hooked, so a plan shows drift and apply repairs it.
	fr.out["nft -j list table inet filter"] = string(readTestdata(t, "nft-ipt-inet-filter-before.json"))
	v, err = b.observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Hooked || !sameRules(v.Rules, captureRules) {
		t.Errorf("without our chain in inet filter: hooked %v rules %+v", v.Hooked, v.Rules)
	}

	// nft fails: the nf_tables variant cannot vouch for the port.
	delete(fr.out, "nft -j list chains")
	if _, err := b.observe(context.Background()); err == nil || !strings.Contains(err.Error(), "native nftables tables") {
		t.Errorf("observe with nft failing: %v", err)
	}
	// The legacy variant may run on a kernel without nf_tables: a warning.
	b.variant = "legacy"
	for _, f := range []string{"iptables", "ip6tables"} {
		fr.out[f+"-nft-save"] = "" // the fake's saves answer for legacy too
	}
	v, err = b.observe(context.Background())
	if err != nil || !hasWarning(v.Warnings, "nftables tables not checked") {
		t.Errorf("legacy observe with nft failing: %v, warnings %q", err, v.Warnings)
	}
}

// Sync reads the native tables, then restores each family, then runs one
// nft transaction, in that order; the transaction is the golden file.
func TestSyncIptablesNative(t *testing.T) {
	b, fr, runner := nativeIptables(t, false)
	if err := b.sync(context.Background(), captureRules); err != nil {
		t.Fatal(err)
	}
	want := []string{"nft -j list chains", "nft -j list table inet filter", "nft -j list table inet f2b-table",
		"iptables-nft-save", "iptables-nft-restore --noflush --wait", "ip6tables-nft-save", "ip6tables-nft-restore --noflush --wait"}
	if !reflect.DeepEqual(fr.calls, want) {
		t.Errorf("calls %q\nwant %q", fr.calls, want)
	}
	if len(runner.txs) != 1 {
		t.Fatalf("%d transactions, want 1", len(runner.txs))
	}
	golden(t, "nft-ipt-first.golden", []byte(runner.txs[0]))

	b, _, runner = nativeIptables(t, true)
	if err := b.sync(context.Background(), captureRules); err != nil {
		t.Fatal(err)
	}
	golden(t, "nft-ipt-again.golden", []byte(runner.txs[0]))
	if err := b.sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "nft-ipt-remove.golden", []byte(runner.txs[1]))

	// A failing transaction is reported as such.
	b, _, runner = nativeIptables(t, false)
	runner.err = errors.New("Error: Could not process rule: Operation not permitted\n")
	err := b.sync(context.Background(), captureRules)
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "sync native nftables tables: nft -f - (") {
		t.Errorf("error %v", err)
	}

	// nft keeps shorter comments than iptables: refused before anything
	// changes when a native table needs the rule.
	b, fr, runner = nativeIptables(t, false)
	long := crashplan
	long.Comment = "netplan42:nas/" + strings.Repeat("x", 150)
	err = b.sync(context.Background(), []planner.Rule{long})
	if err == nil || !strings.Contains(err.Error(), "table inet filter drops these rules' traffic too") {
		t.Errorf("long comment: %v", err)
	}
	for _, c := range fr.calls {
		if strings.Contains(c, "restore") {
			t.Errorf("ran %q though the rules were refused", c)
		}
	}
	if len(runner.txs) > 0 {
		t.Error("ran a transaction though the rules were refused")
	}
}

// Which tables the iptables backend hooks, on a whole captured ruleset:
// the nf_tables variant only native ones, the legacy variant iptables-nft's
// too. The transactions are golden files.
func TestIptablesHookable(t *testing.T) {
	rs := parseCapture(t, "nft-native-before.json")
	for _, tc := range []struct {
		variant, golden string
		want            []string
	}{
		{"nf_tables", "nft-ipt-nf_tables-full.golden", []string{"table inet filter/input"}},
		{"legacy", "nft-ipt-legacy-full.golden", []string{"table inet filter/input", "table ip filter/INPUT"}},
	} {
		b := &iptablesBackend{variant: tc.variant}
		targets, _ := rs.targets([]key{{planner.TCP, 4242}}, b.hookable)
		var got []string
		for _, h := range targets {
			for _, c := range h.chains {
				got = append(got, h.t.String()+"/"+c.name)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: targets %q, want %q", tc.variant, got, tc.want)
		}
		tx := knftables.NewFake("", "").NewTransaction()
		hookTx(tx, rs, expand(captureRules), b.hookable)
		golden(t, tc.golden, []byte(tx.String()))
	}
}
