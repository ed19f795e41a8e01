package router

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// Config says how to find and talk to the router.
type Config struct {
	// Protocols are tried in this order: "upnp", "natpmp", "manual".
	// Empty means all three.
	Protocols []string
	// Gateway is the router's LAN address; zero means the default route's
	// next hop.
	Gateway netip.Addr
	// Timeout bounds each probe and each call to the router; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Remembered is the Identity of an earlier RouterView of this
	// router (what state remembers of it), or "". When it names a
	// description URL on the gateway and UPnP is among Protocols, Open
	// fetches that description at once and discovery runs alongside to
	// confirm it; the Router's first use waits for the confirmation and
	// starts over with what discovery found when the router changed (a
	// URL, BOOTID or device that is not the remembered one) or did not
	// answer SSDP. So a Router opened with Remembered ends up as one
	// opened without it, only sooner. The confirmation runs under Open's
	// ctx, which must therefore stay live while the Router is in use.
	Remembered string
}

// DefaultTimeout bounds each probe and call when Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Probe windows during discovery, each at most Config.Timeout. The probes
// run at once, so a discovery that finds nothing takes the longer window,
// 1 s, and less when the router refuses both ports (ICMP port
// unreachable). A LAN router answers in milliseconds, miniupnpd's SSDP in
// about 50 ms; the SSDP window stays long enough for builds that delay
// even a unicast answer by a random part of MX (1 s): with the search
// sent twice for three targets, 700 ms misses such a router about once in
// 250 tries, 300 ms once in 6.
const (
	ssdpWindow   = 700 * time.Millisecond
	natpmpWindow = 1000 * time.Millisecond
)

// Router is a discovered router and the protocol it answered with. Its
// methods are safe for use by one goroutine at a time.
type Router struct {
	proto   string
	timeout time.Duration
	gw      netip.Addr
	local   netip.Addr
	notes   []string // what discovery tried, for manual mode

	igd *igd // ViaUPnP

	// pending, when not nil, delivers the discovery that confirms or
	// replaces the remembered IGD in igd; settle takes it.
	pending chan discovery
}

// discovery is what probing the protocols in config order found.
type discovery struct {
	proto string
	igd   *igd
	notes []string
	err   error // ctx ended
}

