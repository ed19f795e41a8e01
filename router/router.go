package router

import (
	"context"
	"errors"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// Config says how to find and talk to the router.
type Config struct {
	// Protocols are tried in this order (schema.ViaUPnP, ...,
	// schema.ViaManual). Empty means UPnP, NAT-PMP, then manual.
	Protocols []schema.Via
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
	// SSH says how to log in to the router when Protocols has
	// schema.ViaSSH; its host is the gateway when Gateway is zero.
	SSH *SSHConfig
	// Pinholes are the IPv6 pinholes state remembers; Observe reads them
	// back where the protocol can (RouterView.Pinholes).
	Pinholes []planner.Pinhole
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
	proto schema.Via
	e     endpoint
	notes []string // what discovery tried, for manual mode
	sess  session  // nil in manual mode
	why6  error    // why there is no IPv6 gateway or global address

	// pending, when not nil, delivers the discovery that confirms or
	// replaces the remembered IGD in sess; settle takes it.
	pending chan discovery
}

// discovery is what probing the protocols in config order found.
type discovery struct {
	proto schema.Via
	sess  session
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
		protos = []schema.Via{schema.ViaUPnP, schema.ViaNATPMP, schema.ViaManual}
	}
	for _, p := range protos {
		if protocols[p] == nil && p != schema.ViaManual {
			return nil, fmt.Errorf("router: unknown protocol %q (want one of %s)", p, knownVias())
		}
	}
	r := &Router{proto: schema.ViaManual, e: endpoint{timeout: cfg.Timeout, gw: cfg.Gateway, ssh: cfg.SSH}}
	if a, err := netip.ParseAddr(sshHost(cfg.SSH)); err == nil && !r.e.gw.IsValid() {
		r.e.gw = a
	}
	if r.e.timeout <= 0 {
		r.e.timeout = DefaultTimeout
	}
	if !r.e.gw.IsValid() {
		gw, err := defaultGateway()
		if err != nil {
			r.notes = append(r.notes, fmt.Sprintf("no gateway: %v", err))
			return r, nil
		}
		r.e.gw = gw
	}
	r.e.gw = r.e.gw.Unmap()
	if !r.e.gw.Is4() {
		return nil, fmt.Errorf("router: gateway %s is not IPv4 (netplan42 reaches routers at their IPv4 address)", r.e.gw)
	}
	if local, err := localAddr(r.e.gw); err == nil {
		r.e.local = local
	} else {
		r.notes = append(r.notes, err.Error())
	}
	// IPv6, for pinholes: cheap to learn (a route table and a UDP
	// connect); what is missing is said by Observe when it matters.
	r.e.pinholes = cfg.Pinholes
	r.e.gw6, r.why6 = defaultGateway6()
	if r.why6 == nil {
		r.e.local6, r.why6 = globalAddr6()
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
	r.proto, r.sess = d.proto, d.sess
	r.notes = append(r.notes, d.notes...)
	return d.err
}

// discover probes the protocols in order and returns what answered. It
// reads r's endpoint and changes nothing in r, so it may run while r is in
// use. hint, when not nil, is a remembered IGD the UPnP probe takes when
// SSDP confirms it.
func (r *Router) discover(ctx context.Context, protos []schema.Via, hint *rememberedIGD) discovery {
	d := discovery{proto: schema.ViaManual}
	// Every protocol before manual is probed at once; the answers are then
	// taken in config order, so a later protocol wins only when each
	// earlier one has failed or timed out, never while one might still
	// answer. Discovery costs the slowest of the earlier probes, not their
	// sum. The losers are cancelled, and discover returns after they stop.
	//
	// Confirming a remembered IGD, the protocols after UPnP are probed
	// only once UPnP has failed: the router is expected to answer UPnP
	// as before, and each probe costs it time it would rather spend on
	// our listing.
	probes := map[schema.Via]chan probeResult{}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	e := r.e
	var upnpFailed chan struct{} // closed when the UPnP probe failed
	for _, p := range protos {
		if p == schema.ViaManual {
			break
		}
		if probes[p] != nil {
			continue
		}
		done := make(chan probeResult, 1)
		probes[p] = done
		after := upnpFailed
		if hint != nil && p == schema.ViaUPnP {
			upnpFailed = make(chan struct{})
		}
		failed := upnpFailed
		wg.Go(func() {
			if after != nil {
				select {
				case <-after:
				case <-pctx.Done():
					done <- probeResult{err: fmt.Errorf("%s at %s: %w", p, e.gw, pctx.Err())}
					return
				}
			}
			s, err := protocols[p].probe(pctx, e, hint)
			if err != nil && p == schema.ViaUPnP && failed != nil {
				close(failed)
			}
			done <- probeResult{sess: s, err: err}
		})
	}
	for _, p := range protos {
		if p == schema.ViaManual {
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
			d.proto, d.sess = p, res.sess
			return d
		}
		if ctx.Err() != nil {
			d.err = fmt.Errorf("router discovery at %s: %w", r.e.gw, ctx.Err())
			return d
		}
		d.notes = append(d.notes, res.err.Error())
	}
	return d
}

// probeResult is what one protocol's probe found.
type probeResult struct {
	sess session
	err  error // says the protocol and the gateway
}

// Protocol returns the protocol the router answered with, or
// schema.ViaManual. It waits for a pending confirmation of a remembered
// IGD (Config.Remembered).
func (r *Router) Protocol() schema.Via {
	r.settle(context.Background())
	return r.proto
}

// Gateway returns the router's address.
func (r *Router) Gateway() netip.Addr { return r.e.gw }

func (r *Router) view() planner.RouterView {
	v := planner.RouterView{
		Protocol:        r.proto,
		Gateway:         r.e.gw,
		InternalAddress: r.e.local,
	}
	switch {
	case r.sess != nil:
		r.sess.describe(&v)
	case r.e.gw.IsValid():
		v.Detail = fmt.Sprintf("manual port forwarding (no router protocol answered at %s)", r.e.gw)
		v.Notes = slices.Clone(r.notes)
	default:
		v.Detail = "manual port forwarding"
		v.Notes = slices.Clone(r.notes)
	}
	return v
}

// Observe reads what the router holds. A protocol that can read the
// router's entries (v.Can.ReadsEntries; UPnP) lists the table and sets
// Listed only when the listing provably holds the whole table; when it
// does not (the router cannot list, a listing cut off by an error or the
// MaxWalk cap), Mappings holds what was listed plus each want key looked
// up on its own, and a note says why. A protocol that cannot (NAT-PMP)
// reports the epoch and external address, and no mappings. Observe
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
	if r.sess == nil {
		return v, nil
	}
	asked := r.askPinholes(ctx)
	v, err := r.sess.observe(ctx, v, want)
	if err != nil {
		asked() // the goroutine ends with ctx or its own timeout
		return v, err
	}
	return r.observePinholes(ctx, v, asked)
}

