package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// StatusInput is everything status saw, gathered by the caller. Zero
// values mean "not seen"; the *Error fields say why.
type StatusInput struct {
	Computer  *schema.Computer // ports allocated
	Network   *schema.Network
	Computers []*schema.Computer // the whole config's, to name mapping holders
	Now       time.Time
	// Root reports whether status ran with the privileges to see
	// everything (root, or CAP_NET_ADMIN and CAP_SYS_PTRACE).
	Root bool
	// PendingAssignments counts auto ports not yet in the lock file: the
	// ports shown are those the next plan would record.
	PendingAssignments int

	// Probes are the router protocols tried, in the config's order.
	Probes []Probe
	// Router is the observation through the protocol netplan42 drives
	// (the first that answered), or the manual view when none did; nil
	// when discovery failed.
	Router      *planner.RouterView
	RouterError string

	// Firewall is the observed firewall; nil when it could not be read.
	Firewall      *planner.FirewallView
	FirewallError string
	// FirewallNeedsRoot is set when the firewall could not be read for
	// want of privilege.
	FirewallNeedsRoot bool

	// Listeners are this computer's listening sockets. ListenersError
	// says why there are none to show (an unsupported system).
	Listeners      []Listener
	ListenersError string
	// HiddenProcesses counts processes whose sockets could not be
	// attributed (other users', without root).
	HiddenProcesses int

	// Prior is the state: what netplan42 made here, read from StatePath
	// and, on a network whose router netplan42 administers over SSH,
	// NetworkStatePath (the network's state, which holds this computer's
	// router forwards). Nil when there is no state yet, or it could not
	// be read (StateError).
	Prior            *planner.Prior
	StatePath        string
	NetworkStatePath string
	StateError       string

	// PublicAddresses are the network's public_address resolved (itself
	// when it is an IP); PublicAddressError says why there are none.
	PublicAddresses    []netip.Addr
	PublicAddressError string
}

// StatusReport is what status shows, and its JSON format.
type StatusReport struct {
	FormatVersion string `json:"format_version"`
	Computer      string `json:"computer"` // computer.nas
	Network       string `json:"network"`
	Root          bool   `json:"root"`
	// Limits say what could not be seen from here and why.
	Limits []string `json:"limits"`

	Host     HostStatus       `json:"host"`
	Router   RouterStatus     `json:"router"`
	Mappings []MappingStatus  `json:"mappings"`
	Pinholes []PinholeStatus  `json:"pinholes"`
	Foreign  []ForeignMapping `json:"foreign"`
	Firewall FirewallStatus   `json:"firewall"`
	Services []ServiceStatus  `json:"services"`
	Findings []Finding        `json:"findings"`
}

// HostStatus is this computer on its LAN.
type HostStatus struct {
	InternalAddress netip.Addr `json:"internal_address,omitzero"`
	// InternalAddress6 is this computer's global IPv6 address, when the
	// router opens pinholes for it.
	InternalAddress6 netip.Addr `json:"internal_address6,omitzero"`
	Gateway          netip.Addr `json:"gateway,omitzero"`
	// StatePath is the state file read; StateFound reports whether it
	// held a state.
	StatePath  string `json:"state_path,omitempty"`
	StateFound bool   `json:"state_found"`
	// NetworkStatePath is the network's state, which holds this
	// computer's router forwards on a network whose router netplan42
	// administers over SSH; empty elsewhere.
	NetworkStatePath string `json:"network_state_path,omitempty"`
}

// RouterStatus is the router as discovery found it.
type RouterStatus struct {
	// Protocol is the one netplan42 drives: upnp, natpmp, or manual.
	Protocol schema.Via `json:"protocol"`
	Detail   string     `json:"detail,omitempty"`
	Probes   []Probe    `json:"probes"`
	// ExternalAddress is the router's WAN address as it reports it;
	// ExternalClass says whether the internet can reach it: public,
	// shared (CGNAT), private (double NAT), reserved, unknown.
	ExternalAddress netip.Addr           `json:"external_address,omitzero"`
	ExternalClass   planner.AddressClass `json:"external_class"`
	// PublicAddress is the network's public_address from the config, and
	// what it resolves to.
	PublicAddress  string       `json:"public_address,omitempty"`
	PublicResolved []netip.Addr `json:"public_address_resolved,omitempty"`
	Listed         bool         `json:"listed"`
	Notes          []string     `json:"notes,omitempty"`
	Error          string       `json:"error,omitempty"`
}

