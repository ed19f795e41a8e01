package schema

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a loaded, validated configuration: every network and every
// computer instance (for_each expanded), with auto ports resolved from the
// lock file once Allocate has run.
type Config struct {
	Networks  map[string]*Network
	Computers []*Computer // sorted by Address

	// Dir is the directory the configuration was read from; the lock file
	// lives there.
	Dir string
	// Files holds every parsed file, by name, for rendering diagnostics.
	Files map[string]*hcl.File
	// Backend is the backend block; nil without one (lock file and local
	// state files).
	Backend *Backend
}

// Network is a LAN behind one router.
type Network struct {
	Name          string
	ListenPorts   PortRange // pool for port = "auto"
	ReservedPorts []uint16  // never handed out by "auto"
	Router        Router
	// PublicAddress is how other networks reach this one: an IP address or
	// a DNS name; empty when not configured.
	PublicAddress string
	DeclRange     hcl.Range
}

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

// Contains reports whether p is in r.
func (r PortRange) Contains(p uint16) bool { return p >= r.First && p <= r.Last }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Via names a way of reaching a router: a protocol netplan42 speaks, or
// manual forwarding. These are the only names of router protocols in the
// program; the router package registers one driver per protocol, and code
// elsewhere decides on what a router view says it can do, not on its name.
type Via string

// Router protocols, in the order a config may list them.
const (
	ViaUPnP   Via = "upnp"
	ViaNATPMP Via = "natpmp"
	ViaPCP    Via = "pcp"
	ViaManual Via = "manual" // no protocol: print the forwarding steps
)

// Title names v for people: "UPnP IGD", "NAT-PMP".
func (v Via) Title() string {
	switch v {
	case ViaUPnP:
		return "UPnP IGD"
	case ViaNATPMP:
		return "NAT-PMP"
	case ViaPCP:
		return "PCP"
	case ViaSSH:
		return "SSH"
	}
	return string(v)
}

// Router says how the network's router is driven.
type Router struct {
	Protocols []Via         // tried in order; ViaManual prints forwarding steps
	Lease     time.Duration // lease asked of the router; 0 asks for a permanent mapping
	Gateway   netip.Addr    // zero: the default route's gateway
	SSH       *SSHRouter    // how to reach the router when Protocols has ViaSSH
}

// Firewall backend names.
const (
	FirewallIPTables = "iptables"
	FirewallNFTables = "nftables"
	FirewallPF       = "pf"
	FirewallWindows  = "windows"
	FirewallNone     = "none"
	FirewallAuto     = "auto"
)

// Computer is one machine of the fleet. A computer block with for_each
// yields one Computer per key.
type Computer struct {
	Label    string // the block label: computer "desk" → "desk"
	Key      string // the for_each key; meaningful only when HasKey
	HasKey   bool
	Network  string
	Hostname string // how a machine knows it is this computer
	// LANAddress is the computer's LAN address (address); zero when not
	// set. A router administered centrally forwards its ports there.
	LANAddress netip.Addr
	Firewall   string // one of the Firewall* names
	// FirewallProfiles are the Windows firewall profiles (domain,
	// private, public) our rules apply to; nil means all three.
	FirewallProfiles []string
	Services         []*Service

	DeclRange hcl.Range
}

// Name is the computer's name within the config: nas, or desk["alice"] for
// an instance of a for_each block.
func (c *Computer) Name() string {
	if c.HasKey {
		return fmt.Sprintf("%s[%q]", c.Label, c.Key)
	}
	return c.Label
}

// Address is the computer's address as used in messages and on the command
// line: computer.nas, computer.desk["alice"].
func (c *Computer) Address() string { return "computer." + c.Name() }

// Tag is the computer's name as written into router mapping descriptions and
// firewall comments: nas, desk[alice]. It avoids quotes, which some routers
// and comment parsers mangle.
func (c *Computer) Tag() string {
	if c.HasKey {
		return c.Label + "[" + c.Key + "]"
	}
	return c.Label
}

// Service protocol and exposure values.
const (
	TCP  = "tcp"
	UDP  = "udp"
	Both = "both"

	ExposeInternet  = "internet" // router mapping + firewall rule
	ExposeLAN       = "lan"      // firewall rule for the local networks only
	ExposeLocalhost = "localhost"
)

// Service is something listening on a computer.
type Service struct {
	Name     string
	Port     uint16 // the listen port; for Auto, the assigned port (0 until Allocate)
	Auto     bool   // port = "auto"
	Protocol string // TCP, UDP or Both
	Expose   string // one of the Expose* values
	// ExternalPort is the port on the router; 0 means the same as Port.
	ExternalPort uint16
	// AllowFrom restricts the sources the firewall admits; nil admits any.
	AllowFrom []netip.Prefix
	// IPVersions are how the internet reaches the service: IPv4 (a router
	// mapping), IPv6 (a pinhole), or both, which nil means.
	IPVersions []string
	// AppConfigs are the files of the service's program kept in step with
	// its ports.
	AppConfigs []*AppConfig

	// Where the service is declared and its ports are set, for
	// diagnostics: see DeclRange, PortRange and ExternalPortRange.
	ranges serviceRanges
}

// serviceRanges are a service's source ranges, kept small: one file name
// for the three, positions in 32 bits. A fleet holds hundreds of
// thousands of services, and three hcl.Ranges were more than half of each.
type serviceRanges struct {
	file            string
	decl, port, ext [2]pos32
}

type pos32 struct{ line, col, byte int32 }

func toPos32(p hcl.Pos) pos32 { return pos32{int32(p.Line), int32(p.Column), int32(p.Byte)} }

func (p pos32) pos() hcl.Pos {
	return hcl.Pos{Line: int(p.line), Column: int(p.col), Byte: int(p.byte)}
}

func (r *serviceRanges) get(ps [2]pos32) hcl.Range {
	if ps == ([2]pos32{}) {
		return hcl.Range{}
	}
	return hcl.Range{Filename: r.file, Start: ps[0].pos(), End: ps[1].pos()}
}

func (r *serviceRanges) set(ps *[2]pos32, rng hcl.Range) {
	r.file = rng.Filename
	*ps = [2]pos32{toPos32(rng.Start), toPos32(rng.End)}
}

// DeclRange is where the service block is declared.
func (s *Service) DeclRange() hcl.Range { return s.ranges.get(s.ranges.decl) }

// PortRange is where port is set, or the block when it is not.
func (s *Service) PortRange() hcl.Range { return s.ranges.get(s.ranges.port) }

// ExternalPortRange is where external_port is set; zero when it is not.
func (s *Service) ExternalPortRange() hcl.Range { return s.ranges.get(s.ranges.ext) }

// Protocols returns the service's protocols, "both" expanded.
func (s *Service) Protocols() []string {
	if s.Protocol == Both {
		return []string{TCP, UDP}
	}
	return []string{s.Protocol}
}

// External returns the router-side port.
func (s *Service) External() uint16 {
	if s.ExternalPort != 0 {
		return s.ExternalPort
	}
	return s.Port
}

// Computer returns the computer whose Name or Address is name, or nil.
func (c *Config) Computer(name string) *Computer {
	name = strings.TrimPrefix(name, "computer.")
	for _, comp := range c.Computers {
		if comp.Name() == name || comp.Tag() == name {
			return comp
		}
	}
	return nil
}