// Add asks the router for m; m.LeaseSeconds is the requested lease (0:
// permanent). It returns what the router granted.
func (r *Router) Add(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	if _, err := r.settle(ctx); err != nil {
		return planner.Grant{}, err
	}
	if !m.InternalAddress.IsValid() {
		m.InternalAddress = r.e.local
	}
	if r.sess == nil {
		return planner.Grant{}, r.manualErr("add", m)
	}
	return r.sess.add(ctx, m)
}

// Delete removes m from the router; a mapping already gone is not an
// error. m is the mapping as the caller made or last saw it, with its
// description (our tag, or what the router showed for a mapping made
// over a protocol that keeps none); an invalid InternalAddress means this
// host, as in Add.
//
// A protocol that can read entries reads the router's entry on m's key
// first and deletes it only when it is m (same internal client, internal
// port and description); when someone else holds the key now it deletes
// nothing and returns a *NotOursError, for which errors.Is(err,
// planner.ErrNotOurs) reports true.
func (r *Router) Delete(ctx context.Context, m planner.Mapping) error {
	if _, err := r.settle(ctx); err != nil {
		return err
	}
	if !m.InternalAddress.IsValid() {
		m.InternalAddress = r.e.local
	}
	if r.sess == nil {
		return r.manualErr("delete", m)
	}
	return r.sess.delete(ctx, m)
}

// Lookup reads the router's entry on k; ok is false when it holds none.
// Only a protocol that reads entries (UPnP) can: others, and manual mode,
// return an error. Apply uses it to learn what an interrupted change left
// on the router.
func (r *Router) Lookup(ctx context.Context, k planner.MappingKey) (planner.Mapping, bool, error) {
	if _, err := r.settle(ctx); err != nil {
		return planner.Mapping{}, false, err
	}
	if r.sess == nil {
		return planner.Mapping{}, false, fmt.Errorf("router lookup %s: manual mode cannot read a mapping back", k)
	}
	return r.sess.lookup(ctx, k)
}

func (r *Router) manualErr(op string, m planner.Mapping) error {
	why := "manual mode"
	if len(r.notes) > 0 {
		why = strings.Join(r.notes, "; ")
	}
	return &opError{Op: "router " + op, Value: mappingValue(m), Err: ErrManual, Hint: why}
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
