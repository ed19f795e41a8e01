package planner

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/schema"
)

// Input is everything a plan is computed from.
type Input struct {
	Computer *schema.Computer // ports already allocated
	Network  *schema.Network
	Observed Observed
	Prior    Prior
	Now      time.Time
	// Destroy plans the removal of everything netplan42 made.
	Destroy bool
}

// Compute computes the changes that make the world match the configuration.
func Compute(in Input) *Plan {
	p := &Plan{
		FormatVersion: FormatVersion,
		Computer:      in.Computer.Address(),
		Network:       in.Network.Name,
		Destroy:       in.Destroy,
		Changes:       []Change{},
		Drift:         []Drift{},
		Diagnostics:   []Diagnostic{},
		Foreign:       []Foreign{},
		Manual:        []ManualStep{},
		Router: RouterSummary{
			Protocol:        in.Observed.Router.Protocol,
			Detail:          in.Observed.Router.Detail,
			ExternalAddress: in.Observed.Router.ExternalAddress,
			InternalAddress: in.Observed.Router.InternalAddress,
			Notes:           in.Observed.Router.Notes,
		},
		Firewall: FirewallSummary{Backend: in.Observed.Firewall.Backend},
	}
	if !in.Observed.Refreshed {
		in.Observed = FromState(in.Prior, in.Observed)
	}
	pl := &planning{Input: in, plan: p}
	pl.routerNotes()
	pl.mappings()
	pl.rules()
	slices.SortStableFunc(p.Changes, func(a, b Change) int { return cmp.Compare(a.Address, b.Address) })
	slices.SortStableFunc(p.Drift, func(a, b Drift) int { return cmp.Compare(a.Address, b.Address) })
	return p
}

// FromState builds an observation from prior state alone, for
// --refresh=false: everything state remembers is taken to be in place.
// base keeps whatever was observed without asking the router or firewall.
func FromState(prior Prior, base Observed) Observed {
	o := base
	o.Refreshed = false
	if o.Router.Protocol == "" {
		o.Router.Protocol = prior.Router.Protocol
	}
	o.Router.ExternalAddress = prior.Router.External
	o.Router.Mappings = nil
	o.Router.Listed = false
	o.Firewall.Rules = nil
	o.Firewall.Hooked = true
	for _, m := range prior.Resources {
		switch {
		case m.Mapping != nil:
			o.Router.Mappings = append(o.Router.Mappings, *m.Mapping)
			if !o.Router.InternalAddress.IsValid() {
				o.Router.InternalAddress = m.Mapping.InternalAddress
			}
		case m.Rule != nil:
			o.Firewall.Rules = append(o.Firewall.Rules, *m.Rule)
		}
	}
	return o
}

type planning struct {
	Input
	plan *Plan
}

func (pl *planning) add(c Change)      { pl.plan.Changes = append(pl.plan.Changes, c) }
func (pl *planning) drift(d Drift)     { pl.plan.Drift = append(pl.plan.Drift, d) }
func (pl *planning) diag(d Diagnostic) { pl.plan.Diagnostics = append(pl.plan.Diagnostics, d) }
func (pl *planning) warn(summary, detail string) {
	pl.diag(Diagnostic{Severity: Warning, Summary: summary, Detail: detail})
}

func mappingObj(m Mapping) *Object { return &Object{Mapping: &m} }
func ruleObj(r Rule) *Object       { return &Object{Rule: &r} }

// desiredMappings returns the mappings the config asks for, by address.
func (pl *planning) desiredMappings() []Change {
	if pl.Destroy {
		return nil
	}
	var out []Change
	lease := uint32(pl.Network.Router.Lease / time.Second)
	for _, s := range pl.Computer.Services {
		if s.Expose != schema.ExposeInternet {
			continue
		}
		for _, proto := range s.Protocols() {
			m := Mapping{
				Protocol:        Protocol(proto),
				ExternalPort:    s.External(),
				InternalAddress: pl.Observed.Router.InternalAddress,
				InternalPort:    s.Port,
				Description:     Tag(pl.Computer.Tag(), s.Name),
				LeaseSeconds:    lease,
			}
			out = append(out, Change{Address: Address(KindMapping, s.Name, m.Protocol), Kind: KindMapping, After: mappingObj(m)})
		}
	}
	return out
}

