// The openwrt flavor: OpenWrt with firewall4, configured through uci.
//
// References:
//   - OpenWrt, "Firewall configuration" (/etc/config/firewall), section
//     "Redirects": target DNAT, src, dest, proto, src_dport, dest_ip,
//     dest_port, name, enabled.
//   - OpenWrt, "The UCI system": `uci -X show` (sections by their stable
//     names, cfgXXXXXX for anonymous ones), `uci batch`, `uci commit`,
//     `uci changes`, `uci revert`; values are single-quoted, a quote
//     inside written '\''.
//   - firewall4 (github.com/openwrt/firewall4): `fw4 reload` turns the
//     committed config into table inet fw4. A separate nft table does not
//     work there: fw4's forward chain drops what no zone redirect let in.
//
// netplan42's forwards are named sections netplan42_<proto>_<port>, one
// per router key, with our tag as their name. It reads every redirect
// (foreign ones to see who holds a port), writes only its own sections
// in one `uci batch`, commits and reloads fw4, and reverts its batch
// when that fails. It never touches a section it did not name.

package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

type openwrtFlavor struct{}

func (openwrtFlavor) title() string { return "OpenWrt (firewall4)" }

func (openwrtFlavor) tools() string { return "command -v uci >/dev/null && command -v fw4 >/dev/null" }

func (openwrtFlavor) read(ctx context.Context, c *sshConn) (*sshTable, error) {
	out, err := c.run(ctx, "uci -X show firewall", nil)
	if err != nil {
		return nil, err
	}
	secs, err := parseUCIShow(out)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: uci -X show firewall: %w", c.cfg.addr(), err)
	}
	fwd, notes := uciForwards(secs)
	// What fw4 has loaded: a redirect of ours that is committed but not
	// live (a reload that failed) is not a forward; the next apply writes
	// and reloads it again.
	out, err = c.run(ctx, "nft -j list chain inet fw4 dstnat_wan", nil)
	if err != nil {
		notes = append(notes, fmt.Sprintf("fw4's live redirects could not be read (%v): the committed config is taken as loaded", err))
		return &sshTable{forwards: fwd, notes: notes, raw: secs}, nil
	}
	live, err := parseFw4Redirects(out)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: nft -j list chain inet fw4 dstnat_wan: %w", c.cfg.addr(), err)
	}
	fwd = slices.DeleteFunc(fwd, func(m planner.Mapping) bool {
		if _, _, ours := planner.ParseTag(m.Description); !ours || slices.Contains(live, m) {
			return false
		}
		notes = append(notes, fmt.Sprintf("the redirect %s %q is in the firewall config but not in fw4's live rules (did fw4 reload fail?): the next apply writes it again", m, m.Description))
		return true
	})
	return &sshTable{forwards: fwd, notes: notes, raw: secs}, nil
}

// fw4CommentPrefix starts the comment fw4 gives the rules of a section:
// "!fw4: NAME".
const fw4CommentPrefix = "!fw4: "

// parseFw4Redirects parses `nft -j list chain inet fw4 dstnat_wan`: the
// DNAT rules fw4 made of redirect sections, described by the sections'
// names.
func parseFw4Redirects(b []byte) ([]planner.Mapping, error) {
	var doc nftJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not nftables JSON: %w", err)
	}
	var out []planner.Mapping
	for _, o := range doc.Nftables {
		if o.Rule == nil {
			continue
		}
		name, ok := strings.CutPrefix(o.Rule.Comment, fw4CommentPrefix)
		if !ok {
			continue
		}
		if fwd, _, _ := readRuleExprs(o.Rule.Expr); fwd != nil {
			fwd.Description = name
			out = append(out, *fwd)
		}
	}
	return out, nil
}

// uciOurPrefix starts the names of our sections.
const uciOurPrefix = "netplan42_"

// uciSectionName is our section for key k.
func uciSectionName(k planner.MappingKey) string {
	return fmt.Sprintf("%s%s_%d", uciOurPrefix, k.Protocol, k.ExternalPort)
}

