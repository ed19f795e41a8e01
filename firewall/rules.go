package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// Names of the objects netplan42 owns. Everything the package writes is one
// of these or a rule inside them; everything else is read only.
const (
	// ChainIptables is our chain in the iptables filter table.
	ChainIptables = "NETPLAN42"
	// TableNft is our own nftables table (family inet).
	TableNft = "netplan42"
	// ChainNft is our regular chain inside a foreign nftables table that
	// would otherwise drop our traffic; the base chain of our own table is
	// named "input".
	ChainNft = "netplan42"
	// AnchorPF is our pf anchor.
	AnchorPF = "netplan42"
	// HookComment is the comment on every jump netplan42 adds to a chain it
	// does not own; it is how Sync finds its jumps again.
	HookComment = "netplan42"
)

// entry is one kernel rule: one source prefix of a planner.Rule.
type entry struct {
	proto   planner.Protocol
	port    uint16
	src     netip.Prefix // masked; Bits()==0 means no source match
	comment string
}

// key is what a rule admits, without the sources: what foreign rules are
// checked against.
type key struct {
	proto planner.Protocol
	port  uint16
}

func (k key) String() string { return fmt.Sprintf("%d/%s", k.port, k.proto) }

// anySource reports whether p is 0.0.0.0/0 or ::/0.
func anySource(p netip.Prefix) bool { return p.Bits() == 0 }

// checkRules rejects what no backend can write faithfully. maxComment is the
// backend's comment limit in bytes (iptables 255, nft 127, pf label 63).
func checkRules(rules []planner.Rule, maxComment int) error {
	for _, r := range rules {
		if r.Protocol != planner.TCP && r.Protocol != planner.UDP {
			return fmt.Errorf("firewall rule %q: protocol %q: want tcp or udp", r.Comment, r.Protocol)
		}
		if r.Port == 0 {
			return fmt.Errorf("firewall rule %q: port 0", r.Comment)
		}
		if _, _, ok := planner.ParseTag(r.Comment); !ok {
			return fmt.Errorf("firewall rule comment %q: not a netplan42 tag (%scomputer/service)", r.Comment, planner.TagPrefix)
		}
		if len(r.Comment) > maxComment {
			return fmt.Errorf("firewall rule comment %q: %d bytes, this backend keeps at most %d", r.Comment, len(r.Comment), maxComment)
		}
		// The comment is written into iptables-restore input, an nft script
		// and a pf.conf fragment: no quoting tricks, no line breaks.
		if i := strings.IndexFunc(r.Comment, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '\'' }); i >= 0 {
			return fmt.Errorf("firewall rule comment %q: character %q not allowed", r.Comment, r.Comment[i])
		}
		if len(r.Sources) == 0 {
			return fmt.Errorf("firewall rule %q %d/%s: no sources (use planner.AnySource for everyone)", r.Comment, r.Port, r.Protocol)
		}
		for _, p := range r.Sources {
			if !p.IsValid() {
				return fmt.Errorf("firewall rule %q: invalid source prefix %v", r.Comment, p)
			}
		}
	}
	return nil
}

// expand turns rules into kernel rules, one per distinct source, in the
// order given. Sources are masked as the kernel stores them, so what Observe
// reads back compares equal.
func expand(rules []planner.Rule) []entry {
	var out []entry
	seen := map[entry]bool{}
	for _, r := range rules {
		for _, p := range r.Sources {
			e := entry{r.Protocol, r.Port, p.Masked(), r.Comment}
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// group turns kernel rules back into planner rules, grouped by (comment,
// protocol, port) in order of first appearance.
func group(entries []entry) []planner.Rule {
	type gk struct {
		comment string
		proto   planner.Protocol
		port    uint16
	}
	idx := map[gk]int{}
	var out []planner.Rule
	for _, e := range entries {
		k := gk{e.comment, e.proto, e.port}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, planner.Rule{Protocol: e.proto, Port: e.port, Comment: e.comment})
		}
		if !slices.Contains(out[i].Sources, e.src) {
			out[i].Sources = append(out[i].Sources, e.src)
		}
	}
	return out
}

// keysOf returns the distinct (protocol, port) pairs of entries.
func keysOf(entries []entry) []key {
	var ks []key
	for _, e := range entries {
		k := key{e.proto, e.port}
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// sameEntries reports whether a and b hold the same kernel rules in any
// order.
func sameEntries(a, b []entry) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[entry]int{}
	for _, e := range a {
		m[e]++
	}
	for _, e := range b {
		if m[e] == 0 {
			return false
		}
		m[e]--
	}
	return true
}

// forFamily returns the entries that belong in an IPv4 (v6 false) or IPv6
// table.
func forFamily(entries []entry, v6 bool) []entry {
	var out []entry
	for _, e := range entries {
		if e.src.Addr().Is6() == v6 {
			out = append(out, e)
		}
	}
	return out
}
