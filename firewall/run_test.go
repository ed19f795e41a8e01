package firewall

import (
	"io/fs"
	"testing"
)

// TestNoLegacyTables: a legacy save tool is skipped only when its tables
// file is missing or empty, as the tool itself then prints nothing.
func TestNoLegacyTables(t *testing.T) {
	file := func(b string, err error) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte(b), err }
	}
	for _, tc := range []struct {
		name     string
		tool     string
		readFile func(string) ([]byte, error)
		want     bool
	}{
		{"empty", "iptables-legacy-save", file("", nil), true},
		{"blank", "ip6tables-legacy-save", file("\n", nil), true},
		{"not loaded", "iptables-legacy-save", file("", fs.ErrNotExist), true},
		{"a table", "iptables-legacy-save", file("filter\n", nil), false},
		{"refused", "iptables-legacy-save", file("", fs.ErrPermission), false},
		{"nf_tables tool", "iptables-nft-save", file("", nil), false},
		{"unknown variant", "iptables-save", file("", nil), false},
	} {
		if got := noLegacyTables(tc.readFile, tc.tool); got != tc.want {
			t.Errorf("%s: noLegacyTables(%s) = %v, want %v", tc.name, tc.tool, got, tc.want)
		}
	}
	var asked string
	noLegacyTables(func(name string) ([]byte, error) { asked = name; return nil, nil }, "ip6tables-legacy-save")
	if asked != "/proc/net/ip6_tables_names" {
		t.Errorf("ip6tables-legacy-save read %q", asked)
	}
}
