package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// Path is how a check reaches a target.
type Path string

const (
	// Internal is a connection to the target's LAN address: both
	// computers are on the same network.
	Internal Path = "internal"
	// Public is a connection to the target network's public_address and
	// the service's external port: the computers are on different
	// networks.
	Public Path = "public"
	// IPv6Path is a connection to the target's global IPv6 address and
	// the service's port, through its router's IPv6 pinhole: for internet
	// services of computers on other networks.
	IPv6Path Path = "ipv6"
	// RouterPath is no connection but a look at this network's router
	// table: is the target's internet service forwarded to it? Only a
	// computer on the target's network can see that.
	RouterPath Path = "router"
)

// Check is one thing to check, before it runs.
type Check struct {
	Target   *schema.Computer
	Network  *schema.Network // the target's
	Service  *schema.Service
	Protocol planner.Protocol
	Path     Path
	// Port is the port connected to (or looked up on the router): the
	// service's port on the internal path, its external port otherwise.
	Port uint16
}

// PlanChecks lists the checks from computer from to each target: a
// connection to the internal address of lan and internet services on the
// same network (and, for internet services, a look at the router table),
// and a connection to the public address of internet services on other
// networks. skipped names targets with nothing reachable from here.
func PlanChecks(cfg *schema.Config, from *schema.Computer, targets []*schema.Computer) (checks []Check, skipped []string) {
	for _, t := range targets {
		n := cfg.Networks[t.Network]
		same := t.Network == from.Network
		before := len(checks)
		for _, s := range t.Services {
			if s.Expose == schema.ExposeLocalhost || (!same && s.Expose != schema.ExposeInternet) {
				continue
			}
			for _, p := range s.Protocols() {
				c := Check{Target: t, Network: n, Service: s, Protocol: planner.Protocol(p)}
				if same {
					c.Path, c.Port = Internal, s.Port
					checks = append(checks, c)
					if s.Expose == schema.ExposeInternet {
						c.Path, c.Port = RouterPath, s.External()
						checks = append(checks, c)
					}
				} else {
					if s.WantsIPv4() {
						c.Path, c.Port = Public, s.External()
						checks = append(checks, c)
					}
					// Over IPv6 when the service asks for it by name: by
					// default it has IPv6 only where its router opens
					// pinholes, which is not known from here
					// (WithIPv6 adds checks for targets whose IPv6
					// address is given).
					if s.Expose == schema.ExposeInternet && s.IPVersions != nil && s.WantsIPv6() {
						c.Path, c.Port = IPv6Path, s.Port
						checks = append(checks, c)
					}
				}
			}
		}
		if len(checks) == before {
			why := fmt.Sprintf("%s exposes nothing to other computers", t.Address())
			if !same && slices.ContainsFunc(t.Services, exposed) {
				why = fmt.Sprintf("%s exposes nothing to other networks (only internet services are reachable from network %q)", t.Address(), from.Network)
			}
			skipped = append(skipped, why)
		}
	}
	return checks, skipped
}

// WithIPv6 adds an IPv6 check next to each public check of an internet
// service of a target in v6 (targets whose IPv6 address is known) that
// has none yet and does not rule IPv6 out.
func WithIPv6(checks []Check, v6 func(*schema.Computer) bool) []Check {
	has := map[[3]string]bool{}
	for _, c := range checks {
		if c.Path == IPv6Path {
			has[[3]string{c.Target.Name(), c.Service.Name, string(c.Protocol)}] = true
		}
	}
	var out []Check
	for _, c := range checks {
		out = append(out, c)
		k := [3]string{c.Target.Name(), c.Service.Name, string(c.Protocol)}
		if c.Path == Public && c.Service.Expose == schema.ExposeInternet && c.Service.WantsIPv6() && !has[k] && v6(c.Target) {
			has[k] = true
			c.Path, c.Port = IPv6Path, c.Service.Port
			out = append(out, c)
		}
	}
	return out
}

// Outcome is what a connection attempt did.
type Outcome string

const (
	NotTried    Outcome = ""
	Connected   Outcome = "connected"
	Refused     Outcome = "refused"     // a TCP reset: nothing listening, or a REJECT
	TimedOut    Outcome = "timeout"     // no answer at all
	Unreachable Outcome = "unreachable" // no route, or the host does not answer ARP
	DialError   Outcome = "error"       // anything else
)