func (pl *planning) routerNotes() {
	v := pl.Observed.Router
	if !pl.Observed.Refreshed {
		return
	}
	if v.Protocol != ViaUPnP && v.Protocol != ViaNATPMP {
		return
	}
	switch class, why := Classify(v.ExternalAddress); class {
	case Public:
	case Unknown:
		pl.diag(Diagnostic{Severity: Warning,
			Summary: "the router reports no usable external address: mappings may not be reachable from the internet",
			Detail:  "routers do this when their WAN side has no public address: behind carrier-grade NAT (100.64.0.0/10) or another router (double NAT), or not connected. Forward the port on the upstream router too, or ask the provider for a public IPv4 address"})
	default:
		pl.diag(Diagnostic{Severity: Warning, Summary: fmt.Sprintf("mappings cannot be reached from the internet (%s external address)", class), Detail: why})
	}
}

// ours reports whether an observed mapping is this computer's: our tag and
// our internal address.
func (pl *planning) ours(m Mapping) bool {
	comp, _, ok := ParseTag(m.Description)
	return ok && comp == pl.Computer.Tag() && m.InternalAddress == pl.Observed.Router.InternalAddress
}

// routerKnows reports whether the observation can say a mapping is absent:
// UPnP lists or looks up every key; NAT-PMP can tell nothing, and without a
// refresh we only have state.
func (pl *planning) routerKnows() bool {
	return pl.Observed.Refreshed && pl.Observed.Router.Protocol == ViaUPnP
}

// routerRestarted reports whether the router lost its mappings since state
// was written, and why.
func (pl *planning) routerRestarted() (bool, string) {
	v, memo := pl.Observed.Router, pl.Prior.Router
	if !pl.Observed.Refreshed {
		return false, ""
	}
	if v.HasEpoch && memo.Protocol == ViaNATPMP && !memo.EpochAt.IsZero() {
		// RFC 6886 section 3.6: the epoch must advance at least 7/8 as
		// fast as the client's clock, give or take 2 seconds.
		elapsed := pl.Now.Sub(memo.EpochAt).Seconds()
		if float64(v.Epoch)+2 < float64(memo.Epoch)+elapsed*7/8 {
			return true, fmt.Sprintf("router restarted (NAT-PMP epoch %d, expected at least %d)", v.Epoch, memo.Epoch+uint32(elapsed*7/8))
		}
	}
	if v.Identity != "" && memo.Identity != "" && v.Identity != memo.Identity {
		return true, "router restarted or was replaced (its UPnP identity changed)"
	}
	return false, ""
}