// Mapping states.
const (
	MappingPresent = "present" // ours, to this computer's address and port
	MappingMissing = "missing" // the router says there is none
	MappingStale   = "stale"   // ours, but to another address or port
	MappingHeld    = "held"    // someone else's mapping holds the port
	MappingUnknown = "unknown" // the router cannot say (NAT-PMP, manual, not observed)
)

// MappingStatus is one router mapping the config asks for.
type MappingStatus struct {
	Address      string           `json:"address"` // router_mapping.crashplan["tcp"]
	Service      string           `json:"service"`
	Protocol     planner.Protocol `json:"protocol"`
	ExternalPort uint16           `json:"external_port"`
	InternalPort uint16           `json:"internal_port"`
	State        string           `json:"state"`
	// Mapping is what holds the key: on the router (Source "router"), or
	// as state remembers it (Source "state") when the router cannot list.
	Mapping *planner.Mapping `json:"mapping,omitempty"`
	Source  string           `json:"source,omitempty"`
	// LeaseRemainingSeconds is what is left of the lease; Permanent is
	// set for mappings without one. Both are absent when unknown.
	LeaseRemainingSeconds *int64 `json:"lease_remaining_seconds,omitempty"`
	Permanent             bool   `json:"permanent,omitempty"`
}

// ForeignMapping is a mapping netplan42 does not manage for this computer
// that touches its ports.
type ForeignMapping struct {
	Mapping planner.Mapping `json:"mapping"`
	Holder  string          `json:"holder"`
	Why     string          `json:"why"`
}

// FirewallStatus is the host firewall as observed.
type FirewallStatus struct {
	Backend  string         `json:"backend"`
	Readable bool           `json:"readable"`
	Error    string         `json:"error,omitempty"`
	Hooked   bool           `json:"hooked"`
	Rules    []planner.Rule `json:"rules"`
	Warnings []string       `json:"warnings"`
}

// Listening and firewall-rule states of a service.
const (
	Yes        = "yes"
	No         = "no"
	Unknown    = "unknown"
	Present    = "present"
	Missing    = "missing"
	Differs    = "differs"     // there, but not as the config says
	NotReached = "not-reached" // there, but the jump to netplan42's rules is missing
	NotManaged = "not-managed" // firewall = "none", or nothing to open
)

// ServiceStatus is one service and protocol of this computer.
type ServiceStatus struct {
	Service      string           `json:"service"`
	Protocol     planner.Protocol `json:"protocol"`
	Port         uint16           `json:"port"`
	ExternalPort uint16           `json:"external_port,omitempty"`
	Expose       string           `json:"expose"`
	Auto         bool             `json:"auto,omitempty"`
	// Listening is yes, no or unknown; Listeners are the sockets on Port.
	Listening string     `json:"listening"`
	Listeners []Listener `json:"listeners"`
	// FirewallRule is present, missing, differs, not-reached, not-managed
	// or unknown.
	FirewallRule string `json:"firewall_rule"`
	// Mapping is the state of its router mapping (internet services).
	Mapping string `json:"mapping,omitempty"`
}

// Status judges one computer from what it saw.
func Status(in StatusInput) *StatusReport {
	s := &status{in: in, r: &StatusReport{
		FormatVersion: FormatVersion,
		Computer:      in.Computer.Address(),
		Network:       in.Network.Name,
		Root:          in.Root,
		Limits:        []string{},
		Mappings:      []MappingStatus{},
		Pinholes:      []PinholeStatus{},
		Foreign:       []ForeignMapping{},
		Services:      []ServiceStatus{},
		Findings:      []Finding{},
	}}
	s.limits()
	s.router()
	s.mappings()
	s.pinholes()
	s.firewall()
	s.services()
	s.config()
	slices.SortStableFunc(s.r.Findings, func(a, b Finding) int { return cmp.Compare(rank(a.Severity), rank(b.Severity)) })
	return s.r
}

