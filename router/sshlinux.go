// The linux flavor: a Linux router whose firewall is nftables.
//
// References:
//   - nft(8), "JSON" in libnftables-json(5): what `nft -j list ruleset`
//     prints (the captures in testdata/sshlinux are nftables 1.0.6's).
//   - The nftables wiki, "Netfilter hooks": every base chain on a hook
//     sees the packet and each may drop it, so an accept in our table
//     does not let through what another table's forward chain drops.
//
// netplan42 owns the table inet netplan42 on the router: a prerouting
// chain with one DNAT rule per forward and a forward chain accepting the
// forwarded flow, every rule commented with our tag. Wherever another
// table's forward base chain would drop (policy drop, or an
// unconditional drop or reject at its end), netplan42 adds a chain
// netplan42 in that table holding the same accepts and one jump to it,
// commented "netplan42", at the top of that chain (as the host nftables
// backend does for input: firewall/nfthook_linux.go). Every change is one
// `nft -f` transaction that rewrites all of ours and nothing else.

package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// Names of what netplan42 owns in a Linux router's nftables.
const (
	nftOwnTable = "netplan42" // table inet netplan42
	sshChain    = "netplan42" // our chain in foreign tables
	sshHookTag  = "netplan42" // the comment of our jumps
)

type linuxFlavor struct{}

func (linuxFlavor) title() string { return "Linux (nftables)" }

func (linuxFlavor) tools() string { return "nft list tables >/dev/null" }

func (linuxFlavor) read(ctx context.Context, c *sshConn) (*sshTable, error) {
	out, err := c.run(ctx, "nft -j list ruleset", nil)
	if err != nil {
		return nil, err
	}
	rs, err := parseNftRuleset(out)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: nft -j list ruleset: %w", c.cfg.addr(), err)
	}
	return &sshTable{forwards: rs.forwards(), notes: rs.notes(), raw: rs}, nil
}

func (linuxFlavor) change(ctx context.Context, c *sshConn, t *sshTable, k planner.MappingKey, put *planner.Mapping) error {
	rs := t.raw.(*nftRouterRuleset)
	ours := slices.DeleteFunc(rs.ours(), func(m planner.Mapping) bool { return m.Key() == k })
	if put != nil {
		ours = append(ours, *put)
	}
	script, err := nftRouterScript(rs, ours, c.cfg.Host)
	if err != nil {
		return err
	}
	_, err = c.run(ctx, "nft -f -", []byte(script))
	return err
}

// nftRouterRuleset is what netplan42 reads of a router's nftables rule
// set: the chains of every table and the rules that forward ports.
type nftRouterRuleset struct {
	tables []*nftRouterTable
}

type nftRouterTable struct {
	family, name string
	chains       []*nftRouterChain
}

type nftRouterChain struct {
	name, typ, hook, policy string
	rules                   []nftRouterRule
}

type nftRouterRule struct {
	handle  int
	comment string
	fwd     *planner.Mapping // the forward a DNAT rule makes; nil otherwise
	jumpTo  string           // target of a jump or goto that is the whole rule
	drops   bool             // an unconditional drop or reject
}

func (t *nftRouterTable) String() string { return "table " + t.family + " " + t.name }

func (t *nftRouterTable) own() bool { return t.family == "inet" && t.name == nftOwnTable }

func (t *nftRouterTable) chain(name string) *nftRouterChain {
	for _, c := range t.chains {
		if c.name == name {
			return c
		}
	}
	return nil
}

// nft JSON, as far as netplan42 reads it.
type nftJSON struct {
	Nftables []struct {
		Table *struct {
			Family, Name string
		} `json:"table"`
		Chain *struct {
			Family, Table, Name, Type, Hook, Policy string
		} `json:"chain"`
		Rule *struct {
			Family, Table, Chain string
			Handle               int
			Comment              string
			Expr                 []map[string]json.RawMessage
		} `json:"rule"`
	} `json:"nftables"`
}

// parseNftRuleset parses `nft -j list ruleset`.
func parseNftRuleset(b []byte) (*nftRouterRuleset, error) {
	var doc nftJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not nftables JSON: %w", err)
	}
	rs := &nftRouterRuleset{}
	table := func(family, name string) *nftRouterTable {
		for _, t := range rs.tables {
			if t.family == family && t.name == name {
				return t
			}
		}
		return nil
	}
	for _, o := range doc.Nftables {
		switch {
		case o.Table != nil:
			if table(o.Table.Family, o.Table.Name) == nil {
				rs.tables = append(rs.tables, &nftRouterTable{family: o.Table.Family, name: o.Table.Name})
			}
		case o.Chain != nil:
			t := table(o.Chain.Family, o.Chain.Table)
			if t == nil {
				return nil, fmt.Errorf("chain %s before its table %s %s", o.Chain.Name, o.Chain.Family, o.Chain.Table)
			}
			t.chains = append(t.chains, &nftRouterChain{name: o.Chain.Name, typ: o.Chain.Type, hook: o.Chain.Hook, policy: o.Chain.Policy})
		case o.Rule != nil:
			t := table(o.Rule.Family, o.Rule.Table)
			if t == nil {
				return nil, fmt.Errorf("rule in unknown table %s %s", o.Rule.Family, o.Rule.Table)
			}
			c := t.chain(o.Rule.Chain)
			if c == nil {
				return nil, fmt.Errorf("rule in unknown chain %s of %s", o.Rule.Chain, t)
			}
			r := nftRouterRule{handle: o.Rule.Handle, comment: o.Rule.Comment}
			r.fwd, r.jumpTo, r.drops = readRuleExprs(o.Rule.Expr)
			if r.fwd != nil {
				r.fwd.Description = o.Rule.Comment
			}
			c.rules = append(c.rules, r)
		}
	}
	return rs, nil
}

