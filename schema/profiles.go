package schema

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// firewallProfileValues are the Windows Defender Firewall profiles.
var firewallProfileValues = []string{"domain", "private", "public"}

// firewallProfiles decodes firewall_profiles into c.FirewallProfiles.
func (l *loader) firewallProfiles(a *hcl.Attribute, ctx *hcl.EvalContext, c *Computer) {
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
			l.add(errorAt(rng, "Invalid firewall profile", "firewall_profiles cannot hold null."))
			valid = false
		case !slices.Contains(firewallProfileValues, e.AsString()):
			l.add(errorAt(rng, "Invalid firewall profile", "%q is not a Windows firewall profile: use %s.%s",
				e.AsString(), quotedList(firewallProfileValues), didYouMean(e.AsString(), firewallProfileValues)))
			valid = false
		case slices.Contains(out, e.AsString()):
			l.add(errorAt(rng, "Duplicate firewall profile", "%q is listed twice in firewall_profiles; list each once.", e.AsString()))
			valid = false
		default:
			out = append(out, e.AsString())
		}
	}
	if valid && len(out) == 0 {
		l.add(errorAt(a.Expr.Range(), "No firewall profiles",
			"firewall_profiles = [] would make rules that apply on no network. Leave it out for all three, or list \"domain\", \"private\" or \"public\"."))
		valid = false
	}
	if valid && c.Firewall != FirewallWindows && c.Firewall != FirewallAuto {
		l.add(warningAt(a.NameRange, "Setting has no effect",
			"firewall_profiles is for the Windows firewall, and %s uses firewall = %q. Remove it, or use \"windows\" or \"auto\".", c.Address(), c.Firewall))
	}
	if valid {
		c.FirewallProfiles = out
	}
}
