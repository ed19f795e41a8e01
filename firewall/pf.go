package firewall

// The pf backend is for macOS and FreeBSD. It is NOT exercised on a live pf
// here (the project's machines run Linux): its generated rules are golden
// files, its parsers are table-tested on pfctl output published by others
// (named in pf_test.go), and its command sequence is tested through an
// injected runner.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// pfBackend keeps our rules in anchor "netplan42". pf.conf must reference
// the anchor; we never edit pf.conf, we say what to add.
type pfBackend struct {
	run runFunc
}

// maxPFLabel: PF_RULE_LABEL_SIZE is 64 including the NUL.
const maxPFLabel = 63

// renderPF returns the anchor's ruleset. Rules are "quick" so that, once
// the anchor is reached, a later "block" in the main ruleset cannot undo
// them (pf is last-match-wins otherwise).
func renderPF(entries []entry) []byte {
	var b bytes.Buffer
	b.WriteString("# netplan42 anchor: generated; loaded with pfctl -a " + AnchorPF + " -f -\n")
	for _, e := range entries {
		af, from := "inet", "any"
		if e.src.Addr().Is6() {
			af = "inet6"
		}
		if !anySource(e.src) {
			from = e.src.String()
		}
		fmt.Fprintf(&b, "pass in quick %s proto %s from %s to any port %d label %q\n", af, e.proto, from, e.port, e.comment)
	}
	return b.Bytes()
}

// parsePFRules reads `pfctl -a netplan42 -sr`: our rules as pfctl prints
// them back ("port = 4242 flags S/SA keep state label ..."), and the lines
// that are not ours.
func parsePFRules(b []byte) (entries []entry, foreign []string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "[") || strings.HasPrefix(line, "No ALTQ") || strings.HasPrefix(line, "ALTQ") {
			continue // -v counters, ALTQ notices
		}
		if e, ok := parsePFRule(line); ok {
			entries = append(entries, e)
		} else {
			foreign = append(foreign, line)
		}
	}
	return entries, foreign
}

func parsePFRule(line string) (entry, bool) {
	tok, err := splitArgs(line)
	if err != nil || len(tok) < 3 || tok[0] != "pass" || tok[1] != "in" || tok[2] != "quick" {
		return entry{}, false
	}
	var e entry
	af, from := "", ""
	for i := 3; i < len(tok); i++ {
		next := ""
		if i+1 < len(tok) {
			next = tok[i+1]
		}
		switch tok[i] {
		case "inet", "inet6":
			af = tok[i]
		case "proto":
			e.proto = planner.Protocol(next)
			i++
		case "from":
			from = next
			i++
		case "to":
			if next != "any" {
				return entry{}, false
			}
			i++
		case "port":
			if next == "=" {
				i++
				next = ""
				if i+1 < len(tok) {
					next = tok[i+1]
				}
			}
			n, err := strconv.ParseUint(next, 10, 16)
			if err != nil || n == 0 {
				return entry{}, false
			}
			e.port = uint16(n)
			i++
		case "label":
			e.comment = next
			i++
		case "flags":
			i++ // S/SA, pf's default for tcp
		case "keep", "state":
		default:
			return entry{}, false
		}
	}
	if e.proto != planner.TCP && e.proto != planner.UDP || e.port == 0 {
		return entry{}, false
	}
	if _, _, ok := planner.ParseTag(e.comment); !ok {
		return entry{}, false
	}
	switch {
	case from == "any" && af == "inet":
		e.src = netip.MustParsePrefix("0.0.0.0/0")
	case from == "any" && af == "inet6":
		e.src = netip.MustParsePrefix("::/0")
	case from != "" && from != "any":
		p, err := parseAddrOrPrefix(from)
		if err != nil {
			return entry{}, false
		}
		e.src = p.Masked()
	default:
		return entry{}, false
	}
	return e, true
}

