package firewall

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/netplan42/netplan42/planner"
	"sigs.k8s.io/knftables"
)

// iptablesBackend keeps our rules in chain NETPLAN42 of the filter table,
// IPv4 and IPv6, reached by one tagged jump at the top of INPUT. Because a
// packet must be accepted by every base chain on the input hook, it also
// keeps them, as the nftables backend does (nfthook.go), in a chain
// netplan42 inside each native nftables table whose input chain would drop
// our traffic, reached by one tagged jump at the top of that chain.
//
// It reads with iptables-save and writes with one iptables-restore
// --noflush per family rather than go-iptables: go-iptables runs one
// command per rule (no atomic update, ~N execs), has no context, and its
// List output still needs parsing; save/restore gives one atomic exec per
// family and a plain text format we parse ourselves.
type iptablesBackend struct {
	variant string // "nf_tables" or "legacy"
	run     runFunc
	fams    []ipFamily
	// otherSave is the save command of the other variant, when installed:
	// the kernel applies both variants' rules.
	otherSave string
	// nft is set when the nft tool is installed, to look for native
	// nftables chains that also filter input.
	nft bool
	// nftRun runs the transaction that hooks native tables; made on first
	// use, as most iptables hosts need none (knftables.New runs nft twice).
	nftRun nftRunner
}

// hookable reports whether the backend hooks nftables table t with a chain
// netplan42: every native table, because iptables rules do not reach
// them; not iptables-nft's tables in the nf_tables variant, which hold
// chain NETPLAN42 already. In the legacy variant iptables-nft's tables are
// as foreign as native ones (the kernel applies legacy and nftables hooks
// alike) and get the same chain. Never table inet netplan42, the nftables
// backend's.
func (b *iptablesBackend) hookable(t *nftTable) bool {
	return !isOwn(t) && !(b.variant == "nf_tables" && isIptablesNft(t))
}

// native reads the nftables tables the backend hooks (nil without nft).
// In the legacy variant nft may not work at all (a kernel without
// nf_tables); then no nftables table filters, and warn says what could
// not be checked.
func (b *iptablesBackend) native(ctx context.Context, text bool) (rs *nftRuleset, warn string, err error) {
	if !b.nft {
		return nil, "", nil
	}
	rs, err = listHookable(ctx, b.run, b.hookable, text)
	if err != nil && b.variant == "legacy" {
		return nil, fmt.Sprintf("nftables tables not checked: %v", err), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("native nftables tables: %w", err)
	}
	return rs, "", nil
}

type ipFamily struct {
	v6            bool
	name          string // "iptables" or "ip6tables", for messages
	save, restore string
}

func (b *iptablesBackend) name() string { return "iptables (" + b.variant + ")" }

// maxIptablesComment is xt_comment's limit less the terminating NUL.
const maxIptablesComment = 255

// openIptables finds the iptables tools and picks the variant: the one
// iptables is (see variantOfTool), unless only the other one holds rules.
// The save listings of both variants and families, and nft's chains, start
// together; observe reads them through pre.
func openIptables(ctx context.Context, pre *prefetch, lookPath func(string) (string, error)) (*iptablesBackend, error) {
	run := pre.runFunc
	variant, ok := variantOfTool(lookPath)
	if !ok {
		out, err := run(ctx, nil, "iptables", "--version")
		if err != nil {
			return nil, fmt.Errorf("iptables backend: %w (apt-get install iptables)", err)
		}
		variant = variantOf(string(out))
	}
	b := &iptablesBackend{run: run, variant: variant}
	_, nftErr := lookPath("nft")
	b.nft = nftErr == nil

	other := map[string]string{"nf_tables": "legacy", "legacy": "nf_tables"}[variant]
	otherSave := saveCmd(lookPath, other, false)
	bothInstalled := otherSave != "iptables-save"
	v6save := saveCmd(lookPath, variant, true)
	_, v6err := lookPath(v6save)
	pre.start(saveCmd(lookPath, variant, false))
	if bothInstalled {
		pre.start(otherSave)
	}
	if v6err == nil {
		pre.start(v6save)
	}
	if b.nft {
		pre.start("nft", "-j", "list", "chains")
	}
	if bothInstalled {
		// Both variants installed: prefer the one that holds rules.
		mine, _ := run(ctx, nil, saveCmd(lookPath, variant, false))
		theirs, err := run(ctx, nil, otherSave)
		if err == nil && !holdsRules(mine) && holdsRules(theirs) {
			variant, other = other, variant
			b.variant = variant
			v6save = saveCmd(lookPath, variant, true)
			_, v6err = lookPath(v6save)
		}
		b.otherSave = saveCmd(lookPath, other, false)
	}
	b.fams = []ipFamily{{false, "iptables", saveCmd(lookPath, variant, false), restoreCmd(lookPath, variant, false)}}
	v6 := ipFamily{true, "ip6tables", v6save, restoreCmd(lookPath, variant, true)}
	if v6err == nil {
		if _, err := run(ctx, nil, v6.save); err == nil {
			b.fams = append(b.fams, v6)
		}
	}
	return b, nil
}

