package router

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/planner"
)

// testdata/sshopenwrt/show.txt is `uci -X show firewall` of the OpenWrt
// kit (../shared/openwrt: uci 66127cd, firewall4 b6e5157, OpenWrt's stock
// /etc/config/firewall) after TestOpenWrtSSHLab made a redirect by hand
// (TCP 5555, an anonymous section) and netplan42 two of its own.
// dstnat_wan.json is `nft -j list chain inet fw4 dstnat_wan` there, fw4's
// live rules for the same three redirects. changes.txt is `uci changes
// firewall` there with one of our options
// and an anonymous rule left uncommitted.
func TestParseUCIShow(t *testing.T) {
	b, err := os.ReadFile("testdata/sshopenwrt/show.txt")
	if err != nil {
		t.Fatal(err)
	}
	secs, err := parseUCIShow(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) < 10 {
		t.Fatalf("%d sections", len(secs))
	}
	i := slices.IndexFunc(secs, func(s uciSection) bool { return s.name == "cfg03dc81" })
	if i < 0 || !slices.Equal(secs[i].options["network"], []string{"wan", "wan6"}) {
		t.Errorf("list option: %v", secs[i].options)
	}
	fwd, _ := uciForwards(secs)
	want := []planner.Mapping{
		{Protocol: planner.TCP, ExternalPort: 5555, InternalAddress: netip.MustParseAddr("192.0.2.11"), InternalPort: 5555, Description: "made by hand"},
		{Protocol: planner.TCP, ExternalPort: 4300, InternalAddress: netip.MustParseAddr("192.0.2.10"), InternalPort: 4300, Description: "netplan42:alpha/web"},
		{Protocol: planner.TCP, ExternalPort: 4301, InternalAddress: netip.MustParseAddr("192.0.2.11"), InternalPort: 4400, Description: "netplan42:beta/game"},
	}
	if !slices.Equal(fwd, want) {
		t.Errorf("forwards:\n got %v\nwant %v", fwd, want)
	}

	ch, err := os.ReadFile("testdata/sshopenwrt/changes.txt")
	if err != nil {
		t.Fatal(err)
	}
	ours, foreign := uciPending(ch)
	if !slices.Equal(ours, []string{"netplan42_tcp_4300"}) || len(foreign) != 1 {
		t.Errorf("pending: ours %v, foreign %v", ours, foreign)
	}

	put := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4301, InternalAddress: netip.MustParseAddr("192.0.2.12"), InternalPort: 4301, Description: "netplan42:desk[alice]/game"}
	replace, err := uciBatch(secs, "netplan42_tcp_4301", &put)
	if err != nil {
		t.Fatal(err)
	}
	remove, err := uciBatch(secs, "netplan42_tcp_4300", nil)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/sshopenwrt/batch.golden", []byte("# replace\n"+replace+"# remove\n"+remove))
	put.Description = "netplan42:x/y' ; uci delete firewall.cfg0e3837 ; '"
	if _, err := uciBatch(secs, "netplan42_tcp_4301", &put); err == nil {
		t.Error("a quote in a description went into the batch")
	}
}

func TestParseUCIShowHostile(t *testing.T) {
	for _, in := range []string{
		"firewall.a.b='x'\n",                    // option before its section
		"firewall.a=redirect\nfirewall.a.b=x\n", // unquoted value
		"firewall.a=redirect\nfirewall.a.b='x\n",
		"firewall.a b=redirect\n",
		"firewall.a=redirect\nfirewall.a=redirect\n",
		"junk\n",
	} {
		if _, err := parseUCIShow([]byte(in)); err == nil {
			t.Errorf("parseUCIShow(%q) took it", in)
		}
	}
	secs, err := parseUCIShow([]byte(`firewall.r=redirect
firewall.r.name='it'\''s mine'
firewall.r.src_dport='1000-2000'
firewall.r.dest_ip='192.0.2.10'
firewall.netplan42_tcp_80=redirect
firewall.netplan42_tcp_80.name='netplan42:a/b'
firewall.netplan42_tcp_80.src_dport='80'
firewall.netplan42_tcp_80.dest_ip='192.0.2.10'
firewall.netplan42_tcp_80.proto='udp'
firewall.off=redirect
firewall.off.enabled='0'
firewall.off.src_dport='81'
firewall.off.dest_ip='192.0.2.10'
`))
	if err != nil {
		t.Fatal(err)
	}
	if secs[0].get("name") != "it's mine" {
		t.Errorf("quote: %q", secs[0].get("name"))
	}
	// A range is no single forward; a section named like ours on another
	// key, or disabled, is not ours.
	fwd, _ := uciForwards(secs)
	if len(fwd) != 1 || fwd[0].Description != "redirect netplan42_tcp_80: netplan42:a/b" {
		t.Errorf("forwards %v", fwd)
	}
}

func TestParseFw4Redirects(t *testing.T) {
	b, err := os.ReadFile("testdata/sshopenwrt/dstnat_wan.json")
	if err != nil {
		t.Fatal(err)
	}
	live, err := parseFw4Redirects(b)
	if err != nil {
		t.Fatal(err)
	}
	show, _ := os.ReadFile("testdata/sshopenwrt/show.txt")
	secs, _ := parseUCIShow(show)
	committed, _ := uciForwards(secs)
	if !slices.Equal(live, committed) {
		t.Errorf("live:\n %v\ncommitted:\n %v", live, committed)
	}
	if _, err := parseFw4Redirects([]byte("nope")); err == nil {
		t.Error("took garbage")
	}
}
