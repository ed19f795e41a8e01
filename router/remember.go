// Starting from a remembered IGD.
//
// Discovery waits for the gateway's SSDP answer (miniupnpd's comes after
// about 50 ms) before it can fetch the description. A Router opened with
// the Identity of an earlier view (Config.Remembered) fetches the
// description at the remembered URL at once and runs the usual discovery
// alongside; the Router's first use waits for that discovery. Its SSDP
// search goes out at the same moment as the fetch, as one unicast
// M-SEARCH for upnp:rootdevice (which every root device answers with its
// LOCATION and BOOTID), and waits for the answer up to Config.Timeout
// rather than the discovery window: the router is known to be there, and
// may be busy listing its table for us. When SSDP names the remembered
// IGD (the same description URL and BOOTID, and a USN whose UUID is a
// device in the fetched description), the IGD from the remembered URL is
// kept; otherwise what discovery found replaces it, and what was read
// through the remembered IGD is read again. The remembered URL is pinned
// to the gateway like any LOCATION: a URL on another host is never
// fetched, and discovery runs as without memory.

package router

import (
	"context"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// rememberedIGD is the IGD a remembered identity names, and the fetch of
// its description.
type rememberedIGD struct {
	identity string
	loc      *url.URL
	bootID   string
	done     chan struct{} // closed when the fetch has ended
	igd      *igd          // the IGD at loc, once done; nil when the fetch failed
}

// parseIdentity reads back an identity made by identityOf.
func parseIdentity(id string) (loc *url.URL, bootID string, ok bool) {
	s, bootID, _ := strings.Cut(id, " bootid=")
	u, err := url.Parse(s)
	if err != nil || identityOf(u, bootID) != id {
		return nil, "", false
	}
	return u, bootID, true
}

// remembered returns the IGD identity names when the Router may start
// from it: UPnP is tried (before manual) and the identity's description
// URL is an http URL on the gateway. Otherwise it returns nil.
func (r *Router) remembered(identity string, protos []schema.Via) *rememberedIGD {
	if identity == "" {
		return nil
	}
	i := slices.Index(protos, schema.ViaUPnP)
	if m := slices.Index(protos, schema.ViaManual); i < 0 || (m >= 0 && m < i) {
		return nil
	}
	loc, bootID, ok := parseIdentity(identity)
	if !ok {
		return nil
	}
	if _, err := pinnedLocation(loc.String(), r.e.gw); err != nil {
		return nil
	}
	return &rememberedIGD{identity: identity, loc: loc, bootID: bootID, done: make(chan struct{})}
}

// fetched waits for the remembered description and returns its IGD, or
// nil when h is nil or the description could not be fetched.
func (h *rememberedIGD) fetched(ctx context.Context) *igd {
	if h == nil {
		return nil
	}
	select {
	case <-h.done:
		return h.igd
	case <-ctx.Done():
		return nil
	}
}

// confirmedBy returns the remembered IGD when found, the gateway's SSDP
// answer, names it: the same identity (description URL and BOOTID), and,
// when the answer's USN carries a UUID and the description names its
// devices, a device of that UUID in the remembered description. Otherwise, also when h is nil or its
// description could not be fetched, it returns nil.
func (h *rememberedIGD) confirmedBy(ctx context.Context, found ssdpFound) *igd {
	if h == nil || found.Location == nil || identityOf(found.Location, found.Reply.BootID) != h.identity || h.fetched(ctx) == nil {
		return nil
	}
	if uuid := usnUUID(found.Reply.USN); uuid != "" && len(h.igd.udns) > 0 && !slices.ContainsFunc(h.igd.udns, func(u string) bool { return strings.EqualFold(u, uuid) }) {
		return nil
	}
	return h.igd
}

// confirmSearch searches the gateway for the remembered IGD h with the
// fewest M-SEARCHes: one unicast for the root device, which every UPnP
// root device answers (UDA 1.1, 1.3.2) with its LOCATION and BOOTID.
// It goes out at once, beside the description fetch, since the router's
// answer is the longest wait of a plan (miniupnpd's comes after about
// 50 ms), and is given up when the description cannot be fetched. ok is
// false when there was nothing to confirm: no h, or no description.
func confirmSearch(ctx context.Context, gw netip.Addr, wait time.Duration, h *rememberedIGD) (found ssdpFound, ok bool, err error) {
	if h == nil {
		return found, false, nil
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		found ssdpFound
		err   error
	}
	done := make(chan result, 1)
	go func() {
		f, err := searchGateway(sctx, gw, wait, stRootDevice, h.loc)
		done <- result{f, err}
	}()
	if h.fetched(ctx) == nil {
		cancel()
		<-done
		return found, false, nil
	}
	res := <-done
	return res.found, true, res.err
}

// usnUUID returns the "uuid:…" part of an SSDP USN, or "".
func usnUUID(usn string) string {
	u, _, _ := strings.Cut(strings.TrimSpace(usn), "::")
	if len(u) <= len("uuid:") || !strings.EqualFold(u[:len("uuid:")], "uuid:") {
		return ""
	}
	return u
}

// openRemembered opens r from the remembered IGD h, with discovery
// running alongside to confirm it. When h's description cannot be
// fetched, or discovery is done first, r is what discovery found.
func (r *Router) openRemembered(ctx context.Context, protos []schema.Via, h *rememberedIGD) error {
	fctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(h.done)
		if d, err := openDescription(fctx, r.e.gw, h.loc, h.bootID, r.e.timeout); err == nil {
			h.igd = d
		}
	}()
	done := make(chan discovery, 1)
	go func() { done <- r.discover(ctx, protos, h) }()
	select {
	case <-h.done:
		cancel()
	case d := <-done:
		cancel() // discovery was quicker: the fetch is not needed
		return r.adopt(d)
	}
	if h.igd == nil {
		return r.adopt(<-done)
	}
	r.proto, r.sess, r.pending = schema.ViaUPnP, &upnpSession{d: h.igd, e: r.e}, done
	return nil
}

// settle waits for the discovery that confirms the remembered IGD, when
// one is pending, and takes what it found. changed reports whether that
// is not the IGD r was using, so what was read through it must be read
// again.
func (r *Router) settle(ctx context.Context) (changed bool, err error) {
	if r.pending == nil {
		return false, nil
	}
	var d discovery
	select {
	case d = <-r.pending:
	case <-ctx.Done():
		return false, fmt.Errorf("router discovery at %s: %w", r.e.gw, ctx.Err())
	}
	r.pending = nil
	was := r.sess
	if err := r.adopt(d); err != nil {
		return true, err
	}
	return !sameIGD(was, d.sess), nil
}

// sameIGD reports whether a and b are sessions with one IGD.
func sameIGD(a, b session) bool {
	x, ok1 := a.(*upnpSession)
	y, ok2 := b.(*upnpSession)
	return ok1 && ok2 && x.d == y.d
}