// variantOfTool tells the variant from what iptables is: Debian's
// alternatives link it to xtables-nft-multi or xtables-legacy-multi, which
// saves running `iptables --version`. ok is false when the link says
// neither.
func variantOfTool(lookPath func(string) (string, error)) (variant string, ok bool) {
	p, err := lookPath("iptables")
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false
	}
	switch base := filepath.Base(real); {
	case strings.Contains(base, "nft"):
		return "nf_tables", true
	case strings.Contains(base, "legacy"):
		return "legacy", true
	}
	return "", false
}

// variantOf reads `iptables --version`: "iptables v1.8.9 (nf_tables)";
// versions before 1.8 had only the legacy variant and say nothing.
func variantOf(version string) string {
	if strings.Contains(version, "(nf_tables)") {
		return "nf_tables"
	}
	return "legacy"
}

func variantTool(lookPath func(string) (string, error), variant string, v6 bool, verb string) string {
	base := "iptables"
	if v6 {
		base = "ip6tables"
	}
	suffix := map[string]string{"nf_tables": "-nft", "legacy": "-legacy"}[variant]
	if _, err := lookPath(base + suffix + "-" + verb); err == nil {
		return base + suffix + "-" + verb
	}
	return base + "-" + verb
}

func saveCmd(l func(string) (string, error), variant string, v6 bool) string {
	return variantTool(l, variant, v6, "save")
}

func restoreCmd(l func(string) (string, error), variant string, v6 bool) string {
	return variantTool(l, variant, v6, "restore")
}

// holdsRules reports whether iptables-save output has any rule or a
// built-in chain whose policy is not ACCEPT.
func holdsRules(save []byte) bool {
	tables, err := parseSave(save)
	if err != nil {
		return false
	}
	for _, t := range tables {
		if len(t.rules) > 0 {
			return true
		}
		for _, p := range t.policies {
			if p != "ACCEPT" && p != "-" {
				return true
			}
		}
	}
	return false
}

func (b *iptablesBackend) observe(ctx context.Context) (planner.FirewallView, error) {
	view := planner.FirewallView{Backend: b.name(), Hooked: true}
	var entries []entry
	filters := make([]*saveTable, len(b.fams))
	for i, fam := range b.fams {
		out, err := b.run(ctx, nil, fam.save)
		if err != nil {
			return view, fmt.Errorf("observe %s: %w", fam.name, err)
		}
		tables, err := parseSave(out)
		if err != nil {
			return view, fmt.Errorf("observe %s: %w", fam.name, err)
		}
		ft := tables["filter"]
		filters[i] = ft
		st := ipStateOf(ft)
		if !st.chainExists || st.jumps == 0 {
			view.Hooked = false
		}
		if ft == nil {
			continue
		}
		for _, r := range ft.rules {
			if r.chain != ChainIptables {
				continue
			}
			if e, ok := ownEntry(r, fam.v6); ok {
				entries = append(entries, e)
			} else {
				view.Warnings = append(view.Warnings, fmt.Sprintf("%s filter %s holds a rule netplan42 did not write: %q; the next apply removes it", fam.name, ChainIptables, r.text))
			}
		}
		if st.jumps > 1 {
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s filter INPUT holds %d jumps to %s; the next apply keeps one", fam.name, st.jumps, ChainIptables))
		}
	}
	if len(entries) == 0 && !anyChain(filters) {
		view.Hooked = false
	}
	view.Rules = group(entries)
	keys := keysOf(entries)
	for i, fam := range b.fams {
		ft := filters[i]
		if ft == nil {
			continue
		}
		if hasUFW(ft) {
			view.Warnings = append(view.Warnings, fmt.Sprintf("%s filter table is managed by ufw: netplan42 adds only its own chain and one jump in INPUT, which ufw leaves alone; `ufw allow PORT/PROTO` is ufw's own way", fam.name))
		}
		if ipStateOf(ft).jumps == 0 {
			continue // the jump will go to the top: nothing will precede it
		}
		at := ipTable(ft)
		for _, k := range keys {
			_, finds := at.walk("INPUT", k)
			view.Warnings = append(view.Warnings, chainWarnings(fam.name+" filter INPUT", "INPUT", true, k, finds)...)
		}
	}
	rs, warn, err := b.native(ctx, true)
	if err != nil {
		return view, fmt.Errorf("observe %w", err)
	}
	if rs != nil {
		hooked, warns := observeHooks(rs, entries, b.hookable, b.fams[0].name+" filter "+ChainIptables)
		view.Hooked = view.Hooked && hooked
		view.Warnings = append(view.Warnings, warns...)
	}
	if warn != "" {
		view.Warnings = append(view.Warnings, warn)
	}
	view.Warnings = append(view.Warnings, b.legacyWarnings(ctx, keys)...)
	return view, nil
}

