package schema

import (
	"slices"
	"testing"
)

func TestIPVersions(t *testing.T) {
	cfg := load(t, `
network "home" {}
computer "nas" {
  network = "home"
  service "both" {
    port = 4242
  }
  service "six" {
    port        = 4243
    expose      = "internet"
    ip_versions = ["ipv6"]
  }
  service "four" {
    port        = 4244
    expose      = "internet"
    ip_versions = ["ipv4"]
  }
}
`, Options{})
	s := cfg.Computers[0].Services
	for _, tc := range []struct {
		i        int
		v4, v6   bool
		versions []string
	}{{0, true, true, nil}, {1, false, true, []string{IPv6}}, {2, true, false, []string{IPv4}}} {
		if got := s[tc.i]; got.WantsIPv4() != tc.v4 || got.WantsIPv6() != tc.v6 || !slices.Equal(got.IPVersions, tc.versions) {
			t.Errorf("%s: ipv4 %v ipv6 %v versions %q", got.Name, got.WantsIPv4(), got.WantsIPv6(), got.IPVersions)
		}
	}
}
