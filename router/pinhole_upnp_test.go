package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/huin/goupnp/soap"

	"github.com/netplan42/netplan42/planner"
)

func TestDescriptionURL6(t *testing.T) {
	loc4, _ := url.Parse("http://192.0.2.1:5000/rootDesc.xml")
	bare, _ := url.Parse("http://192.0.2.1/rootDesc.xml")
	for _, tc := range []struct {
		loc  *url.URL
		gw6  string
		want string // "" means an error
	}{
		{loc4, "2001:db8:1::1", "http://[2001:db8:1::1]:5000/rootDesc.xml"},
		{loc4, "fe80::1%eth0", "http://[fe80::1%25eth0]:5000/rootDesc.xml"},
		{bare, "2001:db8:1::1", "http://[2001:db8:1::1]/rootDesc.xml"},
		{loc4, "192.0.2.1", ""},
		{loc4, "::ffff:192.0.2.1", ""},
		{nil, "2001:db8:1::1", ""},
	} {
		gw6, _ := netip.ParseAddr(tc.gw6)
		u, err := descriptionURL6(tc.loc, gw6)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%v on %s: %s, want an error", tc.loc, tc.gw6, u)
		case tc.want != "" && err != nil:
			t.Errorf("%v on %s: %v", tc.loc, tc.gw6, err)
		case tc.want != "" && u.String() != tc.want:
			t.Errorf("%v on %s: %s, want %s", tc.loc, tc.gw6, u, tc.want)
		}
		if err == nil {
			// The URL reaches the zone the gateway is on.
			if h, _ := netip.ParseAddr(u.Hostname()); h != gw6 {
				t.Errorf("%s: host %s, want %s", u, h, gw6)
			}
		}
	}
}

// TestPinnedClient6 checks that the IPv6 client talks to the router's
// IPv6 address alone: not its IPv4 address, not another host.
func TestPinnedClient6(t *testing.T) {
	gw6 := netip.MustParseAddr("2001:db8:1::1")
	c := newPinnedClient6(gw6, netip.MustParseAddr("2001:db8:1::10"), time.Second, 1<<10)
	for _, u := range []string{"http://192.0.2.1:5000/rootDesc.xml", "http://[2001:db8:1::99]:5000/rootDesc.xml", "https://[2001:db8:1::1]:5000/"} {
		_, err := get(context.Background(), c, u)
		if err == nil || !strings.Contains(err.Error(), "not the gateway") {
			t.Errorf("GET %s: %v, want a refusal", u, err)
		}
	}
}

const fakeDesc6 = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><UDN>%s</UDN><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType><UDN>uuid:fake-igd-2</UDN><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType><UDN>uuid:fake-igd-3</UDN><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL>
</service>%s</serviceList></device></deviceList></device></deviceList></device></root>`

const fake6FC = `<service><serviceType>urn:schemas-upnp-org:service:WANIPv6FirewallControl:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId>
<controlURL>%s</controlURL><eventSubURL>/evt/IP6FCtl</eventSubURL><SCPDURL>/WANIP6FC.xml</SCPDURL></service>`

// fakeIGD6 serves a description and GetFirewallStatus on IPv6 loopback.
type fakeIGD6 struct {
	udn        string
	control    string // the 6FC service's controlURL; "" leaves the service out
	enabled    int
	allowed    int
	remoteAddr string // of the last request
}

func (f *fakeIGD6) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.remoteAddr = r.RemoteAddr
	if r.URL.Path == "/rootDesc.xml" {
		svc := ""
		if f.control != "" {
			svc = fmt.Sprintf(fake6FC, f.control)
		}
		fmt.Fprintf(w, fakeDesc6, f.udn, svc)
		return
	}
	io.ReadAll(r.Body)
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetFirewallStatusResponse xmlns:u="%s"><FirewallEnabled>%d</FirewallEnabled><InboundPinholeAllowed>%d</InboundPinholeAllowed></u:GetFirewallStatusResponse></s:Body></s:Envelope>`,
		stWANIPv6FC, f.enabled, f.allowed)
}