func (pl *planning) mappings() {
	v := pl.Observed.Router
	want := pl.desiredMappings()

	if v.Protocol == ViaManual {
		for _, c := range want {
			m := *c.After.Mapping
			to := "this computer's address"
			if m.InternalAddress.IsValid() {
				to = m.InternalAddress.String()
			}
			pl.plan.Manual = append(pl.plan.Manual, ManualStep{
				Address: c.Address,
				Mapping: m,
				Text:    fmt.Sprintf("forward %s port %d to %s port %d", m.Protocol.Upper(), m.ExternalPort, to, m.InternalPort),
			})
		}
		for _, r := range pl.Prior.Resources {
			if r.Kind == KindMapping {
				pl.warn(fmt.Sprintf("%s was made over %s but the router is now driven manually", r.Address, r.Via),
					"netplan42 cannot remove it without UPnP or NAT-PMP; it expires with its lease or can be removed on the router's web page")
			}
		}
		return
	}

	observed := map[MappingKey]Mapping{}
	for _, m := range v.Mappings {
		observed[m.Key()] = m
	}
	restarted, restartWhy := pl.routerRestarted()
	if restarted {
		pl.plan.RouterRestarted = restartWhy
		pl.warn(restartWhy, "mappings made before the restart are gone and will be made again")
	}
	claimed := map[MappingKey]bool{}

	for _, c := range want {
		d := *c.After.Mapping
		claimed[d.Key()] = true
		prior, inPrior := pl.Prior.Lookup(c.Address)
		obs, present := observed[d.Key()]
		if inPrior && prior.Mapping != nil && prior.Mapping.Key() != d.Key() {
			claimed[prior.Mapping.Key()] = true
			if present && !pl.ours(obs) {
				pl.conflict(c.Address, obs)
				continue
			}
			pl.moved(c, prior, observed)
			continue
		}
		if !pl.routerKnows() && !present && inPrior && prior.Mapping != nil && prior.Mapping.Key() == d.Key() {
			// NAT-PMP or no refresh: state is all we know.
			if gone, why := pl.natpmpGone(prior, restarted, restartWhy); gone {
				pl.drift(Drift{Address: c.Address, Kind: KindMapping, Reason: why, Before: mappingObj(*prior.Mapping)})
				c.Action, c.Reason = Create, why
				pl.add(c)
				continue
			}
			obs, present = *prior.Mapping, true
			obs.Description = d.Description
			if !obs.InternalAddress.IsValid() || obs.InternalAddress == d.InternalAddress {
				obs.InternalAddress = d.InternalAddress
			}
		}
		switch {
		case !present:
			c.Action = Create
			c.Reason = "new: not on the router"
			if inPrior {
				c.Reason = "missing on the router since the last apply"
				if restarted {
					c.Reason += " (" + restartWhy + ")"
				}
				pl.drift(Drift{Address: c.Address, Kind: KindMapping, Reason: c.Reason, Before: mappingObj(*prior.Mapping)})
			}
		case pl.ours(obs) || (!pl.routerKnows() && inPrior):
			c.Before = mappingObj(obs)
			switch {
			case obs.InternalPort != d.InternalPort:
				c.Action = Update
				c.Reason = mappingDiff(obs, d)
			case pl.renewDue(prior, inPrior, obs):
				c.Action = Renew
				c.Reason = pl.renewReason(prior, obs)
			default:
				c.Action = NoOp
				c.Reason = "up to date"
				c.After = mappingObj(keepGranted(d, obs, prior, inPrior))
				if !inPrior {
					c.Reason = "found on the router with this computer's tag; recording it in state"
				}
			}
		default:
			pl.conflict(c.Address, obs)
			continue
		}
		pl.add(c)
	}

	// What state remembers but the config no longer wants.
	for _, r := range pl.Prior.Resources {
		if r.Kind != KindMapping || r.Mapping == nil || pl.wanted(want, r.Address) {
			continue
		}
		obs, present := observed[r.Mapping.Key()]
		claimed[r.Mapping.Key()] = true
		c := Change{Address: r.Address, Kind: KindMapping, Action: Delete, Before: mappingObj(*r.Mapping), Reason: pl.removedReason()}
		switch {
		case present && pl.ours(obs):
			c.Before = mappingObj(obs)
		case !pl.routerKnows():
			// NAT-PMP deletes only this host's own mapping, so asking is safe.
		case present:
			c.StateOnly = true
			c.Reason = "replaced on the router by a mapping netplan42 does not own; forgetting ours, leaving that one alone"
			pl.drift(Drift{Address: r.Address, Kind: KindMapping, Reason: c.Reason, Before: mappingObj(*r.Mapping), After: mappingObj(obs)})
		default:
			c.StateOnly = true
			c.Reason = "already gone from the router; removing it from state"
			pl.drift(Drift{Address: r.Address, Kind: KindMapping, Reason: "missing on the router since the last apply", Before: mappingObj(*r.Mapping)})
		}
		pl.add(c)
	}

	// Everything else on the router: ours but untracked, or foreign.
	for _, m := range v.Mappings {
		if claimed[m.Key()] {
			continue
		}
		if pl.ours(m) {
			_, svc, _ := ParseTag(m.Description)
			pl.add(Change{
				Address: Address(KindMapping, svc, m.Protocol), Kind: KindMapping, Action: Delete,
				Before: mappingObj(m),
				Reason: "on the router with this computer's tag but not in the config or state (left by an interrupted apply?)",
			})
			continue
		}
		pl.plan.Foreign = append(pl.plan.Foreign, Foreign{Kind: KindMapping, Mapping: &m, Holder: holder(m)})
	}
}