func rank(s Severity) int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

type status struct {
	in   StatusInput
	r    *StatusReport
	plan *planner.Plan // of the firewall rules, computed when first needed
}

func (s *status) find(sev Severity, subject, summary, fix string) {
	s.r.Findings = append(s.r.Findings, Finding{Severity: sev, Subject: subject, Summary: summary, Fix: fix})
}

func (s *status) name() string { return computerFlag(s.in.Computer) }

func (s *status) internetServices() bool {
	return slices.ContainsFunc(s.in.Computer.Services, func(sv *schema.Service) bool { return sv.Expose == schema.ExposeInternet })
}

func (s *status) limits() {
	in := s.in
	if in.FirewallNeedsRoot {
		s.r.Limits = append(s.r.Limits, "firewall: not readable without root (run as root for rule details)")
	}
	if in.ListenersError != "" {
		s.r.Limits = append(s.r.Limits, "listening sockets: "+in.ListenersError)
	}
	if in.HiddenProcesses > 0 {
		s.r.Limits = append(s.r.Limits, fmt.Sprintf("processes: %d other users' processes cannot be inspected without root; their sockets show without an owner", in.HiddenProcesses))
	}
	if in.StateError != "" {
		s.r.Limits = append(s.r.Limits, "state: "+in.StateError)
	}
	if in.PendingAssignments > 0 {
		s.r.Limits = append(s.r.Limits, fmt.Sprintf("%s: %d auto port assignment(s) not recorded yet; ports shown are what the next plan would assign (run netplan42 plan, commit the lock file)", schema.LockFileName, in.PendingAssignments))
	}
}

func (s *status) router() {
	in, r := s.in, &s.r.Router
	r.Probes = slices.Clone(in.Probes)
	if r.Probes == nil {
		r.Probes = []Probe{}
	}
	r.PublicAddress = in.Network.PublicAddress
	r.PublicResolved = in.PublicAddresses
	r.Error = in.RouterError
	s.r.Host.StatePath, s.r.Host.StateFound = in.StatePath, in.Prior != nil
	s.r.Host.NetworkStatePath = in.NetworkStatePath
	v := in.Router
	if v == nil {
		r.ExternalClass = planner.Unknown
		if in.RouterError != "" {
			s.find(Error, "router", "the router could not be observed: "+in.RouterError,
				"check that this computer's default gateway is its router; set gateway in the network's router block if it is not")
		}
		return
	}
	s.r.Host.InternalAddress, s.r.Host.Gateway = v.InternalAddress, v.Gateway
	r.Protocol, r.Detail, r.Listed = v.Protocol, v.Detail, v.Listed
	for _, n := range v.Notes {
		if n != noExternalNote { // said by ExternalClass
			r.Notes = append(r.Notes, n)
		}
	}
	r.ExternalAddress = v.ExternalAddress
	for _, p := range r.Probes {
		if !r.ExternalAddress.IsValid() && p.ExternalAddress.IsValid() {
			r.ExternalAddress = p.ExternalAddress
		}
	}
	class, why := planner.Classify(r.ExternalAddress)
	r.ExternalClass = class

	manualOnly := !slices.ContainsFunc(in.Network.Router.Protocols, func(p schema.Via) bool { return p != schema.ViaManual })
	if v.Protocol == schema.ViaManual {
		if manualOnly {
			s.find(Info, "router", fmt.Sprintf("network %q's router is set up by hand (protocols = [\"manual\"]): netplan42 cannot read its port forwards", in.Network.Name),
				"netplan42 plan lists the forwards to set up on the router")
			return
		}
		var tried []string
		for _, p := range in.Probes {
			if !p.Answered && p.Error != "" {
				tried = append(tried, string(p.Protocol)+": "+p.Error)
			}
		}
		why := ""
		if len(tried) > 0 {
			why = " (" + strings.Join(tried, "; ") + ")"
		}
		sev := Warning
		if s.internetServices() {
			sev = Error
		}
		s.find(sev, "router", fmt.Sprintf("no router protocol answered at %s%s: netplan42 cannot map ports", addrText(v.Gateway), why),
			"turn on UPnP IGD or NAT-PMP in the router's settings; or forward the ports by hand (netplan42 plan lists them) and set protocols = [\"manual\"] in network "+quote(in.Network.Name))
		return
	}
	sev := Info
	if s.internetServices() {
		sev = Error
	}
	switch class {
	case planner.Public:
	case planner.Unknown:
		s.find(sev, "router", "double NAT: the router answers but reports no usable external address, so its WAN side has no public address: it sits behind carrier-grade NAT (the ISP's NAT, 100.64.0.0/10) or behind another router; mappings on this router cannot be reached from the internet",
			"ask the ISP for a public IPv4 address (or use IPv6); behind your own second router, forward the same ports there to this router, or put one of them in bridge mode")
	case planner.Shared:
		s.find(sev, "router", "double NAT (carrier-grade NAT): "+why,
			"ask the ISP for a public IPv4 address (many give one on request), or use IPv6")
	case planner.Private:
		s.find(sev, "router", "double NAT: "+why,
			"on the upstream router, forward the same ports to this router's WAN address, or put one of the two routers in bridge mode")
	default:
		s.find(sev, "router", why, "")
	}
}

