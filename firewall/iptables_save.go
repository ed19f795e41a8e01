package firewall

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// Pure code for the iptables backend: parse iptables-save output, render
// iptables-restore input. Tested on captures in testdata/iptables-save-*.

// saveTable is one table of iptables-save output.
type saveTable struct {
	name     string
	chains   []string          // in declaration order
	policies map[string]string // built-in chain -> ACCEPT/DROP; user chains "-"
	rules    []saveRule        // in order
}

// saveRule is one "-A CHAIN ..." line.
type saveRule struct {
	chain string
	args  []string // after "-A CHAIN"
	text  string   // the line without counters
}

// parseSave parses iptables-save or ip6tables-save output (with or without
// -c counters) into its tables.
func parseSave(b []byte) (map[string]*saveTable, error) {
	tables := map[string]*saveTable{}
	var cur *saveTable
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			cur = &saveTable{name: line[1:], policies: map[string]string{}}
			tables[cur.name] = cur
		case line == "COMMIT":
			cur = nil
		case cur == nil:
			return nil, fmt.Errorf("iptables-save line %d: %q outside a table", n, line)
		case line[0] == ':':
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("iptables-save line %d: bad chain line %q", n, line)
			}
			cur.chains = append(cur.chains, f[0])
			cur.policies[f[0]] = f[1]
		default:
			if line[0] == '[' { // -c counters: "[12:345] -A ..."
				_, rest, ok := strings.Cut(line, "] ")
				if !ok {
					return nil, fmt.Errorf("iptables-save line %d: bad counters in %q", n, line)
				}
				line = rest
			}
			args, err := splitArgs(line)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d: %v", n, err)
			}
			if len(args) < 2 || args[0] != "-A" {
				return nil, fmt.Errorf("iptables-save line %d: want -A CHAIN, got %q", n, line)
			}
			cur.rules = append(cur.rules, saveRule{chain: args[1], args: args[2:], text: line})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("iptables-save: %v", err)
	}
	return tables, nil
}

// splitArgs splits a rule line as iptables-restore does: on spaces, with
// double quotes grouping and backslash escaping inside them.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			quoted = !quoted
			inArg = true
		case !quoted && (c == ' ' || c == '\t'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// ipRule is a rule's arguments by meaning.
type ipRule struct {
	proto, src, dst, in string
	protoNeg, srcNeg    bool
	dports              []portRange
	dportsNeg           bool
	ctstates            []string
	ctNeg               bool
	comment             string
	target              string
	isGoto              bool
	other               []string // options we do not model, before the target
}

// parseArgs reads the arguments of a rule. Options it does not know become
// "other", which makes the rule count as narrowing its traffic.
func parseArgs(args []string) ipRule {
	var r ipRule
	neg := false
	value := func(i int) string {
		if i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "!" {
			neg = true
			continue
		}
		if r.target != "" {
			// Target options (--reject-with ...) follow the target.
			continue
		}
		switch a {
		case "-p", "--protocol":
			r.proto, r.protoNeg = value(i), neg
			i++
		case "-s", "--source", "--src":
			r.src, r.srcNeg = value(i), neg
			i++
		case "-d", "--destination", "--dst":
			r.dst = value(i)
			i++
		case "-i", "--in-interface":
			r.in = value(i)
			if neg {
				r.in = "!" + r.in
			}
			i++
		case "-m", "--match":
			i++ // the match name; its options follow and are read below
		case "--dport", "--destination-port", "--dports", "--destination-ports":
			r.dports, r.dportsNeg = parsePorts(value(i)), neg
			i++
		case "--ctstate", "--state":
			r.ctstates, r.ctNeg = strings.Split(value(i), ","), neg
			i++
		case "--comment":
			r.comment = value(i)
			i++
		case "-j", "--jump":
			r.target = value(i)
			i++
		case "-g", "--goto":
			r.target, r.isGoto = value(i), true
			i++
		default:
			o := a
			if v := value(i); v != "" && !strings.HasPrefix(v, "-") && v != "!" {
				o += " " + v
				i++
			}
			if neg {
				o = "! " + o
			}
			r.other = append(r.other, o)
		}
		neg = false
	}
	return r
}

// parsePorts parses "4242", "1000:2000" or "22,80,1000:2000".
func parsePorts(s string) []portRange {
	var out []portRange
	for _, p := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(p, ":")
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h := l
		var err2 error
		if isRange {
			if hi == "" {
				h = 65535
			} else {
				h, err2 = strconv.ParseUint(hi, 10, 16)
			}
		}
		if err1 != nil || err2 != nil {
			// A service name we cannot resolve: assume it may be ours.
			return []portRange{{0, 65535}}
		}
		out = append(out, portRange{uint16(l), uint16(h)})
	}
	return out
}