// moved plans a mapping whose external port changed: the old one is
// removed and the new one made, as one update.
func (pl *planning) moved(c Change, prior Managed, observed map[MappingKey]Mapping) {
	d := *c.After.Mapping
	before := *prior.Mapping
	old, oldPresent := observed[before.Key()]
	switch {
	case !pl.routerKnows():
		// NAT-PMP or no refresh: delete by what state remembers; NAT-PMP
		// only ever touches this host's own mappings.
	case oldPresent && pl.ours(old):
		before = old
	default:
		reason := "missing on the router since the last apply"
		if oldPresent {
			reason = "replaced on the router by a mapping netplan42 does not own"
		}
		pl.drift(Drift{Address: c.Address, Kind: KindMapping, Reason: reason, Before: mappingObj(before)})
		c.Action, c.Reason = Create, mappingDiff(before, d)+"; the old mapping is "+strings.TrimPrefix(reason, "missing ")
		if !oldPresent {
			c.Reason = mappingDiff(before, d) + "; the old mapping is already gone"
		}
		pl.add(c)
		return
	}
	c.Action, c.Before, c.Reason = Update, mappingObj(before), mappingDiff(before, d)
	pl.add(c)
}

func mappingDiff(before, after Mapping) string {
	var parts []string
	if before.ExternalPort != after.ExternalPort {
		parts = append(parts, fmt.Sprintf("external port %d → %d", before.ExternalPort, after.ExternalPort))
	}
	if before.InternalPort != after.InternalPort {
		parts = append(parts, fmt.Sprintf("internal port %d → %d", before.InternalPort, after.InternalPort))
	}
	if before.InternalAddress != after.InternalAddress {
		parts = append(parts, fmt.Sprintf("internal address %s → %s", before.InternalAddress, after.InternalAddress))
	}
	if len(parts) == 0 {
		return "changed"
	}
	return strings.Join(parts, ", ")
}

// natpmpGone decides, without a listing, whether a mapping state remembers
// is gone: the router restarted, or its lease ran out.
func (pl *planning) natpmpGone(prior Managed, restarted bool, why string) (bool, string) {
	if restarted {
		return true, "missing on the router since the last apply (" + why + ")"
	}
	if !prior.Expires.IsZero() && !pl.Now.Before(prior.Expires) {
		return true, fmt.Sprintf("lease expired at %s", prior.Expires.UTC().Format(time.RFC3339))
	}
	return false, ""
}

// keepGranted returns the desired mapping with what the router granted, so
// an up-to-date resource keeps its real lease in state.
func keepGranted(d, obs Mapping, prior Managed, inPrior bool) Mapping {
	if inPrior && prior.Mapping != nil {
		d.LeaseSeconds = prior.Mapping.LeaseSeconds
	} else {
		d.LeaseSeconds = obs.LeaseSeconds
	}
	return d
}

func (pl *planning) wanted(want []Change, address string) bool {
	return slices.ContainsFunc(want, func(c Change) bool { return c.Address == address })
}

func (pl *planning) removedReason() string {
	if pl.Destroy {
		return "netplan42 destroy"
	}
	return "no longer in the config"
}

// renewDue reports whether less than half of the granted lease remains.
func (pl *planning) renewDue(prior Managed, inPrior bool, obs Mapping) bool {
	granted, left, ok := pl.lease(prior, inPrior, obs)
	return ok && granted > 0 && left < granted/2
}

