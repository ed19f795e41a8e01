// UPnP IGD driver.
//
// References:
//   - UPnP IGD v2: WANIPConnection:2 Service (2010), sections 2.5.16
//     AddPortMapping, 2.5.18 DeletePortMapping, 2.5.15
//     GetGenericPortMappingEntry, 2.5.14 GetSpecificPortMappingEntry,
//     2.5.20 GetListOfPortMappings, 2.5.21 GetExternalIPAddress, 2.4
//     error codes (402, 501, 606, 713, 714, 718, 725).
//   - UPnP IGD v1: WANIPConnection:1 and WANPPPConnection:1 (2001).
//   - UPnP Device Architecture 1.1, section 3 (SOAP control, faults).
//
// SOAP calls go through goupnp's generated clients
// (github.com/huin/goupnp/dcps/internetgateway2), built from a root
// device this package fetched itself and given a pinned, bounded HTTP
// client. goupnp's discovery and DeviceByURL are not used: they would fetch
// any LOCATION with a global client. Written here instead: SSDP, fetching
// and decoding the description, the PortMappingList parser (goupnp returns
// NewPortListing as a string), and turning SOAP faults into typed errors.

package router

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/huin/goupnp"
	ig "github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"

	"github.com/netplan42/netplan42/planner"
)

// wanConn is the part of goupnp's WANIPConnection1/2 and WANPPPConnection1
// clients this driver calls.
type wanConn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetGenericPortMappingEntryCtx(ctx context.Context, index uint16) (remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, lease uint32, err error)
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) (intPort uint16, intClient string, enabled bool, desc string, lease uint32, err error)
}

var (
	_ wanConn = (*ig.WANIPConnection2)(nil)
	_ wanConn = (*ig.WANIPConnection1)(nil)
	_ wanConn = (*ig.WANPPPConnection1)(nil)
)

// Listing limits.
const (
	listPage     = 1000 // NewNumberOfPorts per GetListOfPortMappings call
	maxListPages = 200
	// MaxWalk caps the GetGenericPortMappingEntry walk.
	MaxWalk = 4096
)

// listBudget bounds the time one listing (GetListOfPortMappings pages and
// the entry walk together) may take, besides the count caps: a router
// answering each call just within its timeout would otherwise take hours
// to walk MaxWalk entries. A listing past it is incomplete, and wanted
// keys are looked up one by one. miniupnpd lists 1000 entries in well
// under a second. A variable for tests.
var listBudget = 30 * time.Second

type igd struct {
	location *url.URL
	bootID   string
	service  igdService
	devType  string
	udns     []string // every device's UDN in the description
	conn     wanConn
	v2       *ig.WANIPConnection2 // nil unless WANIPConnection:2
}

// openIGD finds the gateway's IGD by SSDP, fetches its description with a
// pinned client and builds the SOAP client for its best WAN service. When
// hint is not nil and SSDP found the remembered IGD, the description
// fetched from the remembered URL is taken instead of fetching it again.
func openIGD(ctx context.Context, gw netip.Addr, window, timeout time.Duration, hint *rememberedIGD) (*igd, error) {
	if found, ok, err := confirmSearch(ctx, gw, max(window, timeout), hint); ok {
		if err != nil {
			return nil, searchError(err, found)
		}
		if d := hint.confirmedBy(ctx, found); d != nil {
			return d, nil
		}
	}
	found, err := searchGateway(ctx, gw, window, "", nil)
	if err != nil {
		return nil, searchError(err, found)
	}
	return openDescription(ctx, gw, found.Location, found.Reply.BootID, timeout)
}

// searchError adds to a failed search's error the replies it ignored.
func searchError(err error, found ssdpFound) error {
	if len(found.Rejected) > 0 {
		err = fmt.Errorf("%v; ignored: %s", err, strings.Join(found.Rejected, "; "))
	}
	return err
}