// Open discovers the router at the gateway with the configured protocols:
// it probes them at once and takes the first in config order that answers.
// When none answers it returns a Router in manual mode whose Observe notes
// say what was tried and why each failed; it returns an error only for a
// bad config or when ctx ends. With Config.Remembered it may return
// before discovery has ended: see there.
func Open(ctx context.Context, cfg Config) (*Router, error) {
	protos := cfg.Protocols
	if len(protos) == 0 {
		protos = []string{planner.ViaUPnP, planner.ViaNATPMP, planner.ViaManual}
	}
	for _, p := range protos {
		switch p {
		case planner.ViaUPnP, planner.ViaNATPMP, planner.ViaManual:
		default:
			return nil, fmt.Errorf("router: unknown protocol %q (want upnp, natpmp or manual)", p)
		}
	}
	r := &Router{proto: planner.ViaManual, timeout: cfg.Timeout, gw: cfg.Gateway}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if !r.gw.IsValid() {
		gw, err := defaultGateway()
		if err != nil {
			r.notes = append(r.notes, fmt.Sprintf("no gateway: %v", err))
			return r, nil
		}
		r.gw = gw
	}
	r.gw = r.gw.Unmap()
	if !r.gw.Is4() {
		return nil, fmt.Errorf("router: gateway %s is not IPv4 (UPnP IGD and NAT-PMP map IPv4)", r.gw)
	}
	if local, err := localAddr(r.gw); err == nil {
		r.local = local
	} else {
		r.notes = append(r.notes, err.Error())
	}
	var err error
	if hint := r.remembered(cfg.Remembered, protos); hint != nil {
		err = r.openRemembered(ctx, protos, hint)
	} else {
		err = r.adopt(r.discover(ctx, protos, nil))
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// adopt makes d the router's protocol and returns d's error.
func (r *Router) adopt(d discovery) error {
	r.proto, r.igd = d.proto, d.igd
	r.notes = append(r.notes, d.notes...)
	return d.err
}

// discover probes the protocols in order and returns what answered. It
// reads r's gateway and timeout and changes nothing in r, so it may run
// while r is in use. hint, when not nil, is a remembered IGD the UPnP
// probe takes when SSDP confirms it.
func (r *Router) discover(ctx context.Context, protos []string, hint *rememberedIGD) discovery {
	d := discovery{proto: planner.ViaManual}
	// Every protocol before manual is probed at once; the answers are then
	// taken in config order, so a later protocol wins only when each
	// earlier one has failed or timed out, never while one might still
	// answer. Discovery costs the slowest of the earlier probes, not their
	// sum. The losers are cancelled, and discover returns after they stop.
	probes := map[string]chan probeResult{}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, p := range protos {
		if p == planner.ViaManual {
			break
		}
		if probes[p] != nil {
			continue
		}
		done := make(chan probeResult, 1)
		probes[p] = done
		wg.Go(func() { done <- r.probe(pctx, p, hint) })
	}
	for _, p := range protos {
		if p == planner.ViaManual {
			if len(protos) > 1 {
				d.notes = append(d.notes, "manual: port forwards must be set up on the router by hand")
			}
			return d
		}
		done := probes[p]
		if done == nil {
			continue // listed twice: its answer was taken already
		}
		delete(probes, p)
		res := <-done
		if res.err == nil {
			d.proto, d.igd = p, res.igd
			return d
		}
		if ctx.Err() != nil {
			d.err = fmt.Errorf("router discovery at %s: %w", r.gw, ctx.Err())
			return d
		}
		d.notes = append(d.notes, res.err.Error())
	}
	return d
}

// probeResult is what one protocol's probe found.
type probeResult struct {
	igd *igd  // the device, for UPnP
	err error // says the protocol and the gateway
}

// probe asks the router whether it answers protocol p, within p's probe
// window.
func (r *Router) probe(ctx context.Context, p string, hint *rememberedIGD) probeResult {
	switch p {
	case planner.ViaUPnP:
		d, err := openIGD(ctx, r.gw, min(ssdpWindow, r.timeout), r.timeout, hint)
		if err != nil {
			return probeResult{err: fmt.Errorf("upnp at %s: %v", r.gw, err)}
		}
		return probeResult{igd: d}
	case planner.ViaNATPMP:
		pctx, cancel := context.WithTimeout(ctx, min(natpmpWindow, r.timeout))
		defer cancel()
		// Any well-formed answer, even a result code 3 from a router
		// without a public address, means NAT-PMP is there.
		if _, err := natpmpCall(pctx, r.gw, natpmpExternalRequest()); err != nil {
			return probeResult{err: fmt.Errorf("natpmp at %s:%d: %v", r.gw, natpmpPort, err)}
		}
		return probeResult{}
	}
	panic("router: no probe for " + p)
}

// Protocol returns the protocol the router answered with: planner.ViaUPnP,
// planner.ViaNATPMP or planner.ViaManual. It waits for a pending
// confirmation of a remembered IGD (Config.Remembered).
func (r *Router) Protocol() string {
	r.settle(context.Background())
	return r.proto
}

// Gateway returns the router's address.
func (r *Router) Gateway() netip.Addr { return r.gw }

func (r *Router) view() planner.RouterView {
	v := planner.RouterView{
		Protocol:        r.proto,
		Gateway:         r.gw,
		InternalAddress: r.local,
	}
	switch r.proto {
	case planner.ViaUPnP:
		v.Detail = r.igd.detail()
		v.Identity = r.igd.identity()
	case planner.ViaNATPMP:
		v.Detail = fmt.Sprintf("NAT-PMP at %s:%d", r.gw, natpmpPort)
	default:
		if r.gw.IsValid() {
			v.Detail = fmt.Sprintf("manual port forwarding (no UPnP IGD or NAT-PMP answered at %s)", r.gw)
		} else {
			v.Detail = "manual port forwarding"
		}
		v.Notes = slices.Clone(r.notes)
	}
	return v
}

// Observe reads what the router holds. With UPnP it lists the table, and
// sets Listed only when the listing provably holds the whole table; when
// it does not (the router cannot list, a listing cut off by an error or
// the MaxWalk cap), Mappings holds what was listed plus each want key
// looked up on its own, and a note says why. NAT-PMP cannot list: the
// view carries the epoch and external address, and no mappings. Observe
// changes nothing on the router.
//
// A Router opened from a remembered IGD reads it while discovery confirms
// it, and reads again from what discovery found when that is another.
func (r *Router) Observe(ctx context.Context, want []planner.MappingKey) (planner.RouterView, error) {
	if r.pending != nil {
		v, err := r.observe(ctx, want)
		changed, serr := r.settle(ctx)
		if serr != nil {
			return planner.RouterView{}, serr
		}
		if !changed {
			return v, err
		}
	}
	return r.observe(ctx, want)
}

func (r *Router) observe(ctx context.Context, want []planner.MappingKey) (planner.RouterView, error) {
	v := r.view()
	switch r.proto {
	case planner.ViaUPnP:
		return r.igd.observe(ctx, v, want, r.timeout)
	case planner.ViaNATPMP:
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		resp, err := natpmpCall(cctx, r.gw, natpmpExternalRequest())
		if err != nil {
			return v, &opError{Op: "natpmp external address", Value: r.gw.String(), Err: err}
		}
		v.Epoch, v.HasEpoch = resp.Epoch, true
		if resp.ResultCode != 0 {
			e := &NATPMPError{Code: resp.ResultCode, Epoch: resp.Epoch}
			v.Notes = append(v.Notes, fmt.Sprintf("router reports no external address: %v%s", e, noExternalHint(e)))
		} else {
			v.ExternalAddress = resp.External
			if note := externalNote(resp.External); note != "" {
				v.Notes = append(v.Notes, note)
			}
		}
		v.Notes = append(v.Notes, "NAT-PMP cannot list mappings: only state shows what is ours")
	}
	return v, nil
}

// Add asks the router for m; m.LeaseSeconds is the requested lease (0:
// permanent). It returns what the router granted.
func (r *Router) Add(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	if _, err := r.settle(ctx); err != nil {
		return planner.Grant{}, err
	}
	if !m.InternalAddress.IsValid() {
		m.InternalAddress = r.local
	}
	switch r.proto {
	case planner.ViaUPnP:
		return r.igd.add(ctx, m, r.local, r.timeout)
	case planner.ViaNATPMP:
		return r.natpmpAdd(ctx, m)
	}
	return planner.Grant{}, r.manualErr("add", m)
}

// Delete removes m from the router; a mapping already gone is not an
// error. m is the mapping as the caller made or last saw it, with its
// description (our tag, or what the router showed for a mapping made
// over NAT-PMP); an invalid InternalAddress means this host, as in Add.
//
// With UPnP, Delete first reads the router's entry on m's key and deletes
// it only when it is m (same internal client, internal port and
// description); when someone else holds the key now it deletes nothing
// and returns a *NotOursError, for which errors.Is(err,
// planner.ErrNotOurs) reports true.
func (r *Router) Delete(ctx context.Context, m planner.Mapping) error {
	if _, err := r.settle(ctx); err != nil {
		return err
	}
	if !m.InternalAddress.IsValid() {
		m.InternalAddress = r.local
	}
	switch r.proto {
	case planner.ViaUPnP:
		return r.igd.delete(ctx, m, r.timeout)
	case planner.ViaNATPMP:
		// RFC 6886 section 3.4: lifetime 0 and suggested external port 0
		// delete the mapping of this host's internal port. Nothing can be
		// checked first: NAT-PMP cannot read a mapping back, and the
		// router keys the delete by the asking host's address and m's
		// internal port, never by the external port. So it never touches
		// another host's mapping, but it does remove a mapping another
		// program on this host made over NAT-PMP for the same internal
		// port and protocol: RFC 6886 has no notion of which program on
		// a host owns a mapping, so this is inherent to the protocol.
		req, err := natpmpMapRequest(m.Protocol, m.InternalPort, 0, 0)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		resp, err := natpmpCall(cctx, r.gw, req)
		if err == nil && resp.ResultCode != 0 {
			err = &NATPMPError{Code: resp.ResultCode, Epoch: resp.Epoch}
		}
		if err != nil {
			return &opError{Op: "natpmp delete", Value: mappingValue(m), Err: err}
		}
		return nil
	}
	return r.manualErr("delete", m)
}

// Lookup reads the router's entry on k; ok is false when it holds none.
// Only UPnP can read an entry back: with NAT-PMP or in manual mode it
// returns an error. Apply uses it to learn what an interrupted change
// left on the router.
func (r *Router) Lookup(ctx context.Context, k planner.MappingKey) (planner.Mapping, bool, error) {
	if _, err := r.settle(ctx); err != nil {
		return planner.Mapping{}, false, err
	}
	if r.proto != planner.ViaUPnP {
		return planner.Mapping{}, false, fmt.Errorf("router lookup %s: %s cannot read a mapping back", k, r.proto)
	}
	return r.igd.specific(ctx, k, "", r.timeout)
}

func (r *Router) manualErr(op string, m planner.Mapping) error {
	why := "manual mode"
	if len(r.notes) > 0 {
		why = strings.Join(r.notes, "; ")
	}
	return &opError{Op: "router " + op, Value: mappingValue(m), Err: ErrManual, Hint: why}
}

// natpmpDefaultLease is asked for when a permanent mapping is wanted:
// NAT-PMP has none (lifetime 0 deletes); RFC 6886 recommends 7200 s.
const natpmpDefaultLease = 7200

func (r *Router) natpmpAdd(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	lease := m.LeaseSeconds
	var notes []string
	if lease == 0 {
		lease = natpmpDefaultLease
		notes = append(notes, fmt.Sprintf("NAT-PMP has no permanent mappings: asked for %d s; renew before it ends", lease))
	}
	if m.InternalAddress != r.local {
		return planner.Grant{}, &opError{Op: "natpmp map", Value: mappingValue(m), Err: ErrRefused,
			Hint: fmt.Sprintf("NAT-PMP maps only to the asking host %s", r.local)}
	}
	req, err := natpmpMapRequest(m.Protocol, m.InternalPort, m.ExternalPort, lease)
	if err != nil {
		return planner.Grant{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := natpmpCall(cctx, r.gw, req)
	if err == nil && resp.ResultCode != 0 {
		e := &NATPMPError{Code: resp.ResultCode, Epoch: resp.Epoch}
		return planner.Grant{}, &opError{Op: "natpmp map", Value: mappingValue(m), Err: e, Hint: strings.TrimPrefix(noExternalHint(e), "; ")}
	}
	if err != nil {
		return planner.Grant{}, &opError{Op: "natpmp map", Value: mappingValue(m), Err: err}
	}
	g := planner.Grant{Mapping: m, Epoch: resp.Epoch, HasEpoch: true}
	g.Mapping.ExternalPort = resp.ExternalPort
	g.Mapping.LeaseSeconds = resp.Lifetime
	if resp.ExternalPort != m.ExternalPort {
		notes = append(notes, fmt.Sprintf("router granted external port %d instead of %d", resp.ExternalPort, m.ExternalPort))
	}
	if resp.Lifetime < lease {
		notes = append(notes, fmt.Sprintf("router granted a lease of %d s (asked %d s)", resp.Lifetime, lease))
	}
	g.Note = strings.Join(notes, "; ")
	return g, nil
}

// externalNote says what is odd about an external address, or "".
// externalNote states a missing external address as a fact; the planner
// judges what an address means for reachability (planner.Classify).
func externalNote(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return "router reports no external address"
	}
	return ""
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func noExternalHint(err error) string {
	if errors.Is(err, ErrNoExternalAddress) {
		return "; the router has no public address (behind CGNAT or another router): forward the port on the upstream router or ask the provider for a public address"
	}
	return ""
}