// readRuleExprs reads what netplan42 needs of a rule's expressions: the
// forward of a DNAT rule that matches one TCP or UDP destination port,
// the target of a rule that only jumps, and whether it only drops.
func readRuleExprs(exprs []map[string]json.RawMessage) (fwd *planner.Mapping, jumpTo string, drops bool) {
	var (
		proto planner.Protocol
		port  uint16
		dnat  *struct {
			Family string `json:"family"`
			Addr   any    `json:"addr"`
			Port   any    `json:"port"`
		}
	)
	for _, e := range exprs {
		for k, v := range e {
			switch k {
			case "match":
				var m struct {
					Op    string `json:"op"`
					Left  map[string]json.RawMessage
					Right json.RawMessage
				}
				if json.Unmarshal(v, &m) != nil || m.Op != "==" {
					continue
				}
				var pl struct{ Protocol, Field string }
				if p, ok := m.Left["payload"]; ok && json.Unmarshal(p, &pl) == nil && pl.Field == "dport" {
					var n uint16
					if json.Unmarshal(m.Right, &n) == nil && (pl.Protocol == "tcp" || pl.Protocol == "udp") {
						proto, port = planner.Protocol(pl.Protocol), n
					}
				}
			case "dnat":
				json.Unmarshal(v, &dnat)
			case "jump", "goto":
				var j struct{ Target string }
				if json.Unmarshal(v, &j) == nil && len(exprs) == 1 {
					jumpTo = j.Target
				}
			case "drop", "reject":
				drops = len(exprs) == 1 || (len(exprs) == 2 && hasKey(exprs[0], "counter"))
			}
		}
	}
	if dnat == nil || port == 0 {
		return nil, jumpTo, drops
	}
	addr, ok := dnat.Addr.(string)
	if !ok {
		return nil, jumpTo, drops
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return nil, jumpTo, drops
	}
	m := &planner.Mapping{Protocol: proto, ExternalPort: port, InternalAddress: a, InternalPort: port}
	if p, ok := dnat.Port.(float64); ok && p >= 1 && p <= 65535 && p == float64(uint16(p)) {
		m.InternalPort = uint16(p)
	}
	return m, jumpTo, drops
}

func hasKey(m map[string]json.RawMessage, k string) bool { _, ok := m[k]; return ok }

// forwards returns every forward of the rule set: foreign ones first, then
// ours; one per key, the first found. A foreign rule that carries a tag
// of ours is not ours: its description says where it is.
func (rs *nftRouterRuleset) forwards() []planner.Mapping {
	var foreign, ours []planner.Mapping
	for _, t := range rs.tables {
		for _, c := range t.chains {
			if c.typ != "nat" || c.hook != "prerouting" {
				continue
			}
			for _, r := range c.rules {
				if r.fwd == nil {
					continue
				}
				m := *r.fwd
				if t.own() {
					ours = append(ours, m)
					continue
				}
				if _, _, tagged := planner.ParseTag(m.Description); tagged || m.Description == "" {
					m.Description = strings.TrimSpace(fmt.Sprintf("%s chain %s: %s", t, c.name, m.Description))
				}
				foreign = append(foreign, m)
			}
		}
	}
	var out []planner.Mapping
	seen := map[planner.MappingKey]bool{}
	for _, m := range append(foreign, ours...) {
		if !seen[m.Key()] {
			seen[m.Key()] = true
			out = append(out, m)
		}
	}
	return out
}

// ours returns the forwards in our table.
func (rs *nftRouterRuleset) ours() []planner.Mapping {
	var out []planner.Mapping
	for _, t := range rs.tables {
		if !t.own() {
			continue
		}
		if c := t.chain("prerouting"); c != nil {
			for _, r := range c.rules {
				if r.fwd != nil {
					out = append(out, *r.fwd)
				}
			}
		}
	}
	return out
}

// notes says what in the rule set a user should know.
func (rs *nftRouterRuleset) notes() []string {
	var notes []string
	for _, t := range rs.tables {
		if t.family == "ip6" || t.family == "bridge" || t.family == "arp" || t.family == "netdev" || t.own() {
			continue
		}
		if t.name == "fw4" && t.family == "inet" {
			notes = append(notes, "the router runs OpenWrt's firewall4 (table inet fw4), which drops forwards made outside it: use flavor = \"openwrt\"")
		}
	}
	return notes
}

