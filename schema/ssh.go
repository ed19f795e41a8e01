package schema

import (
	"net/netip"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// ViaSSH is a router netplan42 administers over SSH: it writes the port
// forwards into the router's own firewall configuration (Router.SSH says
// how to reach it and which system it runs).
const ViaSSH Via = "ssh"

// SSHFlavor names the system of a router administered over SSH, which
// decides how its forwards are written.
type SSHFlavor string

// SSH router flavors.
const (
	// FlavorLinux is a plain Linux router with nftables: netplan42 owns
	// the table inet netplan42 on it.
	FlavorLinux SSHFlavor = "linux"
	// FlavorOpenWrt is OpenWrt with firewall4: netplan42 writes
	// config redirect sections with uci and reloads fw4.
	FlavorOpenWrt SSHFlavor = "openwrt"
)

// SSH router defaults.
const (
	DefaultSSHUser = "root"
	DefaultSSHPort = 22
)

var flavorValues = []string{string(FlavorLinux), string(FlavorOpenWrt)}

// SSHRouter says how to reach a router over SSH: the router block's ssh
// block. File names are as written; "~" is expanded where they are used.
type SSHRouter struct {
	Host string `json:"host"` // an IP address or a DNS name
	User string `json:"user"` // DefaultSSHUser when not set
	Port uint16 `json:"port"` // DefaultSSHPort when not set
	// IdentityFile is the private key to log in with; empty means the SSH
	// agent, then ~/.ssh/id_ed25519, id_ecdsa and id_rsa.
	IdentityFile string `json:"identity_file,omitempty"`
	// KnownHosts is the known_hosts file the router's host key must be
	// in; empty means ~/.ssh/known_hosts.
	KnownHosts string    `json:"known_hosts,omitempty"`
	Flavor     SSHFlavor `json:"flavor"`

	DeclRange hcl.Range `json:"-"`
}

var sshSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "host"},
		{Name: "user"},
		{Name: "port"},
		{Name: "identity_file"},
		{Name: "known_hosts"},
		{Name: "flavor"},
	},
}

// sshBlocks decodes the router block's ssh blocks into r and checks that
// they agree with its protocols. protocolsRange is where protocols is
// set, or the router block's range when it is not.
func (l *loader) sshBlocks(blocks []*hcl.Block, ctx *hcl.EvalContext, r *Router, protocolsRange hcl.Range) {
	for i, b := range blocks {
		if i > 0 {
			l.add(errorAt(b.DefRange, "Duplicate ssh block",
				"This router already has an ssh block at %s; a router is reached one way. Merge the two blocks.", position(blocks[0].DefRange)))
			continue
		}
		r.SSH = l.sshBlock(b, ctx)
	}
	uses := slices.Contains(r.Protocols, ViaSSH)
	switch {
	case len(blocks) > 0 && !uses:
		l.add(errorAt(blocks[0].DefRange, "SSH settings not used",
			"This router has an ssh block, but \"ssh\" is not in its protocols, so netplan42 never logs in to it. Set protocols = [\"ssh\"], or remove the ssh block."))
	case len(blocks) == 0 && uses:
		l.add(errorAt(protocolsRange, "Missing ssh block",
			"protocols lists \"ssh\", but the router has no ssh block saying how to reach it. Add one:\n\n  ssh {\n    host   = \"192.168.1.1\"\n    flavor = \"linux\"\n  }"))
	}
}

// sshBlock decodes one ssh block; nil when a mistake was reported.
func (l *loader) sshBlock(b *hcl.Block, ctx *hcl.EvalContext) *SSHRouter {
	s := &SSHRouter{User: DefaultSSHUser, Port: DefaultSSHPort, DeclRange: b.DefRange}
	content, diags := b.Body.Content(sshSchema)
	l.add(diags...)
	ok := !diags.HasErrors()

	if a := content.Attributes["host"]; a == nil {
		l.add(errorAt(b.DefRange, "Missing host",
			"The ssh block needs host: the router's address as this machine reaches it, like host = \"192.168.1.1\"."))
		ok = false
	} else if v, good := l.value(a, ctx, cty.String, true); !good {
		ok = false
	} else if h := v.AsString(); !validSSHHost(h) {
		l.add(errorAt(a.Expr.Range(), "Invalid host",
			"host = %q is neither an IP address nor a DNS name. Write the router's address, like \"192.168.1.1\" or \"router.lan\".", h))
		ok = false
	} else {
		s.Host = h
	}

	if a := content.Attributes["user"]; a != nil {
		if v, good := l.value(a, ctx, cty.String, false); good {
			if u := v.AsString(); validSSHUser(u) {
				s.User = u
			} else {
				l.add(errorAt(a.Expr.Range(), "Invalid user",
					"user = %q cannot be a login name: use letters, digits, '.', '_' and '-', like \"root\".", u))
				ok = false
			}
		}
	}
	if a := content.Attributes["port"]; a != nil {
		if p, _, good := l.port(a, ctx, false); good {
			s.Port = p
		} else {
			ok = false
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"identity_file", &s.IdentityFile}, {"known_hosts", &s.KnownHosts}} {
		if a := content.Attributes[f.name]; a != nil {
			if v, good := l.value(a, ctx, cty.String, false); good {
				if p := v.AsString(); p == "" {
					l.add(errorAt(a.Expr.Range(), "Invalid "+f.name,
						"%s is empty. Write a file name, or leave %s out for the default.", f.name, f.name))
					ok = false
				} else {
					*f.dst = p
				}
			}
		}
	}
	if a := content.Attributes["flavor"]; a == nil {
		l.add(errorAt(b.DefRange, "Missing flavor",
			"The ssh block needs flavor: the router's system, %s. netplan42 writes forwards differently on each.", quotedList(flavorValues)))
		ok = false
	} else if f, good := l.enum(a, ctx, "Invalid flavor", flavorValues); good {
		s.Flavor = SSHFlavor(f)
	} else {
		ok = false
	}
	if !ok {
		return nil
	}
	return s
}

// validSSHHost reports whether h can be an SSH router's host.
func validSSHHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == "" && !a.IsUnspecified() && !a.IsMulticast()
	}
	return validDNSName(h)
}

// validSSHUser reports whether u can be a login name on a router.
func validSSHUser(u string) bool {
	if u == "" || len(u) > 32 || u[0] == '-' {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// lanAddress decodes a computer's address: the LAN address the router
// forwards its ports to, needed when another machine applies them.
func (l *loader) lanAddress(a *hcl.Attribute, ctx *hcl.EvalContext, c *Computer) {
	if a == nil {
		return
	}
	v, ok := l.value(a, ctx, cty.String, false)
	if !ok {
		return
	}
	s := v.AsString()
	ip, err := netip.ParseAddr(s)
	switch {
	case err != nil || ip.Zone() != "":
		l.add(errorAt(a.Expr.Range(), "Invalid address",
			"address = %q is not an IP address. Write the computer's LAN address, like \"192.168.1.10\".", s))
	case !ip.Unmap().Is4():
		l.add(errorAt(a.Expr.Range(), "Invalid address",
			"address = %q is not an IPv4 address; routers forward IPv4 ports to a LAN address like \"192.168.1.10\".", s))
	case ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback():
		l.add(errorAt(a.Expr.Range(), "Invalid address",
			"address = %q cannot be a computer's LAN address. Write the address it has on the network, like \"192.168.1.10\".", s))
	default:
		c.LANAddress = ip.Unmap()
	}
}
