package firewall

import (
	"fmt"
	"slices"
	"strings"
)

// This file holds what the iptables and nftables backends share to answer
// one question about foreign rules: does incoming traffic to one of our
// ports get dropped before, or regardless of, netplan42's accept?

// frule is a foreign rule reduced to what decides whether it applies to new
// incoming connections to one of our ports.
type frule struct {
	text string // as the tool prints it, for warnings

	protos   []string // nil: any protocol
	protoNeg bool
	ports    []portRange // nil: any destination port
	portsNeg bool
	// portsUnknown is set for a port match we cannot evaluate (a named
	// set): the rule may apply.
	portsUnknown bool
	loOnly       bool // applies only to traffic from the loopback interface
	notNew       bool // a conntrack state match that excludes new connections
	// narrow lists conditions that make the rule apply to only some of the
	// traffic (source, interface, rate limit, unknown matches).
	narrow []string
	// unknown is set when a condition is one we cannot evaluate.
	unknown bool

	verdict string // accept, drop, reject, jump, goto, return, or "" (none)
	target  string // jump or goto target
	ourJump bool   // netplan42's tagged jump to its own chain
}

type portRange struct{ lo, hi uint16 }

// fchain is a chain of frules. policy is "accept" or "drop" for a base
// chain and "" for a regular one.
type fchain struct {
	name   string
	policy string
	rules  []*frule
}

type ftable struct {
	chains map[string]*fchain
}

type effect int

const (
	noEffect   effect = iota // the rule never matches this traffic
	someEffect               // it matches part of it (some sources, ...)
	allEffect                // it matches all of it
)

// effect says how much of the new incoming traffic k the rule matches.
func (r *frule) effect(k key) effect {
	if r.loOnly || r.notNew {
		return noEffect
	}
	if r.protos != nil && slices.Contains(r.protos, string(k.proto)) == r.protoNeg {
		return noEffect
	}
	if r.ports != nil {
		in := slices.ContainsFunc(r.ports, func(p portRange) bool { return p.lo <= k.port && k.port <= p.hi })
		if in == r.portsNeg {
			return noEffect
		}
	}
	if len(r.narrow) > 0 || r.portsUnknown {
		return someEffect
	}
	return allEffect
}

// specific reports whether the rule names ports or narrows its traffic,
// i.e. is not a chain's catch-all "drop everything else".
func (r *frule) specific() bool {
	return r.ports != nil || r.portsUnknown || len(r.narrow) > 0
}

// finding is a drop or reject rule that applies to our traffic.
type finding struct {
	rule       *frule
	chain      string // the chain holding the rule
	all        bool   // it drops all of the traffic, not only some
	beforeJump bool   // it is met before netplan42's jump in the base chain
	// uncertain is set when a condition on the way is one we cannot
	// evaluate: the rule may not apply at all.
	uncertain bool
}

type outcome int

const (
	fallThrough outcome = iota
	accepted
	dropped
)

// walk follows base chain for new incoming traffic k, leaving netplan42's
// own jumps out. It reports whether the chain ends up dropping k and the
// drop and reject rules met on the way.
func (t *ftable) walk(base string, k key) (drops bool, finds []finding) {
	c := t.chains[base]
	if c == nil {
		return false, nil
	}
	before := true
	switch t.eval(c, k, 0, &before, allEffect, false, &finds) {
	case dropped:
		return true, finds
	case accepted:
		return false, finds
	}
	return c.policy == "drop", finds
}

// maxDepth bounds jumps followed; the kernel forbids loops, this guards
// against odd parses.
const maxDepth = 16

func (t *ftable) eval(c *fchain, k key, depth int, before *bool, outer effect, unk bool, finds *[]finding) outcome {
	for _, r := range c.rules {
		if r.ourJump {
			*before = false
			continue
		}
		e := min(r.effect(k), outer)
		if e == noEffect {
			continue
		}
		switch r.verdict {
		case "accept":
			if e == allEffect {
				return accepted
			}
		case "drop", "reject":
			*finds = append(*finds, finding{rule: r, chain: c.name, all: e == allEffect, beforeJump: *before, uncertain: unk || r.unknown})
			if e == allEffect {
				return dropped
			}
		case "jump", "goto":
			sub := t.chains[r.target]
			if sub == nil || depth >= maxDepth {
				continue
			}
			o := t.eval(sub, k, depth+1, before, e, unk || r.unknown, finds)
			if e == allEffect {
				if o != fallThrough {
					return o
				}
				if r.verdict == "goto" {
					return fallThrough
				}
			}
		case "return":
			if e == allEffect {
				return fallThrough
			}
		}
	}
	return fallThrough
}

// chainWarnings turns the findings in one base chain into sentences. where
// names the chain ("iptables filter INPUT", "table inet filter chain
// input"); hooked says whether netplan42's jump is in it.
func chainWarnings(where, base string, hooked bool, k key, finds []finding) []string {
	var out []string
	for _, f := range finds {
		rule := fmt.Sprintf("rule %q", f.rule.text)
		if f.chain != base {
			rule += " in chain " + f.chain
		}
		how := "some"
		if f.all {
			how = "all"
		}
		switch {
		case hooked && f.beforeJump && f.all:
			out = append(out, fmt.Sprintf("%s: %s drops all new %s traffic before netplan42's jump: the port stays closed", where, rule, k))
		case hooked && f.beforeJump:
			out = append(out, fmt.Sprintf("%s: %s drops some new %s traffic before netplan42's jump (%s)", where, rule, k, narrowText(f.rule)))
		case f.uncertain && !(hooked && f.beforeJump):
			// Too unsure to be worth a sentence unless it can close the port.
		case hooked && f.rule.specific():
			out = append(out, fmt.Sprintf("%s: %s would drop %s new %s traffic, but netplan42's jump comes first and accepts what its rules allow", where, rule, how, k))
		case !hooked:
			out = append(out, fmt.Sprintf("%s: %s drops %s new %s traffic; netplan42 does not hook this chain", where, rule, how, k))
		}
	}
	return out
}

func narrowText(r *frule) string {
	if len(r.narrow) == 0 {
		return "it may match"
	}
	return "it matches on " + strings.Join(r.narrow, ", ")
}