// noExternalNote is the router driver's note for a router without an
// external address.
const noExternalNote = "router reports no external address"

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "the gateway"
	}
	return a.String()
}

// ourTag reports whether m carries this computer's tag.
func (s *status) ourTag(m planner.Mapping) (service string, ok bool) {
	comp, svc, ok := planner.ParseTag(m.Description)
	return svc, ok && comp == s.in.Computer.Tag()
}

func (s *status) mappings() {
	in := s.in
	v := in.Router
	knows := v != nil && v.Can.ReadsEntries // absent means absent
	onRouter := map[planner.MappingKey]planner.Mapping{}
	if v != nil {
		for _, m := range v.Mappings {
			onRouter[m.Key()] = m
		}
	}
	prior := map[string]planner.Managed{}
	if in.Prior != nil {
		for _, m := range in.Prior.Resources {
			prior[m.Address] = m
		}
	}
	ourAddr := netip.Addr{}
	if v != nil {
		ourAddr = v.InternalAddress
	}
	unknown := map[planner.MappingKey]string{} // lookups the router failed: not absent
	if v != nil {
		for _, u := range v.Unknown {
			unknown[u.Key] = u.Why
		}
	}
	// madeThere: state says netplan42 made m's key to m's address and
	// port; a tag alone is not proof (any host can write one).
	madeThere := func(m planner.Mapping) bool {
		return in.Prior != nil && slices.ContainsFunc(in.Prior.Resources, func(r planner.Managed) bool {
			return r.Mapping != nil && r.Mapping.Key() == m.Key() && r.Mapping.InternalAddress == m.InternalAddress && r.Mapping.InternalPort == m.InternalPort
		})
	}
	wanted := map[planner.MappingKey]bool{}
	ourPorts := map[uint16]string{} // internal side: port -> service, any protocol
	for _, sv := range in.Computer.Services {
		ourPorts[sv.Port] = sv.Name
		for _, p := range sv.Protocols() {
			proto := planner.Protocol(p)
			if sv.Expose != schema.ExposeInternet || !sv.WantsIPv4() {
				continue
			}
			k := key(proto, sv.External())
			wanted[k] = true
			ms := MappingStatus{Address: planner.Address(planner.KindMapping, sv.Name, proto), Service: sv.Name, Protocol: proto, ExternalPort: sv.External(), InternalPort: sv.Port}
			m, found := onRouter[k]
			switch {
			case found:
				ms.Mapping, ms.Source = &m, "router"
				svc, ours := s.ourTag(m)
				switch {
				case ours && svc == sv.Name && (m.InternalAddress == ourAddr || !ourAddr.IsValid()) && m.InternalPort == sv.Port && !m.Disabled:
					ms.State = MappingPresent
					s.lease(&ms, m.LeaseSeconds)
				case ours && svc == sv.Name && (m.InternalAddress == ourAddr || madeThere(m)):
					ms.State = MappingStale
					what := fmt.Sprintf("to %s", netip.AddrPortFrom(m.InternalAddress, m.InternalPort))
					if m.Disabled {
						what = "but is disabled"
					}
					s.find(Error, ms.Address, fmt.Sprintf("the router's mapping for %s is netplan42's but forwards %s, not to this computer's %s: connections from the internet go elsewhere (this computer's address changed?)",
						k, what, netip.AddrPortFrom(ourAddr, sv.Port)), "netplan42 apply --computer "+s.name()+" replaces it")
				default:
					ms.State = MappingHeld
					s.find(Error, ms.Address, fmt.Sprintf("external port %s of service %q is held by a mapping to %s: connections from the internet reach that, not this computer",
						k, sv.Name, heldText(m, in.Computers)),
						fmt.Sprintf("remove that mapping on the router (or with the program that made it), then run netplan42 apply; or set external_port in service %q to a free port", sv.Name))
				}
			case unknown[k] != "":
				ms.State = MappingUnknown
				s.find(Error, ms.Address, fmt.Sprintf("the router did not say what it holds on %s: %s", k, unknown[k]),
					"run status again; if the router keeps failing the lookup, check the port on its web page")
			case knows:
				ms.State = MappingMissing
				why := "not applied yet, or the router dropped it: a restart, or the lease ended"
				if pm, ok := prior[ms.Address]; ok && pm.Mapping != nil {
					why = "state says it was made: the router lost it, by a restart or the end of its lease"
				}
				fix := "netplan42 apply --computer " + s.name()
				if in.Network.Router.SSH != nil {
					// A router netplan42 administers: one apply for the
					// whole network does it too.
					fix += " (or netplan42 apply --network " + in.Network.Name + ")"
				}
				if c := s.r.Router.ExternalClass; c != planner.Public {
					fix = "none can be made while the router has no public external address (see the double NAT finding); once it has, " + fix
				}
				s.find(Error, ms.Address, fmt.Sprintf("no mapping for %s on the router (%s): computers on other networks cannot reach service %q", k, why, sv.Name), fix)
			default:
				ms.State = MappingUnknown
				if pm, ok := prior[ms.Address]; ok && pm.Mapping != nil {
					pmm := *pm.Mapping
					ms.Mapping, ms.Source = &pmm, "state"
					if pm.Expires.IsZero() {
						ms.Permanent = true
					} else {
						left := int64(pm.Expires.Sub(in.Now) / time.Second)
						ms.LeaseRemainingSeconds = &left
						if left <= 0 {
							s.find(Error, ms.Address, fmt.Sprintf("state says the lease of the mapping for %s ended %s ago; the router has dropped it", k, planner.LeaseText(uint32(-left))),
								"netplan42 apply --computer "+s.name()+" renews it")
						}
					}
				} else if v != nil && v.Protocol != schema.ViaManual && v.Protocol != "" {
					s.find(Warning, ms.Address, fmt.Sprintf("%s cannot list mappings and state holds none for %s: it is most likely missing", v.Protocol.Title(), k),
						"netplan42 apply --computer "+s.name())
				}
			}
			s.r.Mappings = append(s.r.Mappings, ms)
		}
	}
	if v == nil {
		return
	}
	for _, m := range v.Mappings {
		svc, ours := s.ourTag(m)
		mine := ours && wanted[m.Key()] && slices.ContainsFunc(in.Computer.Services, func(sv *schema.Service) bool { return sv.Name == svc })
		if mine || wanted[m.Key()] {
			continue // judged above
		}
		var why string
		switch {
		case ours:
			why = "carries this computer's tag on a port the config no longer asks for; the next apply removes it"
		case m.InternalAddress == ourAddr && ourAddr.IsValid() && ourPorts[m.InternalPort] != "":
			why = fmt.Sprintf("forwards to this computer's port %d (service %q), made outside netplan42 (by the program itself?)", m.InternalPort, ourPorts[m.InternalPort])
		default:
			continue
		}
		s.r.Foreign = append(s.r.Foreign, ForeignMapping{Mapping: m, Holder: holder(m, in.Computers), Why: why})
	}
	for _, ms := range s.r.Mappings {
		if ms.State == MappingHeld {
			s.r.Foreign = append(s.r.Foreign, ForeignMapping{Mapping: *ms.Mapping, Holder: holder(*ms.Mapping, in.Computers), Why: fmt.Sprintf("holds external port %s of service %q", key(ms.Protocol, ms.ExternalPort), ms.Service)})
		}
	}
}

