package firewall

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/netplan42/netplan42/planner"
)

// Windows is not run live here (Linux machines). The testdata/windows-*.json
// captures are HAND-WRITTEN, not recorded from a Windows machine: they
// follow Microsoft's documented shapes of MSFT_NetFirewallRule,
// MSFT_NetFirewallPortFilter, MSFT_NetFirewallAddressFilter and
// MSFT_NetFirewallProfile (property names, enum values, "Any",
// "LocalSubnet", IPv4 subnets printed with a dotted mask) and the forms
// ConvertTo-Json gives a pipeline's output: nothing/null for no rule, an
// object for one, an array for several.
//
//   - windows-observe-none/one/many.json: what windowsObserveScript prints
//     (-Compress, enums as names) for no rule, one rule, and several: ours,
//     a foreign rule put into our group, and one of ours disabled and
//     narrowed to two profiles by hand.
//   - windows-select-numeric.json: Windows PowerShell 5.1's pretty form of
//     Get-NetFirewallRule | Select-Object Name, ..., @{Name='LocalPort';
//     Expression={($_ | Get-NetFirewallPortFilter).LocalPort}}, ... |
//     ConvertTo-Json, enums as numbers (Enabled 1, Profile 0, Direction 1,
//     Action 2), lists both as a string and as an array.

var winLAN = captureRules[1]