// openDescription fetches the description at loc, which must be on gw,
// and builds the SOAP client for its best WAN service.
func openDescription(ctx context.Context, gw netip.Addr, loc *url.URL, bootID string, timeout time.Duration) (*igd, error) {
	descClient := newPinnedClient(gw, timeout, maxDescription)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	body, err := get(cctx, descClient, loc.String())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("device description: %v", err)
	}
	root, services, err := parseDescription(body, loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", loc, err)
	}
	d := &igd{location: loc, bootID: bootID, devType: root.Device.DeviceType}
	root.Device.VisitDevices(func(dev *goupnp.Device) {
		if u := strings.TrimSpace(dev.UDN); u != "" {
			d.udns = append(d.udns, u)
		}
	})
	soapClient := newPinnedClient(gw, timeout, maxSOAPBody)
	for _, s := range services {
		if _, err := pinnedLocation(s.ControlURL, gw); err != nil {
			return nil, fmt.Errorf("%s: control URL: %v", loc, err)
		}
		var sc *goupnp.ServiceClient
		switch s.Type {
		case stWANIPv2:
			cs, err := ig.NewWANIPConnection2ClientsFromRootDevice(root, loc)
			if err == nil && len(cs) > 0 {
				d.conn, d.v2, sc = cs[0], cs[0], &cs[0].ServiceClient
			}
		case stWANIPv1:
			cs, err := ig.NewWANIPConnection1ClientsFromRootDevice(root, loc)
			if err == nil && len(cs) > 0 {
				d.conn, sc = cs[0], &cs[0].ServiceClient
			}
		case stWANPPPv1:
			cs, err := ig.NewWANPPPConnection1ClientsFromRootDevice(root, loc)
			if err == nil && len(cs) > 0 {
				d.conn, sc = cs[0], &cs[0].ServiceClient
			}
		}
		if sc != nil {
			sc.SOAPClient.HTTPClient = *soapClient
			d.service = s
			return d, nil
		}
	}
	return nil, fmt.Errorf("%s: no usable WAN connection service", loc)
}

// upnpProtocol is UPnP IGD as a router protocol.
type upnpProtocol struct{}

func (upnpProtocol) probe(ctx context.Context, e endpoint, hint *rememberedIGD) (session, error) {
	d, err := openIGD(ctx, e.gw, min(ssdpWindow, e.timeout), e.timeout, hint)
	if err != nil {
		return nil, fmt.Errorf("upnp at %s: %v", e.gw, err)
	}
	return &upnpSession{d: d, e: e}, nil
}

// upnpSession is a router that answered UPnP IGD: its table can be
// listed and each entry read back, with its description.
type upnpSession struct {
	d  *igd
	e  endpoint
	v6 *upnpPinholes // IPv6 pinholes (pinhole_upnp.go), once asked
}

func (s *upnpSession) describe(v *planner.RouterView) {
	d := s.d
	ver := "v1"
	if strings.HasSuffix(strings.TrimSpace(d.devType), ":2") {
		ver = "v2"
	}
	svc := strings.TrimPrefix(d.service.Type, "urn:schemas-upnp-org:service:")
	v.Detail = fmt.Sprintf("UPnP IGD %s (%s) at %s", ver, svc, d.location)
	v.Identity = d.identity()
	v.Device = planner.Device{Version: ver, Service: svc, URL: d.location.String()}
	v.Can = planner.Capabilities{ReadsEntries: true, Describes: true}
}

func (s *upnpSession) observe(ctx context.Context, v planner.RouterView, want []planner.MappingKey) (planner.RouterView, error) {
	return s.d.observe(ctx, v, want, s.e.timeout)
}

func (s *upnpSession) add(ctx context.Context, m planner.Mapping) (planner.Grant, error) {
	return s.d.add(ctx, m, s.e.local, s.e.timeout)
}

func (s *upnpSession) delete(ctx context.Context, m planner.Mapping) error {
	return s.d.delete(ctx, m, s.e.timeout)
}

func (s *upnpSession) lookup(ctx context.Context, k planner.MappingKey) (planner.Mapping, bool, error) {
	return s.d.specific(ctx, k, "", s.e.timeout)
}

func (d *igd) identity() string { return identityOf(d.location, d.bootID) }

// identityOf is an IGD's RouterView.Identity: its description URL and
// BOOTID.UPNP.ORG. parseIdentity reads it back.
func identityOf(loc *url.URL, bootID string) string {
	if bootID == "" {
		return loc.String()
	}
	return loc.String() + " bootid=" + bootID
}

