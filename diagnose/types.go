package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// FormatVersion is the version of the JSON status and check formats. Minor
// versions add fields; a major version change breaks readers.
const FormatVersion = "1.0"

// Severity grades a finding.
type Severity string

const (
	Error   Severity = "error"   // it stops connections
	Warning Severity = "warning" // it may stop connections, or will
	Info    Severity = "info"    // worth knowing
)

// Finding is one problem status found, with the evidence in Summary and
// what to do in Fix.
type Finding struct {
	Severity Severity `json:"severity"`
	// Subject is what it is about: "router", "firewall", "config",
	// "service.crashplan", or a resource address such as
	// router_mapping.crashplan["tcp"].
	Subject string `json:"subject"`
	Summary string `json:"summary"`
	Fix     string `json:"fix,omitempty"`
}

// Process is a process that holds a listening socket.
type Process struct {
	PID     int    `json:"pid"`
	Name    string `json:"name"`
	Command string `json:"command,omitempty"`
}

// Listener is a socket listening on this computer.
type Listener struct {
	Protocol planner.Protocol `json:"protocol"`
	Address  netip.AddrPort   `json:"address"`
	UID      uint32           `json:"uid"`
	User     string           `json:"user,omitempty"`
	// Processes hold the socket; empty when they could not be seen.
	Processes []Process `json:"processes"`
}

// Probe is one router protocol's answer to discovery.
type Probe struct {
	Protocol schema.Via `json:"protocol"` // upnp | natpmp | pcp
	Answered bool       `json:"answered"`
	// Detail says what answered: "UPnP IGD v2 (WANIPConnection:2) at
	// http://192.0.2.1:5000/rootDesc.xml", "NAT-PMP at 192.0.2.1:5351".
	Detail string `json:"detail,omitempty"`
	// Version and URL are the IGD's version ("v1", "v2") and description
	// URL, for UPnP.
	Version string `json:"version,omitempty"`
	URL     string `json:"url,omitempty"`
	// ExternalAddress is what this protocol reported.
	ExternalAddress netip.Addr `json:"external_address,omitzero"`
	// Error says why the protocol did not answer.
	Error string `json:"error,omitempty"`
}

// holder names who holds a router mapping, for people.
func holder(m planner.Mapping, computers []*schema.Computer) string {
	comp, svc, ok := planner.ParseTag(m.Description)
	if !ok {
		if m.Description == "" {
			return "not managed by netplan42, no description"
		}
		return "not managed by netplan42"
	}
	for _, c := range computers {
		if c.Tag() == comp {
			return "managed by netplan42 for " + c.Address() + " service " + quote(svc)
		}
	}
	return "managed by netplan42 for computer " + quote(comp) + ", not in this config"
}

// heldText says where a mapping leads and whose it is, for people:
// 192.0.2.11:4242 ("CrashPlan on desk", not managed by netplan42).
func heldText(m planner.Mapping, computers []*schema.Computer) string {
	to := netip.AddrPortFrom(m.InternalAddress, m.InternalPort).String()
	if m.Description == "" {
		return fmt.Sprintf("%s (%s)", to, holder(m, computers))
	}
	return fmt.Sprintf("%s (%s, %s)", to, quote(m.Description), holder(m, computers))
}

// mappingText is a mapping for people: TCP 4242 -> 192.0.2.10:4242 "desc".
func mappingText(m planner.Mapping) string {
	s := m.String()
	if m.Description != "" {
		s += " " + quote(m.Description)
	}
	if m.Disabled {
		s += " (disabled)"
	}
	return s
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func key(p planner.Protocol, port uint16) planner.MappingKey {
	return planner.MappingKey{Protocol: p, ExternalPort: port}
}

// exposed reports whether a service opens anything: a lan or internet
// service.
func exposed(s *schema.Service) bool {
	return s.Expose == schema.ExposeInternet || s.Expose == schema.ExposeLAN
}

// computerFlag is how a command line names a computer: --computer h1.
func computerFlag(c *schema.Computer) string {
	n := c.Name()
	if c.HasKey {
		return "'" + n + "'"
	}
	return n
}