var loopback6 = netip.MustParseAddr("::1")

func serveIPv6(t *testing.T, h http.Handler) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/rootDesc.xml")
	return u
}

func TestOpenFirewall6(t *testing.T) {
	udns := []string{"uuid:fake-igd-1", "uuid:fake-igd-2", "uuid:fake-igd-3"}
	for _, tc := range []struct {
		name string
		f    fakeIGD6
		want string // in the error; "" means none
	}{
		{"offered", fakeIGD6{udn: "uuid:fake-igd-1", control: "/ctl/IP6FCtl", enabled: 1, allowed: 1}, ""},
		{"another device", fakeIGD6{udn: "uuid:other", control: "/ctl/IP6FCtl", enabled: 1, allowed: 1}, "not the IGD found over IPv4"},
		{"control URL elsewhere", fakeIGD6{udn: "uuid:fake-igd-1", control: "http://[2001:db8::99]:80/ctl/IP6FCtl", enabled: 1, allowed: 1}, "control URL"},
		{"no service", fakeIGD6{udn: "uuid:fake-igd-1"}, "no WANIPv6FirewallControl:1"},
		{"firewall off", fakeIGD6{udn: "uuid:fake-igd-1", control: "/ctl/IP6FCtl", enabled: 0, allowed: 1}, "firewall is off"},
		{"no pinholes", fakeIGD6{udn: "uuid:fake-igd-1", control: "/ctl/IP6FCtl", enabled: 1, allowed: 0}, "does not allow inbound pinholes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			loc := serveIPv6(t, &f)
			fw, err := openFirewall6(context.Background(), loc, loopback6, loopback6, udns, time.Second)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want %q", err, tc.want)
			case tc.want == "" && fw == nil:
				t.Fatal("no client")
			}
			if h, _, _ := net.SplitHostPort(f.remoteAddr); tc.want == "" && h != "::1" {
				t.Errorf("request came from %s", f.remoteAddr)
			}
		})
	}
}

// fakeFirewall6 answers pinhole actions from a table of IDs, with the
// faults miniupnpd gives.
type fakeFirewall6 struct {
	owner   netip.Addr // whose pinholes the table holds
	holes   map[uint16]planner.Pinhole
	packets map[uint16]int
	next    uint16
	calls   []string
	fault   int // when set, every action fails with it
}

func upnpFault(code int, desc string) error {
	f := &soap.SOAPFaultError{FaultCode: "s:Client", FaultString: "UPnPError"}
	f.Detail.UPnPError.Errorcode, f.Detail.UPnPError.ErrorDescription = code, desc
	return f
}

func (f *fakeFirewall6) GetFirewallStatusCtx(context.Context) (bool, bool, error) {
	return true, true, nil
}

func (f *fakeFirewall6) AddPinholeCtx(_ context.Context, _ string, _ uint16, client string, port uint16, proto uint16, lease uint32) (uint16, error) {
	f.calls = append(f.calls, "AddPinhole")
	if f.fault != 0 {
		return 0, upnpFault(f.fault, "fault")
	}
	if client != f.owner.String() || port < 1024 {
		return 0, upnpFault(606, "Action not authorized")
	}
	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: f.owner, InternalPort: port, LeaseSeconds: lease}
	if proto == 17 {
		p.Protocol = planner.UDP
	}
	for id, h := range f.holes {
		if h.Key() == p.Key() {
			f.holes[id] = p
			return id, nil
		}
	}
	f.next++
	f.holes[f.next] = p
	return f.next, nil
}

func (f *fakeFirewall6) lookup(id uint16) error {
	if f.fault != 0 {
		return upnpFault(f.fault, "fault")
	}
	h, ok := f.holes[id]
	switch {
	case !ok:
		return upnpFault(704, "NoSuchEntry")
	case h.InternalAddress != f.owner:
		return upnpFault(606, "Action not authorized")
	}
	return nil
}