func (pl *planning) lease(prior Managed, inPrior bool, obs Mapping) (granted, left time.Duration, ok bool) {
	if !inPrior || prior.Mapping == nil || prior.Mapping.LeaseSeconds == 0 {
		return 0, 0, false
	}
	granted = time.Duration(prior.Mapping.LeaseSeconds) * time.Second
	switch {
	case pl.routerKnows() && obs.LeaseSeconds > 0:
		left = time.Duration(obs.LeaseSeconds) * time.Second
	case !prior.Expires.IsZero():
		left = prior.Expires.Sub(pl.Now)
	default:
		return 0, 0, false
	}
	return granted, left, true
}

func (pl *planning) renewReason(prior Managed, obs Mapping) string {
	granted, left, _ := pl.lease(prior, true, obs)
	return fmt.Sprintf("lease expires in %s (less than half of %s left)", human(left), human(granted))
}

func (pl *planning) conflict(address string, obs Mapping) {
	d := Diagnostic{Severity: Error, Address: address}
	comp, _, tagged := ParseTag(obs.Description)
	switch {
	case tagged && comp == pl.Computer.Tag():
		d.Summary = fmt.Sprintf("external port %s is held by this computer's mapping to %s, an address this computer no longer has", obs.Key(), obs.InternalAddress)
		d.Detail = "the router lets only the holder remove it: wait for its lease to run out, or delete it on the router's web page"
	case tagged:
		d.Summary = fmt.Sprintf("external port %s is held by netplan42 computer %q (%s:%d)", obs.Key(), comp, obs.InternalAddress, obs.InternalPort)
		d.Detail = "two computers of the config claim one external port on the same router; give one of them another external_port"
	default:
		d.Summary = fmt.Sprintf("external port %s is held by %s:%d (%q), not managed by netplan42", obs.Key(), obs.InternalAddress, obs.InternalPort, obs.Description)
		d.Detail = "netplan42 never changes mappings it does not own: remove that mapping on the router (or with the program that made it), or choose another external_port"
	}
	pl.diag(d)
}

func holder(m Mapping) string {
	if comp, _, ok := ParseTag(m.Description); ok {
		return fmt.Sprintf("netplan42 computer %q", comp)
	}
	return "not managed by netplan42"
}

// desiredRules returns the firewall rules the config asks for.
func (pl *planning) desiredRules() []Change {
	if pl.Destroy || pl.Computer.Firewall == schema.FirewallNone {
		return nil
	}
	var out []Change
	for _, s := range pl.Computer.Services {
		if s.Expose != schema.ExposeInternet && s.Expose != schema.ExposeLAN {
			continue
		}
		sources := s.AllowFrom
		if sources == nil {
			sources = AnySource
			if s.Expose == schema.ExposeLAN {
				sources = pl.Observed.Firewall.LocalPrefixes
			}
		}
		for _, proto := range s.Protocols() {
			r := Rule{Protocol: Protocol(proto), Port: s.Port, Sources: masked(sources), Comment: Tag(pl.Computer.Tag(), s.Name)}
			out = append(out, Change{Address: Address(KindRule, s.Name, r.Protocol), Kind: KindRule, After: ruleObj(r)})
		}
	}
	return out
}