// call runs one SOAP call bounded by timeout and returns its error as a
// typed error naming the operation and value.
func call(ctx context.Context, timeout time.Duration, op, value string, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := fn(cctx)
	if err == nil {
		return nil
	}
	var fault *soap.SOAPFaultError
	switch {
	case errors.As(err, &fault):
		err = faultError(fault)
	case ctx.Err() != nil:
		err = ctx.Err()
	case cctx.Err() != nil:
		err = fmt.Errorf("%w (%v)", ErrTimeout, timeout)
	}
	return &opError{Op: "upnp " + op, Value: value, Err: err}
}

// faultError turns goupnp's decoded fault into a *UPnPError; when goupnp
// found no errorCode (odd namespaces or layout), it reads the raw detail.
func faultError(f *soap.SOAPFaultError) error {
	e := &UPnPError{Code: f.Detail.UPnPError.Errorcode, Description: strings.TrimSpace(f.Detail.UPnPError.ErrorDescription)}
	if e.Code == 0 {
		if pe, ok := parseUPnPError(f.Detail.Raw); ok {
			e = pe
		}
	}
	if e.Code == 0 {
		return fmt.Errorf("soap fault %s: %s", strings.TrimSpace(f.FaultCode), strings.TrimSpace(f.FaultString))
	}
	return e
}

