package firewall

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/netplan42/netplan42/planner"
	"sigs.k8s.io/knftables"
)

// nftBackend keeps our rules in table inet netplan42 (base chain "input",
// policy accept) and, because every base chain on the input hook must
// accept a packet, in a regular chain "netplan42" inside each foreign table
// whose input chain would drop our traffic, reached by one tagged jump at
// the top of that input chain. Tables a firewall manager owns (firewalld)
// are left alone and named in Warnings.
//
// Writes go through knftables: one Transaction, run as one `nft -f -`, so
// the kernel applies all of it or none. Reads parse `nft -j list ruleset`
// ourselves, because knftables lists only one table and without rule
// bodies.
type nftBackend struct {
	run runFunc
	nft nftRunner
	// legacySave is iptables-legacy-save when installed: legacy rules
	// filter input too, and no nft rule can open a port there.
	legacySave string
}

// nftRunner is the part of knftables.Interface Sync uses.
type nftRunner interface {
	NewTransaction() *knftables.Transaction
	Run(ctx context.Context, tx *knftables.Transaction) error
}

// maxNftComment: nft refuses comments longer than 128 bytes.
const maxNftComment = 128

// Names of iptables-nft's tables: chains there are read by iptables too,
// so warnings say so.
var iptablesNftTables = []string{"filter", "mangle", "raw", "security", "nat"}

func isIptablesNft(t *nftTable) bool {
	return (t.family == "ip" || t.family == "ip6") && slices.Contains(iptablesNftTables, t.name) && t.chains["INPUT"] != nil
}

// managerOf names the firewall manager that owns t, or "".
func managerOf(t *nftTable) string {
	if t.name == "firewalld" {
		return "firewalld"
	}
	if slices.Contains(t.flags, "owner") {
		return "another process (table flag owner)"
	}
	return ""
}

func hasUFWChains(t *nftTable) bool {
	for _, c := range t.order {
		if strings.HasPrefix(c, "ufw-") || strings.HasPrefix(c, "ufw6-") {
			return true
		}
	}
	return false
}

func isOwn(t *nftTable) bool { return t.family == "inet" && t.name == TableNft }

// inputChains returns t's filter base chains on the input hook.
func inputChains(t *nftTable) []*nftChain {
	if t.family != "ip" && t.family != "ip6" && t.family != "inet" {
		return nil
	}
	var out []*nftChain
	for _, name := range t.order {
		c := t.chains[name]
		if c.base && c.hook == "input" && (c.typ == "filter" || c.typ == "") {
			out = append(out, c)
		}
	}
	return out
}

func (t *nftTable) ftable() *ftable {
	ft := &ftable{chains: map[string]*fchain{}}
	for name, c := range t.chains {
		fc := &fchain{name: name}
		if c.base {
			fc.policy = c.policy
		}
		for _, r := range c.rules {
			fc.rules = append(fc.rules, r.f)
		}
		ft.chains[name] = fc
	}
	return ft
}

// ourJumps returns the handles of our tagged jumps in chain c.
func ourJumps(c *nftChain) []int {
	var hs []int
	for _, r := range c.rules {
		if r.f.ourJump {
			hs = append(hs, r.handle)
		}
	}
	return hs
}

// familyEntries returns the entries a table of family holds.
func familyEntries(entries []entry, family string) []entry {
	switch family {
	case "ip":
		return forFamily(entries, false)
	case "ip6":
		return forFamily(entries, true)
	}
	return entries
}

// nftRuleText is an entry in nft syntax for a table of family.
func nftRuleText(e entry, family string) string {
	var s string
	switch {
	case !anySource(e.src) && e.src.Addr().Is4():
		s = "ip saddr " + e.src.String() + " "
	case !anySource(e.src):
		s = "ip6 saddr " + e.src.String() + " "
	case family == "inet" && e.src.Addr().Is4():
		s = "meta nfproto ipv4 "
	case family == "inet":
		s = "meta nfproto ipv6 "
	}
	return fmt.Sprintf("%s%s dport %d accept", s, e.proto, e.port)
}

func addRules(tx *knftables.Transaction, family, table, chain string, entries []entry) {
	for _, e := range entries {
		tx.Add(&knftables.Rule{Family: knftables.Family(family), Table: table, Chain: chain,
			Rule: nftRuleText(e, family), Comment: knftables.PtrTo(e.comment)})
	}
}

