package schema

import (
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// check runs the checks that span computers: networks exist, hostnames
// are unique, ports do not collide.
func (l *loader) check() {
	networks := slices.Sorted(maps.Keys(l.cfg.Networks))
	hosts := map[string]*computerDecl{}
	for _, d := range l.comps {
		c := d.c
		if c.Network != "" && l.cfg.Networks[c.Network] == nil {
			// Worded by label, not address, so that the instances of a
			// for_each block share one message.
			l.add(errorAt(d.networkRange, "Unknown network",
				"Computer %q is in network %q, which is not declared.%s Declare it with a network %q block, or correct the name.",
				c.Label, c.Network, didYouMean(c.Network, networks), c.Network))
		}
		// Host names are case-insensitive, as in DNS.
		h := strings.ToLower(c.Hostname)
		if prev := hosts[h]; prev != nil {
			l.add(errorAt(d.hostRange, "Duplicate hostname",
				"%s has hostname %q, as does %s (%s). A machine finds its computer by its hostname, so hostnames must be unique; set hostname on one of them.",
				c.Address(), c.Hostname, prev.c.Address(), position(prev.hostRange)))
		} else {
			hosts[h] = d
		}
	}
	l.checkPorts()
}

// portUse is a fixed port held by a service of a computer.
type portUse struct {
	d *computerDecl
	s *Service
}

// portKey is a port and protocol in a network; what a router maps.
type portKey struct {
	network string
	port    uint16
	proto   string
}

// checkPorts reports fixed ports that collide: twice on one computer,
// whatever the exposure, since a port binds once; and twice on one router,
// where the external ports of internet services meet. A "lan" or
// "localhost" service opens nothing on the router, so computers may share
// its port. Each service is reported at most once.
func (l *loader) checkPorts() {
	reported := map[*Service]bool{}
	external := map[portKey]portUse{}
	for _, d := range l.comps {
		c := d.c
		own := map[portKey]*Service{}
		for _, s := range c.Services {
			if s.Auto || s.Port == 0 {
				continue
			}
			for _, proto := range s.Protocols() {
				k := portKey{port: s.Port, proto: proto}
				if prev := own[k]; prev != nil {
					l.add(errorAt(s.PortRange(), "Duplicate listen port",
						"%s already has service %q on port %d/%s (%s); a port can be bound once on a computer. Pick another port, or port = \"auto\".",
						c.Address(), prev.Name, s.Port, proto, position(prev.PortRange())))
					reported[s] = true
					break
				}
				own[k] = s
			}
		}

		if l.cfg.Networks[c.Network] == nil {
			continue
		}
		for _, s := range c.Services {
			if s.Expose != ExposeInternet || s.External() == 0 || reported[s] {
				continue
			}
			for _, proto := range s.Protocols() {
				k := portKey{c.Network, s.External(), proto}
				prev, ok := external[k]
				if !ok {
					external[k] = portUse{d, s}
					continue
				}
				switch {
				case c.HasKey && prev.d.c.HasKey && prev.d.c.Label == c.Label && prev.s.DeclRange() == s.DeclRange():
					l.add(errorAt(externalRange(s), "Duplicate port in for_each",
						"Every instance of computer %q gets port %d/%s for service %q, and all are exposed to the internet from network %q, where a router maps a port to one computer. Use port = \"auto\", or a port taken from each.value.",
						c.Label, s.External(), proto, s.Name, c.Network))
				case s.ExternalPort == 0 && prev.s.ExternalPort == 0:
					l.add(errorAt(s.PortRange(), "Duplicate listen port",
						"Port %d/%s is already used by %s service %q (%s), and both are exposed to the internet from network %q. A router maps an external port to one computer, and a service's external port defaults to its listen port. Pick another port, port = \"auto\" to have a free one picked, or set external_port on one of them.",
						s.Port, proto, prev.d.c.Address(), prev.s.Name, position(prev.s.PortRange()), c.Network))
				default:
					l.add(errorAt(externalRange(s), "Duplicate external port",
						"External port %d/%s is already mapped to %s service %q (%s) in network %q; a router holds one mapping per external port. Pick another external_port.",
						s.External(), proto, prev.d.c.Address(), prev.s.Name, position(externalRange(prev.s)), c.Network))
				}
				reported[s] = true
				break
			}
		}
	}
}

// externalRange returns where s's external port comes from.
func externalRange(s *Service) hcl.Range {
	if s.ExternalPort != 0 {
		return s.ExternalPortRange()
	}
	return s.PortRange()
}