func (f *fakeFirewall6) UpdatePinholeCtx(_ context.Context, id uint16, lease uint32) error {
	f.calls = append(f.calls, "UpdatePinhole")
	if err := f.lookup(id); err != nil {
		return err
	}
	h := f.holes[id]
	h.LeaseSeconds = lease
	f.holes[id] = h
	return nil
}

func (f *fakeFirewall6) DeletePinholeCtx(_ context.Context, id uint16) error {
	f.calls = append(f.calls, "DeletePinhole")
	if err := f.lookup(id); err != nil {
		return err
	}
	delete(f.holes, id)
	return nil
}

func (f *fakeFirewall6) CheckPinholeWorkingCtx(_ context.Context, id uint16) (bool, error) {
	f.calls = append(f.calls, "CheckPinholeWorking")
	if err := f.lookup(id); err != nil {
		return false, err
	}
	if f.packets[id] == 0 {
		return false, upnpFault(709, "NoPacketSent")
	}
	return true, nil
}

var (
	host6  = netip.MustParseAddr("2001:db8:1::10")
	other6 = netip.MustParseAddr("2001:db8:1::11")
)

func fakePinholeSession(f *fakeFirewall6) *upnpSession {
	return &upnpSession{
		e:  endpoint{timeout: time.Second, gw6: netip.MustParseAddr("2001:db8:1::1"), local6: host6},
		v6: &upnpPinholes{asked: true, fw: f},
	}
}

func TestUPnPPinholeLifecycle(t *testing.T) {
	ctx := context.Background()
	f := &fakeFirewall6{owner: host6, holes: map[uint16]planner.Pinhole{}, packets: map[uint16]int{}}
	s := fakePinholeSession(f)
	if ok, why := s.pinholesOffered(ctx); !ok {
		t.Fatal(why)
	}
	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: host6, InternalPort: 4242, LeaseSeconds: 600}
	g, err := s.addPinhole(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == 0 || g.LeaseSeconds != 600 || g.Key() != p.Key() {
		t.Fatalf("grant %+v", g)
	}
	// Present with no traffic (709) and with traffic; gone after a delete
	// (704); one without an ID is not ours.
	udp := planner.Pinhole{Protocol: planner.UDP, InternalAddress: host6, InternalPort: 4242, LeaseSeconds: 600}
	for _, packets := range []int{0, 3} {
		f.packets[g.ID] = packets
		present, readable, err := s.readPinholes(ctx, []planner.Pinhole{g, udp})
		if err != nil || !readable || len(present) != 1 || present[0] != g {
			t.Errorf("%d packets: read %+v %v %v", packets, present, readable, err)
		}
	}

	// Renewal keeps the ID, with UpdatePinhole.
	f.calls = nil
	renew := g
	renew.LeaseSeconds = 900
	rg, err := s.addPinhole(ctx, renew)
	if err != nil || rg.ID != g.ID || rg.LeaseSeconds != 900 || strings.Join(f.calls, ",") != "UpdatePinhole" {
		t.Errorf("renewal %+v %v, calls %q", rg, err, f.calls)
	}
	// Leases are 1 to 86400 s.
	renew.LeaseSeconds = 200000
	if rg, err = s.addPinhole(ctx, renew); err != nil || rg.LeaseSeconds != 86400 {
		t.Errorf("long lease: %+v %v", rg, err)
	}

	if err := s.deletePinhole(ctx, g); err != nil {
		t.Fatal(err)
	}
	present, readable, err := s.readPinholes(ctx, []planner.Pinhole{g})
	if err != nil || !readable || len(present) != 0 {
		t.Errorf("after delete: read %+v %v %v", present, readable, err)
	}
	// Already gone (704): not an error.
	if err := s.deletePinhole(ctx, g); err != nil {
		t.Errorf("second delete: %v", err)
	}

	// Renewing an ID the router lost opens the pinhole anew.
	f.calls = nil
	ng, err := s.addPinhole(ctx, g)
	if err != nil || ng.ID == 0 || ng.ID == g.ID || strings.Join(f.calls, ",") != "UpdatePinhole,AddPinhole,CheckPinholeWorking" {
		t.Errorf("renewal of a lost pinhole: %+v %v, calls %q", ng, err, f.calls)
	}

	// The ID is another host's now (a restarted router numbered anew):
	// ours is not there, and a delete deletes nothing.
	f.holes[ng.ID] = planner.Pinhole{Protocol: planner.TCP, InternalAddress: other6, InternalPort: 5000}
	present, _, _ = s.readPinholes(ctx, []planner.Pinhole{ng})
	if len(present) != 0 {
		t.Errorf("another host's ID read as ours: %+v", present)
	}
	err = s.deletePinhole(ctx, ng)
	if !errors.Is(err, planner.ErrNotOurs) || !strings.Contains(err.Error(), "606") || len(f.holes) != 1 {
		t.Errorf("deleting another host's ID: %v (table %v)", err, f.holes)
	}

	// A pinhole without an ID cannot be deleted.
	if err := s.deletePinhole(ctx, p); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no UPnP pinhole ID") {
		t.Errorf("delete without ID: %v", err)
	}
}

