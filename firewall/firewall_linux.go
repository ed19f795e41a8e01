package firewall

import (
	"context"
	"fmt"
	"slices"
)

// openLinux opens the iptables or nftables backend, the Linux-only ones
// (knftables and the nft/iptables tools exist only there).
func openLinux(ctx context.Context, backend string, run runFunc, lookPath func(string) (string, error)) (*Firewall, error) {
	return openLinuxWith(ctx, backend, newPrefetch(ctx, run), lookPath)
}

// openLinuxWith opens the backend with its first listings started at
// once, read through pre until the first Observe or Sync.
func openLinuxWith(ctx context.Context, backend string, pre *prefetch, lookPath func(string) (string, error)) (*Firewall, error) {
	has := func(tool string) bool { _, err := lookPath(tool); return err == nil }
	if backend == "iptables" {
		b, err := openIptables(ctx, pre, lookPath)
		if err != nil {
			pre.stop()
			return nil, err
		}
		return &Firewall{name: b.name(), kind: "iptables", b: b, pre: pre}, nil
	}
	b, err := openNft(pre.runFunc, has)
	if err != nil {
		pre.stop()
		return nil, err
	}
	pre.start("nft", "-j", "list", "ruleset")
	pre.start("nft", "-a", "list", "ruleset")
	if b.legacySave != "" {
		pre.start(b.legacySave)
	}
	return &Firewall{name: "nftables", kind: "nftables", b: b, pre: pre}, nil
}

// openAutoLinux picks nftables, iptables or none from the tools installed
// and the rules the kernel holds.
func openAutoLinux(ctx context.Context, run runFunc, lookPath func(string) (string, error)) (*Firewall, error) {
	has := func(tool string) bool { _, err := lookPath(tool); return err == nil }
	pre := newPrefetch(ctx, run)
	choice := ""
	if has("nft") {
		pre.start("nft", "-j", "list", "ruleset")
		if has("iptables-legacy-save") {
			pre.start("iptables-legacy-save")
		}
		out, err := pre.runFunc(ctx, nil, "nft", "-j", "list", "ruleset")
		if err != nil {
			pre.stop()
			return nil, fmt.Errorf("auto backend: %w", err)
		}
		rs, err := parseNftJSON(out)
		if err != nil {
			pre.stop()
			return nil, fmt.Errorf("auto backend: %w", err)
		}
		choice = autoChoice(rs, has("iptables"), legacyHoldsRules(ctx, pre.runFunc, has))
	} else if has("iptables") {
		choice = "iptables"
	}
	if choice == "" {
		pre.stop()
		return &Firewall{name: "none", kind: "none", b: noneBackend{}, notes: []string{"auto: neither nft nor iptables is installed; netplan42 manages no firewall here"}}, nil
	}
	return openLinuxWith(ctx, choice, pre, lookPath)
}

func openNft(run runFunc, has func(string) bool) (*nftBackend, error) {
	if !has("nft") {
		return nil, fmt.Errorf("nftables backend: nft not found (apt-get install nftables)")
	}
	nft, err := newNft("nftables backend")
	if err != nil {
		return nil, err
	}
	b := &nftBackend{run: run, nft: nft}
	if has("iptables-legacy-save") {
		b.legacySave = "iptables-legacy-save"
	}
	return b, nil
}

// autoChoice: native nftables tables (or ours) mean nftables; iptables
// rules alone mean iptables, the tool the admin already uses; an empty
// ruleset means nftables.
func autoChoice(rs *nftRuleset, hasIptables, legacyRules bool) string {
	iptablesRules := legacyRules
	for _, t := range rs.tables {
		if isIptablesNft(t) || (t.family == "ip" || t.family == "ip6") && slices.Contains(iptablesNftTables, t.name) {
			iptablesRules = true
			continue
		}
		if t.family == "ip" || t.family == "ip6" || t.family == "inet" {
			return "nftables"
		}
	}
	if iptablesRules && hasIptables {
		return "iptables"
	}
	return "nftables"
}

func legacyHoldsRules(ctx context.Context, run runFunc, has func(string) bool) bool {
	if !has("iptables-legacy-save") {
		return false
	}
	out, err := run(ctx, nil, "iptables-legacy-save")
	return err == nil && holdsRules(out)
}
