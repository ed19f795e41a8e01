package firewall

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// Pure code for the nftables backend: parse `nft -j list ruleset` (JSON
// schema version 1, libnftables-json(5)) and the handles of `nft -a list
// ruleset` for rule text. Tested on captures in testdata/nft-*.

type nftRuleset struct {
	tables []*nftTable
}

type nftTable struct {
	family, name string
	flags        []string
	chains       map[string]*nftChain
	order        []string // chain names in listing order
}

type nftChain struct {
	name              string
	typ, hook, policy string
	prio              int
	base              bool
	rules             []*nftRule
}

type nftRule struct {
	handle  int
	comment string
	exprs   []json.RawMessage
	f       *frule
}

func (t *nftTable) String() string { return "table " + t.family + " " + t.name }

func (rs *nftRuleset) table(family, name string) *nftTable {
	for _, t := range rs.tables {
		if t.family == family && t.name == name {
			return t
		}
	}
	return nil
}

// parseNftJSON parses `nft -j list ruleset`.
func parseNftJSON(b []byte) (*nftRuleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("nft -j list ruleset: %v", err)
	}
	rs := &nftRuleset{}
	tables := map[[2]string]*nftTable{}
	get := func(family, name string) *nftTable {
		t := tables[[2]string{family, name}]
		if t == nil {
			t = &nftTable{family: family, name: name, chains: map[string]*nftChain{}}
			tables[[2]string{family, name}] = t
			rs.tables = append(rs.tables, t)
		}
		return t
	}
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "metainfo":
				var m struct {
					Version int `json:"json_schema_version"`
				}
				if json.Unmarshal(raw, &m) == nil && m.Version > 1 {
					return nil, fmt.Errorf("nft -j list ruleset: json_schema_version %d, want 1", m.Version)
				}
			case "table":
				var t struct {
					Family, Name string
					Flags        json.RawMessage
				}
				if err := json.Unmarshal(raw, &t); err != nil {
					return nil, fmt.Errorf("nft -j table: %v", err)
				}
				get(t.Family, t.Name).flags = stringList(t.Flags)
			case "chain":
				var c struct {
					Family, Table, Name string
					Type, Hook, Policy  string
					Prio                json.RawMessage
				}
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, fmt.Errorf("nft -j chain: %v", err)
				}
				ch := get(c.Family, c.Table).chain(c.Name)
				ch.typ, ch.hook, ch.policy, ch.base = c.Type, c.Hook, c.Policy, c.Hook != ""
				ch.prio, _ = strconv.Atoi(string(c.Prio))
				if ch.base && ch.policy == "" {
					ch.policy = "accept"
				}
			case "rule":
				var r struct {
					Family, Table, Chain string
					Handle               int
					Comment              string
					Expr                 []json.RawMessage
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, fmt.Errorf("nft -j rule: %v", err)
				}
				ch := get(r.Family, r.Table).chain(r.Chain)
				nr := &nftRule{handle: r.Handle, comment: r.Comment, exprs: r.Expr}
				nr.f = nftFrule(r.Expr, r.Comment)
				nr.f.text = fmt.Sprintf("handle %d", r.Handle)
				ch.rules = append(ch.rules, nr)
			}
		}
	}
	return rs, nil
}

// chain returns t's chain name, adding it in listing order if new.
func (t *nftTable) chain(name string) *nftChain {
	ch := t.chains[name]
	if ch == nil {
		ch = &nftChain{name: name}
		t.chains[name] = ch
		t.order = append(t.order, name)
	}
	return ch
}

// stringList reads a JSON string or list of strings.
func stringList(raw json.RawMessage) []string {
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return l
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []string{s}
	}
	return nil
}

// one splits a JSON object with one key, as nft writes every expression.
func one(raw json.RawMessage) (string, json.RawMessage) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
		return "", nil
	}
	for k, v := range m {
		return k, v
	}
	return "", nil
}