// TestUPnPPinholeFaults checks that the router's refusals become typed
// errors with hints the user can act on.
func TestUPnPPinholeFaults(t *testing.T) {
	ctx := context.Background()
	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: host6, InternalPort: 4242, LeaseSeconds: 600}
	low := p
	low.InternalPort = 80
	foreign := p
	foreign.InternalAddress = other6
	for _, tc := range []struct {
		name  string
		fault int
		p     planner.Pinhole
		is    error
		want  string
	}{
		{"port below 1024", 0, low, ErrRefused, "ports 1024 and up"},
		{"another address", 0, foreign, ErrRefused, "own address (2001:db8:1::10)"},
		{"606 for our own", 606, p, ErrRefused, "only over IPv6"},
		{"table full", 701, p, ErrRefused, "pinhole table is full"},
		{"firewall off", 702, p, ErrRefused, "firewall is off"},
		{"not allowed", 703, p, ErrRefused, "does not allow inbound pinholes"},
		{"protocol", 705, p, ErrRefused, "no tcp pinholes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFirewall6{owner: host6, holes: map[uint16]planner.Pinhole{}, fault: tc.fault}
			_, err := fakePinholeSession(f).addPinhole(ctx, tc.p)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %v with %q", err, tc.is, tc.want)
			}
			var ue *UPnPError
			if !errors.As(err, &ue) {
				t.Errorf("%v: no *UPnPError", err)
			}
		})
	}

	// A read the router fails otherwise leaves pinholes unreadable, not
	// absent.
	f := &fakeFirewall6{owner: host6, holes: map[uint16]planner.Pinhole{}, fault: 501}
	g := p
	g.ID = 7
	present, readable, err := fakePinholeSession(f).readPinholes(ctx, []planner.Pinhole{g})
	if err != nil || readable || present != nil {
		t.Errorf("read on 501: %+v %v %v", present, readable, err)
	}
}

// TestUPnPPinholesNotOffered: without an IPv6 route, or when the IGD is
// not reachable over IPv6, pinholes are not offered, and adding one says
// why.
func TestUPnPPinholesNotOffered(t *testing.T) {
	ctx := context.Background()
	s := &upnpSession{e: endpoint{timeout: time.Second}}
	if ok, why := s.pinholesOffered(ctx); ok || !strings.Contains(why, "no IPv6 default route") {
		t.Errorf("offered %v: %s", ok, why)
	}
	p := planner.Pinhole{Protocol: planner.TCP, InternalAddress: host6, InternalPort: 4242, LeaseSeconds: 600}
	if _, err := s.addPinhole(ctx, p); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no IPv6 default route") {
		t.Errorf("add: %v", err)
	}
}
