package router

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/planner"
)

// testdata/sshlinux/ruleset.json is `nft -j list ruleset` of nftables
// 1.0.6 (Debian bookworm) in a network namespace holding a forward chain
// with policy drop (table inet filter), a table of forwards made by hand
// (table ip foreign) and netplan42's table with one forward and its hook.
func TestParseNftRouterRuleset(t *testing.T) {
	b, err := os.ReadFile("testdata/sshlinux/ruleset.json")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := parseNftRuleset(b)
	if err != nil {
		t.Fatal(err)
	}
	a10, a11 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	want := []planner.Mapping{
		{Protocol: planner.TCP, ExternalPort: 5555, InternalAddress: a11, InternalPort: 5555, Description: "by hand"},
		{Protocol: planner.UDP, ExternalPort: 6000, InternalAddress: a11, InternalPort: 6000, Description: "table ip foreign chain prerouting:"},
		{Protocol: planner.TCP, ExternalPort: 4300, InternalAddress: a10, InternalPort: 4301, Description: "netplan42:alpha/web"},
	}
	if got := rs.forwards(); !slices.Equal(got, want) {
		t.Errorf("forwards:\n got %v\nwant %v", got, want)
	}
	if got := rs.ours(); len(got) != 1 || got[0] != want[2] {
		t.Errorf("ours = %v", got)
	}
	var filter *nftRouterTable
	for _, tb := range rs.tables {
		if tb.name == "filter" {
			filter = tb
		}
	}
	if d := droppingForward(filter); len(d) != 1 || d[0].name != "forward" || !slices.Equal(ourJumps(d[0]), []int{5}) {
		t.Errorf("dropping forward chains of %v: %v", filter, d)
	}

	// Another forward added: our table rewritten, the hook chain refilled,
	// the jump kept; with none, everything of ours goes by handle.
	more := append(rs.ours(), planner.Mapping{Protocol: planner.UDP, ExternalPort: 4400, InternalAddress: netip.MustParseAddr("192.0.2.12"), InternalPort: 4400, Description: "netplan42:beta[x]/game"})
	add, err := nftRouterScript(rs, more, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	none, err := nftRouterScript(rs, nil, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/sshlinux/script.golden", []byte("# add\n"+add+"# none\n"+none))

	bad := []planner.Mapping{{Protocol: planner.TCP, ExternalPort: 1, InternalAddress: a10, InternalPort: 1, Description: `x" accept comment "y`}}
	if _, err := nftRouterScript(rs, bad, "192.0.2.1"); err == nil || !strings.Contains(err.Error(), "character") {
		t.Errorf("a quote in a description: %v", err)
	}
}

func TestParseNftRouterRulesetHostile(t *testing.T) {
	for _, in := range []string{"", "{", `{"nftables":[{"rule":{"family":"inet","table":"x","chain":"y"}}]}`, `{"nftables":[{"table":{"family":"inet","name":"t"}},{"rule":{"family":"inet","table":"t","chain":"nope"}}]}`} {
		if _, err := parseNftRuleset([]byte(in)); err == nil {
			t.Errorf("parseNftRuleset(%q) took it", in)
		}
	}
	// A DNAT to a port out of range, or an address that is none, is no forward.
	in := `{"nftables":[{"table":{"family":"ip","name":"t"}},{"chain":{"family":"ip","table":"t","name":"p","type":"nat","hook":"prerouting"}},
{"rule":{"family":"ip","table":"t","chain":"p","handle":1,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":70000}},{"dnat":{"addr":"192.0.2.9"}}]}},
{"rule":{"family":"ip","table":"t","chain":"p","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}},{"dnat":{"addr":{"map":1}}}]}}]}`
	rs, err := parseNftRuleset([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if f := rs.forwards(); len(f) != 0 {
		t.Errorf("forwards = %v", f)
	}
}

func TestCapWriterBounds(t *testing.T) {
	w := &capWriter{max: 10, over: make(chan struct{})}
	if n, err := w.Write([]byte("12345")); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := w.Write([]byte("1234567890")); err == nil || !w.exceeded() {
		t.Fatal("no error past the limit")
	}
	select {
	case <-w.over:
	default:
		t.Fatal("over not signalled")
	}
	if w.buf.Len() != 10 {
		t.Errorf("kept %d bytes", w.buf.Len())
	}
	if got := cleanText([]byte("bad\x1b[31m\nline"), 100); got != "bad?[31m line" {
		t.Errorf("cleanText = %q", got)
	}
}

func TestParseRouteSrc(t *testing.T) {
	for in, want := range map[string]string{
		"1.1.1.1 via 11.0.0.254 dev wan0 src 11.0.0.1 uid 0 \n    cache \n": "11.0.0.1",
		"1.1.1.1 via 10.0.0.1 dev eth1  src 100.64.3.2 \n":                  "100.64.3.2",
		"RTNETLINK answers: Network is unreachable":                         "invalid IP",
		"src fe80::1": "invalid IP",
	} {
		if got := parseRouteSrc([]byte(in)).String(); got != want {
			t.Errorf("parseRouteSrc(%q) = %s, want %s", in, got, want)
		}
	}
}