func (openwrtFlavor) change(ctx context.Context, c *sshConn, t *sshTable, k planner.MappingKey, put *planner.Mapping) error {
	secs := t.raw.([]uciSection)
	name := uciSectionName(k)
	// Changes another session left uncommitted would go out with our
	// commit: ours (an apply cut off) are reverted, anyone else's stop us.
	out, err := c.run(ctx, "uci changes firewall", nil)
	if err != nil {
		return err
	}
	pending, foreign := uciPending(out)
	if len(foreign) > 0 {
		return fmt.Errorf("ssh %s: the router's firewall config has changes nobody committed (%s): commit or revert them on the router (uci changes firewall), then apply again", c.cfg.addr(), cleanText([]byte(strings.Join(foreign, "; ")), 200))
	}
	var cmd strings.Builder
	for _, p := range pending {
		fmt.Fprintf(&cmd, "uci revert firewall.%s && ", p)
	}
	batch, err := uciBatch(secs, name, put)
	if err != nil {
		return err
	}
	cmd.WriteString("{ uci batch >/dev/null && uci commit firewall; } || { uci revert firewall; exit 3; }; fw4 reload")
	_, err = c.run(ctx, cmd.String(), []byte(batch))
	return err
}

// uciBatch returns the uci batch that makes section name hold put, or
// removes it.
func uciBatch(secs []uciSection, name string, put *planner.Mapping) (string, error) {
	var b strings.Builder
	for _, s := range secs {
		if s.name == name {
			fmt.Fprintf(&b, "delete firewall.%s\n", name)
			break
		}
	}
	if put != nil {
		if err := checkUCIValue(put.Description); err != nil {
			return "", err
		}
		if !put.InternalAddress.Unmap().Is4() || (put.Protocol != planner.TCP && put.Protocol != planner.UDP) {
			return "", fmt.Errorf("router forward %s: only IPv4 TCP and UDP can be forwarded", *put)
		}
		fmt.Fprintf(&b, "set firewall.%s=redirect\n", name)
		for _, o := range [][2]string{
			{"name", put.Description},
			{"target", "DNAT"},
			{"src", "wan"},
			{"dest", "lan"},
			{"proto", string(put.Protocol)},
			{"src_dport", strconv.Itoa(int(put.ExternalPort))},
			{"dest_ip", put.InternalAddress.Unmap().String()},
			{"dest_port", strconv.Itoa(int(put.InternalPort))},
		} {
			fmt.Fprintf(&b, "set firewall.%s.%s='%s'\n", name, o[0], o[1])
		}
	}
	return b.String(), nil
}

// checkUCIValue refuses a value a uci batch line could not carry as
// written.
func checkUCIValue(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\'' || r == '\\' || r > 0x7e {
			return fmt.Errorf("router forward description %q holds a character netplan42 does not write into uci", s)
		}
	}
	return nil
}

// uciPending reads `uci changes firewall`: the sections of ours with
// uncommitted changes, and the lines about anything else.
func uciPending(out []byte) (ours, foreign []string) {
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// "firewall.sec.opt='v'", "-firewall.sec", "firewall.sec='redirect'"
		rest := strings.TrimLeft(line, "-+@")
		rest, ok := strings.CutPrefix(rest, "firewall.")
		sec, _, _ := strings.Cut(rest, ".")
		sec, _, _ = strings.Cut(sec, "=")
		if ok && strings.HasPrefix(sec, uciOurPrefix) && validUCIName(sec) {
			if !seen[sec] {
				seen[sec] = true
				ours = append(ours, sec)
			}
			continue
		}
		foreign = append(foreign, line)
	}
	return ours, foreign
}

// uciSection is one section of `uci -X show`.
type uciSection struct {
	name, typ string
	options   map[string][]string // a list holds several values
}