// nftFrule reduces a rule's expressions for the traffic analysis.
func nftFrule(exprs []json.RawMessage, comment string) *frule {
	f := &frule{}
	for _, raw := range exprs {
		kind, v := one(raw)
		switch kind {
		case "match":
			var m struct {
				Op          string
				Left, Right json.RawMessage
			}
			json.Unmarshal(v, &m)
			nftMatch(f, m.Op == "!=", m.Left, m.Right)
		case "accept", "drop", "return":
			f.verdict = kind
		case "reject":
			f.verdict = "reject"
		case "jump", "goto":
			var j struct{ Target string }
			json.Unmarshal(v, &j)
			f.verdict, f.target = kind, j.Target
			f.ourJump = kind == "jump" && j.Target == ChainNft && comment == HookComment
		case "vmap":
			var vm struct {
				Key  json.RawMessage
				Data json.RawMessage
			}
			json.Unmarshal(v, &vm)
			nftVmap(f, vm.Key, vm.Data)
		case "counter", "log", "comment", "mangle", "notrack", "set", "map", "dup", "fwd",
			"snat", "dnat", "masquerade", "redirect", "flow", "ct helper", "ct timeout", "ct expectation":
			// statements: they change or record, they do not select
		case "limit", "quota":
			f.narrow = append(f.narrow, "a "+kind)
		case "xt":
			var x struct{ Type, Name string }
			json.Unmarshal(v, &x)
			if x.Type == "match" && x.Name != "comment" {
				f.narrow = append(f.narrow, "iptables match "+x.Name)
				f.unknown = true
			}
		default:
			f.narrow = append(f.narrow, kind)
			f.unknown = true
		}
	}
	return f
}

// nftMatch applies one "match" expression to f.
func nftMatch(f *frule, neg bool, left, right json.RawMessage) {
	kind, v := one(left)
	var k struct{ Protocol, Field, Key string }
	json.Unmarshal(v, &k)
	vals := values(right)
	switch {
	case kind == "payload" && k.Field == "dport":
		if k.Protocol != "th" {
			f.protos = []string{k.Protocol}
		}
		f.ports, f.portsNeg = portsOf(vals), neg
		if f.ports == nil {
			f.portsUnknown = true
		}
	case kind == "payload" && (k.Field == "saddr" || k.Field == "daddr"):
		what := "source "
		if k.Field == "daddr" {
			what = "destination "
		}
		if neg {
			what += "!= "
		}
		f.narrow = append(f.narrow, what+strings.Join(vals, ","))
	case kind == "payload" && (k.Protocol == "ip" && k.Field == "protocol" || k.Protocol == "ip6" && k.Field == "nexthdr"),
		kind == "meta" && k.Key == "l4proto":
		f.protos, f.protoNeg = vals, neg
	case kind == "payload" && isTransport(k.Protocol):
		// icmp type, tcp flags...: implies the protocol, narrows further.
		if f.protos == nil {
			f.protos = []string{k.Protocol}
		}
		f.narrow = append(f.narrow, k.Protocol+" "+k.Field)
	case kind == "meta" && (k.Key == "iifname" || k.Key == "iif"):
		if !neg && len(vals) == 1 && vals[0] == "lo" {
			f.loOnly = true
		} else {
			f.narrow = append(f.narrow, "input interface "+strings.Join(vals, ","))
		}
	case kind == "ct" && k.Key == "state":
		hasNew := slices.Contains(vals, "new") || slices.Contains(vals, "untracked")
		f.notNew = hasNew == neg
	case kind == "meta" && k.Key == "nfproto":
		f.narrow = append(f.narrow, "family "+strings.Join(vals, ","))
	default:
		name := kind
		if k.Key != "" {
			name += " " + k.Key
		}
		f.narrow = append(f.narrow, name)
		f.unknown = true
	}
}

// nftVmap handles "ct state vmap { new : drop, ... }"; other verdict maps
// decide by conditions we do not model.
func nftVmap(f *frule, key, data json.RawMessage) {
	kind, v := one(key)
	var k struct{ Key string }
	json.Unmarshal(v, &k)
	_, set := one(data)
	var elems [][2]json.RawMessage
	json.Unmarshal(set, &elems)
	if kind == "ct" && k.Key == "state" {
		for _, e := range elems {
			var s string
			json.Unmarshal(e[0], &s)
			if s == "new" {
				verdict, tv := one(e[1])
				var j struct{ Target string }
				json.Unmarshal(tv, &j)
				f.verdict, f.target = verdict, j.Target
				return
			}
		}
		f.notNew = true
		return
	}
	f.narrow = append(f.narrow, "a verdict map")
	f.unknown = true
}

func isTransport(p string) bool {
	switch p {
	case "tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "esp", "ah", "comp", "igmp":
		return true
	}
	return false
}

// values flattens a match's right side into strings: numbers, names,
// prefixes "a/n", ranges "a-b", sets "@name".
func values(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return []string{n.String()}
	}
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) == nil {
		var out []string
		for _, e := range l {
			out = append(out, values(e)...)
		}
		return out
	}
	kind, v := one(raw)
	switch kind {
	case "set":
		return values(v)
	case "range":
		var r []json.RawMessage
		if json.Unmarshal(v, &r) == nil && len(r) == 2 {
			a, b := values(r[0]), values(r[1])
			if len(a) == 1 && len(b) == 1 {
				return []string{a[0] + "-" + b[0]}
			}
		}
	case "prefix":
		var p struct {
			Addr string
			Len  int
		}
		if json.Unmarshal(v, &p) == nil {
			return []string{fmt.Sprintf("%s/%d", p.Addr, p.Len)}
		}
	}
	return []string{"?"}
}