func TestParseWindowsObservation(t *testing.T) {
	for _, tc := range []struct {
		file  string
		rules []planner.Rule
		warn  []string
	}{
		{"windows-observe-none.json", nil, nil},
		{"windows-observe-one.json", []planner.Rule{crashplan}, nil},
		{"windows-observe-many.json", captureRules, []string{
			`"{6C3B1E52-7A0B-4A4E-9C1F-2B7D0E5A8F31}" ("Backup agent (copied into this group by hand)") is in group netplan42 but was not made by netplan42; it is left alone`,
			`"netplan42:nas/old 5000/tcp" was changed outside netplan42 (disabled; profiles Domain, Private, not Any)`,
			"group policy makes the Domain profile(s) ignore local firewall rules",
			"is off for the Public profile(s)",
		}},
		{"windows-select-numeric.json", captureRules, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rules, states, err := parseWindowsObservation(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			v := windowsView(rules, states, profileAll)
			if !sameRules(v.Rules, tc.rules) || !v.Hooked {
				t.Errorf("rules %+v, want %+v", v.Rules, tc.rules)
			}
			if len(v.Warnings) != len(tc.warn) {
				t.Errorf("warnings %q", v.Warnings)
			}
			for _, w := range tc.warn {
				if !hasWarning(v.Warnings, w) {
					t.Errorf("no warning %q in %q", w, v.Warnings)
				}
			}
		})
	}
	// The other forms of "nothing" and Windows PowerShell 5.1's wrapped
	// array.
	for _, in := range []string{"", "\r\n", "\xef\xbb\xbf", "null", "[]", `{"Rules":null}`} {
		if rules, _, err := parseWindowsObservation([]byte(in)); err != nil || len(rules) != 0 {
			t.Errorf("%q: %v %v", in, rules, err)
		}
	}
	wrapped := `{"Rules":{"value":[{"Name":"netplan42:nas/crashplan 4242/tcp","Group":"netplan42","Enabled":"True","Direction":"Inbound","Action":"Allow","Profile":"Any","Protocol":"TCP","LocalPort":"4242","RemotePort":"Any","LocalAddress":"Any","RemoteAddress":"Any"}],"Count":1}}`
	rules, _, err := parseWindowsObservation([]byte(wrapped))
	if err != nil || len(rules) != 1 || !sameRules(windowsView(rules, nil, profileAll).Rules, []planner.Rule{crashplan}) {
		t.Errorf("value/Count form: %+v %v", rules, err)
	}
	for _, bad := range []string{"{", `{"Rules":[{"Name":""}]}`, `{"Rules":[{"Name":"x","Profile":"Everywhere"}]}`, `{"Rules":"text"}`} {
		if _, _, err := parseWindowsObservation([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestWindowsAddresses(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		in   []netip.Prefix
		want []string
	}{
		{planner.AnySource, []string{"Any"}},
		{pp("0.0.0.0/0"), []string{allV4Range}},
		{pp("::/0"), []string{allV6Range}},
		{pp("192.0.2.10/24", "192.0.2.0/24", "2001:db8:1::/64"), []string{"192.0.2.0/24", "2001:db8:1::/64"}},
		{pp("192.0.2.10/32", "2001:db8::1/128"), []string{"192.0.2.10", "2001:db8::1"}},
		{pp("0.0.0.0/0", "::/0", "192.0.2.0/24"), []string{allV4Range, allV6Range, "192.0.2.0/24"}},
	} {
		got := windowsAddresses(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("windowsAddresses(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := parseWindowsAddresses(got)
		if err != nil || !sameSources(back, expandPrefixes(tc.in)) {
			t.Errorf("round trip of %v: %v %v", tc.in, back, err)
		}
	}
	// As Windows prints them back.
	got, err := parseWindowsAddresses([]string{"192.0.2.0/255.255.255.0", "198.51.100.7", "2001:db8:1::/64", "::ffff:203.0.113.9"})
	if err != nil || !sameSources(got, pp("192.0.2.0/24", "198.51.100.7/32", "2001:db8:1::/64", "203.0.113.9/32")) {
		t.Errorf("windows forms: %v %v", got, err)
	}
	for _, bad := range []string{"LocalSubnet", "Internet", "192.0.2.1-192.0.2.9", "192.0.2.0/255.0.255.0", "2001:db8::/255.255.0.0", "nonsense/8"} {
		if _, err := parseWindowsAddresses([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func expandPrefixes(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p = p.Masked(); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func TestWindowsRuleName(t *testing.T) {
	n := windowsRuleName("netplan42:desk[alice]/crash plan", planner.UDP, 4243)
	c, proto, port, ok := parseWindowsRuleName(n)
	if !ok || c != "netplan42:desk[alice]/crash plan" || proto != planner.UDP || port != 4243 {
		t.Errorf("%q -> %q %q %d %v", n, c, proto, port, ok)
	}
	for _, bad := range []string{"", "netplan42:nas/x", "netplan42:nas/x 4242", "netplan42:nas/x 4242/icmp", "netplan42:nas/x 04242/tcp",
		"netplan42:nas/x 0/tcp", "netplan42:nas/x 70000/tcp", "CoreNet-DHCP-In 68/udp", "{6C3B1E52-7A0B-4A4E-9C1F-2B7D0E5A8F31}"} {
		if _, _, _, ok := parseWindowsRuleName(bad); ok {
			t.Errorf("%q taken for ours", bad)
		}
	}
}

// psUnquote evaluates what psString makes (and nothing else): a quoted
// run, or a parenthesised sum of quoted runs and [char]0xNNNN codes. It
// fails on anything that is not exactly that, so a test that round-trips
// shows no input escapes the string.
func psUnquote(s string) (string, error) {
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		var units []uint16
		for _, part := range strings.Split(s[1:len(s)-1], " + ") {
			if hex, ok := strings.CutPrefix(part, "[char]0x"); ok {
				n, err := strconv.ParseUint(hex, 16, 16)
				if err != nil || len(hex) != 4 {
					return "", fmt.Errorf("bad char %q", part)
				}
				units = append(units, uint16(n))
				continue
			}
			q, err := psUnquote(part)
			if err != nil {
				return "", err
			}
			units = append(units, utf16.Encode([]rune(q))...)
		}
		return string(utf16.Decode(units)), nil
	}
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", fmt.Errorf("not quoted: %q", s)
	}
	body := s[1 : len(s)-1]
	if strings.Contains(strings.ReplaceAll(body, "''", ""), "'") {
		return "", fmt.Errorf("lone quote in %q", s)
	}
	for _, c := range body {
		if c < 0x20 || c >= 0x7f {
			return "", fmt.Errorf("non-printable or non-ASCII %q in %q", c, s)
		}
	}
	return strings.ReplaceAll(body, "''", "'"), nil
}

func TestPSString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"netplan42", "'netplan42'"},
		{"", "''"},
		{"it's", "'it''s'"},
		{"x'; Remove-NetFirewallRule -All; '", "'x''; Remove-NetFirewallRule -All; '''"},
		{"$(calc.exe) `n \"", "'$(calc.exe) `n \"'"},
		{"caf\u00e9", "('caf' + [char]0x00E9)"},
		// PowerShell also ends a single-quoted string at typographic quotes.
		{"a\u2019; calc; \u2018", "('a' + [char]0x2019 + '; calc; ' + [char]0x2018)"},
		{"line\nbreak", "('line' + [char]0x000A + 'break')"},
		{"\U0001F600", "([char]0xD83D + [char]0xDE00)"},
	} {
		got := psString(tc.in)
		if got != tc.want {
			t.Errorf("psString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if back, err := psUnquote(got); err != nil || back != tc.in {
			t.Errorf("psUnquote(%s) = %q, %v", got, back, err)
		}
	}
}

func FuzzPSString(f *testing.F) {
	f.Add("x'; Remove-NetFirewallRule -All; '")
	f.Add("a\u2019b\u201b\x00")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8Valid(s) {
			return
		}
		if back, err := psUnquote(psString(s)); err != nil || back != s {
			t.Errorf("%q: %q %v", s, back, err)
		}
	})
}

func utf8Valid(s string) bool {
	return strings.ToValidUTF8(s, "\x00\x00") == s && !strings.ContainsRune(s, 0xFFFD)
}

func TestWindowsScriptsGolden(t *testing.T) {
	golden(t, "windows-observe.golden", windowsObserveScript())
	empty, _, _ := parseWindowsObservation(readTestdata(t, "windows-observe-none.json"))
	one, _, _ := parseWindowsObservation(readTestdata(t, "windows-observe-one.json"))
	many, _, _ := parseWindowsObservation(readTestdata(t, "windows-observe-many.json"))
	golden(t, "windows-sync-first.golden", renderWindowsSync(captureRules, empty, profileAll))
	// crashplan now LAN-only, crashplan-lan gone: one Set, one Remove of a
	// rule we never saw as desired; the foreign rule is not named.
	lanOnly := crashplan
	lanOnly.Sources = winLAN.Sources
	upd := renderWindowsSync([]planner.Rule{lanOnly, {Protocol: planner.UDP, Port: 4250, Sources: planner.AnySource, Comment: "netplan42:nas/caf\u00e9"}}, slices.Concat(one, many[1:]), profilePrivate|profileDomain)
	golden(t, "windows-sync-update.golden", upd)
	rm := renderWindowsSync(nil, many, profileAll)
	golden(t, "windows-sync-remove.golden", rm)
	for _, s := range [][]byte{upd, rm} {
		if strings.Contains(string(s), "6C3B1E52") || strings.Contains(string(s), "-All") || strings.Contains(string(s), "-Group") && !strings.Contains(string(s), "New-NetFirewallRule") {
			t.Errorf("script touches what is not ours:\n%s", s)
		}
	}
	// Both wanted rules already there: only the disabled rule of ours goes.
	if s := string(renderWindowsSync(captureRules, many, profileAll)); strings.Count(s, "\nRemove-NetFirewallRule") != 1 || strings.Contains(s, "Set-") || strings.Contains(s, "New-") {
		t.Errorf("in sync apart from old:\n%s", s)
	}
	// Nothing to do: no script at all.
	if s := renderWindowsSync([]planner.Rule{crashplan}, one, profileAll); s != nil {
		t.Errorf("no change, yet a script:\n%s", s)
	}
}

// winFake is a Windows firewall for the backend's scripts: it answers the
// observation script with its rules as JSON and carries out the lines of a
// sync script (the forms renderWindowsSync writes, quoted as psString
// quotes), printing addresses back the way Windows does.
type winFake struct {
	rules   []winRule
	scripts []string
	deny    bool // refuse changes as a non-elevated process is refused
	args    [][]string
}

func (f *winFake) run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	f.args = append(f.args, append([]string{name}, args...))
	script := string(stdin)
	f.scripts = append(f.scripts, script)
	if script == string(windowsObserveScript()) {
		rs := make([]map[string]any, 0, len(f.rules))
		for _, r := range f.rules {
			rs = append(rs, map[string]any{"Name": r.Name, "DisplayName": r.DisplayName, "Group": r.Group, "Enabled": r.Enabled,
				"Direction": r.Direction, "Action": r.Action, "Profile": strings.Join(r.Profile.names(), ", "), "Protocol": r.Protocol,
				"LocalPort": r.LocalPort, "RemotePort": r.RemotePort, "LocalAddress": r.LocalAddress, "RemoteAddress": r.RemoteAddress})
		}
		var doc any = map[string]any{"Rules": rs}
		if len(rs) == 1 {
			doc = map[string]any{"Rules": rs[0]}
		}
		return json.Marshal(doc)
	}
	if f.deny {
		return nil, &cmdError{cmd: name, err: errors.New("exit status 1"),
			stderr: "netplan42-error: PermissionDenied | Windows System Error 5,New-NetFirewallRule | Access is denied."}
	}
	for _, line := range strings.Split(script, "\n") {
		if err := f.exec(line); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// exec runs one line of a sync script.
func (f *winFake) exec(line string) error {
	tok, err := psTokens(strings.TrimSuffix(line, " | Out-Null"))
	if err != nil || len(tok) == 0 || !strings.HasSuffix(tok[0], "-NetFirewallRule") {
		return nil // prelude, comments
	}
	args := map[string][]string{}
	for i := 1; i+1 < len(tok); i += 2 {
		v := tok[i+1]
		if strings.HasPrefix(v, "@(") {
			args[tok[i]] = strings.Split(strings.TrimSuffix(strings.TrimPrefix(v, "@("), ")"), "\x00")
		} else {
			args[tok[i]] = []string{v}
		}
	}
	name := args["-Name"][0]
	i := slices.IndexFunc(f.rules, func(r winRule) bool { return r.Name == name })
	switch tok[0] {
	case "Remove-NetFirewallRule":
		if i < 0 {
			return fmt.Errorf("no rule %q", name)
		}
		f.rules = slices.Delete(f.rules, i, i+1)
		return nil
	case "New-NetFirewallRule":
		if i >= 0 {
			return fmt.Errorf("rule %q exists", name)
		}
		f.rules = append(f.rules, winRule{Name: name, DisplayName: args["-DisplayName"][0], Group: args["-Group"][0]})
		i = len(f.rules) - 1
	case "Set-NetFirewallRule":
		if i < 0 {
			return fmt.Errorf("no rule %q", name)
		}
		f.rules[i].DisplayName = args["-NewDisplayName"][0]
		f.rules[i].RemotePort, f.rules[i].LocalAddress = args["-RemotePort"], args["-LocalAddress"]
	}
	r := &f.rules[i]
	r.Enabled, r.Direction, r.Action, r.Protocol = args["-Enabled"][0], args["-Direction"][0], args["-Action"][0], args["-Protocol"][0]
	r.LocalPort = args["-LocalPort"]
	if r.RemotePort == nil {
		r.RemotePort, r.LocalAddress = []string{"Any"}, []string{"Any"}
	}
	r.Profile, _ = parseProfileJSON(json.RawMessage(strconv.Quote(strings.Join(args["-Profile"], ","))))
	r.RemoteAddress = nil
	for _, a := range args["-RemoteAddress"] {
		if p, err := netip.ParsePrefix(a); err == nil && p.Addr().Is4() {
			mask := uint32(0xffffffff) << (32 - p.Bits())
			m := netip.AddrFrom4([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)})
			a = p.Addr().String() + "/" + m.String()
		}
		r.RemoteAddress = append(r.RemoteAddress, a)
	}
	return nil
}

// psTokens splits a line of our scripts into words, strings (unquoted)
// and arrays (elements joined by NUL, kept as "@(...)").
func psTokens(line string) ([]string, error) {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		switch {
		case strings.HasPrefix(line, "@("):
			end := strings.Index(line, ")")
			for end >= 0 && strings.Count(line[:end+1], "(")-strings.Count(line[:end+1], ")") != 0 {
				end += 1 + strings.Index(line[end+1:], ")")
			}
			var elems []string
			for _, e := range strings.Split(line[2:end], ", ") {
				s, err := psUnquote(e)
				if err != nil {
					return nil, err
				}
				elems = append(elems, s)
			}
			out = append(out, "@("+strings.Join(elems, "\x00")+")")
			line = line[end+1:]
		case line[0] == '\'' || line[0] == '(':
			end := psEnd(line)
			s, err := psUnquote(line[:end])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			line = line[end:]
		default:
			w, rest, _ := strings.Cut(line, " ")
			out = append(out, w)
			line = rest
		}
	}
	return out, nil
}

// psEnd returns the length of the psString expression at the start of s.
func psEnd(s string) int {
	if s[0] == '(' {
		return strings.Index(s, ")") + 1
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// Plan, apply, plan again: no changes; and a foreign rule in our group
// survives every sync.
func TestWindowsSyncIdempotent(t *testing.T) {
	foreign := winRule{Name: "{6C3B1E52-7A0B-4A4E-9C1F-2B7D0E5A8F31}", DisplayName: "Backup agent", Group: GroupWindows, Enabled: "True",
		Direction: "Inbound", Action: "Allow", Profile: profilePrivate, Protocol: "TCP", LocalPort: []string{"4280"},
		RemotePort: []string{"Any"}, LocalAddress: []string{"Any"}, RemoteAddress: []string{"LocalSubnet"}}
	fw := &winFake{rules: []winRule{foreign}}
	b := &windowsBackend{run: fw.run, shell: "powershell.exe", profiles: profileAll}
	ctx := context.Background()
	cafe := planner.Rule{Protocol: planner.TCP, Port: 4250, Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32")}, Comment: "netplan42:nas/caf\u00e9"}
	want := append(slices.Clone(captureRules), cafe)
	if err := b.sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	v, err := b.observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRules(v.Rules, want) || !v.Hooked {
		t.Fatalf("after sync: %+v", v.Rules)
	}
	if !hasWarning(v.Warnings, "left alone") {
		t.Errorf("warnings %q", v.Warnings)
	}
	n := len(fw.scripts)
	if err := b.sync(ctx, want); err != nil || len(fw.scripts) != n+1 {
		t.Errorf("second sync ran %d scripts (%v), want only the observation", len(fw.scripts)-n, err)
	}
	// Changed by hand: disabled, and a port edited; the next sync sets
	// them back in place.
	fw.rules[1].Enabled = "False"
	fw.rules[2].LocalPort = []string{"4300"}
	if v, _ := b.observe(ctx); len(v.Rules) != 1 || len(v.Warnings) != 3 {
		t.Errorf("changed by hand: %+v %q", v.Rules, v.Warnings)
	}
	if err := b.sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if last := fw.scripts[len(fw.scripts)-1]; strings.Count(last, "Set-NetFirewallRule") != 2 || strings.Contains(last, "New-") || strings.Contains(last, "Remove-") {
		t.Errorf("repair script:\n%s", last)
	}
	if v, _ := b.observe(ctx); !sameRules(v.Rules, want) {
		t.Errorf("after repair: %+v", v.Rules)
	}
	// No rules: ours removed, the foreign one kept.
	if err := b.sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(fw.rules) != 1 || fw.rules[0].Name != foreign.Name {
		t.Errorf("after removal: %+v", fw.rules)
	}
	// Every run is powershell with the bootstrap, never the script, on
	// its command line.
	for _, a := range fw.args {
		if len(a) != 6 || a[0] != "powershell.exe" || a[4] != "-EncodedCommand" {
			t.Fatalf("args %q", a)
		}
		raw, err := base64.StdEncoding.DecodeString(a[5])
		if err != nil || len(raw)%2 != 0 {
			t.Fatal(err)
		}
		u := make([]uint16, len(raw)/2)
		for i := range u {
			u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
		}
		if string(utf16.Decode(u)) != psBootstrap {
			t.Errorf("encoded command %q", string(utf16.Decode(u)))
		}
	}
}

func TestWindowsErrors(t *testing.T) {
	fw := &winFake{deny: true}
	b := &windowsBackend{run: fw.run, shell: "powershell.exe", profiles: profileAll}
	err := b.sync(context.Background(), captureRules)
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "Run as administrator") ||
		!strings.Contains(err.Error(), "sync Windows firewall: Access is denied. (Windows System Error 5,New-NetFirewallRule)") ||
		strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("denied: %v", err)
	}
	if err := b.sync(context.Background(), []planner.Rule{{Protocol: planner.TCP, Port: 1, Sources: planner.AnySource, Comment: "netplan42:a|b/c"}}); err == nil || !strings.Contains(err.Error(), "'|' not allowed") {
		t.Errorf("pipe in tag: %v", err)
	}

	for _, tc := range []struct {
		name, stderr, msg string
		perm              bool
	}{
		{"trap", "netplan42-error: PermissionDenied | Windows System Error 5,New-NetFirewallRule | Access is denied.\r\n", "Access is denied. (Windows System Error 5,New-NetFirewallRule)", true},
		// German Windows: the message is localized, the ids are not.
		{"localized", "netplan42-error: PermissionDenied | Windows System Error 5,Remove-NetFirewallRule | Zugriff verweigert", "Zugriff verweigert (Windows System Error 5,Remove-NetFirewallRule)", true},
		{"hresult", "netplan42-error: NotSpecified | HRESULT 0x80070005,Set-NetFirewallRule | Access is denied.", "Access is denied. (HRESULT 0x80070005,Set-NetFirewallRule)", true},
		{"exists", "netplan42-error: ResourceExists | Windows System Error 183,New-NetFirewallRule | Cannot create a file when that file already exists.", "Cannot create a file when that file already exists. (Windows System Error 183,New-NetFirewallRule)", false},
		{"not trapped", "New-NetFirewallRule : Access is denied.\r\nAt line:1 char:1\r\n    + CategoryInfo          : PermissionDenied: (MSFT_NetFirewallRule:root/standardcimv2/MSFT_NetFirewallRule) [New-NetFirewallRule], CimException\r\n    + FullyQualifiedErrorId : Windows System Error 5,New-NetFirewallRule\r\n", "", true},
		{"clixml", `#< CLIXML` + "\r\n" + `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">netplan42-error: PermissionDenied | Windows System Error 5,New-NetFirewallRule | Access is denied._x000D__x000A_</S></Objs>`, "Access is denied. (Windows System Error 5,New-NetFirewallRule)", true},
		{"module missing", "netplan42-error: ObjectNotFound | CommandNotFoundException | The term 'Get-NetFirewallRule' is not recognized as the name of a cmdlet", "The term 'Get-NetFirewallRule' is not recognized as the name of a cmdlet (CommandNotFoundException)", false},
		{"empty", "", "", false},
	} {
		msg, perm := classifyPS(tc.stderr)
		if perm != tc.perm || tc.msg != "" && msg != tc.msg {
			t.Errorf("%s: %q %v, want %q %v", tc.name, msg, perm, tc.msg, tc.perm)
		}
	}
}

func TestOpenWindows(t *testing.T) {
	ctx := context.Background()
	none := func(string) (string, error) { return "", errors.New("not found") }
	if _, err := openWindows(nil, none, nil); err == nil || !strings.Contains(err.Error(), "powershell.exe") {
		t.Errorf("without powershell: %v", err)
	}
	pwsh := func(s string) (string, error) {
		if s == "pwsh.exe" {
			return `C:\Program Files\PowerShell\7\pwsh.exe`, nil
		}
		return "", errors.New("not found")
	}
	f, err := openWindows(nil, pwsh, []string{"Private", "domain"})
	if err != nil || f.Kind() != "windows" || f.b.(*windowsBackend).shell != "pwsh.exe" || f.b.(*windowsBackend).profiles != profileDomain|profilePrivate {
		t.Fatalf("pwsh: %+v %v", f, err)
	}
	if _, err := openWindows(nil, pwsh, []string{"home"}); err == nil || !strings.Contains(err.Error(), "want domain, private or public") {
		t.Errorf("bad profile: %v", err)
	}
	// Open: by name, and what auto picks on Windows.
	ps := func(s string) (string, error) {
		if s == "powershell.exe" {
			return `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, nil
		}
		return "", errors.New("not found")
	}
	for _, backend := range []string{"windows", "auto"} {
		if f, err := open(ctx, Config{Backend: backend}, nil, ps, "windows"); err != nil || f.Kind() != "windows" || f.Backend() != "Windows Defender Firewall" {
			t.Errorf("%s on windows: %+v %v", backend, f, err)
		}
	}
	if f, err := open(ctx, Config{Backend: "auto"}, nil, none, "windows"); err != nil || f.Kind() != "none" || len(f.notes) != 1 {
		t.Errorf("auto on windows without powershell: %+v %v", f, err)
	}
	if _, err := open(ctx, Config{Backend: "windows"}, nil, none, "linux"); err == nil {
		t.Error("windows backend without powershell opened")
	}
	// Observing through a failed powershell says so.
	fr := &fakeRun{out: map[string]string{}}
	b := &windowsBackend{run: fr.run, shell: "powershell.exe", profiles: profileAll}
	if _, err := b.observe(ctx); err == nil || !strings.HasPrefix(err.Error(), "observe Windows firewall: ") {
		t.Errorf("observe: %v", err)
	}
}

func FuzzParseWindowsObservation(f *testing.F) {
	for _, name := range []string{"windows-observe-none.json", "windows-observe-one.json", "windows-observe-many.json", "windows-select-numeric.json"} {
		b, err := readFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, states, err := parseWindowsObservation(b)
		if err == nil {
			windowsView(rules, states, profileAll)
			renderWindowsSync(captureRules, rules, profileAll)
		}
	})
}

// TestOpenWindowsProfilesFromConfig: the config's firewall_profiles reach
// the backend through Config, by name and through auto on Windows.
func TestOpenWindowsProfilesFromConfig(t *testing.T) {
	ps := func(s string) (string, error) {
		if s == "powershell.exe" {
			return `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, nil
		}
		return "", errors.New("not found")
	}
	for _, backend := range []string{"windows", "auto"} {
		f, err := open(context.Background(), Config{Backend: backend, WindowsProfiles: []string{"private"}}, nil, ps, "windows")
		if err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		if got := f.b.(*windowsBackend).profiles; got != profilePrivate {
			t.Errorf("%s: profiles %v, want private", backend, got.names())
		}
	}
}