// lease fills in the lease of a mapping read from the router, and warns
// when it is nearly over.
func (s *status) lease(ms *MappingStatus, left uint32) {
	if left == 0 {
		ms.Permanent = true
		return
	}
	l := int64(left)
	ms.LeaseRemainingSeconds = &l
	full := s.in.Network.Router.Lease
	if full > 0 && time.Duration(left)*time.Second < full/10 {
		s.find(Info, ms.Address, fmt.Sprintf("the mapping's lease ends in %s", planner.LeaseText(left)),
			"netplan42 apply --computer "+s.name()+" renews it")
	}
}

func (s *status) firewall() {
	in, f := s.in, &s.r.Firewall
	f.Rules, f.Warnings = []planner.Rule{}, []string{}
	switch {
	case in.Firewall != nil:
		v := in.Firewall
		f.Backend, f.Readable, f.Hooked = v.Backend, true, v.Hooked
		if v.Rules != nil {
			f.Rules = v.Rules
		}
		if v.Warnings != nil {
			f.Warnings = v.Warnings
		}
		for _, w := range v.Warnings {
			s.find(Warning, "firewall", w, "")
		}
		if !v.Hooked && len(v.Rules) > 0 {
			s.find(Error, "firewall", fmt.Sprintf("%s: netplan42's rules are not hooked into the input path (the jump to them is missing), so they are never reached", v.Backend),
				"netplan42 apply --computer "+s.name()+" restores the jump")
		}
	case in.FirewallNeedsRoot:
		f.Error = "not readable without root (run as root for rule details)"
	default:
		f.Error = in.FirewallError
		if in.FirewallError != "" {
			s.find(Warning, "firewall", "the firewall could not be read: "+in.FirewallError, "")
		}
	}
}