// frule reduces the rule for the traffic analysis.
func (r ipRule) frule(text, ourChain string) *frule {
	f := &frule{text: text, target: r.target}
	switch r.proto {
	case "", "all", "0":
	default:
		f.protos, f.protoNeg = []string{strings.ToLower(r.proto)}, r.protoNeg
	}
	f.ports, f.portsNeg = r.dports, r.dportsNeg
	if r.in == "lo" {
		f.loOnly = true
	} else if r.in != "" {
		f.narrow = append(f.narrow, "input interface "+r.in)
	}
	if r.src != "" {
		s := r.src
		if r.srcNeg {
			s = "! " + s
		}
		f.narrow = append(f.narrow, "source "+s)
	}
	if r.dst != "" {
		f.narrow = append(f.narrow, "destination "+r.dst)
	}
	if len(r.ctstates) > 0 {
		hasNew := false
		for _, s := range r.ctstates {
			if s == "NEW" || s == "UNTRACKED" {
				hasNew = true
			}
		}
		f.notNew = hasNew == r.ctNeg
	}
	f.narrow = append(f.narrow, r.other...)
	f.unknown = len(r.other) > 0
	switch r.target {
	case "ACCEPT":
		f.verdict = "accept"
	case "DROP":
		f.verdict = "drop"
	case "REJECT":
		f.verdict = "reject"
	case "RETURN":
		f.verdict = "return"
	case "":
	default:
		if !isUserChainName(r.target) {
			break // LOG, MARK, ...: non-terminating targets decide nothing
		}
		f.verdict = "jump"
		if r.isGoto {
			f.verdict = "goto"
		}
		f.ourJump = r.target == ourChain && r.comment == HookComment
	}
	return f
}

// isUserChainName is false for the built-in non-terminating targets that
// look like chain names.
func isUserChainName(s string) bool {
	switch s {
	case "LOG", "NFLOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TRACE", "AUDIT", "TCPMSS", "SET", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "NFQUEUE", "QUEUE":
		return false
	}
	return true
}

// ipTable turns the filter table into the shared analysis form.
func ipTable(t *saveTable) *ftable {
	ft := &ftable{chains: map[string]*fchain{}}
	for _, c := range t.chains {
		p := strings.ToLower(t.policies[c])
		if p == "-" {
			p = ""
		}
		ft.chains[c] = &fchain{name: c, policy: p}
	}
	for _, r := range t.rules {
		c := ft.chains[r.chain]
		if c == nil {
			c = &fchain{name: r.chain}
			ft.chains[r.chain] = c
		}
		c.rules = append(c.rules, parseArgs(r.args).frule(r.text, ChainIptables))
	}
	return ft
}

// ownEntry parses a rule of our chain as written by renderRestore. ok is
// false for anything else, which Sync will replace.
func ownEntry(r saveRule, v6 bool) (entry, bool) {
	a := parseArgs(r.args)
	if a.target != "ACCEPT" || a.protoNeg || a.srcNeg || a.dportsNeg || a.dst != "" || a.in != "" || len(a.ctstates) > 0 || len(a.other) > 0 ||
		len(a.dports) != 1 || a.dports[0].lo != a.dports[0].hi || a.dports[0].lo == 0 {
		return entry{}, false
	}
	proto := planner.Protocol(a.proto)
	if proto != planner.TCP && proto != planner.UDP {
		return entry{}, false
	}
	if _, _, ok := planner.ParseTag(a.comment); !ok {
		return entry{}, false
	}
	src := netip.MustParsePrefix("0.0.0.0/0")
	if v6 {
		src = netip.MustParsePrefix("::/0")
	}
	if a.src != "" {
		p, err := parseAddrOrPrefix(a.src)
		if err != nil || p.Addr().Is6() != v6 {
			return entry{}, false
		}
		src = p
	}
	return entry{proto: proto, port: a.dports[0].lo, src: src.Masked(), comment: a.comment}, true
}

func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ipState is what Sync needs to know of one family's filter table.
type ipState struct {
	chainExists bool
	jumps       int // our tagged jumps in INPUT
}

func ipStateOf(t *saveTable) ipState {
	var st ipState
	if t == nil {
		return st
	}
	_, st.chainExists = t.policies[ChainIptables]
	for _, r := range t.rules {
		if r.chain == "INPUT" && isOurJump(r) {
			st.jumps++
		}
	}
	return st
}

func isOurJump(r saveRule) bool {
	a := parseArgs(r.args)
	return a.target == ChainIptables && a.comment == HookComment && !a.isGoto
}

// jumpSpec is our jump's rule spec in INPUT.
const jumpSpec = "INPUT -m comment --comment " + HookComment + " -j " + ChainIptables

// renderRestore returns the iptables-restore --noflush input that makes one
// family's filter table hold exactly entries in our chain, hooked from
// INPUT; with remove, it deletes our jumps and chain instead. It returns nil
// when nothing is to be done. Declaring ":NETPLAN42 - [0:0]" under
// --noflush creates or flushes our chain only; built-in chains are never
// declared, so their policies and rules stay as they are.
func renderRestore(entries []entry, st ipState, remove bool) []byte {
	var b bytes.Buffer
	b.WriteString("*filter\n")
	if remove {
		if !st.chainExists && st.jumps == 0 {
			return nil
		}
		for i := 0; i < st.jumps; i++ {
			b.WriteString("-D " + jumpSpec + "\n")
		}
		if st.chainExists {
			b.WriteString(":" + ChainIptables + " - [0:0]\n")
			b.WriteString("-X " + ChainIptables + "\n")
		}
		b.WriteString("COMMIT\n")
		return b.Bytes()
	}
	b.WriteString(":" + ChainIptables + " - [0:0]\n")
	for _, e := range entries {
		b.WriteString("-A " + ChainIptables)
		if !anySource(e.src) {
			b.WriteString(" -s " + e.src.String())
		}
		fmt.Fprintf(&b, " -p %s -m %s --dport %d -m comment --comment %q -j ACCEPT\n", e.proto, e.proto, e.port, e.comment)
	}
	switch {
	case st.jumps == 0:
		b.WriteString("-I INPUT 1 -m comment --comment " + HookComment + " -j " + ChainIptables + "\n")
	case st.jumps > 1:
		for i := 1; i < st.jumps; i++ {
			b.WriteString("-D " + jumpSpec + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}