// Neighbor is what the ARP table says of an internal address after a
// connection attempt.
type Neighbor string

const (
	NeighborUnknown    Neighbor = ""           // not looked at, or not in the table
	NeighborResolved   Neighbor = "resolved"   // it answered ARP: the host is up
	NeighborUnresolved Neighbor = "unresolved" // it did not
)

// Evidence is what was gathered around one check.
type Evidence struct {
	// Addr is the address connected to (or, on the router path, the
	// target's LAN address); AddrSource says where it came from
	// ("router mapping table", "DNS", "--address", "public_address").
	// AddrError says why there is none.
	Addr       netip.Addr
	AddrSource string
	AddrError  string
	// Notes are further facts worth telling: another source disagreeing
	// about the address, and the like.
	Notes []string

	Outcome Outcome
	Error   string // the dial's error, for DialError
	Elapsed time.Duration

	// The router of the checking computer's network, for same-network
	// checks: the protocol it answered with ("" when not observed, with
	// RouterError), whether its table could be read whole (Listed, or UPnP
	// lookups), and the mapping on the check's external key, if any.
	RouterProtocol schema.Via
	RouterKnows    bool
	RouterError    string
	OnKey          *planner.Mapping

	// Neighbor is the ARP table's word on Addr, for internal checks that
	// got no answer.
	Neighbor Neighbor

	// Computers are the config's, to name mapping holders.
	Computers []*schema.Computer
}

// Verdict is a check's result.
type Verdict string

const (
	OK        Verdict = "ok"
	VRefused  Verdict = "refused"
	VTimeout  Verdict = "timeout"
	VUnreach  Verdict = "unreachable"
	WrongPeer Verdict = "wrong-peer" // the port leads to another computer
	NoMapping Verdict = "no-mapping"
	NoAddress Verdict = "no-address"
	VError    Verdict = "error"
	VUnknown  Verdict = "unknown" // could not be judged from here; not a failure
	VSkipped  Verdict = "skipped" // not checkable (UDP); not a failure
)

// Failed reports whether the verdict is a failure.
func (v Verdict) Failed() bool {
	return v != OK && v != VUnknown && v != VSkipped
}

