package firewall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"
)

// This file holds what the nftables and iptables backends share to open a
// port in nftables tables they do not own. A packet must be accepted by
// every base chain on the input hook, so wherever a foreign table's input
// chain would drop our traffic, netplan42 adds a regular chain netplan42
// holding its accepts and one tagged jump to it at the top of that input
// chain. Which tables a backend hooks this way is its hookable.

// hookable reports whether a backend hooks table t with a chain netplan42
// of its own. Tables it does not hook are neither read for targets nor
// written.
type hookable func(t *nftTable) bool

// notOwn: the nftables backend hooks every table but its own.
func notOwn(t *nftTable) bool { return !isOwn(t) }

// hookTarget is a foreign table that needs our chain, and its input base
// chains that would drop our traffic.
type hookTarget struct {
	t      *nftTable
	chains []*nftChain
}

// targets finds the tables of rs that foreign selects and that need our
// chain for traffic keys, and says what it leaves alone and why.
func (rs *nftRuleset) targets(keys []key, foreign hookable) (out []hookTarget, warns []string) {
	for _, t := range rs.tables {
		if !foreign(t) {
			continue
		}
		chains := inputChains(t)
		if len(chains) == 0 {
			continue
		}
		ft := t.ftable()
		var dropping []*nftChain
		var closed []key
		for _, c := range chains {
			for _, k := range keys {
				if drops, _ := ft.walk(c.name, k); drops {
					if !slices.Contains(dropping, c) {
						dropping = append(dropping, c)
					}
					if !slices.Contains(closed, k) {
						closed = append(closed, k)
					}
				}
			}
		}
		if len(dropping) == 0 {
			continue
		}
		if m := managerOf(t); m != "" {
			warns = append(warns, managerWarning(t, m, dropping, closed))
			continue
		}
		if hasUFWChains(t) {
			warns = append(warns, fmt.Sprintf("%s is managed by ufw: netplan42 adds only its chain %s and one jump in %s, which ufw leaves alone; `ufw allow %s` is ufw's own way", t, ChainNft, dropping[0].name, keyList(closed)))
		}
		out = append(out, hookTarget{t, dropping})
	}
	return out, warns
}

func managerWarning(t *nftTable, manager string, chains []*nftChain, keys []key) string {
	w := fmt.Sprintf("%s chain %s drops new %s traffic and belongs to %s; netplan42 does not change a table a firewall manager owns, so the port stays closed there", t, chains[0].name, keyList(keys), manager)
	if manager == "firewalld" {
		var cmds []string
		for _, k := range keys {
			cmds = append(cmds, "firewall-cmd --permanent --add-port="+k.String())
		}
		w += ": run " + strings.Join(cmds, " && ") + " && firewall-cmd --reload"
	}
	return w
}

func keyList(keys []key) string {
	var s []string
	for _, k := range keys {
		s = append(s, k.String())
	}
	return strings.Join(s, ", ")
}

// hookTx adds to tx what makes every table of rs that foreign selects and
// whose input chain would drop entries hold exactly entries in our chain
// netplan42, reached by one tagged jump at the top of each such input
// chain; from the other tables foreign selects it removes our chain and
// jumps. With no entries it removes them everywhere foreign selects. It
// changes nothing else: our chains, and our tagged jumps, deleted by
// handle.
func hookTx(tx *knftables.Transaction, rs *nftRuleset, entries []entry, foreign hookable) {
	var targets []hookTarget
	if len(entries) > 0 {
		targets, _ = rs.targets(keysOf(entries), foreign)
	}
	hooked := map[*nftTable]bool{}
	for _, h := range targets {
		hooked[h.t] = true
		fam := knftables.Family(h.t.family)
		tx.Add(&knftables.Chain{Family: fam, Table: h.t.name, Name: ChainNft})
		tx.Flush(&knftables.Chain{Family: fam, Table: h.t.name, Name: ChainNft})
		addRules(tx, h.t.family, h.t.name, ChainNft, familyEntries(entries, h.t.family))
		for _, c := range h.chains {
			jumps := ourJumps(c)
			if len(jumps) == 0 {
				tx.Insert(&knftables.Rule{Family: fam, Table: h.t.name, Chain: c.name,
					Rule: "jump " + ChainNft, Comment: knftables.PtrTo(HookComment)})
			}
			for _, handle := range jumps[min(1, len(jumps)):] {
				tx.Delete(&knftables.Rule{Family: fam, Table: h.t.name, Chain: c.name, Handle: knftables.PtrTo(handle)})
			}
		}
	}
	for _, t := range rs.tables {
		if foreign(t) && !hooked[t] {
			unhook(tx, t)
		}
	}
}