func anyChain(ts []*saveTable) bool {
	for _, t := range ts {
		if ipStateOf(t).chainExists {
			return true
		}
	}
	return false
}

func hasUFW(t *saveTable) bool {
	for _, c := range t.chains {
		if strings.HasPrefix(c, "ufw-") || strings.HasPrefix(c, "ufw6-") {
			return true
		}
	}
	return false
}

// legacyWarnings warns about iptables-legacy rules beside the nf_tables
// variant: they drop what they drop whatever our chains accept, and
// netplan42 does not write them.
func (b *iptablesBackend) legacyWarnings(ctx context.Context, keys []key) []string {
	var warns []string
	if b.variant == "nf_tables" && b.otherSave != "" {
		for _, k := range legacyDrops(ctx, b.run, b.otherSave, keys) {
			warns = append(warns, fmt.Sprintf("iptables-legacy filter INPUT also drops new %s traffic (the kernel applies both variants); netplan42 writes only the nf_tables variant: use iptables-legacy or remove the legacy rules", k))
		}
	}
	return warns
}

// legacyDrops returns the keys that iptables-legacy's INPUT chain drops, as
// read with save (iptables-legacy-save). Legacy tables filter beside
// nftables, and neither nft rules nor iptables-nft rules reach them.
func legacyDrops(ctx context.Context, run runFunc, save string, keys []key) []key {
	out, err := run(ctx, nil, save)
	if err != nil {
		return nil
	}
	tables, err := parseSave(out)
	if err != nil || tables["filter"] == nil {
		return nil
	}
	at := ipTable(tables["filter"])
	var dropped []key
	for _, k := range keys {
		if drops, _ := at.walk("INPUT", k); drops {
			dropped = append(dropped, k)
		}
	}
	return dropped
}

func (b *iptablesBackend) sync(ctx context.Context, rules []planner.Rule) error {
	if err := checkRules(rules, maxIptablesComment); err != nil {
		return err
	}
	entries := expand(rules)
	has6 := false
	for _, f := range b.fams {
		has6 = has6 || f.v6
	}
	if !has6 && len(forFamily(entries, true)) > 0 {
		return fmt.Errorf("iptables sync: rules have IPv6 sources but ip6tables does not work here")
	}
	// Native tables are read and their transaction built before anything
	// changes, so a problem there leaves all of the ruleset as it was.
	tx, err := b.nativeTx(ctx, rules, entries)
	if err != nil {
		return err
	}
	for _, fam := range b.fams {
		out, err := b.run(ctx, nil, fam.save)
		if err != nil {
			return fmt.Errorf("sync %s: %w", fam.name, err)
		}
		tables, err := parseSave(out)
		if err != nil {
			return fmt.Errorf("sync %s: %w", fam.name, err)
		}
		in := renderRestore(forFamily(entries, fam.v6), ipStateOf(tables["filter"]), len(entries) == 0)
		if in == nil {
			continue
		}
		if _, err := b.run(ctx, in, fam.restore, "--noflush", "--wait"); err != nil {
			return fmt.Errorf("sync %s (%d rules): %w", fam.name, len(forFamily(entries, fam.v6)), err)
		}
	}
	if tx == nil || tx.NumOperations() == 0 {
		return nil
	}
	return runNftTx(ctx, b.nftRun, tx, "sync native nftables tables")
}

// nativeTx builds the transaction that hooks entries into every native
// nftables table whose input chain would drop them (and unhooks the
// others), or returns nil when no such table holds or needs our chain.
func (b *iptablesBackend) nativeTx(ctx context.Context, rules []planner.Rule, entries []entry) (*knftables.Transaction, error) {
	rs, _, err := b.native(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("sync %w", err)
	}
	if rs == nil || len(rs.tables) == 0 {
		return nil, nil
	}
	if targets, _ := rs.targets(keysOf(entries), b.hookable); len(targets) > 0 {
		if err := checkRules(rules, maxNftComment); err != nil {
			return nil, fmt.Errorf("%w (%s drops these rules' traffic too and nft keeps shorter comments)", err, targets[0].t)
		}
	}
	if b.nftRun == nil {
		if b.nftRun, err = newNft(b.name() + " backend, native nftables tables"); err != nil {
			return nil, err
		}
	}
	tx := b.nftRun.NewTransaction()
	hookTx(tx, rs, entries, b.hookable)
	return tx, nil
}