func (s *status) services() {
	in := s.in
	mstate := map[string]string{}
	for _, ms := range s.r.Mappings {
		mstate[ms.Address] = ms.State
	}
	for _, sv := range in.Computer.Services {
		for _, p := range sv.Protocols() {
			proto := planner.Protocol(p)
			st := ServiceStatus{Service: sv.Name, Protocol: proto, Port: sv.Port, Expose: sv.Expose, Auto: sv.Auto, Listeners: []Listener{}}
			if sv.Expose == schema.ExposeInternet && sv.WantsIPv4() {
				st.ExternalPort = sv.External()
				st.Mapping = mstate[planner.Address(planner.KindMapping, sv.Name, proto)]
			}
			s.listening(&st, sv)
			s.rule(&st, sv)
			s.r.Services = append(s.r.Services, st)
		}
	}
}

func (s *status) listening(st *ServiceStatus, sv *schema.Service) {
	in := s.in
	subject := "service." + sv.Name
	k := fmt.Sprintf("%d/%s", st.Port, st.Protocol)
	if st.Port == 0 {
		st.Listening = Unknown
		return
	}
	if in.ListenersError != "" {
		st.Listening = Unknown
		return
	}
	for _, l := range in.Listeners {
		if l.Protocol == st.Protocol && l.Address.Port() == st.Port {
			st.Listeners = append(st.Listeners, l)
		}
	}
	if len(st.Listeners) == 0 {
		st.Listening = No
		s.find(Error, subject, fmt.Sprintf("nothing listens on %s (service %q): the program is not running, or listens on another port", k, sv.Name),
			fmt.Sprintf("start (or restart) the program of service %q; if it uses another port, set port to it in service %q of computer %q", sv.Name, sv.Name, s.in.Computer.Name()))
		return
	}
	st.Listening = Yes

	// Who holds the port.
	var names []string
	var procs []Process
	unknownOwner := false
	for _, l := range st.Listeners {
		if len(l.Processes) == 0 {
			unknownOwner = true
		}
		for _, p := range l.Processes {
			if !slices.Contains(names, p.Name) {
				names = append(names, p.Name)
				procs = append(procs, p)
			}
		}
	}
	switch {
	case len(names) > 1:
		var who []string
		for _, p := range procs {
			who = append(who, procText(p))
		}
		s.find(Error, subject, fmt.Sprintf("port %s of service %q is held by several programs: %s; connections reach whichever the kernel picks", k, sv.Name, strings.Join(who, ", ")),
			fmt.Sprintf("stop the one that is not %q's program, or give service %q another port (port = \"auto\" in computer %q), then netplan42 apply", sv.Name, sv.Name, s.in.Computer.Name()))
	case len(names) == 1 && !unknownOwner && !looksLike(sv.Name, procs):
		s.find(Warning, subject, fmt.Sprintf("port conflict: port %s of service %q is held by %s, a program not named like %q; the service's own program cannot listen there while it does (if %s is that program, all is well)",
			k, sv.Name, procText(procs[0]), sv.Name, procs[0].Name),
			fmt.Sprintf("stop %s, or move service %q to a free port: port = \"auto\" in computer %q picks one; then netplan42 apply, and restart the service's program",
				procs[0].Name, sv.Name, s.in.Computer.Name()))
	}

	// Where it listens.
	loopbackOnly, anyWide := true, false
	var bound []string
	for _, l := range st.Listeners {
		a := l.Address.Addr().Unmap()
		if !a.IsLoopback() {
			loopbackOnly = false
		}
		if a.IsUnspecified() {
			anyWide = true
		}
		bound = append(bound, l.Address.String())
	}
	ours := netip.Addr{}
	if in.Router != nil {
		ours = in.Router.InternalAddress
	}
	switch {
	case exposed(sv) && loopbackOnly:
		s.find(Error, subject, fmt.Sprintf("service %q listens on %s only (loopback): other computers cannot connect", sv.Name, strings.Join(bound, ", ")),
			fmt.Sprintf("make the program of %q listen on all addresses (0.0.0.0) or on %s", sv.Name, addrText(ours)))
	case exposed(sv) && !anyWide && ours.IsValid() && !slices.ContainsFunc(st.Listeners, func(l Listener) bool { return l.Address.Addr().Unmap() == ours }):
		s.find(Warning, subject, fmt.Sprintf("service %q listens on %s, not on this computer's LAN address %s: connections to %s are refused", sv.Name, strings.Join(bound, ", "), ours, ours),
			fmt.Sprintf("make the program of %q listen on all addresses (0.0.0.0) or on %s", sv.Name, ours))
	case sv.Expose == schema.ExposeLocalhost && !loopbackOnly:
		s.find(Warning, subject, fmt.Sprintf("service %q has expose = \"localhost\" but listens on %s: only the firewall keeps other computers out", sv.Name, strings.Join(bound, ", ")),
			fmt.Sprintf("make the program of %q listen on 127.0.0.1 only", sv.Name))
	}
}