// droppingForward returns t's forward base chains that would drop a
// forwarded flow our accepts do not reach: policy drop, or an
// unconditional drop or reject at the end.
func droppingForward(t *nftRouterTable) []*nftRouterChain {
	if t.own() || (t.family != "inet" && t.family != "ip") {
		return nil
	}
	var out []*nftRouterChain
	for _, c := range t.chains {
		if c.typ != "filter" || c.hook != "forward" {
			continue
		}
		if c.policy == "drop" || (len(c.rules) > 0 && c.rules[len(c.rules)-1].drops) {
			out = append(out, c)
		}
	}
	return out
}

// ourJumps returns the handles of our jumps in c.
func ourJumps(c *nftRouterChain) []int {
	var hs []int
	for _, r := range c.rules {
		if r.jumpTo == sshChain && r.comment == sshHookTag {
			hs = append(hs, r.handle)
		}
	}
	return hs
}

// nftRouterScript returns the nft -f script that makes the router hold
// exactly ours: our table rewritten, and in each foreign table whose
// forward chain would drop, our chain with the accepts and one jump to it
// (or, with nothing of ours, neither). host is the address netplan42
// logs in to, which is never forwarded (its SSH port stays the router's).
func nftRouterScript(rs *nftRouterRuleset, ours []planner.Mapping, host string) (string, error) {
	slices.SortFunc(ours, func(a, b planner.Mapping) int {
		if a.Protocol != b.Protocol {
			return strings.Compare(string(a.Protocol), string(b.Protocol))
		}
		return int(a.ExternalPort) - int(b.ExternalPort)
	})
	skip := ""
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		skip = "ip daddr != " + a.String() + " "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\n", nftOwnTable, nftOwnTable)
	var accepts []string
	if len(ours) > 0 {
		var pre []string
		for _, m := range ours {
			if err := checkComment(m.Description); err != nil {
				return "", err
			}
			if m.Protocol != planner.TCP && m.Protocol != planner.UDP || !m.InternalAddress.Unmap().Is4() {
				return "", fmt.Errorf("router forward %s: only IPv4 TCP and UDP can be forwarded", m)
			}
			pre = append(pre, fmt.Sprintf("fib daddr type local %s%s dport %d dnat ip to %s:%d comment %q",
				skip, m.Protocol, m.ExternalPort, m.InternalAddress.Unmap(), m.InternalPort, m.Description))
			accepts = append(accepts, fmt.Sprintf("ct status dnat ip daddr %s %s dport %d accept comment %q",
				m.InternalAddress.Unmap(), m.Protocol, m.InternalPort, m.Description))
		}
		fmt.Fprintf(&b, "table inet %s {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n", nftOwnTable)
		for _, r := range pre {
			b.WriteString("\t\t" + r + "\n")
		}
		b.WriteString("\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
		for _, r := range accepts {
			b.WriteString("\t\t" + r + "\n")
		}
		b.WriteString("\t}\n}\n")
	}
	for _, t := range rs.tables {
		if t.own() || (t.family != "inet" && t.family != "ip") {
			continue
		}
		if !validNftName(t.name) {
			continue // a name nft's parser would need quoted: not ours to touch
		}
		dropping := droppingForward(t)
		if len(ours) > 0 && len(dropping) > 0 {
			fmt.Fprintf(&b, "add chain %s %s %s\nflush chain %s %s %s\n", t.family, t.name, sshChain, t.family, t.name, sshChain)
			for _, r := range accepts {
				fmt.Fprintf(&b, "add rule %s %s %s %s\n", t.family, t.name, sshChain, r)
			}
			for _, c := range dropping {
				jumps := ourJumps(c)
				if len(jumps) == 0 && validNftName(c.name) {
					fmt.Fprintf(&b, "insert rule %s %s %s jump %s comment %q\n", t.family, t.name, c.name, sshChain, sshHookTag)
				}
				for _, h := range jumps[min(1, len(jumps)):] {
					fmt.Fprintf(&b, "delete rule %s %s %s handle %d\n", t.family, t.name, c.name, h)
				}
			}
			continue
		}
		for _, c := range t.chains {
			for _, h := range ourJumps(c) {
				fmt.Fprintf(&b, "delete rule %s %s %s handle %d\n", t.family, t.name, c.name, h)
			}
		}
		if t.chain(sshChain) != nil {
			fmt.Fprintf(&b, "flush chain %s %s %s\ndelete chain %s %s %s\n", t.family, t.name, sshChain, t.family, t.name, sshChain)
		}
	}
	return b.String(), nil
}

// checkComment refuses a description nft could not hold as written.
func checkComment(s string) error {
	if len(s) > 128 {
		return fmt.Errorf("router forward description %q is longer than nftables' 128 bytes", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r > 0x7e {
			return fmt.Errorf("router forward description %q holds a character an nftables comment cannot", s)
		}
	}
	return nil
}

// validNftName reports whether a table or chain name can be written bare
// in an nft script.
func validNftName(s string) bool {
	if s == "" || len(s) > 64 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
