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
			Protocol:         in.Observed.Router.Protocol,
			Detail:           in.Observed.Router.Detail,
			ExternalAddress:  in.Observed.Router.ExternalAddress,
			InternalAddress:  in.Observed.Router.InternalAddress,
			InternalAddress6: in.Observed.Router.InternalAddress6,
			Notes:            in.Observed.Router.Notes,
		},
		Firewall: FirewallSummary{Backend: in.Observed.Firewall.Backend},
	}
	if !in.Observed.Refreshed {
		in.Observed = FromState(in.Prior, in.Observed)
	}
	pl := &planning{Input: in, plan: p}
	pl.routerNotes()
	pl.mappings()
	pl.pinholes()
	pl.rules()
	pl.appConfigs()
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
		if s.Expose != schema.ExposeInternet || !s.WantsIPv4() {
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
	if v.Protocol == schema.ViaManual || v.Protocol == "" {
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

// mine reports whether an observed mapping is this computer's, made by
// netplan42 for any of its services: our computer tag, our address.
func (pl *planning) mine(m Mapping) bool {
	comp, _, ok := ParseTag(m.Description)
	return ok && comp == pl.Computer.Tag() && m.InternalAddress == pl.Observed.Router.InternalAddress
}

// exact reports whether m is the desired mapping d's own: mine, and tagged
// with d's service.
func (pl *planning) exact(m, d Mapping) bool {
	return pl.mine(m) && m.Description == d.Description
}

// elsewhere reports whether m is this computer's mapping at an address it
// no longer has (DHCP gave it another): m carries this computer's tag, and
// state says netplan42 made a mapping on m's key to m's internal address
// and port. A tag alone proves nothing: on a router without secure mode
// any host can map a port to itself with a description that imitates
// ours, and such a mapping is another host's (a foreign holder), never
// re-made or deleted.
func (pl *planning) elsewhere(m Mapping) bool {
	comp, _, ok := ParseTag(m.Description)
	return ok && comp == pl.Computer.Tag() && m.InternalAddress != pl.Observed.Router.InternalAddress && pl.madeThere(m)
}

// madeThere reports whether state says netplan42 made a mapping on m's key
// to m's internal address and port.
func (pl *planning) madeThere(m Mapping) bool {
	return slices.ContainsFunc(pl.Prior.Resources, func(r Managed) bool {
		return r.Kind == KindMapping && r.Mapping != nil && r.Mapping.Key() == m.Key() &&
			r.Mapping.InternalAddress == m.InternalAddress && r.Mapping.InternalPort == m.InternalPort
	})
}

// imitates reports whether m carries this computer's tag but is not this
// computer's (mine or elsewhere): a look-alike.
func (pl *planning) imitates(m Mapping) bool {
	comp, _, ok := ParseTag(m.Description)
	return ok && comp == pl.Computer.Tag() && !pl.mine(m) && !pl.elsewhere(m)
}

// undescribed reports whether m is the mapping state says netplan42 made
// over a protocol that keeps no description (NAT-PMP), now seen in a
// listing (UPnP): the router shows it untagged.
func undescribed(m Mapping, r Managed, ok bool) bool {
	return ok && r.Undescribed && r.Mapping != nil && r.Mapping.Key() == m.Key() &&
		r.Mapping.InternalAddress == m.InternalAddress && r.Mapping.InternalPort == m.InternalPort
}

// restored reports whether m is the mapping state says netplan42 made on
// m's key to this computer's current address and port, now shown with
// another description: miniupnpd restarted without its lease file
// restores its rules described "miniupnpd", lease 0. It is ours, never a
// foreign holder; another host cannot hold a mapping to this host's
// address on a router in secure mode.
func (pl *planning) restored(m Mapping, r Managed, ok bool) bool {
	return ok && r.Mapping != nil && r.Mapping.Key() == m.Key() && m.InternalAddress == pl.Observed.Router.InternalAddress &&
		r.Mapping.InternalAddress == m.InternalAddress && r.Mapping.InternalPort == m.InternalPort
}

// requested is the key a managed mapping was asked for; the router may have
// granted another external port (r.Mapping).
func requested(r Managed) MappingKey {
	k := r.Mapping.Key()
	if r.Requested != 0 {
		k.ExternalPort = r.Requested
	}
	return k
}

// routerKnows reports whether the observation can say a mapping is absent:
// a protocol that reads entries (UPnP) lists or looks up every key; one
// that cannot (NAT-PMP) tells nothing, and without a refresh we only have
// state.
func (pl *planning) routerKnows() bool {
	return pl.Observed.Refreshed && pl.Observed.Router.Can.ReadsEntries
}

// routerRestarted reports whether the router lost its mappings since state
// was written, and why.
func (pl *planning) routerRestarted() (bool, string) {
	v, memo := pl.Observed.Router, pl.Prior.Router
	if !pl.Observed.Refreshed {
		return false, ""
	}
	if v.HasEpoch && memo.Protocol == v.Protocol && !memo.EpochAt.IsZero() {
		// RFC 6886 section 3.6: the epoch must advance at least 7/8 as
		// fast as the client's clock, give or take 2 seconds.
		elapsed := pl.Now.Sub(memo.EpochAt).Seconds()
		if float64(v.Epoch)+2 < float64(memo.Epoch)+elapsed*7/8 {
			return true, fmt.Sprintf("router restarted (%s epoch %d, expected at least %d)", v.Protocol.Title(), v.Epoch, memo.Epoch+uint32(elapsed*7/8))
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

	if v.Protocol == schema.ViaManual {
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

	observed := make(map[MappingKey]Mapping, len(v.Mappings))
	for _, m := range v.Mappings {
		observed[m.Key()] = m
	}
	// unknown: keys the router would not answer for. Nothing on them is
	// taken as absent, made or removed: the resource stays as state has it.
	unknown := map[MappingKey]string{}
	for _, u := range v.Unknown {
		unknown[u.Key] = u.Why
	}
	restarted, restartWhy := pl.routerRestarted()
	if restarted {
		pl.plan.RouterRestarted = restartWhy
		pl.warn(restartWhy, "mappings made before the restart are gone and will be made again")
	}
	// claimed: the keys desired mappings hold; nothing else may delete them.
	claimed := map[MappingKey]string{}
	for _, c := range want {
		claimed[c.After.Mapping.Key()] = c.Address
	}
	handled := map[MappingKey]bool{}
	for k := range claimed {
		handled[k] = true
	}

	for _, c := range want {
		d := *c.After.Mapping
		prior, inPrior := pl.Prior.Lookup(c.Address)
		inPrior = inPrior && prior.Mapping != nil
		if inPrior && prior.Mapping.Nonce != "" && prior.Mapping.Protocol == d.Protocol && prior.Mapping.InternalPort == d.InternalPort {
			// PCP: a renewal or a change keeps the nonce the router knows
			// the mapping by.
			d.Nonce = prior.Mapping.Nonce
			c.After = mappingObj(d)
		}
		if inPrior {
			handled[prior.Mapping.Key()] = true
			if why, ok := unknown[prior.Mapping.Key()]; ok {
				pl.unknownKey(c.Address, prior.Mapping.Key(), why)
				continue
			}
		}
		if why, ok := unknown[d.Key()]; ok {
			pl.unknownKey(c.Address, d.Key(), why)
			continue
		}
		if inPrior && requested(prior) != d.Key() {
			handled[prior.Mapping.Key()] = true
			pl.moved(c, prior, observed, claimed)
			continue
		}
		obs, present := observed[d.Key()]
		if inPrior {
			handled[prior.Mapping.Key()] = true
		}
		if !pl.routerKnows() && !present && inPrior {
			// NAT-PMP or no refresh: state is all we know.
			if gone, why := pl.natpmpGone(prior, restarted, restartWhy); gone {
				pl.drift(Drift{Address: c.Address, Kind: KindMapping, Reason: why, Before: mappingObj(*prior.Mapping)})
				c.Action, c.Reason = Create, why
				pl.add(c)
				continue
			}
			obs, present = *prior.Mapping, true
			obs.Description = d.Description
			if !obs.InternalAddress.IsValid() {
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
		case pl.exact(obs, d) || (!pl.routerKnows() && inPrior):
			pl.keep(&c, d, obs, prior, inPrior)
		case pl.mine(obs):
			// Renamed, or ports traded between our services: re-tag it.
			_, svc, _ := ParseTag(obs.Description)
			c.Action, c.Before = Update, mappingObj(obs)
			c.Reason = fmt.Sprintf("the port holds this computer's mapping for service %q; re-made for this one", svc)
		case pl.elsewhere(obs):
			c.Action, c.Before = Update, mappingObj(obs)
			c.Reason = fmt.Sprintf("the port holds this computer's mapping to %s, an address it no longer has; re-made to %s (if the router refuses to remove the old one, remove it on the router)", obs.InternalAddress, d.InternalAddress)
		case undescribed(obs, prior, inPrior):
			c.Action, c.Before = Update, mappingObj(obs)
			c.Reason = "made over a protocol that cannot tag it (NAT-PMP, PCP); re-made with netplan42's tag"
		case pl.restored(obs, prior, inPrior):
			c.Action, c.Before = Update, mappingObj(obs)
			c.Reason = fmt.Sprintf("the router holds this computer's mapping described %q, not with netplan42's tag (miniupnpd restores its rules so after a restart without its lease file); re-made with the tag", obs.Description)
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
		g := r.Mapping.Key()
		obs, present := observed[g]
		handled[g] = true
		if why, ok := unknown[g]; ok && claimed[g] == "" {
			pl.unknownKey(r.Address, g, why)
			continue
		}
		c := Change{Address: r.Address, Kind: KindMapping, Action: Delete, Before: mappingObj(*r.Mapping), Reason: pl.removedReason()}
		switch {
		case claimed[g] != "":
			c.StateOnly = true
			c.Reason = fmt.Sprintf("its port now belongs to %s; forgetting it here", claimed[g])
		case present && (pl.mine(obs) || pl.elsewhere(obs) || undescribed(obs, r, true) || pl.restored(obs, r, true)):
			c.Before = mappingObj(obs)
		case !pl.routerKnows():
			// NAT-PMP deletes only this host's own mapping; a UPnP delete
			// made without a refresh is checked by the driver, which
			// refuses (planner.ErrNotOurs) what is no longer ours.
		case present:
			c.StateOnly = true
			c.Reason = fmt.Sprintf("replaced on the router by %s:%d %q, which netplan42 does not own; forgetting ours, leaving that one alone", obs.InternalAddress, obs.InternalPort, obs.Description)
			pl.drift(Drift{Address: r.Address, Kind: KindMapping, Reason: c.Reason, Before: mappingObj(*r.Mapping), After: mappingObj(obs)})
		default:
			c.StateOnly = true
			c.Reason = "already gone from the router; removing it from state"
			pl.drift(Drift{Address: r.Address, Kind: KindMapping, Reason: "missing on the router since the last apply", Before: mappingObj(*r.Mapping)})
		}
		pl.add(c)
	}

	// Everything else on the router: ours but untracked, or foreign.
	used := map[string]bool{}
	for _, c := range pl.plan.Changes {
		used[c.Address] = true
	}
	for _, m := range v.Mappings {
		if handled[m.Key()] {
			continue
		}
		if pl.mine(m) {
			_, svc, _ := ParseTag(m.Description)
			addr := Address(KindMapping, svc, m.Protocol)
			if used[addr] {
				// A second mapping for one service (an interrupted move):
				// it needs an address of its own.
				addr = fmt.Sprintf("%s.untracked[%q]", addr, m.Key().String())
			}
			used[addr] = true
			pl.add(Change{
				Address: addr, Kind: KindMapping, Action: Delete,
				Before: mappingObj(m),
				Reason: "on the router with this computer's tag but not in the config or state (left by an interrupted apply?)",
			})
			continue
		}
		pl.plan.Foreign = append(pl.plan.Foreign, Foreign{Kind: KindMapping, Mapping: &m, Holder: pl.holder(m)})
	}
}

// keep plans a mapping that is in place: changed, due for renewal, or up
// to date (and, when state does not hold it yet, adopted).
func (pl *planning) keep(c *Change, d, obs Mapping, prior Managed, inPrior bool) {
	c.Before = mappingObj(obs)
	if inPrior && prior.Mapping.ExternalPort != d.ExternalPort {
		pl.diag(Diagnostic{Severity: Warning, Address: c.Address,
			Summary: fmt.Sprintf("the router gave external port %d instead of %d", prior.Mapping.ExternalPort, d.ExternalPort),
			Detail:  fmt.Sprintf("NAT-PMP routers may hand out another port when the one asked for is taken: peers must connect to port %d, or free port %d on the router", prior.Mapping.ExternalPort, d.ExternalPort)})
	}
	switch {
	case obs.InternalPort != d.InternalPort || (d.InternalAddress.IsValid() && obs.InternalAddress != d.InternalAddress):
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
}

// moved plans a mapping whose external port changed: the old one is
// removed and the new one made, as one update.
func (pl *planning) moved(c Change, prior Managed, observed map[MappingKey]Mapping, claimed map[MappingKey]string) {
	d := *c.After.Mapping
	before := *prior.Mapping
	if n, ok := observed[d.Key()]; ok && !pl.mine(n) && !pl.elsewhere(n) {
		pl.conflict(c.Address, n)
		return
	}
	old, oldPresent := observed[before.Key()]
	switch owner := claimed[before.Key()]; {
	case owner != "" && owner != c.Address:
		// Ports traded: the old port is another of our mappings now.
		c.Action, c.Reason = Create, mappingDiff(before, d)+"; the old port now belongs to "+owner
	case !pl.routerKnows():
		// NAT-PMP or no refresh: delete by what state remembers; NAT-PMP
		// touches only this host's mappings, and the UPnP driver checks
		// before it deletes.
		c.Action, c.Before, c.Reason = Update, mappingObj(before), mappingDiff(before, d)
	case oldPresent && (pl.mine(old) || pl.elsewhere(old) || undescribed(old, prior, true)):
		c.Action, c.Before, c.Reason = Update, mappingObj(old), mappingDiff(old, d)
	default:
		reason := "missing on the router since the last apply"
		c.Reason = mappingDiff(before, d) + "; the old mapping is already gone"
		if oldPresent {
			reason = "replaced on the router by a mapping netplan42 does not own"
			c.Reason = mappingDiff(before, d) + "; the old port is " + reason
		}
		pl.drift(Drift{Address: c.Address, Kind: KindMapping, Reason: reason, Before: mappingObj(before)})
		c.Action = Create
	}
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
	// The least of what state and the router say: some routers report the
	// lease granted rather than what is left, and the agent wakes by state.
	known := false
	if !prior.Expires.IsZero() {
		left, known = prior.Expires.Sub(pl.Now), true
	}
	if pl.routerKnows() && obs.LeaseSeconds > 0 {
		r := time.Duration(obs.LeaseSeconds) * time.Second
		if !known || r < left {
			left = r
		}
		known = true
	}
	return granted, left, known
}

func (pl *planning) renewReason(prior Managed, obs Mapping) string {
	granted, left, _ := pl.lease(prior, true, obs)
	return fmt.Sprintf("lease expires in %s (less than half of %s left)", human(left), human(granted))
}

// unknownKey reports that the router would not say what it holds on k,
// so the resource at address is left as state has it.
func (pl *planning) unknownKey(address string, k MappingKey, why string) {
	pl.diag(Diagnostic{Severity: Error, Address: address,
		Summary: fmt.Sprintf("the router did not say what it holds on external port %s: %s", k, why),
		Detail:  "an entry that cannot be read is not taken as absent: netplan42 changes nothing on that port and state keeps the resource as it was. Plan again; if the router keeps failing the lookup, check the port on its web page"})
}

func (pl *planning) conflict(address string, obs Mapping) {
	d := Diagnostic{Severity: Error, Address: address}
	comp, _, tagged := ParseTag(obs.Description)
	switch {
	case tagged && comp == pl.Computer.Tag():
		d.Summary = fmt.Sprintf("external port %s is held by %s:%d with this computer's tag (%q), but it does not forward to this computer (%s)", obs.Key(), obs.InternalAddress, obs.InternalPort, obs.Description, addrOr(pl.Observed.Router.InternalAddress, "unknown"))
		d.Detail = "a tag alone does not make a mapping ours, and state does not say netplan42 made it there: another host holds the port (on a router without secure mode any host can write any description). netplan42 leaves it alone: if it is this computer's from an old address, delete it on the router's web page; otherwise choose another external_port"
	case tagged:
		d.Summary = fmt.Sprintf("external port %s is held by netplan42 computer %q (%s:%d)", obs.Key(), comp, obs.InternalAddress, obs.InternalPort)
		d.Detail = "two computers of the config claim one external port on the same router; give one of them another external_port"
	default:
		d.Summary = fmt.Sprintf("external port %s is held by %s:%d (%q), not managed by netplan42", obs.Key(), obs.InternalAddress, obs.InternalPort, obs.Description)
		d.Detail = "netplan42 never changes mappings it does not own: remove that mapping on the router (or with the program that made it), or choose another external_port"
	}
	pl.diag(d)
}

func (pl *planning) holder(m Mapping) string {
	if pl.imitates(m) {
		return fmt.Sprintf("carries this computer's tag but forwards to %s, not this computer: another host's", m.InternalAddress)
	}
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
	if old := pl.oldBackend(); old != "" {
		pl.switchBackend(old)
		return
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
				"state does not say which backend made them, so netplan42 cannot remove them; set firewall back to its old value and run destroy, or remove our chain by hand")
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

// oldBackend returns the firewall backend state's rules were made with, when
// it is not the one observed now: the config changed backend, or "auto"
// would pick another. Without a refresh nothing is known.
func (pl *planning) oldBackend() string {
	now := pl.Observed.Firewall.Kind
	if !pl.Observed.Refreshed || now == "" {
		return ""
	}
	for _, r := range pl.Prior.Resources {
		if r.Kind == KindRule && r.Via != "" && r.Via != now {
			return r.Via
		}
	}
	return ""
}

// switchBackend plans a change of firewall backend: everything of ours is
// removed from the old backend (its chain, table or anchor and the jumps
// into it), and the rules the config wants are made in the new one.
func (pl *planning) switchBackend(old string) {
	pl.plan.FirewallCleanup = old
	now := pl.Observed.Firewall.Kind
	why := fmt.Sprintf("firewall backend changed from %s to %s", old, now)
	seen := map[string]bool{}
	for _, c := range pl.desiredRules() {
		seen[c.Address] = true
		c.Action, c.Reason = Create, why
		if prior, ok := pl.Prior.Lookup(c.Address); ok && prior.Rule != nil {
			c.Action, c.Before = Update, ruleObj(*prior.Rule)
		}
		pl.add(c)
	}
	for _, r := range pl.Prior.Resources {
		if r.Kind != KindRule || r.Rule == nil || seen[r.Address] {
			continue
		}
		pl.add(Change{Address: r.Address, Kind: KindRule, Action: Delete, Before: ruleObj(*r.Rule),
			Reason: pl.removedReason() + "; removed with netplan42's objects in " + old})
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
