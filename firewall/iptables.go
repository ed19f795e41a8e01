package firewall

import (
	"context"
	"fmt"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// iptablesBackend keeps our rules in chain NETPLAN42 of the filter table,
// IPv4 and IPv6, reached by one tagged jump at the top of INPUT.
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
// `iptables --version` names, unless only the other one holds rules.
func openIptables(ctx context.Context, run runFunc, lookPath func(string) (string, error)) (*iptablesBackend, error) {
	out, err := run(ctx, nil, "iptables", "--version")
	if err != nil {
		return nil, fmt.Errorf("iptables backend: %w (apt-get install iptables)", err)
	}
	variant := variantOf(string(out))
	b := &iptablesBackend{run: run, variant: variant}
	_, nftErr := lookPath("nft")
	b.nft = nftErr == nil

	other := map[string]string{"nf_tables": "legacy", "legacy": "nf_tables"}[variant]
	if save := saveCmd(lookPath, other, false); save != "iptables-save" {
		// Both variants installed: prefer the one that holds rules.
		mine, _ := run(ctx, nil, saveCmd(lookPath, variant, false))
		theirs, err := run(ctx, nil, save)
		if err == nil && !holdsRules(mine) && holdsRules(theirs) {
			variant, other = other, variant
			b.variant = variant
		}
		b.otherSave = saveCmd(lookPath, other, false)
	}
	b.fams = []ipFamily{{false, "iptables", saveCmd(lookPath, variant, false), restoreCmd(lookPath, variant, false)}}
	v6 := ipFamily{true, "ip6tables", saveCmd(lookPath, variant, true), restoreCmd(lookPath, variant, true)}
	if _, err := lookPath(v6.save); err == nil {
		if _, err := run(ctx, nil, v6.save); err == nil {
			b.fams = append(b.fams, v6)
		}
	}
	return b, nil
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
	view.Warnings = append(view.Warnings, b.coexistence(ctx, keys)...)
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

// coexistence warns about filters netplan42's iptables rules cannot reach:
// native nftables chains on the input hook, and the other iptables
// variant. Each drops what it drops whatever our chain accepts.
func (b *iptablesBackend) coexistence(ctx context.Context, keys []key) []string {
	var warns []string
	if b.nft {
		if out, err := b.run(ctx, nil, "nft", "-j", "list", "ruleset"); err == nil {
			if rs, err := parseNftJSON(out); err == nil {
				for _, w := range rs.inputDrops(keys, b.variant == "nf_tables") {
					warns = append(warns, w+`; netplan42's iptables rules cannot open the port there: use backend = "nftables", which adds its rules to every table that filters input`)
				}
			}
		}
	}
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
	return nil
}
