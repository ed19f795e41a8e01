package planner

import (
	"errors"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Protocol is a transport protocol: "tcp" or "udp".
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Upper returns the protocol as routers spell it: TCP, UDP.
func (p Protocol) Upper() string { return strings.ToUpper(string(p)) }

// Kind is the kind of a managed resource.
type Kind string

const (
	KindMapping Kind = "router_mapping"
	KindRule    Kind = "firewall_rule"
)

// TagPrefix starts the description of every router mapping and the comment
// of every firewall rule netplan42 makes; the rest names computer/service.
const TagPrefix = "netplan42:"

// Tag returns the ownership tag for a computer's service:
// "netplan42:nas/crashplan".
func Tag(computerTag, service string) string {
	return TagPrefix + computerTag + "/" + service
}

// ParseTag splits an ownership tag; ok is false for anything netplan42 did
// not write.
func ParseTag(s string) (computerTag, service string, ok bool) {
	rest, found := strings.CutPrefix(s, TagPrefix)
	if !found {
		return "", "", false
	}
	computerTag, service, ok = strings.Cut(rest, "/")
	if !ok || computerTag == "" || service == "" {
		return "", "", false
	}
	return computerTag, service, true
}

// MappingKey identifies a port mapping by its router side. A router holds at
// most one mapping per key.
type MappingKey struct {
	Protocol     Protocol
	ExternalPort uint16
}

func (k MappingKey) String() string { return fmt.Sprintf("%d/%s", k.ExternalPort, k.Protocol) }

// Mapping is a port mapping on a router, ours or foreign. In a snapshot,
// LeaseSeconds is what remains; in a desired mapping it is what we ask for;
// 0 means permanent.
type Mapping struct {
	Protocol        Protocol   `json:"protocol"`
	ExternalPort    uint16     `json:"external_port"`
	InternalAddress netip.Addr `json:"internal_address"`
	InternalPort    uint16     `json:"internal_port"`
	Description     string     `json:"description"`
	LeaseSeconds    uint32     `json:"lease_seconds"`
	// RemoteHost is the UPnP remote host filter; empty means any.
	RemoteHost string `json:"remote_host,omitempty"`
	// Disabled is set for UPnP entries listed with NewEnabled=0.
	Disabled bool `json:"disabled,omitempty"`
	// Nonce is the PCP mapping nonce (hex) the mapping was made with: the
	// router refuses a delete with another, so state keeps it and a
	// renewal reuses it. Empty for other protocols.
	Nonce string `json:"nonce,omitempty"`
}

// Key returns the mapping's router-side key.
func (m Mapping) Key() MappingKey { return MappingKey{m.Protocol, m.ExternalPort} }

func (m Mapping) String() string {
	return fmt.Sprintf("%s %d -> %s:%d", m.Protocol.Upper(), m.ExternalPort, m.InternalAddress, m.InternalPort)
}

// Rule is a host firewall allow rule: inbound Protocol to Port from any of
// Sources. Comment carries the ownership tag.
type Rule struct {
	Protocol Protocol       `json:"protocol"`
	Port     uint16         `json:"port"`
	Sources  []netip.Prefix `json:"sources"`
	Comment  string         `json:"comment"`
}

// Equal reports whether two rules admit the same traffic and carry the same
// tag; source order does not matter.
func (r Rule) Equal(o Rule) bool {
	if r.Protocol != o.Protocol || r.Port != o.Port || r.Comment != o.Comment || len(r.Sources) != len(o.Sources) {
		return false
	}
	a, b := slices.Clone(r.Sources), slices.Clone(o.Sources)
	sortPrefixes(a)
	sortPrefixes(b)
	return slices.Equal(a, b)
}

func sortPrefixes(p []netip.Prefix) {
	slices.SortFunc(p, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
}

// AnySource is the sources of a rule open to everyone.
var AnySource = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// RouterView is what the router holds, as one observation saw it.
type RouterView struct {
	// Protocol is the protocol that answered (schema.ViaUPnP, schema.ViaNATPMP), schema.ViaManual
	// when the config asks for manual forwarding or nothing answered, or ""
	// when the router was not observed (--refresh=false, plan --all).
	Protocol schema.Via `json:"protocol"`
	// Detail says what answered, for people: "UPnP IGD v2 at http://...".
	Detail string `json:"detail,omitempty"`
	// Device is what the router said of itself, when its protocol says.
	Device Device `json:"device,omitzero"`
	// Can says what the protocol in use can tell and do. Decisions go by
	// it, never by Protocol's name.
	Can Capabilities `json:"can"`

	Gateway         netip.Addr `json:"gateway"`
	InternalAddress netip.Addr `json:"internal_address"` // this host's address towards the gateway
	// InternalAddress6 is this host's global IPv6 address, the one a
	// pinhole opens; invalid when it has none.
	InternalAddress6 netip.Addr `json:"internal_address6,omitzero"`
	ExternalAddress  netip.Addr `json:"external_address"`

	// Listed reports whether Mappings is the router's whole table. When
	// false, Mappings holds only the keys the driver was asked about.
	Listed   bool      `json:"listed"`
	Mappings []Mapping `json:"mappings"`
	// NoPinholes says why Can.Pinholes is false: the protocol opens
	// none, this host has no global IPv6 address, the router did not
	// answer over IPv6.
	NoPinholes string `json:"no_pinholes,omitempty"`
	// Pinholes are the pinholes state remembers that the router showed
	// when read back (Can.ReadsPinholes), as it holds them.
	Pinholes []Pinhole `json:"pinholes,omitempty"`
	// Unknown are keys the driver asked the router about without getting
	// an answer (a SOAP fault such as 606, 501 or 500 on the lookup): what
	// the router holds there is not known. A key in Unknown is never taken
	// as absent.
	Unknown []UnknownKey `json:"unknown,omitempty"`

	// Epoch is NAT-PMP's "seconds since start of epoch"; it goes backwards
	// when the router restarts.
	Epoch    uint32 `json:"epoch,omitempty"`
	HasEpoch bool   `json:"has_epoch,omitempty"`
	// Identity changes when the router restarts or is replaced: the IGD's
	// description URL and BOOTID.
	Identity string `json:"identity,omitempty"`

	// Notes are facts worth telling the user: fallbacks taken, limits.
	Notes []string `json:"notes,omitempty"`
}

// Capabilities are what a router protocol can tell and do.
type Capabilities struct {
	// ReadsEntries reports whether the router's entries can be read: a
	// key the observation does not show is absent (UPnP). Otherwise
	// only state knows what is ours (NAT-PMP).
	ReadsEntries bool `json:"reads_entries"`
	// Describes reports whether a mapping keeps netplan42's description
	// on the router, so that a listing shows whose it is.
	Describes bool `json:"describes"`
	// Pinholes reports whether the router opens IPv6 pinholes for this
	// host (PCP over IPv6, UPnP WANIPv6FirewallControl).
	Pinholes bool `json:"pinholes,omitempty"`
	// ReadsPinholes reports whether a pinhole can be read back by its ID:
	// one state remembers and RouterView.Pinholes lacks is gone.
	ReadsPinholes bool `json:"reads_pinholes,omitempty"`
}

// Device is what a router said of itself.
type Device struct {
	Version string `json:"version,omitempty"` // of the device type: "v2" for InternetGatewayDevice:2
	Service string `json:"service,omitempty"` // "WANIPConnection:2"
	URL     string `json:"url,omitempty"`     // its description URL
}

// UnknownKey is a router key whose entry could not be read, and why.
type UnknownKey struct {
	Key MappingKey `json:"key"`
	Why string     `json:"why"`
}

// FirewallView is what the host firewall holds of ours, and what around it
// matters.
type FirewallView struct {
	// Backend names the backend: "iptables (nf_tables)", "nftables", "pf",
	// "none"; empty when not observed.
	Backend string `json:"backend"`
	// Kind is the backend as a config names it (iptables, nftables, pf,
	// none); state records it with each rule.
	Kind string `json:"kind,omitempty"`
	// Rules are the rules found in netplan42's own chain, table or anchor.
	Rules []Rule `json:"rules"`
	// Hooked reports whether our rules are reached: the jump from the input
	// chain(s), or the anchor reference, is in place.
	Hooked bool `json:"hooked"`
	// LocalPrefixes are the prefixes of this host's interfaces, the sources
	// of an expose = "lan" rule.
	LocalPrefixes []netip.Prefix `json:"local_prefixes,omitempty"`
	// Warnings name foreign rules that decide our traffic before our rules
	// do, firewall managers that own a table, and the like.
	Warnings []string `json:"warnings,omitempty"`
}

// Observed is one observation of the world a plan is made against.
type Observed struct {
	At       time.Time    `json:"at"`
	Router   RouterView   `json:"router"`
	Firewall FirewallView `json:"firewall"`
	// Refreshed is false when the plan was made from state alone.
	Refreshed bool `json:"refreshed"`
	// Files are the app_config files as read, also without a refresh:
	// they are local.
	Files []FileView `json:"files,omitempty"`
}

// Managed is what state remembers of one resource netplan42 made.
type Managed struct {
	Address string   `json:"address"`
	Kind    Kind     `json:"kind"`
	Mapping *Mapping `json:"mapping,omitempty"` // as granted: LeaseSeconds is the granted lease
	Rule    *Rule    `json:"rule,omitempty"`
	// AppConfig is the file as netplan42 last wrote or found it.
	AppConfig *AppConfig `json:"app_config,omitempty"`
	Pinhole   *Pinhole   `json:"pinhole,omitempty"` // as granted

	// Via is the driver that made the resource: the router protocol of a
	// mapping, the firewall backend (iptables, nftables, pf) of a rule.
	Via string `json:"via,omitempty"`
	// Requested is the external port asked for when the router granted
	// another (NAT-PMP may): the config is compared with what was asked.
	Requested uint16    `json:"requested_external_port,omitempty"`
	Expires   time.Time `json:"expires,omitzero"` // zero for permanent mappings and rules
	// PermanentOnly records that the router refused a finite lease (UPnP
	// 725 or 402) and the mapping was made permanent instead.
	PermanentOnly bool `json:"permanent_only,omitempty"`
	// Undescribed records that the protocol that made the mapping keeps
	// no description (NAT-PMP, PCP): a listing shows it without our tag.
	Undescribed bool `json:"undescribed,omitempty"`
}

// Prior is the part of state the planner reads.
type Prior struct {
	Resources []Managed  `json:"resources"`
	Router    RouterMemo `json:"router"`
}

// RouterMemo is what state remembers of the router, to recognise a restart.
type RouterMemo struct {
	Protocol schema.Via `json:"protocol,omitempty"`
	Epoch    uint32     `json:"epoch,omitempty"`
	EpochAt  time.Time  `json:"epoch_at,omitzero"`
	Identity string     `json:"identity,omitempty"`
	External netip.Addr `json:"external_address,omitzero"`
}

// Lookup returns the managed resource at address.
func (p *Prior) Lookup(address string) (Managed, bool) {
	for _, m := range p.Resources {
		if m.Address == address {
			return m, true
		}
	}
	return Managed{}, false
}

// Grant is what a router granted for a requested mapping; routers may give
// a different external port or a shorter lease than asked.
type Grant struct {
	Mapping Mapping // LeaseSeconds is the granted lease; 0 is permanent
	// PermanentOnly is set when the router refused a finite lease (UPnP 725
	// OnlyPermanentLeasesSupported, or 402 on the lease) and the mapping was
	// made with lease 0 instead.
	PermanentOnly bool
	// Epoch is the NAT-PMP epoch of the answer, when HasEpoch.
	Epoch    uint32
	HasEpoch bool
	// Undescribed is set when the protocol keeps no description of the
	// mapping on the router (Managed.Undescribed).
	Undescribed bool
	// Note says something the user should hear: "router allows only
	// permanent mappings; made it permanent".
	Note string
	// Unverified, when set, is why the router's answer could not be
	// checked against what it holds: it accepted the mapping, but reading
	// it back failed with this error.
	Unverified error
}

// ErrNoAnswer is what a driver's error wraps when the router did not
// answer in time. Apply then stops asking it: the rest of the plan's
// router changes fail at once instead of each waiting its own timeout.
var ErrNoAnswer = errors.New("router did not answer in time")

// ErrNotOurs is what a driver returns when asked to delete a mapping that
// the router now holds for someone else (or holds no more): it deletes
// nothing, and apply forgets the mapping instead of failing.
var ErrNotOurs = errors.New("the router holds this port for someone else now")
