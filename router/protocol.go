package router

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// A protocol is one way of talking to a router. Each lives in a file of
// its own (upnp.go, natpmp.go) and is registered in protocols; a Router
// holds the session of the one that answered, and nothing outside this
// file and that protocol's own file knows which it is.
type protocol interface {
	// probe asks the router at e.gw whether it speaks the protocol and
	// returns a session with it. It bounds its own wait (a probe window
	// no longer than e.timeout) and says the protocol and gateway in its
	// error. hint, when not nil, is a remembered UPnP IGD; other
	// protocols ignore it.
	probe(ctx context.Context, e endpoint, hint *rememberedIGD) (session, error)
}

// session is a router that answered one protocol: what Router's methods
// do once discovery is over.
type session interface {
	// describe fills what v says about the protocol and device: Detail,
	// Identity, Device, Can.
	describe(v *planner.RouterView)
	// observe reads the router into v (described already).
	observe(ctx context.Context, v planner.RouterView, want []planner.MappingKey) (planner.RouterView, error)
	// add asks for m, whose InternalAddress is set; it returns the grant.
	add(ctx context.Context, m planner.Mapping) (planner.Grant, error)
	// delete removes m; a mapping already gone is not an error.
	delete(ctx context.Context, m planner.Mapping) error
	// lookup reads the router's entry on k, or says why it cannot.
	lookup(ctx context.Context, k planner.MappingKey) (planner.Mapping, bool, error)
}

// endpoint is what every protocol needs to reach the router.
type endpoint struct {
	gw      netip.Addr    // the router's LAN address
	local   netip.Addr    // this host's address towards gw; may be invalid
	timeout time.Duration // per call
	// ssh says how to log in to a router administered over SSH
	// (Config.SSH); nil otherwise.
	ssh *SSHConfig

	// gw6 is the IPv6 default route's next hop (zoned when link-local)
	// and local6 this host's global IPv6 address; either may be invalid,
	// and pinholes need both.
	gw6, local6 netip.Addr
	// pinholes are the pinholes state remembers (Config.Pinholes).
	pinholes []planner.Pinhole
}

// pinholer is a session that can open IPv6 pinholes for this host.
type pinholer interface {
	// pinholesOffered reports whether the router opens pinholes for
	// e.local6, asking it when it must; why says why not.
	pinholesOffered(ctx context.Context) (ok bool, why string)
	// readPinholes returns which of known the router holds; readable is
	// false when the protocol cannot tell (PCP).
	readPinholes(ctx context.Context, known []planner.Pinhole) (present []planner.Pinhole, readable bool, err error)
	addPinhole(ctx context.Context, p planner.Pinhole) (planner.Pinhole, error)
	deletePinhole(ctx context.Context, p planner.Pinhole) error
}

// protocols are the router protocols this package speaks. Adding one is a
// file implementing protocol and session, a schema.Via constant, and a
// line here.
var protocols = map[schema.Via]protocol{
	schema.ViaUPnP:   upnpProtocol{},
	schema.ViaNATPMP: natpmpProtocol{},
	schema.ViaPCP:    pcpDriver{},
	schema.ViaSSH:    sshProtocol{},
}

// knownVias lists what Config.Protocols may hold, for errors.
func knownVias() string {
	names := []string{}
	for v := range protocols {
		names = append(names, string(v))
	}
	slices.Sort(names)
	return strings.Join(append(names, string(schema.ViaManual)), ", ")
}
