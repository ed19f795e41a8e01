package firewall

// The Windows backend keeps our rules in Windows Defender Firewall. It is
// NOT exercised on a live Windows here (the project's machines run Linux):
// the scripts it generates are golden files, its parser is table-tested on
// JSON written by hand from Microsoft's documented object shapes, and its
// command path is tested through an injected runner.
//
// Why PowerShell's NetSecurity module and not the COM API (INetFwPolicy2):
// the COM API needs cgo-free OLE plumbing (go-ole) that cannot even be
// loaded off Windows, so nothing about it could be tested here, while a
// PowerShell script is plain text that a test can compare byte for byte,
// and its JSON output is plain bytes a parser can be tested on. netsh is
// not used: its text is localized.
//
// Each observation is one powershell run printing JSON; each Sync is one
// more observation and then one script that removes, corrects and adds
// rules. The firewall's local store has no transaction, so a failure
// halfway leaves the rules before it applied; the next apply finishes.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/netplan42/netplan42/planner"
)

// GroupWindows is the rule group (the Group property of
// MSFT_NetFirewallRule) that holds every Windows firewall rule netplan42
// makes. A rule is ours when it is in this group and its Name parses as
// "<tag> <port>/<protocol>"; anything else in the group is left alone.
const GroupWindows = "netplan42"

// maxWindowsComment bounds the tag we put into a rule's Name. Windows
// itself allows far longer names; this keeps them readable in wf.msc.
const maxWindowsComment = 200

// winProfile is the Profile bit set of NET_FW_PROFILE_TYPE2: Domain 1,
// Private 2, Public 4. Windows prints all three as "Any" (0).
type winProfile uint8

const (
	profileDomain  winProfile = 1
	profilePrivate winProfile = 2
	profilePublic  winProfile = 4
	profileAll                = profileDomain | profilePrivate | profilePublic
)

// DefaultWindowsProfiles is what our rules apply to unless configured
// otherwise: every profile. Windows puts a network it has not been told
// about into Public (the default for new networks since Windows 10), so a
// rule for Domain and Private only would leave the port closed on most
// home networks, the very place a backup peer runs.
var DefaultWindowsProfiles = []string{"domain", "private", "public"}

// parseWindowsProfiles turns config names (domain, private, public) into a
// bit set; no names means every profile.
func parseWindowsProfiles(names []string) (winProfile, error) {
	if len(names) == 0 {
		return profileAll, nil
	}
	var p winProfile
	for _, n := range names {
		switch strings.ToLower(n) {
		case "domain":
			p |= profileDomain
		case "private":
			p |= profilePrivate
		case "public":
			p |= profilePublic
		default:
			return 0, fmt.Errorf("windows firewall profile %q: want domain, private or public", n)
		}
	}
	return p, nil
}

// names returns p as Windows names it: ["Any"] for all three.
func (p winProfile) names() []string {
	if p == 0 || p&profileAll == profileAll {
		return []string{"Any"}
	}
	var out []string
	for _, b := range []struct {
		bit  winProfile
		name string
	}{{profileDomain, "Domain"}, {profilePrivate, "Private"}, {profilePublic, "Public"}} {
		if p&b.bit != 0 {
			out = append(out, b.name)
		}
	}
	return out
}

// windowsBackend drives Windows Defender Firewall through PowerShell.
type windowsBackend struct {
	run      runFunc
	shell    string // powershell.exe (Windows PowerShell 5.1) or pwsh.exe
	profiles winProfile
}

// openWindows finds a PowerShell. profiles are config names; nil means
// DefaultWindowsProfiles.
func openWindows(run runFunc, lookPath func(string) (string, error), profiles []string) (*Firewall, error) {
	p, err := parseWindowsProfiles(profiles)
	if err != nil {
		return nil, err
	}
	for _, sh := range []string{"powershell.exe", "pwsh.exe"} {
		if _, err := lookPath(sh); err == nil {
			return &Firewall{name: "Windows Defender Firewall", kind: "windows", b: &windowsBackend{run: run, shell: sh, profiles: p}}, nil
		}
	}
	return nil, errors.New("windows backend: neither powershell.exe nor pwsh.exe found (Windows PowerShell, with its NetSecurity module, ships with Windows 10 and later)")
}