// looksLike reports whether one of the processes is plausibly the
// service's program: the service's name, or a word of it of three letters
// or more ("crashplan" of "crashplan-ui"), and the process's name contain
// one another, or its command line contains it; case and punctuation do
// not count.
func looksLike(service string, procs []Process) bool {
	words := []string{alnum(service)}
	for _, w := range strings.FieldsFunc(service, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		if w := alnum(w); len(w) >= 3 {
			words = append(words, w)
		}
	}
	for _, w := range words {
		if w == "" {
			continue
		}
		for _, p := range procs {
			pn := alnum(p.Name)
			if pn != "" && (strings.Contains(pn, w) || strings.Contains(w, pn)) || strings.Contains(alnum(p.Command), w) {
				return true
			}
		}
	}
	return false
}

func alnum(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func procText(p Process) string { return fmt.Sprintf("%s (pid %d)", p.Name, p.PID) }

func (s *status) rule(st *ServiceStatus, sv *schema.Service) {
	in := s.in
	if !exposed(sv) || in.Computer.Firewall == schema.FirewallNone {
		st.FirewallRule = NotManaged
		return
	}
	if in.Firewall == nil {
		st.FirewallRule = Unknown
		return
	}
	if in.Firewall.Backend == "none" {
		st.FirewallRule = NotManaged
		return
	}
	// The planner decides whether a rule is as the config wants it, as
	// plan does: the same sources, the same tag, reached from input.
	addr := planner.Address(planner.KindRule, sv.Name, st.Protocol)
	c, ok := s.ruleChange(addr)
	switch {
	case !ok || c.Action == planner.NoOp:
		st.FirewallRule = Present
	case c.Action == planner.Create:
		st.FirewallRule = Missing
		why := "not applied yet"
		if c.Reason != "" && c.Reason != "new: not in the firewall" {
			why = c.Reason
		}
		s.find(Error, addr, fmt.Sprintf("the firewall (%s) has no netplan42 rule admitting %d/%s: %s; if it drops or rejects what no rule admits, connections to service %q time out or are refused",
			in.Firewall.Backend, st.Port, st.Protocol, why, sv.Name),
			"netplan42 apply --computer "+s.name()+" adds it")
	case !in.Firewall.Hooked:
		st.FirewallRule = NotReached // one finding for all, in firewall()
	default:
		st.FirewallRule = Differs
		s.find(Error, addr, fmt.Sprintf("netplan42's firewall rule for %d/%s is not as the config says (%s): some connections to service %q are not admitted", st.Port, st.Protocol, c.Reason, sv.Name),
			"netplan42 apply --computer "+s.name()+" corrects it")
	}
}

// ruleChange returns what a plan would do to the firewall rule at addr.
func (s *status) ruleChange(addr string) (planner.Change, bool) {
	if s.plan == nil {
		in := s.in
		var prior planner.Prior
		if in.Prior != nil {
			prior = *in.Prior
		}
		s.plan = planner.Compute(planner.Input{Computer: in.Computer, Network: in.Network, Prior: prior, Now: in.Now,
			Observed: planner.Observed{At: in.Now, Refreshed: true, Firewall: *in.Firewall}})
	}
	for _, c := range s.plan.Changes {
		if c.Address == addr {
			return c, true
		}
	}
	return planner.Change{}, false
}

// config compares what the config says about this network with what the
// router reports.
func (s *status) config() {
	in := s.in
	n := in.Network
	ext := s.r.Router.ExternalAddress
	if !s.internetServices() {
		return
	}
	switch {
	case n.PublicAddress == "":
		hint := `"IP or DNS name"`
		if s.r.Router.ExternalClass == planner.Public {
			hint = quote(ext.String())
		}
		s.find(Info, "config", fmt.Sprintf("network %q has no public_address: netplan42 check on computers of other networks cannot reach this one", n.Name),
			fmt.Sprintf("add public_address = %s to network %q (a dynamic-DNS name is better when the address changes)", hint, n.Name))
	case in.PublicAddressError != "":
		s.find(Warning, "config", fmt.Sprintf("public_address %q of network %q does not resolve: %s", n.PublicAddress, n.Name, in.PublicAddressError),
			"correct public_address, or update the dynamic-DNS record")
	case s.r.Router.ExternalClass == planner.Public && !slices.Contains(in.PublicAddresses, ext):
		s.find(Warning, "config", fmt.Sprintf("public_address %q of network %q is %s, but the router's external address is %s: other networks look for this one in the wrong place",
			n.PublicAddress, n.Name, addrList(in.PublicAddresses), ext),
			fmt.Sprintf("set public_address = %q in network %q, or update the dynamic-DNS record", ext, n.Name))
	}
}

func addrList(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}