func (s uciSection) get(opt string) string {
	if v := s.options[opt]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseUCIShow parses `uci -X show CONFIG`: lines config.section=type and
// config.section.option='value' (a list: several quoted values).
func parseUCIShow(b []byte) ([]uciSection, error) {
	var secs []uciSection
	index := map[string]int{}
	for n, line := range bytes.Split(b, []byte("\n")) {
		s := string(line)
		if strings.TrimSpace(s) == "" {
			continue
		}
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '=' in %q", n+1, cleanText(line, 80))
		}
		parts := strings.Split(key, ".")
		switch len(parts) {
		case 2:
			if !validUCIName(parts[1]) || !validUCIName(val) {
				return nil, fmt.Errorf("line %d: bad section %q", n+1, cleanText(line, 80))
			}
			if _, dup := index[parts[1]]; dup {
				return nil, fmt.Errorf("line %d: section %s twice", n+1, parts[1])
			}
			index[parts[1]] = len(secs)
			secs = append(secs, uciSection{name: parts[1], typ: val, options: map[string][]string{}})
		case 3:
			i, ok := index[parts[1]]
			if !ok {
				return nil, fmt.Errorf("line %d: option of unknown section %s", n+1, cleanText([]byte(parts[1]), 40))
			}
			vals, err := uciValues(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			secs[i].options[parts[2]] = vals
		default:
			return nil, fmt.Errorf("line %d: bad key %q", n+1, cleanText([]byte(key), 80))
		}
	}
	return secs, nil
}

// uciValues splits a shown value: 'a' or 'a' 'b c', where '\” is a
// quote inside.
func uciValues(s string) ([]string, error) {
	var vals []string
	for s != "" {
		if s[0] != '\'' {
			return nil, fmt.Errorf("value %q is not quoted", cleanText([]byte(s), 40))
		}
		var v strings.Builder
		s = s[1:]
		for {
			i := strings.IndexByte(s, '\'')
			if i < 0 {
				return nil, errors.New("unterminated quote")
			}
			v.WriteString(s[:i])
			s = s[i+1:]
			if strings.HasPrefix(s, `\''`) {
				v.WriteByte('\'')
				s = s[3:]
				continue
			}
			break
		}
		vals = append(vals, v.String())
		s = strings.TrimPrefix(s, " ")
	}
	return vals, nil
}

func validUCIName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// uciForwards returns the port forwards of the firewall config: every
// enabled DNAT redirect from one port to an IPv4 address, once per
// protocol, foreign ones first; one per key. Ours are our sections whose
// name is our tag; a foreign section that carries our tag is described
// by where it is.
func uciForwards(secs []uciSection) (out []planner.Mapping, notes []string) {
	var foreign, ours []planner.Mapping
	for _, s := range secs {
		if s.typ != "redirect" || s.get("enabled") == "0" {
			continue
		}
		if t := s.get("target"); t != "" && t != "DNAT" {
			continue
		}
		ext, err := strconv.ParseUint(s.get("src_dport"), 10, 16)
		if err != nil || ext == 0 {
			continue // a range or none: not a forward of one port
		}
		ip, err := netip.ParseAddr(s.get("dest_ip"))
		if err != nil || !ip.Is4() {
			continue
		}
		in := ext
		if p := s.get("dest_port"); p != "" {
			if in, err = strconv.ParseUint(p, 10, 16); err != nil || in == 0 {
				continue
			}
		}
		protos := s.options["proto"]
		if len(protos) == 0 {
			protos = []string{"tcp", "udp"} // fw4's default
		}
		name := s.get("name")
		_, _, tagged := planner.ParseTag(name)
		// describe says whose a forward on k is: ours only in our section
		// for k, named with our tag; others by where they are.
		describe := func(k planner.MappingKey) (string, bool) {
			if tagged && s.name == uciSectionName(k) {
				return name, true
			}
			if tagged || name == "" {
				return strings.TrimSpace("redirect " + s.name + ": " + name), false
			}
			return name, false
		}
		for _, ps := range protos {
			for p := range strings.FieldsSeq(ps) {
				var proto planner.Protocol
				switch p {
				case "tcp":
					proto = planner.TCP
				case "udp":
					proto = planner.UDP
				case "tcpudp", "all":
					for _, q := range []planner.Protocol{planner.TCP, planner.UDP} {
						desc, _ := describe(planner.MappingKey{Protocol: q, ExternalPort: uint16(ext)})
						foreign = append(foreign, planner.Mapping{Protocol: q, ExternalPort: uint16(ext), InternalAddress: ip, InternalPort: uint16(in), Description: desc})
					}
					continue
				default:
					continue
				}
				m := planner.Mapping{Protocol: proto, ExternalPort: uint16(ext), InternalAddress: ip, InternalPort: uint16(in)}
				desc, own := describe(m.Key())
				m.Description = desc
				if own {
					ours = append(ours, m)
				} else {
					foreign = append(foreign, m)
				}
			}
		}
	}
	seen := map[planner.MappingKey]bool{}
	for _, m := range append(foreign, ours...) {
		if !seen[m.Key()] {
			seen[m.Key()] = true
			out = append(out, m)
		}
	}
	return out, notes
}