// psBootstrap runs the script that arrives on standard input as one script
// block. The script itself is not on the command line: it can be long, and
// `-Command -` would run it line by line, going on after a failed line.
const psBootstrap = `$ErrorActionPreference = 'Stop'; & ([scriptblock]::Create([Console]::In.ReadToEnd()))`

// psArgs are powershell's arguments; the bootstrap is -EncodedCommand
// (base64 of UTF-16LE) so that no command-line quoting is involved.
func psArgs() []string {
	u := utf16.Encode([]rune(psBootstrap))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand", base64.StdEncoding.EncodeToString(b)}
}

// psPrelude starts every script: stop at the first error, and report it
// on one line whose fields are not localized (the error category and
// FullyQualifiedErrorId), so that classifyPS need not read prose.
const psPrelude = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap { [Console]::Error.WriteLine('netplan42-error: ' + $_.CategoryInfo.Category + ' | ' + $_.FullyQualifiedErrorId + ' | ' + ($_.Exception.Message -replace '\s+', ' ')); exit 1 }
`

// windowsObserveScript prints our group's rules with their port and
// address filters, and the profiles' state, as one JSON document, written
// as UTF-8 bytes so the console's code page cannot mangle a name.
//
// $rules is left as PowerShell's assignment makes it: $null for no rule,
// the object itself for one, an array for more. ConvertTo-Json prints
// those as null, an object and an array; parseWindowsObservation reads all
// three (forcing an array with @() runs into Windows PowerShell 5.1's
// {"value": [...], "Count": n} serialization instead).
func windowsObserveScript() []byte {
	return []byte(psPrelude + `$found = Get-NetFirewallRule -Group ` + psString(GroupWindows) + ` -ErrorAction SilentlyContinue -ErrorVariable notFound
