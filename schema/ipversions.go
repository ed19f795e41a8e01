package schema

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// IP versions a service may be reached over (ip_versions).
const (
	IPv4 = "ipv4"
	IPv6 = "ipv6"
)

var ipVersionValues = []string{IPv4, IPv6}

// WantsIPv4 reports whether the service is reached over IPv4: its
// internet exposure is a NAT mapping on the router.
func (s *Service) WantsIPv4() bool { return s.IPVersions == nil || slices.Contains(s.IPVersions, IPv4) }

// WantsIPv6 reports whether the service is reached over IPv6: its
// internet exposure is a pinhole for this computer's global address.
func (s *Service) WantsIPv6() bool { return s.IPVersions == nil || slices.Contains(s.IPVersions, IPv6) }

// ipVersions decodes ip_versions into s.IPVersions.
func (l *loader) ipVersions(a *hcl.Attribute, ctx *hcl.EvalContext, s *Service) {
	if out, ok := l.enumList(a, ctx, enumList{what: "IP version", values: ipVersionValues,
		empty: "ip_versions = [] would reach the service over nothing. Leave ip_versions out for both, or list \"ipv4\", \"ipv6\" or both."}); ok {
		s.IPVersions = out
	}
}
