package firewall

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
)

func TestCheckRules(t *testing.T) {
	ok := crashplan
	for _, tc := range []struct {
		name string
		edit func(r *planner.Rule)
		want string
	}{
		{"ok", func(r *planner.Rule) {}, ""},
		{"protocol", func(r *planner.Rule) { r.Protocol = "icmp" }, "want tcp or udp"},
		{"port", func(r *planner.Rule) { r.Port = 0 }, "port 0"},
		{"untagged", func(r *planner.Rule) { r.Comment = "ssh" }, "not a netplan42 tag"},
		{"quote", func(r *planner.Rule) { r.Comment = `netplan42:a/b" -j DROP "` }, "not allowed"},
		{"newline", func(r *planner.Rule) { r.Comment = "netplan42:a/b\nCOMMIT" }, "not allowed"},
		{"no sources", func(r *planner.Rule) { r.Sources = nil }, "no sources"},
		{"long", func(r *planner.Rule) { r.Comment = "netplan42:a/" + strings.Repeat("b", 300) }, "at most 255"},
	} {
		r := ok
		tc.edit(&r)
		err := checkRules([]planner.Rule{r}, 255) // iptables' limit
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// expand and group are inverse: sources masked, deduplicated, grouped by
// (comment, protocol, port).
func TestExpandGroup(t *testing.T) {
	in := []planner.Rule{
		{Protocol: planner.TCP, Port: 4242, Comment: "netplan42:a/b", Sources: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("::/0")}},
		{Protocol: planner.UDP, Port: 4242, Comment: "netplan42:a/b", Sources: planner.AnySource},
	}
	es := expand(in)
	if len(es) != 4 {
		t.Fatalf("%d entries: %+v", len(es), es)
	}
	got := group(es)
	want := []planner.Rule{
		{Protocol: planner.TCP, Port: 4242, Comment: "netplan42:a/b", Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("::/0")}},
		in[1],
	}
	if !sameRules(got, want) {
		t.Errorf("group: %+v, want %+v", got, want)
	}
}

func TestLocalPrefixes(t *testing.T) {
	mk := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	got := localPrefixes([]net.Addr{mk("192.0.2.10/24"), mk("127.0.0.1/8"), mk("::1/128"), mk("2001:db8:1::10/64"),
		mk("192.0.2.11/24"), mk("fe80::1/64"), &net.IPAddr{IP: net.ParseIP("10.0.0.1")}})
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("fe80::/64")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("localPrefixes = %v, want %v", got, want)
	}
	if _, err := LocalPrefixes(); err != nil {
		t.Error(err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	none := func(string) (string, error) { return "", errors.New("not found") }
	fr := &fakeRun{out: map[string]string{}}
	if _, err := open(ctx, Config{Backend: "ipfw"}, fr.run, none, "linux"); !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("unknown backend: %v", err)
	}
	f, err := open(ctx, Config{Backend: "none"}, fr.run, none, "linux")
	if err != nil || f.Backend() != "none" {
		t.Fatalf("none: %v", err)
	}
	if v, err := f.Observe(ctx); err != nil || v.Backend != "none" || !v.Hooked {
		t.Errorf("none observe: %+v %v", v, err)
	}
	if err := f.Sync(ctx, []planner.Rule{crashplan}); err != nil {
		t.Errorf("none sync: %v", err)
	}
	if _, err := open(ctx, Config{Backend: "pf"}, fr.run, none, "darwin"); err == nil || !strings.Contains(err.Error(), "pfctl not found") {
		t.Errorf("pf without pfctl: %v", err)
	}
	pfctl := func(s string) (string, error) {
		if s == "pfctl" {
			return "/sbin/pfctl", nil
		}
		return "", errors.New("not found")
	}
	if f, err := open(ctx, Config{Backend: "auto"}, fr.run, pfctl, "freebsd"); err != nil || f.Backend() != "pf" {
		t.Errorf("auto on freebsd: %v", err)
	}
}
