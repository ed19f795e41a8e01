package schema

import (
	"github.com/hashicorp/hcl/v2"
)

// firewallProfileValues are the Windows Defender Firewall profiles.
var firewallProfileValues = []string{"domain", "private", "public"}

// firewallProfiles decodes firewall_profiles into c.FirewallProfiles.
func (l *loader) firewallProfiles(a *hcl.Attribute, ctx *hcl.EvalContext, c *Computer) {
	out, ok := l.enumList(a, ctx, enumList{what: "firewall profile", a: "a Windows firewall profile", values: firewallProfileValues,
		empty: "firewall_profiles = [] would make rules that apply on no network. Leave it out for all three, or list \"domain\", \"private\" or \"public\"."})
	if !ok {
		return
	}
	if c.Firewall != FirewallWindows && c.Firewall != FirewallAuto {
		l.add(warningAt(a.NameRange, "Setting has no effect",
			"firewall_profiles is for the Windows firewall, and %s uses firewall = %q. Remove it, or use \"windows\" or \"auto\".", c.Address(), c.Firewall))
	}
	c.FirewallProfiles = out
}