// Result is one judged check, and its JSON form.
type Result struct {
	Target   string           `json:"target"` // computer.h1
	Network  string           `json:"network"`
	Service  string           `json:"service"`
	Protocol planner.Protocol `json:"protocol"`
	Path     Path             `json:"path"`
	Port     uint16           `json:"port"`
	// Address is what was connected to: "11.0.0.1:4242"; on the router
	// path, the target's LAN address when known.
	Address       string  `json:"address,omitempty"`
	AddressSource string  `json:"address_source,omitempty"`
	Verdict       Verdict `json:"verdict"`
	OK            bool    `json:"ok"`
	ElapsedMS     int64   `json:"elapsed_ms"`
	// Detail is what was seen, Cause the likely reason for a failure,
	// Fix what to do, naming the netplan42 command or config line.
	Detail string   `json:"detail,omitempty"`
	Cause  string   `json:"cause,omitempty"`
	Fix    string   `json:"fix,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// CheckReport is what check shows, and its JSON format.
type CheckReport struct {
	FormatVersion string   `json:"format_version"`
	From          string   `json:"from"` // computer.internet
	Network       string   `json:"network"`
	TimeoutMS     int64    `json:"timeout_ms"`
	Results       []Result `json:"results"`
	// Skipped names targets with nothing to check from here.
	Skipped []string `json:"skipped"`
	Passed  int      `json:"passed"`
	Failed  int      `json:"failed"`
	Unknown int      `json:"unknown"`
	// Limits say what could not be seen from here.
	Limits []string `json:"limits"`
}

// NewCheckReport assembles judged results into a report.
func NewCheckReport(from *schema.Computer, timeout time.Duration, results []Result, skipped, limits []string) *CheckReport {
	r := &CheckReport{FormatVersion: FormatVersion, From: from.Address(), Network: from.Network,
		TimeoutMS: timeout.Milliseconds(), Results: results, Skipped: skipped, Limits: limits}
	if r.Results == nil {
		r.Results = []Result{}
	}
	if r.Skipped == nil {
		r.Skipped = []string{}
	}
	if r.Limits == nil {
		r.Limits = []string{}
	}
	for _, res := range results {
		switch {
		case res.OK:
			r.Passed++
		case res.Verdict.Failed():
			r.Failed++
		default:
			r.Unknown++
		}
	}
	return r
}

// HasFailures reports whether any check failed.
func (r *CheckReport) HasFailures() bool { return r.Failed > 0 }

// Judge turns a check and its evidence into a verdict, a likely cause
// and a fix.
func Judge(c Check, e Evidence) Result {
	r := Result{Target: c.Target.Address(), Network: c.Network.Name, Service: c.Service.Name, Protocol: c.Protocol,
		Path: c.Path, Port: c.Port, AddressSource: e.AddrSource, ElapsedMS: e.Elapsed.Milliseconds(), Notes: e.Notes}
	if e.Addr.IsValid() {
		if c.Path == RouterPath {
			r.Address = e.Addr.String()
		} else {
			r.Address = netip.AddrPortFrom(e.Addr, c.Port).String()
		}
	}
	j := judging{c: c, e: e, r: &r, name: computerFlag(c.Target), svc: quote(c.Service.Name)}
	switch c.Path {
	case Internal:
		j.internal()
	case Public:
		j.public()
	case IPv6Path:
		j.ipv6()
	case RouterPath:
		j.router()
	}
	r.OK = r.Verdict == OK
	return r
}

type judging struct {
	c    Check
	e    Evidence
	r    *Result
	name string // the target as --computer takes it
	svc  string // the service, quoted
}

func (j *judging) set(v Verdict, detail, cause, fix string) {
	j.r.Verdict, j.r.Detail, j.r.Cause, j.r.Fix = v, detail, cause, fix
}

func (j *judging) on() string { return "on " + j.name + ": " }

// administered reports whether the target's network has a router
// netplan42 administers over SSH: its forwards are applied for the whole
// network (apply --network) or by each computer (apply --computer).
func (j *judging) administered() bool { return j.c.Network != nil && j.c.Network.Router.SSH != nil }

// applyRouter is the fix that makes the target's router forward right:
// "on nas: netplan42 apply creates it", or on an administered network
// "netplan42 apply --network office creates it (or on nas: netplan42
// apply)".
func (j *judging) applyRouter(does string) string {
	if j.administered() {
		return fmt.Sprintf("netplan42 apply --network %s %s (or %snetplan42 apply)", j.c.Network.Name, does, j.on())
	}
	return j.on() + "netplan42 apply " + does
}

// mapping is what the router holds for a service: a mapping (UPnP,
// NAT-PMP, PCP), or a forward on a router netplan42 administers.
func (j *judging) mapping() string {
	if j.administered() {
		return "forward"
	}
	return "mapping"
}

func (j *judging) k() string { return fmt.Sprintf("%d/%s", j.c.Port, j.c.Protocol) }

// udp: a UDP port cannot be checked by connecting.
func (j *judging) udp() bool {
	if j.c.Protocol != planner.UDP {
		return false
	}
	j.set(VSkipped, "UDP has no handshake: a closed port and a silent service look alike", "",
		j.on()+"netplan42 status shows whether something listens on "+j.k())
	return true
}

func (j *judging) connected() bool {
	if j.e.Outcome != Connected {
		return false
	}
	j.set(OK, fmt.Sprintf("connected in %s", ms(j.e.Elapsed)), "", "")
	return true
}

func ms(d time.Duration) string {
	if d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}

func (j *judging) internal() {
	c, e := j.c, j.e
	t := c.Target.Address()
	if !e.Addr.IsValid() {
		j.set(NoAddress, "", fmt.Sprintf("%s's LAN address is unknown: %s", t, orText(e.AddrError, "no source named it")),
			fmt.Sprintf("pass --address %s=IP (netplan42 status on %s shows its address), or run netplan42 apply on %s: its router mapping then names its address", j.name, j.name, j.name))
		return
	}
	if j.udp() || j.connected() {
		return
	}
	where := fmt.Sprintf("%s (%s)", t, e.Addr)
	stale := ""
	if strings.Contains(e.AddrSource, "mapping") {
		stale = fmt.Sprintf("; the address comes from %s's router mapping, which keeps the address it had at the last apply", j.name)
	}
	switch e.Outcome {
	case Refused:
		j.set(VRefused, "the connection was refused (TCP reset)",
			fmt.Sprintf("%s answered with a reset: nothing listens on %s there (service %s not running, or on another port), or a firewall REJECT rule", where, j.k(), j.svc),
			j.on()+"netplan42 status shows what listens on "+j.k()+" and the firewall's rules; (re)start the program of service "+j.svc)
	case TimedOut:
		switch e.Neighbor {
		case NeighborResolved:
			j.set(VTimeout, "no answer within the timeout",
				fmt.Sprintf("%s is up (it answers ARP) but not on %s: a firewall there drops the connection (DROP)", where, j.k()),
				j.on()+"netplan42 apply adds the rule admitting "+j.k()+"; netplan42 status there names the firewall rule in the way if the rule is already there")
		case NeighborUnresolved:
			j.unreachable(where, stale)
		default:
			j.set(VTimeout, "no answer within the timeout",
				fmt.Sprintf("no answer from %s: a firewall there drops %s (DROP), or the computer is off", where, j.k()),
				j.on()+"netplan42 status names the firewall and its rules; netplan42 apply adds the rule admitting "+j.k())
		}
	case Unreachable:
		j.unreachable(where, stale)
	default:
		j.set(VError, "the connection failed: "+e.Error, "", "")
	}
}

func (j *judging) unreachable(where, stale string) {
	j.set(VUnreach, "no host answered",
		fmt.Sprintf("%s does not answer ARP: the computer is off or asleep, or no longer has this address%s", where, stale),
		fmt.Sprintf("wake %s; if its address changed, run netplan42 apply on %s (its mapping follows) or pass --address %s=IP", j.name, j.name, j.name))
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func (j *judging) public() {
	c, e := j.c, j.e
	n := quote(c.Network.Name)
	if !e.Addr.IsValid() {
		if c.Network.PublicAddress == "" {
			j.set(NoAddress, "",
				fmt.Sprintf("network %s has no public_address: netplan42 does not know how other networks reach it", n),
				fmt.Sprintf("add public_address = \"IP or DNS name\" to network %s; netplan42 status on %s (or any computer of network %s) shows the router's external address", n, j.name, n))
			return
		}
		j.set(NoAddress, "",
			fmt.Sprintf("public_address %q of network %s does not resolve: %s", c.Network.PublicAddress, n, orText(e.AddrError, "no address")),
			fmt.Sprintf("correct public_address, or update the dynamic-DNS record; netplan42 status on %s shows the router's external address", j.name))
		return
	}
	if j.udp() || j.connected() {
		return
	}
	if class, _ := planner.Classify(e.Addr); (class == planner.Shared || class == planner.Private) && e.Outcome != Connected {
		what := "a private address: network " + n + " sits behind another router (double NAT)"
		if class == planner.Shared {
			what = "in carrier-grade NAT space (100.64.0.0/10): network " + n + " sits behind its ISP's NAT"
		}
		j.set(verdictOf(e.Outcome), "no connection ("+string(e.Outcome)+")",
			fmt.Sprintf("public_address %s of network %s is %s, which the internet cannot reach", e.Addr, n, what),
			fmt.Sprintf("network %s needs a public address: netplan42 status on %s explains its double NAT; if public_address is simply wrong, correct it", n, j.name))
		return
	}
	status := fmt.Sprintf("netplan42 status on %s says which (its router's table, its firewall, what listens, and its external address)", j.name)
	switch e.Outcome {
	case Refused:
		j.set(VRefused, "the connection was refused (TCP reset)",
			fmt.Sprintf("no mapping for %s on network %s's router (routers reset connections to ports they do not forward), or the mapping is there and %s has nothing listening on %d; from outside network %s the two look alike",
				j.k(), n, j.name, c.Service.Port, n),
			j.on()+"netplan42 apply creates the mapping; "+status)
	case TimedOut:
		j.set(VTimeout, "no answer within the timeout",
			fmt.Sprintf("no mapping for %s on network %s's router (most routers drop what they do not forward), a firewall on %s dropping it, or network %s behind carrier-grade NAT or a second router (double NAT); from outside network %s these look alike",
				j.k(), n, j.name, n, n),
			j.on()+"netplan42 apply creates the mapping and the firewall rule; "+status)
	case Unreachable:
		j.set(VUnreach, "no route to the address",
			fmt.Sprintf("%s cannot be reached from here: this computer's own connection is down, or public_address %q of network %s is wrong", e.Addr, c.Network.PublicAddress, n),
			"check this computer's internet connection; "+status)
	default:
		j.set(VError, "the connection failed: "+e.Error, "", "")
	}
}

// verdictOf is the verdict of a failed connection.
func verdictOf(o Outcome) Verdict {
	switch o {
	case Refused:
		return VRefused
	case TimedOut:
		return VTimeout
	case Unreachable:
		return VUnreach
	}
	return VError
}

func (j *judging) router() {
	c, e := j.c, j.e
	k := key(c.Protocol, c.Port)
	switch {
	case e.RouterProtocol == "":
		j.set(VUnknown, "", fmt.Sprintf("this network's router could not be read: %s", orText(e.RouterError, "not observed")), "")
		return
	case e.RouterProtocol == schema.ViaManual:
		j.set(VUnknown, "", fmt.Sprintf("the router answers neither UPnP IGD nor NAT-PMP: netplan42 cannot read its forwards; it should forward %s %d to %s port %d",
			c.Protocol.Upper(), c.Port, orText(addrOrEmpty(e.Addr), j.name+"'s address"), c.Service.Port),
			j.on()+"netplan42 plan lists the forward to set up by hand")
		return
	case !e.RouterKnows:
		j.set(VUnknown, "", fmt.Sprintf("the router (%s) cannot list its mappings: whether %s is forwarded to %s cannot be seen from here", e.RouterProtocol, k, j.name),
			j.on()+"netplan42 status (its state records the mapping and its lease)")
		return
	}
	m := e.OnKey
	if m == nil {
		// On a router netplan42 administers the whole table was read:
		// absent for certain, as with any router that lists.
		j.set(NoMapping, fmt.Sprintf("the router holds no %s for %s", j.mapping(), k),
			fmt.Sprintf("no %s for %s on this network's router: computers on other networks cannot reach service %s on %s", j.mapping(), k, j.svc, j.name),
			j.applyRouter("creates it"))
		return
	}
	comp, svc, tagged := planner.ParseTag(m.Description)
	to := netip.AddrPortFrom(m.InternalAddress, m.InternalPort)
	switch {
	case tagged && comp == c.Target.Tag() && svc == c.Service.Name:
		if e.Addr.IsValid() && m.InternalAddress != e.Addr {
			j.set(WrongPeer, fmt.Sprintf("the router forwards %s to %s", k, to),
				fmt.Sprintf("%s's mapping forwards to %s, but %s is at %s (%s): its address changed since the last apply", j.name, m.InternalAddress, j.name, e.Addr, e.AddrSource),
				j.applyRouter("moves the "+j.mapping()+" to its address"))
			return
		}
		if m.InternalPort != c.Service.Port || m.Disabled {
			j.set(WrongPeer, fmt.Sprintf("the router forwards %s to %s", k, to),
				fmt.Sprintf("%s's mapping forwards to port %d (disabled: %v), but service %s listens on %d", j.name, m.InternalPort, m.Disabled, j.svc, c.Service.Port),
				j.applyRouter("replaces the "+j.mapping()))
			return
		}
		lease := "permanent"
		if m.LeaseSeconds > 0 {
			lease = "lease " + planner.LeaseText(m.LeaseSeconds) + " left"
		}
		j.set(OK, fmt.Sprintf("the router forwards %s to %s (%s, %s)", k, to, m.Description, lease), "", "")
		if j.r.Address == "" {
			j.r.Address = m.InternalAddress.String()
		}
	default:
		j.set(WrongPeer, fmt.Sprintf("the router forwards %s to %s", k, to),
			fmt.Sprintf("the router forwards %s to %s, not to %s: connections from other networks reach the wrong computer",
				k, heldText(*m, e.Computers), j.name),
			fmt.Sprintf("remove that mapping on the router (or with the program that made it), then %snetplan42 apply; or give service %s another external_port", j.on(), j.svc))
	}
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Targets picks the computers to check: the named ones, or every other
// computer that exposes something.
func Targets(cfg *schema.Config, from *schema.Computer, names []string) ([]*schema.Computer, error) {
	if len(names) == 0 {
		var out []*schema.Computer
		for _, c := range cfg.Computers {
			if c != from && slices.ContainsFunc(c.Services, exposed) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	var out []*schema.Computer
	for _, n := range names {
		c := cfg.Computer(n)
		if c == nil {
			var all []string
			for _, c := range cfg.Computers {
				all = append(all, c.Name())
			}
			return nil, fmt.Errorf("no computer %q in the config (computers: %s)", n, strings.Join(all, ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