// unhook removes our jumps and chain from a foreign table, if there.
func unhook(tx *knftables.Transaction, t *nftTable) {
	fam := knftables.Family(t.family)
	for _, name := range t.order {
		for _, h := range ourJumps(t.chains[name]) {
			tx.Delete(&knftables.Rule{Family: fam, Table: t.name, Chain: name, Handle: knftables.PtrTo(h)})
		}
	}
	if t.chains[ChainNft] != nil {
		tx.Flush(&knftables.Chain{Family: fam, Table: t.name, Name: ChainNft})
		tx.Delete(&knftables.Chain{Family: fam, Table: t.name, Name: ChainNft})
	}
}

// observeHooks checks that every table of rs that foreign selects and
// whose input chain would drop entries holds exactly entries in our chain
// and our jump in each such input chain; source names where entries were
// read ("table inet netplan42"), for warnings. It also warns about foreign
// rules on the way in those tables, and about our chains left where they
// are no longer needed.
func observeHooks(rs *nftRuleset, entries []entry, foreign hookable, source string) (hooked bool, warns []string) {
	hooked = true
	keys := keysOf(entries)
	targets, tw := rs.targets(keys, foreign)
	warns = append(warns, tw...)
	isTarget := map[*nftTable]bool{}
	for _, h := range targets {
		isTarget[h.t] = true
		c := h.t.chains[ChainNft]
		if c == nil {
			hooked = false
			continue
		}
		var have []entry
		for _, r := range c.rules {
			if e, ok := ownEntryNft(r, h.t.family); ok {
				have = append(have, e)
			}
		}
		if !sameEntries(have, familyEntries(entries, h.t.family)) {
			hooked = false
			warns = append(warns, fmt.Sprintf("%s chain %s differs from %s; the next apply rewrites it", h.t, ChainNft, source))
		}
		for _, bc := range h.chains {
			if len(ourJumps(bc)) == 0 {
				hooked = false
			}
		}
	}
	for _, t := range rs.tables {
		if !foreign(t) {
			continue
		}
		if !isTarget[t] && t.chains[ChainNft] != nil && len(entries) > 0 {
			warns = append(warns, fmt.Sprintf("%s holds netplan42's chain %s though it no longer drops our traffic; Sync with no rules removes it", t, ChainNft))
		}
		if managerOf(t) != "" {
			continue // said in targets
		}
		ft := t.ftable()
		for _, c := range inputChains(t) {
			jumped := len(ourJumps(c)) > 0
			for _, k := range keys {
				_, finds := ft.walk(c.name, k)
				warns = append(warns, chainWarnings(fmt.Sprintf("%s chain %s", t, c.name), c.name, jumped, k, finds)...)
			}
		}
	}
	return hooked, warns
}

// listHookable reads the tables that foreign selects and that hooks can
// concern: those with a filter base chain on the input hook or holding our
// chain. It lists chains first (`nft -j list chains`: no rules, so cheap
// even beside a large iptables-nft ruleset) and then only those tables in
// full; with text, also `nft -a list table` for the rule text that
// warnings quote.
func listHookable(ctx context.Context, run runFunc, foreign hookable, text bool) (*nftRuleset, error) {
	out, err := run(ctx, nil, "nft", "-j", "list", "chains")
	if err != nil {
		return nil, err
	}
	chains, err := parseNftJSON(out)
	if err != nil {
		return nil, err
	}
	rs := &nftRuleset{}
	for _, t := range chains.tables {
		if !foreign(t) || len(inputChains(t)) == 0 && t.chains[ChainNft] == nil {
			continue
		}
		out, err := run(ctx, nil, "nft", "-j", "list", "table", t.family, t.name)
		if err != nil {
			return nil, err
		}
		full, err := parseNftJSON(out)
		if err != nil {
			return nil, err
		}
		if text {
			if out, err := run(ctx, nil, "nft", "-a", "list", "table", t.family, t.name); err == nil {
				full.attachText(out)
			}
		}
		rs.tables = append(rs.tables, full.tables...)
	}
	return rs, nil
}

// newNft makes the knftables interface transactions run through; what
// names the caller in errors ("nftables backend").
func newNft(what string) (knftables.Interface, error) {
	nft, err := knftables.New("", "")
	if err != nil {
		if strings.Contains(err.Error(), "Operation not permitted") {
			return nil, fmt.Errorf("%s: %v (run as root or with CAP_NET_ADMIN): %w", what, err, ErrPermission)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return nft, nil
}

// runNftTx runs tx as one `nft -f -`; what names the caller in errors
// ("sync nftables").
func runNftTx(ctx context.Context, nft nftRunner, tx *knftables.Transaction, what string) error {
	err := nft.Run(ctx, tx)
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("%s: nft -f - (%d operations, one transaction, nothing applied): %v", what, tx.NumOperations(), strings.TrimSpace(err.Error()))
	if strings.Contains(err.Error(), "Operation not permitted") {
		return fmt.Errorf("%s (run as root or with CAP_NET_ADMIN): %w", msg, ErrPermission)
	}
	return errors.New(msg)
}