$notFound | Where-Object { $_.CategoryInfo.Category -ne 'ObjectNotFound' } | Select-Object -First 1 | ForEach-Object { throw $_ }
$rules = foreach ($r in $found) {
  $pf = $r | Get-NetFirewallPortFilter
  $af = $r | Get-NetFirewallAddressFilter
  [pscustomobject]@{
    Name = $r.Name; DisplayName = $r.DisplayName; Group = $r.Group
    Enabled = [string]$r.Enabled; Direction = [string]$r.Direction; Action = [string]$r.Action; Profile = [string]$r.Profile
    Protocol = [string]$pf.Protocol; LocalPort = $pf.LocalPort; RemotePort = $pf.RemotePort
    LocalAddress = $af.LocalAddress; RemoteAddress = $af.RemoteAddress
  }
}
$profiles = Get-NetFirewallProfile -PolicyStore ActiveStore | ForEach-Object {
  [pscustomobject]@{ Name = [string]$_.Name; Enabled = [string]$_.Enabled; DefaultInboundAction = [string]$_.DefaultInboundAction; AllowLocalFirewallRules = [string]$_.AllowLocalFirewallRules }
}
$json = ConvertTo-Json -InputObject ([pscustomobject]@{ Rules = $rules; Profiles = $profiles }) -Depth 4 -Compress
$bytes = [Text.Encoding]::UTF8.GetBytes($json)
$stdout = [Console]::OpenStandardOutput()
$stdout.Write($bytes, 0, $bytes.Length)
$stdout.Flush()
`)
}

// winRule is one rule as the observation script prints it, enums as
// names ("True", "Inbound", "Allow").
type winRule struct {
	Name, DisplayName, Group    string
	Enabled, Direction, Action  string
	Profile                     winProfile
	Protocol                    string
	LocalPort, RemotePort       []string
	LocalAddress, RemoteAddress []string
}

// winProfileState is one profile from Get-NetFirewallProfile.
type winProfileState struct {
	Name, Enabled, DefaultInboundAction, AllowLocalFirewallRules string
}

// Enum values as ConvertTo-Json prints them when they are not turned into
// strings first (a raw Get-NetFirewallRule | ConvertTo-Json): the
// MSFT_NetFirewallRule and MSFT_NetFirewallProfile documentation.
var (
	enabledNames   = map[int64]string{1: "True", 2: "False"}
	directionNames = map[int64]string{1: "Inbound", 2: "Outbound"}
	actionNames    = map[int64]string{0: "NotConfigured", 2: "Allow", 4: "Block"}
	gpoBoolNames   = map[int64]string{0: "False", 1: "True", 2: "NotConfigured"}
)

// parseWindowsObservation reads the observation script's JSON. It also
// takes a bare rule, an array of rules, and empty output, which is what
// `... | ConvertTo-Json` prints for one rule, several, and none.
func parseWindowsObservation(b []byte) ([]winRule, []winProfileState, error) {
	b = bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	if len(b) == 0 || string(b) == "null" {
		return nil, nil, nil
	}
	var doc struct {
		Rules    json.RawMessage
		Profiles json.RawMessage
	}
	rulesJSON := json.RawMessage(b)
	var profilesJSON json.RawMessage
	if b[0] == '{' {
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, nil, fmt.Errorf("windows firewall observation: %w", err)
		}
		if doc.Rules != nil || doc.Profiles != nil {
			rulesJSON, profilesJSON = doc.Rules, doc.Profiles
		}
	}
	var rules []winRule
	items, err := jsonItems(rulesJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("windows firewall observation: rules: %w", err)
	}
	for _, it := range items {
		r, err := parseWinRule(it)
		if err != nil {
			return nil, nil, fmt.Errorf("windows firewall observation: %w", err)
		}
		rules = append(rules, r)
	}
	var profiles []winProfileState
	items, err = jsonItems(profilesJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("windows firewall observation: profiles: %w", err)
	}
	for _, it := range items {
		var p struct {
			Name                                                   string
			Enabled, DefaultInboundAction, AllowLocalFirewallRules json.RawMessage
		}
		if err := json.Unmarshal(it, &p); err != nil {
			return nil, nil, fmt.Errorf("windows firewall observation: profile: %w", err)
		}
		profiles = append(profiles, winProfileState{
			Name:                    p.Name,
			Enabled:                 jsonEnum(p.Enabled, gpoBoolNames),
			DefaultInboundAction:    jsonEnum(p.DefaultInboundAction, actionNames),
			AllowLocalFirewallRules: jsonEnum(p.AllowLocalFirewallRules, gpoBoolNames),
		})
	}
	return rules, profiles, nil
}

func parseWinRule(b json.RawMessage) (winRule, error) {
	var j struct {
		Name, DisplayName, Group                           string
		Enabled, Direction, Action, Profile, Protocol      json.RawMessage
		LocalPort, RemotePort, LocalAddress, RemoteAddress json.RawMessage
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return winRule{}, fmt.Errorf("rule: %w", err)
	}
	if j.Name == "" {
		return winRule{}, errors.New("rule without a Name")
	}
	r := winRule{
		Name: j.Name, DisplayName: j.DisplayName, Group: j.Group,
		Enabled:   jsonEnum(j.Enabled, enabledNames),
		Direction: jsonEnum(j.Direction, directionNames),
		Action:    jsonEnum(j.Action, actionNames),
		Protocol:  jsonEnum(j.Protocol, nil),
	}
	var err error
	if r.Profile, err = parseProfileJSON(j.Profile); err != nil {
		return winRule{}, fmt.Errorf("rule %q: %w", j.Name, err)
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst *[]string
	}{{j.LocalPort, &r.LocalPort}, {j.RemotePort, &r.RemotePort}, {j.LocalAddress, &r.LocalAddress}, {j.RemoteAddress, &r.RemoteAddress}} {
		if *f.dst, err = jsonStrings(f.raw); err != nil {
			return winRule{}, fmt.Errorf("rule %q: %w", j.Name, err)
		}
	}
	return r, nil
}

// jsonItems splits null, one object, an array, or Windows PowerShell
// 5.1's {"value": [...], "Count": n} into its elements.
func jsonItems(b json.RawMessage) ([]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	switch b[0] {
	case '[':
		var out []json.RawMessage
		err := json.Unmarshal(b, &out)
		return out, err
	case '{':
		var wrapped struct {
			Value json.RawMessage `json:"value"`
			Count *int            `json:"Count"`
		}
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Count != nil && len(wrapped.Value) > 0 && bytes.TrimSpace(wrapped.Value)[0] == '[' {
			return jsonItems(wrapped.Value)
		}
		return []json.RawMessage{b}, nil
	}
	return nil, fmt.Errorf("want an object or an array, got %.20q", b)
}

// jsonStrings reads a string list that ConvertTo-Json may print as null,
// one string, a number, or an array of them.
func jsonStrings(b json.RawMessage) ([]string, error) {
	items, err := jsonItems(b)
	if err != nil && len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] != '[' && bytes.TrimSpace(b)[0] != '{' {
		items, err = []json.RawMessage{b}, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil {
			out = append(out, s)
			continue
		}
		var n json.Number
		if json.Unmarshal(it, &n) == nil {
			out = append(out, n.String())
			continue
		}
		return nil, fmt.Errorf("list element %.20q is not a string", it)
	}
	return out, nil
}

// jsonEnum reads an enum printed as its name or as its number.
func jsonEnum(b json.RawMessage, names map[int64]string) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	var n int64
	if json.Unmarshal(b, &n) == nil {
		if name, ok := names[n]; ok {
			return name
		}
		return strconv.FormatInt(n, 10)
	}
	return ""
}

// parseProfileJSON reads Profile as a name list ("Domain, Private",
// "Any") or as the number.
func parseProfileJSON(b json.RawMessage) (winProfile, error) {
	var n int64
	if json.Unmarshal(b, &n) == nil {
		if n == 0 {
			return profileAll, nil
		}
		if n < 0 || n&^int64(profileAll) != 0 {
			return 0, fmt.Errorf("profile %d not understood", n)
		}
		return winProfile(n), nil
	}
	s := jsonEnum(b, nil)
	var p winProfile
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "Any":
			p |= profileAll
		case "Domain":
			p |= profileDomain
		case "Private":
			p |= profilePrivate
		case "Public":
			p |= profilePublic
		case "":
		default:
			return 0, fmt.Errorf("profile %q not understood", s)
		}
	}
	return p, nil
}

// windowsRuleName is the Name (the unique rule ID) and DisplayName of the
// rule for one planner rule: "netplan42:nas/crashplan 4242/tcp".
func windowsRuleName(comment string, proto planner.Protocol, port uint16) string {
	return fmt.Sprintf("%s %d/%s", comment, port, proto)
}

// parseWindowsRuleName reports whether name is one windowsRuleName makes.
func parseWindowsRuleName(name string) (comment string, proto planner.Protocol, port uint16, ok bool) {
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return "", "", 0, false
	}
	comment = name[:i]
	ps, pr, found := strings.Cut(name[i+1:], "/")
	n, err := strconv.ParseUint(ps, 10, 16)
	if !found || err != nil || n == 0 || strconv.FormatUint(n, 10) != ps || (pr != "tcp" && pr != "udp") {
		return "", "", 0, false
	}
	if _, _, ok := planner.ParseTag(comment); !ok {
		return "", "", 0, false
	}
	return comment, planner.Protocol(pr), uint16(n), true
}

var (
	anyV4 = netip.MustParsePrefix("0.0.0.0/0")
	anyV6 = netip.MustParsePrefix("::/0")
)

const (
	allV4Range = "0.0.0.0-255.255.255.255"
	allV6Range = "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
)

// windowsAddresses renders sources for -RemoteAddress: "Any" for exactly
// everyone, a full range for everyone of one family (Windows has no
// 0.0.0.0/0), an address for a host, a prefix otherwise.
func windowsAddresses(sources []netip.Prefix) []string {
	var ps []netip.Prefix
	for _, p := range sources {
		if p = p.Masked(); !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 2 && slices.Contains(ps, anyV4) && slices.Contains(ps, anyV6) {
		return []string{"Any"}
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		switch {
		case p == anyV4:
			out = append(out, allV4Range)
		case p == anyV6:
			out = append(out, allV6Range)
		case p.IsSingleIP():
			out = append(out, p.Addr().String())
		default:
			out = append(out, p.String())
		}
	}
	return out
}

// parseWindowsAddresses reads RemoteAddress back. Windows prints an IPv4
// subnet with a dotted mask ("192.0.2.0/255.255.255.0"), an IPv6 one as a
// prefix, a host as an address. Keywords (LocalSubnet, Internet, ...) and
// ranges other than a family's full range are not something we write.
func parseWindowsAddresses(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, v := range vals {
		switch {
		case strings.EqualFold(v, "Any") || v == "*":
			add(anyV4)
			add(anyV6)
		case v == allV4Range:
			add(anyV4)
		case strings.EqualFold(v, allV6Range):
			add(anyV6)
		default:
			p, err := parseWindowsPrefix(v)
			if err != nil {
				return nil, err
			}
			add(p)
		}
	}
	return out, nil
}

func parseWindowsPrefix(v string) (netip.Prefix, error) {
	a, m, found := strings.Cut(v, "/")
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("remote address %q not understood", v)
	}
	addr = addr.Unmap()
	if !found {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	bits, err := strconv.Atoi(m)
	if err != nil {
		mask, merr := netip.ParseAddr(m)
		if merr != nil || !mask.Is4() || !addr.Is4() {
			return netip.Prefix{}, fmt.Errorf("remote address %q not understood", v)
		}
		mb := mask.As4()
		n := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
		bits = 0
		for n&(1<<31) != 0 {
			bits++
			n <<= 1
		}
		if n != 0 {
			return netip.Prefix{}, fmt.Errorf("remote address %q: mask is not contiguous", v)
		}
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("remote address %q: %w", v, err)
	}
	return p, nil
}

// problems says why an observed rule of ours does not admit what its name
// says, as this backend writes it; none means it does.
func (r winRule) problems(proto planner.Protocol, port uint16, profiles winProfile) []string {
	var out []string
	if r.Enabled != "True" {
		out = append(out, "disabled")
	}
	if r.Direction != "Inbound" {
		out = append(out, "direction "+r.Direction)
	}
	if r.Action != "Allow" {
		out = append(out, "action "+r.Action)
	}
	if r.Profile != profiles {
		out = append(out, fmt.Sprintf("profiles %s, not %s", strings.Join(r.Profile.names(), ", "), strings.Join(profiles.names(), ", ")))
	}
	if !strings.EqualFold(r.Protocol, string(proto)) {
		out = append(out, "protocol "+r.Protocol)
	}
	if !slices.Equal(r.LocalPort, []string{strconv.Itoa(int(port))}) {
		out = append(out, "local port "+strings.Join(r.LocalPort, ","))
	}
	if !isAny(r.RemotePort) {
		out = append(out, "remote port "+strings.Join(r.RemotePort, ","))
	}
	if !isAny(r.LocalAddress) {
		out = append(out, "local address "+strings.Join(r.LocalAddress, ","))
	}
	return out
}

func isAny(vals []string) bool { return len(vals) == 1 && strings.EqualFold(vals[0], "Any") }

// windowsView turns observed rules into the planner's view. A rule of ours
// that does not admit what its name says (disabled, blocking, another
// profile or port) is reported as missing, with a warning: apply then
// corrects it in place.
func windowsView(rules []winRule, states []winProfileState, profiles winProfile) planner.FirewallView {
	v := planner.FirewallView{Backend: "Windows Defender Firewall", Hooked: true}
	for _, r := range rules {
		if r.Group != GroupWindows {
			continue
		}
		comment, proto, port, ok := parseWindowsRuleName(r.Name)
		if !ok {
			v.Warnings = append(v.Warnings, fmt.Sprintf("Windows firewall rule %q (%q) is in group %s but was not made by netplan42; it is left alone", r.Name, r.DisplayName, GroupWindows))
			continue
		}
		probs := r.problems(proto, port, profiles)
		sources, err := parseWindowsAddresses(r.RemoteAddress)
		if err != nil {
			probs = append(probs, err.Error())
		}
		if len(probs) > 0 {
			v.Warnings = append(v.Warnings, fmt.Sprintf("Windows firewall rule %q was changed outside netplan42 (%s), so netplan42 counts it as missing; the next apply restores it", r.Name, strings.Join(probs, "; ")))
			continue
		}
		v.Rules = append(v.Rules, planner.Rule{Protocol: proto, Port: port, Sources: sources, Comment: comment})
	}
	var off, ignored []string
	for _, s := range states {
		p, err := parseProfileJSON(json.RawMessage(strconv.Quote(s.Name)))
		if err != nil || p&profiles == 0 {
			continue
		}
		if s.Enabled == "False" {
			off = append(off, s.Name)
		}
		if s.AllowLocalFirewallRules == "False" {
			ignored = append(ignored, s.Name)
		}
	}
	if len(off) > 0 {
		v.Warnings = append(v.Warnings, fmt.Sprintf("Windows Defender Firewall is off for the %s profile(s), so it filters nothing there; netplan42's rules take effect once it is turned on", strings.Join(off, ", ")))
	}
	if len(ignored) > 0 {
		v.Warnings = append(v.Warnings, fmt.Sprintf("group policy makes the %s profile(s) ignore local firewall rules (AllowLocalFirewallRules is False), so netplan42's rules have no effect there: the domain's administrator must allow local rules or open the ports in the policy", strings.Join(ignored, ", ")))
	}
	return v
}

// psString returns s as a PowerShell expression of printable ASCII only:
// single-quoted runs, in which nothing but the quote itself is special (it
// is doubled), joined with [char] codes for every other character. No
// name or address can end the string early or run as code, and the
// script's bytes mean the same in every console code page.
func psString(s string) string {
	var parts []string
	var run strings.Builder
	flush := func() {
		if run.Len() > 0 {
			parts = append(parts, "'"+run.String()+"'")
			run.Reset()
		}
	}
	for _, c := range s {
		switch {
		case c == '\'':
			run.WriteString("''")
		case c >= 0x20 && c < 0x7f:
			run.WriteRune(c)
		default:
			flush()
			for _, u := range utf16.Encode([]rune{c}) {
				parts = append(parts, fmt.Sprintf("[char]0x%04X", u))
			}
		}
	}
	flush()
	switch len(parts) {
	case 0:
		return "''"
	case 1:
		if strings.HasPrefix(parts[0], "'") {
			return parts[0]
		}
	}
	return "(" + strings.Join(parts, " + ") + ")"
}

// psArray renders a list argument: @('a', 'b').
func psArray(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = psString(v)
	}
	return "@(" + strings.Join(q, ", ") + ")"
}

// windowsDesired merges rules into one Windows rule per (tag, protocol,
// port), in order of first appearance.
type windowsDesired struct {
	name  string
	proto planner.Protocol
	port  uint16
	src   []netip.Prefix
}

func desiredWindows(rules []planner.Rule) []windowsDesired {
	var out []windowsDesired
	idx := map[string]int{}
	for _, r := range rules {
		n := windowsRuleName(r.Comment, r.Protocol, r.Port)
		i, ok := idx[n]
		if !ok {
			i = len(out)
			idx[n] = i
			out = append(out, windowsDesired{name: n, proto: r.Protocol, port: r.Port})
		}
		for _, p := range r.Sources {
			if p = p.Masked(); !slices.Contains(out[i].src, p) {
				out[i].src = append(out[i].src, p)
			}
		}
	}
	return out
}

const windowsDescription = "Made by netplan42 from its config; netplan42 apply undoes changes made here."

// filterArgs are the parameters that make a rule admit d, shared by
// New-NetFirewallRule and Set-NetFirewallRule.
func (d windowsDesired) filterArgs(profiles winProfile) string {
	return fmt.Sprintf("-Description %s -Enabled True -Direction Inbound -Action Allow -Profile %s -Protocol %s -LocalPort %d -RemoteAddress %s",
		psString(windowsDescription), psArray(profiles.names()), strings.ToUpper(string(d.proto)), d.port, psArray(windowsAddresses(d.src)))
}

// renderWindowsSync returns the script that turns observed into rules, or
// nil when nothing needs doing. It removes first, so that a failure part
// way leaves no port open that the config no longer wants; then corrects
// rules of ours in place (Set-NetFirewallRule); then adds. Only rules of
// our group whose names parse as ours are touched, each by its Name.
func renderWindowsSync(rules []planner.Rule, observed []winRule, profiles winProfile) []byte {
	want := desiredWindows(rules)
	byName := map[string]windowsDesired{}
	for _, d := range want {
		byName[d.name] = d
	}
	var removes, sets, adds []string
	have := map[string]bool{}
	for _, r := range observed {
		if r.Group != GroupWindows {
			continue
		}
		if _, _, _, ok := parseWindowsRuleName(r.Name); !ok {
			continue
		}
		d, wanted := byName[r.Name]
		if !wanted {
			removes = append(removes, "Remove-NetFirewallRule -Name "+psString(r.Name))
			continue
		}
		have[r.Name] = true
		src, err := parseWindowsAddresses(r.RemoteAddress)
		if len(r.problems(d.proto, d.port, profiles)) == 0 && err == nil && sameSources(src, d.src) && r.DisplayName == d.name {
			continue
		}
		sets = append(sets, fmt.Sprintf("Set-NetFirewallRule -Name %s -NewDisplayName %s %s -RemotePort Any -LocalAddress Any",
			psString(d.name), psString(d.name), d.filterArgs(profiles)))
	}
	for _, d := range want {
		if !have[d.name] {
			adds = append(adds, fmt.Sprintf("New-NetFirewallRule -Name %s -DisplayName %s -Group %s %s | Out-Null",
				psString(d.name), psString(d.name), psString(GroupWindows), d.filterArgs(profiles)))
		}
	}
	if len(removes)+len(sets)+len(adds) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# netplan42: sync of Windows firewall group " + GroupWindows + "; generated\n")
	b.WriteString(psPrelude)
	for _, l := range slices.Concat(removes, sets, adds) {
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}

func sameSources(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

// checkWindowsRules adds to checkRules what a Windows rule name cannot
// hold: the firewall's own registry format separates fields with '|'.
func checkWindowsRules(rules []planner.Rule) error {
	if err := checkRules(rules, maxWindowsComment); err != nil {
		return err
	}
	for _, r := range rules {
		if strings.ContainsRune(r.Comment, '|') {
			return fmt.Errorf("firewall rule comment %q: character '|' not allowed", r.Comment)
		}
	}
	return nil
}

func (b *windowsBackend) ps(ctx context.Context, op string, script []byte) ([]byte, error) {
	out, err := b.run(ctx, script, b.shell, psArgs()...)
	if err != nil {
		return out, psError(op, err)
	}
	return out, nil
}

func (b *windowsBackend) read(ctx context.Context) ([]winRule, []winProfileState, error) {
	out, err := b.ps(ctx, "observe Windows firewall", windowsObserveScript())
	if err != nil {
		return nil, nil, err
	}
	return parseWindowsObservation(out)
}

func (b *windowsBackend) observe(ctx context.Context) (planner.FirewallView, error) {
	rules, states, err := b.read(ctx)
	if err != nil {
		return planner.FirewallView{Backend: "Windows Defender Firewall"}, err
	}
	return windowsView(rules, states, b.profiles), nil
}

func (b *windowsBackend) sync(ctx context.Context, rules []planner.Rule) error {
	if err := checkWindowsRules(rules); err != nil {
		return err
	}
	observed, _, err := b.read(ctx)
	if err != nil {
		return fmt.Errorf("sync Windows firewall: %w", err)
	}
	script := renderWindowsSync(rules, observed, b.profiles)
	if script == nil {
		return nil
	}
	_, err = b.ps(ctx, "sync Windows firewall", script)
	return err
}

// elevateHint is what to do when Windows refuses a change: rules of the
// local store need an administrator's elevated token.
const elevateHint = "run netplan42 from an elevated shell: right-click Windows PowerShell or Terminal and choose Run as administrator"

// psFailure is a failed powershell run, its error classified.
type psFailure struct {
	op   string
	msg  string
	perm bool
	err  error
}

func (e *psFailure) Error() string {
	s := e.op + ": " + e.msg
	if e.perm {
		s += " (" + elevateHint + ")"
	}
	return s
}

func (e *psFailure) Unwrap() []error {
	if e.perm {
		return []error{e.err, ErrPermission}
	}
	return []error{e.err}
}

// psError classifies err from a powershell run by its standard error.
func psError(op string, err error) error {
	var ce *cmdError
	stderr := ""
	if errors.As(err, &ce) {
		stderr = ce.stderr
	}
	msg, perm := classifyPS(stderr)
	if msg == "" {
		msg = err.Error()
	}
	return &psFailure{op: op, msg: msg, perm: perm, err: err}
}

// classifyPS reads powershell's standard error: our trap's line when there
// is one, else PowerShell's own error text (CLIXML when PowerShell chose
// to serialize it). perm reports a refusal for want of elevation: the
// PermissionDenied category, Win32 error 5 (ERROR_ACCESS_DENIED), or its
// HRESULT 0x80070005; these are not localized, unlike "Access is denied".
func classifyPS(stderr string) (msg string, perm bool) {
	text := psErrorText(stderr)
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "netplan42-error: ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, " | ", 3)
		for len(f) < 3 {
			f = append(f, "")
		}
		category, fqid, message := f[0], f[1], f[2]
		perm = category == "PermissionDenied" || deniedID(fqid) || deniedID(message)
		msg = strings.TrimSpace(message)
		if fqid != "" {
			msg += " (" + fqid + ")"
		}
		return msg, perm
	}
	perm = strings.Contains(text, "PermissionDenied") || deniedID(text) || strings.Contains(text, "Access is denied")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " "), perm
}

func deniedID(s string) bool {
	return strings.Contains(s, "Windows System Error 5,") || strings.Contains(s, "Windows System Error 5 ") ||
		strings.HasSuffix(s, "Windows System Error 5") || strings.Contains(strings.ToLower(s), "0x80070005")
}

var (
	clixmlError = regexp.MustCompile(`(?s)<S S="Error">(.*?)</S>`)
	clixmlChar  = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)
)

// psErrorText returns stderr as text. PowerShell writes errors as CLIXML
// ("#< CLIXML" then <S S="Error"> elements with _x000D__x000A_ for line
// breaks) when it believes its caller is another PowerShell.
func psErrorText(stderr string) string {
	s := strings.TrimSpace(stderr)
	rest, ok := strings.CutPrefix(s, "#< CLIXML")
	if !ok {
		return s
	}
	var b strings.Builder
	for _, m := range clixmlError.FindAllStringSubmatch(rest, -1) {
		t := html.UnescapeString(m[1])
		t = clixmlChar.ReplaceAllStringFunc(t, func(x string) string {
			n, _ := strconv.ParseUint(x[2:6], 16, 16)
			return string(rune(n))
		})
		b.WriteString(t)
	}
	return strings.TrimSpace(strings.ReplaceAll(b.String(), "\r\n", "\n"))
}