func (pl *planning) rules() {
	fw := pl.Observed.Firewall
	for _, w := range fw.Warnings {
		pl.warn("firewall: "+w, "")
	}
	if pl.Computer.Firewall == schema.FirewallNone {
		n := 0
		for _, r := range pl.Prior.Resources {
			if r.Kind == KindRule {
				n++
			}
		}
		if n > 0 {
			pl.warn(fmt.Sprintf("firewall = \"none\", but state holds %d firewall rule(s) netplan42 made before", n),
				"with no backend netplan42 cannot remove them; set firewall back to its old value and run destroy, or remove our chain by hand")
		}
		return
	}
	want := pl.desiredRules()
	observed := map[string]Rule{}
	for _, r := range fw.Rules {
		if _, svc, ok := ParseTag(r.Comment); ok {
			observed[Address(KindRule, svc, r.Protocol)] = r
		}
	}
	seen := map[string]bool{}
	for _, c := range want {
		d := *c.After.Rule
		seen[c.Address] = true
		prior, inPrior := pl.Prior.Lookup(c.Address)
		obs, present := observed[c.Address]
		if d.Sources == nil && inPrior && prior.Rule != nil {
			// expose = "lan" without an observation: keep what we made.
			d.Sources = prior.Rule.Sources
			c.After = ruleObj(d)
		}
		switch {
		case !present:
			c.Action = Create
			c.Reason = "new: not in the firewall"
			if inPrior {
				c.Reason = "missing from the firewall since the last apply (flushed or reloaded by something else?)"
				pl.drift(Drift{Address: c.Address, Kind: KindRule, Reason: c.Reason, Before: ruleObj(*prior.Rule)})
			}
		case !fw.Hooked:
			c.Before = ruleObj(obs)
			c.Action = Update
			c.Reason = "our rules are not reached: the jump into them is missing"
			if inPrior {
				pl.drift(Drift{Address: c.Address, Kind: KindRule, Reason: c.Reason, Before: ruleObj(*prior.Rule), After: ruleObj(obs)})
			}
		case !obs.Equal(d):
			c.Before = ruleObj(obs)
			c.Action = Update
			c.Reason = ruleDiff(obs, d)
			if inPrior && prior.Rule != nil && !obs.Equal(*prior.Rule) {
				pl.drift(Drift{Address: c.Address, Kind: KindRule, Reason: "changed outside netplan42", Before: ruleObj(*prior.Rule), After: ruleObj(obs)})
			}
		default:
			c.Before = ruleObj(obs)
			c.Action = NoOp
			c.Reason = "up to date"
			if !inPrior {
				c.Reason = "found in netplan42's chain; recording it in state"
			}
		}
		pl.add(c)
	}
	for _, r := range pl.Prior.Resources {
		if r.Kind != KindRule || r.Rule == nil || seen[r.Address] {
			continue
		}
		seen[r.Address] = true
		c := Change{Address: r.Address, Kind: KindRule, Action: Delete, Before: ruleObj(*r.Rule), Reason: pl.removedReason()}
		if obs, ok := observed[r.Address]; ok {
			c.Before = ruleObj(obs)
		} else {
			c.StateOnly = true
			c.Reason = "already gone from the firewall; removing it from state"
			pl.drift(Drift{Address: r.Address, Kind: KindRule, Reason: "missing from the firewall since the last apply", Before: ruleObj(*r.Rule)})
		}
		pl.add(c)
	}
	for addr, r := range observed {
		if seen[addr] {
			continue
		}
		pl.add(Change{Address: addr, Kind: KindRule, Action: Delete, Before: ruleObj(r),
			Reason: "in netplan42's chain but not in the config or state"})
	}
}

// masked returns sources as firewalls store them: host bits cleared,
// sorted, without duplicates; nil stays nil (not yet known).
func masked(sources []netip.Prefix) []netip.Prefix {
	if sources == nil {
		return nil
	}
	out := make([]netip.Prefix, 0, len(sources))
	for _, p := range sources {
		out = append(out, p.Masked())
	}
	sortPrefixes(out)
	return slices.Compact(out)
}

func ruleDiff(before, after Rule) string {
	switch {
	case before.Port != after.Port:
		return fmt.Sprintf("port %d → %d", before.Port, after.Port)
	case before.Comment != after.Comment:
		return "tag changed"
	}
	return fmt.Sprintf("sources %s → %s", prefixList(before.Sources), prefixList(after.Sources))
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "(none)"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	return s
}

// human formats a duration the way people read leases: 2h, 1h30m, 45s.
func human(d time.Duration) string {
	if d < 0 {
		return "0s (expired)"
	}
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func secs(n uint32) time.Duration { return time.Duration(n) * time.Second }

// LeaseText formats a lease in seconds for people: "2h", "1h30m",
// "permanent".
func LeaseText(s uint32) string {
	if s == 0 {
		return "permanent"
	}
	return human(secs(s))
}