// portsOf reads port values; nil when any of them is not a number or range
// (a named set, a service name).
func portsOf(vals []string) []portRange {
	var out []portRange
	for _, v := range vals {
		lo, hi, isRange := strings.Cut(v, "-")
		l, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil
		}
		h := l
		if isRange {
			if h, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil
			}
		}
		out = append(out, portRange{uint16(l), uint16(h)})
	}
	return out
}

// ownEntryNft parses a rule of one of our chains as buildNftTx writes it:
// [meta nfproto ipv4|ipv6] [ip|ip6 saddr PREFIX] tcp|udp dport N accept,
// comment a netplan42 tag. family is the table's.
func ownEntryNft(r *nftRule, family string) (entry, bool) {
	if _, _, ok := planner.ParseTag(r.comment); !ok {
		return entry{}, false
	}
	var e entry
	e.comment = r.comment
	nfproto, verdict := "", ""
	for _, raw := range r.exprs {
		kind, v := one(raw)
		switch kind {
		case "match":
			var m struct {
				Op          string
				Left, Right json.RawMessage
			}
			json.Unmarshal(v, &m)
			lk, lv := one(m.Left)
			var k struct{ Protocol, Field, Key string }
			json.Unmarshal(lv, &k)
			vals := values(m.Right)
			if m.Op != "==" || len(vals) != 1 {
				return entry{}, false
			}
			switch {
			case lk == "meta" && k.Key == "nfproto" && e.src == (netip.Prefix{}):
				nfproto = vals[0]
			case lk == "meta" && k.Key == "l4proto":
			case lk == "payload" && k.Field == "saddr" && (k.Protocol == "ip" || k.Protocol == "ip6"):
				p, err := parseAddrOrPrefix(vals[0])
				if err != nil || p.Addr().Is6() != (k.Protocol == "ip6") {
					return entry{}, false
				}
				e.src = p.Masked()
			case lk == "payload" && k.Field == "dport" && (k.Protocol == "tcp" || k.Protocol == "udp"):
				n, err := strconv.ParseUint(vals[0], 10, 16)
				if err != nil || n == 0 {
					return entry{}, false
				}
				e.proto, e.port = planner.Protocol(k.Protocol), uint16(n)
			default:
				return entry{}, false
			}
		case "accept":
			verdict = kind
		case "counter":
		default:
			return entry{}, false
		}
	}
	if verdict != "accept" || e.port == 0 {
		return entry{}, false
	}
	if !e.src.IsValid() {
		switch {
		case nfproto == "ipv4" || family == "ip" && nfproto == "":
			e.src = netip.MustParsePrefix("0.0.0.0/0")
		case nfproto == "ipv6" || family == "ip6" && nfproto == "":
			e.src = netip.MustParsePrefix("::/0")
		default:
			return entry{}, false
		}
	}
	return e, true
}

// nftTextRule matches a rule line of `nft -a list ruleset`.
var (
	nftTextTable = regexp.MustCompile(`^table (\S+) (\S+) \{`)
	nftTextChain = regexp.MustCompile(`^chain (\S+) \{`)
	nftTextRule  = regexp.MustCompile(`^(.*\S)\s+# handle (\d+)$`)
)

// attachText sets each rule's text from `nft -a list ruleset` output, so
// warnings quote rules as the admin sees them.
func (rs *nftRuleset) attachText(listing []byte) {
	var t *nftTable
	var c *nftChain
	sc := bufio.NewScanner(bytes.NewReader(listing))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := nftTextTable.FindStringSubmatch(line); m != nil {
			t, c = rs.table(m[1], m[2]), nil
			continue
		}
		if m := nftTextChain.FindStringSubmatch(line); m != nil && t != nil {
			c = t.chains[strings.Trim(m[1], `"`)]
			continue
		}
		if strings.HasPrefix(line, "set ") || strings.HasPrefix(line, "map ") || strings.HasPrefix(line, "flowtable ") {
			c = nil
			continue
		}
		m := nftTextRule.FindStringSubmatch(line)
		if m == nil || c == nil {
			continue
		}
		h, _ := strconv.Atoi(m[2])
		for _, r := range c.rules {
			if r.handle == h {
				r.f.text = m[1]
			}
		}
	}
}