func upnpCode(err error) int {
	var e *UPnPError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// isTransport reports whether err means the router could not be talked to
// at all (as opposed to an answer we did not like).
func isTransport(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (d *igd) observe(ctx context.Context, v planner.RouterView, want []planner.MappingKey, timeout time.Duration) (planner.RouterView, error) {
	var ext string
	err := call(ctx, timeout, "GetExternalIPAddress", "", func(ctx context.Context) (err error) {
		ext, err = d.conn.GetExternalIPAddressCtx(ctx)
		return err
	})
	if err != nil {
		if upnpCode(err) == 0 {
			return v, err
		}
		v.Notes = append(v.Notes, err.Error())
	} else {
		a, perr := netip.ParseAddr(strings.TrimSpace(ext))
		if perr == nil {
			v.ExternalAddress = a.Unmap()
		}
		if note := externalNote(v.ExternalAddress); note != "" {
			v.Notes = append(v.Notes, note)
		}
	}

	ms, complete, notes, err := d.list(ctx, timeout)
	v.Notes = append(v.Notes, notes...)
	if err != nil {
		return v, err
	}
	v.Mappings = ms
	if complete {
		v.Listed = true
		return v, nil
	}
	// Not provably the whole table: a key missing from ms may still be on
	// the router. The planner takes a wanted key missing from an unlisted
	// view as absent, so each one is looked up on its own; what was
	// listed is kept.
	seen := make(map[planner.MappingKey]bool, len(ms)+len(want))
	for _, m := range ms {
		seen[m.Key()] = true
	}
	for _, k := range want {
		if seen[k] {
			continue
		}
		seen[k] = true
		m, ok, err := d.specific(ctx, k, "", timeout)
		if err != nil {
			if isTransport(err) {
				return v, err
			}
			// A lookup the router failed (606, 501, a bare HTTP 500)
			// says nothing about the key: unknown, never absent.
			v.Unknown = append(v.Unknown, planner.UnknownKey{Key: k, Why: err.Error()})
			continue
		}
		if ok {
			v.Mappings = append(v.Mappings, m)
		}
	}
	return v, nil
}

// list lists the mappings: GetListOfPortMappings on IGD v2, else (or when
// that fails) the GetGenericPortMappingEntry walk. complete reports
// whether ms is provably the whole table; when it is not, ms holds what
// could be read and notes say why the rest may be missing.
func (d *igd) list(ctx context.Context, timeout time.Duration) (ms []planner.Mapping, complete bool, notes []string, err error) {
	deadline := time.Now().Add(listBudget)
	if d.v2 != nil {
		ms, complete, notes, err = d.listV2(ctx, timeout, deadline)
		if err == nil {
			return ms, complete, notes, nil
		}
		if isTransport(err) {
			return nil, false, notes, err
		}
		notes = append(notes, fmt.Sprintf("GetListOfPortMappings unusable (%v): walking GetGenericPortMappingEntry", err))
	}
	ms, wnotes, complete, err := d.walk(ctx, timeout, deadline)
	notes = append(notes, wnotes...)
	return ms, complete, notes, err
}

var errListIncomplete = errors.New("listing incomplete")

// listV2 lists both protocols with GetListOfPortMappings. complete
// reports whether the listing provably holds the whole table: no entry
// was unreadable and the entry just past the listed count does not exist.
// An error means the listing is unusable and the table should be walked.
//
// After a full page that check is made at once: when it already proves
// the table holds nothing more, the pages left (the next one of this
// protocol, the other protocol's) are not asked for. miniupnpd reads its
// whole rule set for every page, so each costs as much as the first.
func (d *igd) listV2(ctx context.Context, timeout time.Duration, deadline time.Time) (ms []planner.Mapping, complete bool, notes []string, err error) {
	var all []planner.Mapping
	skippedAll := 0
	// The end check asks for the entry at index n, the count of distinct
	// entries listed (and unreadable ones): when the router has none
	// there (713), it holds at most n entries, and so no more than were
	// listed.
	type lkey struct {
		k  planner.MappingKey
		rh string
	}
	distinct := map[lkey]bool{}
	checked, checkedErr := -1, error(nil) // the index last asked for, and its answer
	ends := func() error {
		n := len(distinct) + skippedAll
		if n != checked {
			checked = n
			_, checkedErr = d.generic(ctx, uint16(n), timeout)
		}
		return checkedErr
	}
lists:
	for _, proto := range []planner.Protocol{planner.TCP, planner.UDP} {
		start, pages := uint16(0), 0
		for {
			pages++
			if pages > maxListPages {
				return nil, false, notes, fmt.Errorf("%w: more than %d pages", errListIncomplete, maxListPages)
			}
			if time.Now().After(deadline) {
				return nil, false, notes, fmt.Errorf("%w: not done within %v", errListIncomplete, listBudget)
			}
			value := fmt.Sprintf("%s %d-65535", proto.Upper(), start)
			var page []planner.Mapping
			var skipped int
			err := call(ctx, timeout, "GetListOfPortMappings", value, func(ctx context.Context) (err error) {
				page, skipped, err = d.listPage(ctx, start, proto)
				return err
			})
			if code := upnpCode(err); code == codeNoSuchEntry || code == 730 /* PortMappingNotFound */ {
				break // nothing in range (IGD v2 2.5.20: 730)
			}
			var perr *listingError
			if errors.As(err, &perr) {
				return nil, false, notes, fmt.Errorf("GetListOfPortMappings %s: %v", value, perr.err)
			}
			if err != nil {
				return nil, false, notes, err
			}
			// A page must start where it was asked to: a router that
			// ignores NewStartPort would hand out the same full page for
			// ever (up to maxListPages of them).
			for _, m := range page {
				if m.ExternalPort < start {
					return nil, false, notes, fmt.Errorf("%w: asked for ports from %d, the router listed port %d", errListIncomplete, start, m.ExternalPort)
				}
			}
			skippedAll += skipped
			all = append(all, page...)
			if len(distinct) == 0 {
				distinct = make(map[lkey]bool, len(page)) // sized once: most tables fit one page
			}
			for _, m := range page {
				distinct[lkey{m.Key(), m.RemoteHost}] = true
			}
			if len(page)+skipped < listPage {
				break
			}
			// A full page: the table may end with it. Only a listing
			// whose every entry was read can be proved whole this way.
			if n := len(distinct) + skippedAll; skippedAll == 0 && n < 65535 {
				err := ends()
				if code := upnpCode(err); code == codeArrayIndexInvalid || code == codeNoSuchEntry {
					break lists
				}
				if isTransport(err) {
					return nil, false, notes, err
				}
			}
			// Continue after the page's highest port. That is sound
			// only when the router lists in port order; otherwise walk.
			last := uint16(0)
			for i, m := range page {
				if i > 0 && m.ExternalPort < last {
					return nil, false, notes, fmt.Errorf("%w: a full page not in port order", errListIncomplete)
				}
				last = m.ExternalPort
			}
			if last == 65535 {
				break
			}
			start = last + 1
		}
	}
	complete = true
	if skippedAll > 0 {
		// An unreadable entry may be on any key, a wanted one too.
		complete = false
		notes = append(notes, fmt.Sprintf("%d listed entries could not be read, so the listing is not the whole table: wanted ports were looked up one by one", skippedAll))
	}
	// The listing should account for the whole table: the entry at index
	// n (distinct entries listed, and unreadable ones) must not exist
	// (713). A router that lists less than it holds is walked instead.
	total := len(distinct) + skippedAll
	if total >= 65535 {
		// Index total cannot be asked for (uint16): unprovable.
		return dedupe(all), false, append(notes, fmt.Sprintf("could not confirm a listing of %d entries is complete: wanted ports were looked up one by one", total)), nil
	}
	err = ends()
	switch code := upnpCode(err); {
	case err == nil:
		return nil, false, notes, fmt.Errorf("%w: the table has more than the %d listed entries", errListIncomplete, total)
	case isTransport(err):
		return nil, false, notes, err
	case code == codeArrayIndexInvalid || code == codeNoSuchEntry:
	default:
		complete = false
		notes = append(notes, fmt.Sprintf("could not confirm the listing is complete (%v): wanted ports were looked up one by one", err))
	}
	return dedupe(all), complete, notes, nil
}

func dedupe(ms []planner.Mapping) []planner.Mapping {
	type key struct {
		k  planner.MappingKey
		rh string
	}
	seen := make(map[key]bool, len(ms))
	out := ms[:0]
	for _, m := range ms {
		k := key{m.Key(), m.RemoteHost}
		if !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out
}

func (d *igd) generic(ctx context.Context, i uint16, timeout time.Duration) (planner.Mapping, error) {
	var (
		m                   planner.Mapping
		proto, client, desc string
		enabled             bool
	)
	err := call(ctx, timeout, "GetGenericPortMappingEntry", strconv.Itoa(int(i)), func(ctx context.Context) (err error) {
		m.RemoteHost, m.ExternalPort, proto, m.InternalPort, client, enabled, desc, m.LeaseSeconds, err = d.conn.GetGenericPortMappingEntryCtx(ctx, i)
		return err
	})
	if err != nil {
		return m, err
	}
	p, ok := parseProtocol(proto)
	if !ok {
		return m, fmt.Errorf("upnp GetGenericPortMappingEntry %d: unknown protocol %q", i, proto)
	}
	m.Protocol, m.Description, m.Disabled = p, desc, !enabled
	m.InternalAddress, _ = netip.ParseAddr(strings.TrimSpace(client))
	return m, nil
}

// walk lists mappings by index until the router says there are no more
// (713 or 714), fails otherwise, or MaxWalk entries were read. complete
// reports whether the walk ended on the router's "no more": only then is
// ms the whole table. Some routers end their table with 402 or 501
// instead, but so does a router failing mid-walk, and taking that for the
// end would hide every entry past it; so any other ending leaves the walk
// incomplete, with what was read in ms and a note saying where it
// stopped.
func (d *igd) walk(ctx context.Context, timeout time.Duration, deadline time.Time) (ms []planner.Mapping, notes []string, complete bool, err error) {
	for i := 0; i < MaxWalk; i++ {
		if time.Now().After(deadline) {
			notes = append(notes, fmt.Sprintf("listing stopped after %d entries: it took longer than %v, so the router may hold more: wanted ports were looked up one by one", i, listBudget))
			return dedupe(ms), notes, false, nil
		}
		m, err := d.generic(ctx, uint16(i), timeout)
		if err != nil {
			if isTransport(err) {
				return nil, notes, false, err
			}
			code := upnpCode(err)
			if code == codeArrayIndexInvalid || code == codeNoSuchEntry {
				return dedupe(ms), notes, true, nil
			}
			if i == 0 && (code == codeInvalidAction || code == codeOptionalNotImplemented || code == 0) {
				notes = append(notes, fmt.Sprintf("router cannot list its mappings (%v): only the wanted ports were looked up", err))
				return nil, notes, false, nil
			}
			notes = append(notes, fmt.Sprintf("listing ended at entry %d on an error (%v), so it may not be the whole table: wanted ports were looked up one by one", i, err))
			return dedupe(ms), notes, false, nil
		}
		ms = append(ms, m)
	}
	notes = append(notes, fmt.Sprintf("listing stopped after %d entries (the cap), so the router may hold more: wanted ports were looked up one by one", MaxWalk))
	return dedupe(ms), notes, false, nil
}

// specific looks one key up; ok is false when the router has no such
// mapping (714).
func (d *igd) specific(ctx context.Context, k planner.MappingKey, remoteHost string, timeout time.Duration) (planner.Mapping, bool, error) {
	m := planner.Mapping{Protocol: k.Protocol, ExternalPort: k.ExternalPort, RemoteHost: remoteHost}
	var client string
	var enabled bool
	err := call(ctx, timeout, "GetSpecificPortMappingEntry", k.String(), func(ctx context.Context) (err error) {
		m.InternalPort, client, enabled, m.Description, m.LeaseSeconds, err = d.conn.GetSpecificPortMappingEntryCtx(ctx, remoteHost, k.ExternalPort, k.Protocol.Upper())
		return err
	})
	if code := upnpCode(err); code == codeNoSuchEntry || code == 730 {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	m.Disabled = !enabled
	m.InternalAddress, _ = netip.ParseAddr(strings.TrimSpace(client))
	return m, true, nil
}

func (d *igd) addOnce(ctx context.Context, m planner.Mapping, lease uint32, timeout time.Duration) error {
	return call(ctx, timeout, "AddPortMapping", mappingValue(m), func(ctx context.Context) error {
		return d.conn.AddPortMappingCtx(ctx, m.RemoteHost, m.ExternalPort, m.Protocol.Upper(), m.InternalPort,
			m.InternalAddress.String(), true, m.Description, lease)
	})
}

func (d *igd) add(ctx context.Context, m planner.Mapping, local netip.Addr, timeout time.Duration) (planner.Grant, error) {
	g := planner.Grant{Mapping: m}
	var notes []string
	err := d.addOnce(ctx, m, m.LeaseSeconds, timeout)
	if code := upnpCode(err); code == codeOnlyPermanentLeases || (code == codeInvalidArgs && m.LeaseSeconds != 0) {
		// IGD v1 routers that support only permanent leases say 725; some
		// say 402 to any finite lease.
		first := err
		if err = d.addOnce(ctx, m, 0, timeout); err == nil {
			g.PermanentOnly = true
			notes = append(notes, fmt.Sprintf("router allows only permanent mappings (%v); made it permanent", unwrapOp(first)))
		}
	}
	if err != nil {
		return planner.Grant{}, d.addError(ctx, m, local, err, timeout)
	}
	// Read back what the router holds: the lease it granted (IGD v2 caps
	// leases at 604800 s and turns 0 into that) and the internal side. An
	// OK is not a grant: some routers answer OK and keep another client's
	// entry on the key, or keep nothing.
	got, ok, rerr := d.specific(ctx, m.Key(), m.RemoteHost, timeout)
	switch {
	case rerr != nil:
		g.Unverified = fmt.Errorf("could not read the mapping back: %w", rerr)
		if g.PermanentOnly {
			g.Mapping.LeaseSeconds = 0
		}
	case !ok:
		return planner.Grant{}, &opError{Op: "upnp AddPortMapping", Value: mappingValue(m), Err: &NotGrantedError{Want: m}}
	case !got.InternalAddress.IsValid():
		// The router would not say which client: unknown, not another.
		g.Unverified = errors.New("the router read it back without naming a valid internal client")
		g.Mapping.LeaseSeconds = got.LeaseSeconds
	case got.InternalAddress != m.InternalAddress.Unmap() || got.InternalPort != m.InternalPort:
		return planner.Grant{}, &opError{Op: "upnp AddPortMapping", Value: mappingValue(m), Err: &NotGrantedError{Want: m, Got: got, Found: true},
			Hint: "another computer holds the port; netplan42 leaves it alone"}
	default:
		if got.Description != m.Description {
			notes = append(notes, fmt.Sprintf("the router keeps the description as %q (asked %q)", got.Description, m.Description))
		}
		g.Mapping.InternalAddress, g.Mapping.InternalPort = got.InternalAddress, got.InternalPort
		g.Mapping.Description, g.Mapping.Disabled = got.Description, got.Disabled
		g.Mapping.LeaseSeconds = got.LeaseSeconds
		want := m.LeaseSeconds
		if g.PermanentOnly {
			want = 0
		}
		if got.LeaseSeconds != want && !(want > 0 && got.LeaseSeconds < want && want-got.LeaseSeconds <= 5) {
			if want == 0 {
				notes = append(notes, fmt.Sprintf("router granted a lease of %d s for a permanent mapping", got.LeaseSeconds))
			} else {
				notes = append(notes, fmt.Sprintf("router granted a lease of %d s (asked %d s)", got.LeaseSeconds, want))
			}
		}
	}
	g.Note = strings.Join(notes, "; ")
	return g, nil
}

func unwrapOp(err error) error {
	var op *opError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

// addError explains a failed AddPortMapping: who holds the port on a
// conflict, a missing public address on a refusal.
func (d *igd) addError(ctx context.Context, m planner.Mapping, local netip.Addr, err error, timeout time.Duration) error {
	op := &opError{Op: "upnp AddPortMapping", Value: mappingValue(m), Err: unwrapOp(err)}
	switch upnpCode(err) {
	case codeConflict:
		ce := &ConflictError{Want: m, Err: op.Err}
		if h, ok, herr := d.specific(ctx, m.Key(), m.RemoteHost, timeout); herr == nil && ok {
			ce.Holder, ce.Found = h, true
		}
		op.Err = ce
		if !ce.Found && m.InternalAddress != local {
			op.Hint = fmt.Sprintf("routers in secure mode only map ports to the asking computer (%s)", local)
		}
		return op
	case codeActionFailed, codeActionNotAuthorized, 0:
		if isTransport(err) {
			return op
		}
		var ext string
		xerr := call(ctx, timeout, "GetExternalIPAddress", "", func(ctx context.Context) (err error) {
			ext, err = d.conn.GetExternalIPAddressCtx(ctx)
			return err
		})
		a, perr := netip.ParseAddr(strings.TrimSpace(ext))
		if xerr == nil && (perr != nil || !a.IsGlobalUnicast() || a.IsPrivate() || cgnat.Contains(a)) {
			op.Err = fmt.Errorf("%w: %w", ErrNoExternalAddress, op.Err)
			op.Hint = strings.TrimPrefix(noExternalHint(ErrNoExternalAddress), "; ")
			if perr == nil {
				op.Hint = fmt.Sprintf("external address %s: ", a) + op.Hint
			}
			return op
		}
		if upnpCode(err) == codeActionNotAuthorized {
			op.Hint = "the router does not allow this mapping: check its UPnP permission settings"
		}
	case codeSamePortValuesRequired:
		op.Hint = "this router needs the internal and external ports to be equal"
	case codeExternalPortOnlyWild:
		op.Hint = "this router does not accept a specific external port"
	}
	return op
}

// delete removes m from the router only while the router's entry on m's
// key is still m: the same internal client and port and the same
// description. DeletePortMapping deletes by key alone, and many consumer
// routers let any client delete any entry (miniupnpd refuses another
// host's only with secure_mode, and then with a bare 606), so a caller
// deleting by what state remembers could remove another host's mapping
// that took the port since. The entry is read first: absent, there is
// nothing to do; someone else's, nothing is deleted and the error is a
// *NotOursError (planner.ErrNotOurs). UPnP has no atomic
// compare-and-delete: the two calls go out back to back on the same
// client (and its kept-alive connection), with no discovery between, so
// the window is one round trip.
func (d *igd) delete(ctx context.Context, m planner.Mapping, timeout time.Duration) error {
	got, ok, err := d.specific(ctx, m.Key(), m.RemoteHost, timeout)
	if err != nil {
		return fmt.Errorf("upnp delete %s: not deleted, the router's entry could not be checked first: %w", m.Key(), err)
	}
	if !ok {
		return nil // already gone
	}
	if got.InternalAddress != m.InternalAddress.Unmap() || got.InternalPort != m.InternalPort || got.Description != m.Description {
		return &opError{Op: "upnp delete", Value: mappingValue(m), Err: &NotOursError{Want: m, Holder: got}}
	}
	err = call(ctx, timeout, "DeletePortMapping", m.Key().String(), func(ctx context.Context) error {
		return d.conn.DeletePortMappingCtx(ctx, m.RemoteHost, m.ExternalPort, m.Protocol.Upper())
	})
	if code := upnpCode(err); code == codeNoSuchEntry || code == 730 {
		return nil
	}
	return err
}
