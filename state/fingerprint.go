package state

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// Fingerprint returns a stable hash of what in an observation a plan
// depends on: the router (protocol, gateway, addresses, identity, every
// mapping but its remaining lease) and the firewall (backend, whether our
// rules are hooked in, our rules, the local networks "lan" rules admit).
// What changes by itself between plan and apply is left out: the time,
// remaining leases, the NAT-PMP epoch, notes and warnings. Two observations
// have the same fingerprint exactly when DescribeChanges finds nothing.
func Fingerprint(o planner.Observed) string {
	b, err := json.Marshal(viewOf(o))
	if err != nil {
		panic(err) // strings, numbers and booleans always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DescribeChanges says, one sentence each, what differs between two
// observations in what Fingerprint covers; nil when nothing does. Apply
// uses it to tell why a saved plan is stale.
func DescribeChanges(old, new planner.Observed) []string {
	a, b := viewOf(old), viewOf(new)
	var out []string
	changed := func(what, x, y string) {
		if x != y {
			out = append(out, fmt.Sprintf("%s changed %s → %s", what, orNone(x), orNone(y)))
		}
	}
	changed("router protocol", a.Protocol, b.Protocol)
	changed("router gateway", a.Gateway, b.Gateway)
	changed("router external address", a.External, b.External)
	changed("this host's address towards the router", a.Internal, b.Internal)
	changed("router identity (restarted or replaced)", a.Identity, b.Identity)
	out = append(out, diff(a.Mappings, b.Mappings, mappingView.key, mappingView.describe)...)
	changed("firewall backend", a.Backend, b.Backend)
	if a.Hooked != b.Hooked {
		hook := "jump into our chain"
		if strings.HasPrefix(b.Backend, "pf") {
			hook = "anchor reference to our rules"
		}
		if b.Hooked {
			out = append(out, hook+" appeared")
		} else {
			out = append(out, hook+" missing")
		}
	}
	out = append(out, diff(a.Rules, b.Rules, ruleView.key, ruleView.describe)...)
	out = append(out, diff(a.Local, b.Local, localKey, describeLocal)...)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// view is the part of an observation a plan depends on, in a canonical
// order.
type view struct {
	Protocol string        `json:"protocol"`
	Gateway  string        `json:"gateway"`
	External string        `json:"external"`
	Internal string        `json:"internal"`
	Identity string        `json:"identity"`
	Mappings []mappingView `json:"mappings"`
	Backend  string        `json:"backend"`
	Hooked   bool          `json:"hooked"`
	Rules    []ruleView    `json:"rules"`
	Local    []string      `json:"local"`
}

// mappingView is a mapping with LeaseSeconds cleared: what remains of a
// lease changes by itself.
type mappingView planner.Mapping

type ruleView struct {
	Comment  string           `json:"comment"`
	Protocol planner.Protocol `json:"protocol"`
	Port     uint16           `json:"port"`
	Sources  string           `json:"sources"` // sorted, ", "-separated
}

func viewOf(o planner.Observed) view {
	r, f := o.Router, o.Firewall
	v := view{
		Protocol: string(r.Protocol),
		Gateway:  addr(r.Gateway),
		External: addr(r.ExternalAddress),
		Internal: addr(r.InternalAddress),
		Identity: r.Identity,
		Mappings: []mappingView{},
		Backend:  f.Backend,
		Hooked:   f.Hooked,
		Rules:    []ruleView{},
	}
	for _, m := range r.Mappings {
		m.LeaseSeconds = 0
		v.Mappings = append(v.Mappings, mappingView(m))
	}
	slices.SortFunc(v.Mappings, func(x, y mappingView) int {
		return cmp.Or(
			cmp.Compare(x.key(), y.key()),
			x.InternalAddress.Compare(y.InternalAddress),
			cmp.Compare(x.InternalPort, y.InternalPort),
			cmp.Compare(x.Description, y.Description),
			compareBool(x.Disabled, y.Disabled),
		)
	})
	for _, rule := range f.Rules {
		v.Rules = append(v.Rules, ruleView{
			Comment:  rule.Comment,
			Protocol: rule.Protocol,
			Port:     rule.Port,
			Sources:  prefixes(rule.Sources),
		})
	}
	slices.SortFunc(v.Rules, func(x, y ruleView) int {
		return cmp.Or(cmp.Compare(x.key(), y.key()), cmp.Compare(x.Sources, y.Sources))
	})
	v.Local = sortedPrefixes(f.LocalPrefixes)
	return v
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// sortedPrefixes returns ps as strings, sorted by address then length.
func sortedPrefixes(ps []netip.Prefix) []string {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(x, y netip.Prefix) int {
		return cmp.Or(x.Addr().Compare(y.Addr()), cmp.Compare(x.Bits(), y.Bits()))
	})
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return s
}

func prefixes(ps []netip.Prefix) string { return strings.Join(sortedPrefixes(ps), ", ") }

// key identifies a mapping on the router, which holds one mapping per
// protocol, external port and remote host; it sorts by port.
func (m mappingView) key() string { return fmt.Sprintf("%05d %s", m.ExternalPort, m.name()) }

func (m mappingView) name() string {
	s := fmt.Sprintf("%d/%s", m.ExternalPort, m.Protocol)
	if m.RemoteHost != "" {
		s += " from " + m.RemoteHost
	}
	return s
}

func (m mappingView) target() string {
	s := fmt.Sprintf("%s:%d %q", orNone(addr(m.InternalAddress)), m.InternalPort, m.Description)
	if m.Disabled {
		s += " (disabled)"
	}
	return s
}

// describe implements the sentences of diff for mappings.
func (m mappingView) describe(event string, old mappingView) string {
	if event == "changed" {
		return fmt.Sprintf("router mapping %s now points to %s, not %s", m.name(), m.target(), old.target())
	}
	return fmt.Sprintf("router mapping %s -> %s %s", m.name(), m.target(), event)
}

// key identifies a rule by its tag, protocol and port; it sorts by tag.
func (r ruleView) key() string { return fmt.Sprintf("%s %s %05d", r.Comment, r.Protocol, r.Port) }

var anySources = prefixes(planner.AnySource)

// describe implements the sentences of diff for firewall rules.
func (r ruleView) describe(event string, old ruleView) string {
	name := strings.TrimSpace(fmt.Sprintf("%s %s %d", r.Comment, r.Protocol, r.Port))
	if event == "changed" {
		return fmt.Sprintf("firewall rule %s sources changed %s → %s", name, orNone(old.Sources), orNone(r.Sources))
	}
	if r.Sources != anySources && r.Sources != "" {
		name += " from " + r.Sources
	}
	return fmt.Sprintf("firewall rule %s %s", name, event)
}

func localKey(p string) string { return p }

func describeLocal(p, event string, _ string) string {
	return fmt.Sprintf("local network %s %s", p, event)
}

// diff compares two sorted lists as multisets and describes each
// difference: an item with a key found once on each side as "changed",
// the rest as "appeared" or "disappeared".
func diff[T comparable](old, new []T, key func(T) string, describe func(T, string, T) string) []string {
	gone, came := minus(old, new), minus(new, old)
	byKey := func(items []T) map[string][]T {
		m := map[string][]T{}
		for _, it := range items {
			m[key(it)] = append(m[key(it)], it)
		}
		return m
	}
	goneBy, cameBy := byKey(gone), byKey(came)
	var out []string
	for _, it := range gone {
		k := key(it)
		if len(goneBy[k]) == 1 && len(cameBy[k]) == 1 {
			out = append(out, describe(cameBy[k][0], "changed", it))
			continue
		}
		out = append(out, describe(it, "disappeared", it))
	}
	for _, it := range came {
		k := key(it)
		if len(goneBy[k]) == 1 && len(cameBy[k]) == 1 {
			continue
		}
		out = append(out, describe(it, "appeared", it))
	}
	return out
}

// minus returns the items of a not matched by one in b, in a's order.
func minus[T comparable](a, b []T) []T {
	left := map[T]int{}
	for _, it := range b {
		left[it]++
	}
	var out []T
	for _, it := range a {
		if left[it] > 0 {
			left[it]--
			continue
		}
		out = append(out, it)
	}
	return out
}
