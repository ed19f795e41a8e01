package schema

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
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
	v, ok := l.value(a, ctx, cty.List(cty.String), false)
	if !ok {
		return
	}
	var out []string
	valid := true
	for i, e := range v.AsValueSlice() {
		rng := elemRange(a.Expr, i)
		switch {
		case e.IsNull():
			l.add(errorAt(rng, "Invalid IP version", "ip_versions cannot hold null."))
			valid = false
		case !slices.Contains(ipVersionValues, e.AsString()):
			l.add(errorAt(rng, "Invalid IP version", "%q is not an IP version: use %s.%s",
				e.AsString(), quotedList(ipVersionValues), didYouMean(e.AsString(), ipVersionValues)))
			valid = false
		case slices.Contains(out, e.AsString()):
			l.add(errorAt(rng, "Duplicate IP version", "%q is listed twice in ip_versions; list each once.", e.AsString()))
			valid = false
		default:
			out = append(out, e.AsString())
		}
	}
	if valid && len(out) == 0 {
		l.add(errorAt(a.Expr.Range(), "No IP versions",
			"ip_versions = [] would reach the service over nothing. Leave ip_versions out for both, or list \"ipv4\", \"ipv6\" or both."))
		valid = false
	}
	if valid {
		s.IPVersions = out
	}
}