// buildNftTx adds to tx what makes the ruleset rs hold exactly entries in
// our objects, hooked wherever a foreign input chain would drop them; with
// no entries it removes all our objects. It changes nothing else: our table,
// our chains, and our tagged jumps, deleted by handle.
func buildNftTx(tx *knftables.Transaction, rs *nftRuleset, entries []entry) {
	if len(entries) == 0 {
		if rs.table("inet", TableNft) != nil {
			tx.Delete(&knftables.Table{Family: knftables.InetFamily, Name: TableNft})
		}
	} else {
		tx.Add(&knftables.Table{Family: knftables.InetFamily, Name: TableNft,
			Comment: knftables.PtrTo("netplan42: allow rules it manages; edits here are overwritten")})
		tx.Add(&knftables.Chain{Family: knftables.InetFamily, Table: TableNft, Name: "input",
			Type: knftables.PtrTo(knftables.FilterType), Hook: knftables.PtrTo(knftables.InputHook),
			Priority: knftables.PtrTo(knftables.FilterPriority), Policy: knftables.PtrTo(knftables.AcceptPolicy)})
		tx.Flush(&knftables.Chain{Family: knftables.InetFamily, Table: TableNft, Name: "input"})
		addRules(tx, "inet", TableNft, "input", entries)
	}
	hookTx(tx, rs, entries, notOwn)
}

func (b *nftBackend) list(ctx context.Context) (*nftRuleset, error) {
	out, err := b.run(ctx, nil, "nft", "-j", "list", "ruleset")
	if err != nil {
		return nil, err
	}
	return parseNftJSON(out)
}

func (b *nftBackend) observe(ctx context.Context) (planner.FirewallView, error) {
	view := planner.FirewallView{Backend: "nftables"}
	rs, err := b.list(ctx)
	if err != nil {
		return view, fmt.Errorf("observe nftables: %w", err)
	}
	if text, err := b.run(ctx, nil, "nft", "-a", "list", "ruleset"); err == nil {
		rs.attachText(text)
	}
	view.Rules, view.Hooked, view.Warnings = observeNft(rs)
	if b.legacySave != "" {
		view.Warnings = append(view.Warnings, b.legacyWarnings(ctx, keysOfRules(view.Rules))...)
	}
	return view, nil
}

func keysOfRules(rules []planner.Rule) []key {
	var ks []key
	for _, r := range rules {
		if k := (key{r.Protocol, r.Port}); !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// observeNft reads our rules back from our table and checks the copies and
// jumps in every table that needs them.
func observeNft(rs *nftRuleset) (rules []planner.Rule, hooked bool, warns []string) {
	var entries []entry
	own := rs.table("inet", TableNft)
	if own != nil {
		if c := own.chains["input"]; c != nil && c.base && c.hook == "input" {
			hooked = true
		}
		for _, name := range own.order {
			for _, r := range own.chains[name].rules {
				if e, ok := ownEntryNft(r, "inet"); ok && name == "input" {
					entries = append(entries, e)
				} else {
					warns = append(warns, fmt.Sprintf("%s chain %s holds a rule netplan42 did not write: %q; the next apply removes it", own, name, r.f.text))
				}
			}
		}
	}
	hooks, hw := observeHooks(rs, entries, notOwn, "table inet "+TableNft)
	return group(entries), hooked && hooks, append(warns, hw...)
}

// legacyWarnings names iptables-legacy INPUT drops of our traffic.
func (b *nftBackend) legacyWarnings(ctx context.Context, keys []key) []string {
	var warns []string
	for _, k := range legacyDrops(ctx, b.run, b.legacySave, keys) {
		warns = append(warns, fmt.Sprintf("iptables-legacy filter INPUT also drops new %s traffic and nftables rules cannot open it there: use backend = \"iptables\" with the legacy variant, or remove the legacy rules", k))
	}
	return warns
}

func (b *nftBackend) sync(ctx context.Context, rules []planner.Rule) error {
	if err := checkRules(rules, maxNftComment); err != nil {
		return err
	}
	rs, err := b.list(ctx)
	if err != nil {
		return fmt.Errorf("sync nftables: %w", err)
	}
	tx := b.nft.NewTransaction()
	buildNftTx(tx, rs, expand(rules))
	if tx.NumOperations() == 0 {
		return nil
	}
	return runNftTx(ctx, b.nft, tx, "sync nftables")
}