// pfAnchorReferenced reports whether the main ruleset (`pfctl -sr`) has
// `anchor "netplan42"`, and returns the quick block rules before it.
func pfAnchorReferenced(mainRules []byte) (bool, []string) {
	var blocks []string
	sc := bufio.NewScanner(bytes.NewReader(mainRules))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		tok, err := splitArgs(line)
		if err != nil || len(tok) < 2 {
			continue
		}
		if tok[0] == "anchor" && tok[1] == AnchorPF {
			return true, blocks
		}
		if tok[0] == "block" && slices.Contains(tok, "quick") && !slices.Contains(tok, "out") {
			blocks = append(blocks, line)
		}
	}
	return false, blocks
}

// pfBlocks reports whether a "block ... quick" line may match new inbound
// traffic k.
func pfBlocks(line string, k key) bool {
	tok, _ := splitArgs(line)
	for i := 0; i+1 < len(tok); i++ {
		switch tok[i] {
		case "proto":
			if tok[i+1] != string(k.proto) {
				return false
			}
		case "port":
			p := tok[i+1]
			if p == "=" && i+2 < len(tok) {
				p = tok[i+2]
			}
			if n, err := strconv.ParseUint(p, 10, 16); err == nil && uint16(n) != k.port {
				return false
			}
		}
	}
	return true
}

// pfEnabled reads `pfctl -s info`: "Status: Enabled for 0 days 01:02:03".
func pfEnabled(info []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(info))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "Status:" {
			return f[1] == "Enabled"
		}
	}
	return false
}

func (b *pfBackend) observe(ctx context.Context) (planner.FirewallView, error) {
	view := planner.FirewallView{Backend: "pf"}
	out, err := b.run(ctx, nil, "pfctl", "-a", AnchorPF, "-sr")
	if err != nil {
		return view, fmt.Errorf("observe pf: %w", err)
	}
	entries, foreign := parsePFRules(out)
	for _, l := range foreign {
		view.Warnings = append(view.Warnings, fmt.Sprintf("pf anchor %s holds a rule netplan42 did not write: %q; the next apply removes it", AnchorPF, l))
	}
	view.Rules = group(entries)
	main, err := b.run(ctx, nil, "pfctl", "-sr")
	if err != nil {
		return view, fmt.Errorf("observe pf: %w", err)
	}
	ref, blocks := pfAnchorReferenced(main)
	view.Hooked = ref
	if !ref {
		view.Warnings = append(view.Warnings, fmt.Sprintf(`pf's main ruleset does not reference anchor %q, so its rules are never evaluated: add the line anchor %q to /etc/pf.conf among the filter rules (on macOS right after anchor "com.apple/*"), then run pfctl -f /etc/pf.conf`, AnchorPF, AnchorPF))
	} else {
		for _, k := range keysOf(entries) {
			for _, l := range blocks {
				if pfBlocks(l, k) {
					view.Warnings = append(view.Warnings, fmt.Sprintf("pf: rule %q comes before anchor %q and may block new %s traffic first", l, AnchorPF, k))
				}
			}
		}
	}
	info, err := b.run(ctx, nil, "pfctl", "-s", "info")
	if err != nil {
		return view, fmt.Errorf("observe pf: %w", err)
	}
	if !pfEnabled(info) {
		view.Warnings = append(view.Warnings, "pf is disabled (pfctl -s info), so it filters nothing; the anchor's rules apply once it is enabled with pfctl -e")
	}
	return view, nil
}

func (b *pfBackend) sync(ctx context.Context, rules []planner.Rule) error {
	if err := checkRules(rules, maxPFLabel); err != nil {
		return err
	}
	entries := expand(rules)
	if len(entries) == 0 {
		if _, err := b.run(ctx, nil, "pfctl", "-a", AnchorPF, "-F", "rules"); err != nil {
			return fmt.Errorf("sync pf: flush anchor %s: %w", AnchorPF, err)
		}
		return nil
	}
	conf := renderPF(entries)
	if _, err := b.run(ctx, conf, "pfctl", "-n", "-a", AnchorPF, "-f", "-"); err != nil {
		return fmt.Errorf("sync pf: syntax check of %d rules for anchor %s: %w", len(entries), AnchorPF, err)
	}
	if _, err := b.run(ctx, conf, "pfctl", "-a", AnchorPF, "-f", "-"); err != nil {
		return fmt.Errorf("sync pf: load anchor %s: %w", AnchorPF, err)
	}
	return nil
}
