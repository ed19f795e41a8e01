package router

import (
	"context"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSSDP answers M-SEARCH on loopback as the gateway would, naming loc
// and bootID (and usn's UUID), and points discovery at itself. With loc
// "" it stays silent. It counts the searches it heard.
func fakeSSDP(t *testing.T, loc, bootID, uuid string) *atomic.Int32 {
	t.Helper()
	return fakeSSDPRoots(t, bootID, ssdpRoot{loc: loc, uuid: uuid})
}

// ssdpRoot is a root device the gateway announces; one that is no IGD
// (rootOnly) answers only a search for upnp:rootdevice.
type ssdpRoot struct {
	loc, uuid string
	rootOnly  bool
}

// fakeSSDPRoots is fakeSSDP for a gateway holding several root devices:
// each search is answered by every one, in order.
func fakeSSDPRoots(t *testing.T, bootID string, roots ...ssdpRoot) *atomic.Int32 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	old := ssdpPort
	ssdpPort = uint16(c.LocalAddr().(*net.UDPAddr).Port)
	t.Cleanup(func() { c.Close(); ssdpPort = old })
	var heard atomic.Int32
	stRE := regexp.MustCompile(`(?m)^ST: (\S+)\r$`)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			heard.Add(1)
			m := stRE.FindSubmatch(buf[:n])
			for _, r := range roots {
				if r.loc == "" || m == nil || r.rootOnly && string(m[1]) != stRootDevice {
					continue
				}
				fmt.Fprintf(udpTo(c, from), "HTTP/1.1 200 OK\r\nST: %s\r\nUSN: %s::%s\r\nLOCATION: %s\r\nBOOTID.UPNP.ORG: %s\r\n\r\n", m[1], r.uuid, m[1], r.loc, bootID)
			}
		}
	}()
	return &heard
}

// udpWriter writes each Write as one datagram to a peer.
type udpWriter struct {
	c  *net.UDPConn
	to *net.UDPAddr
}

func (w udpWriter) Write(b []byte) (int, error) { return w.c.WriteToUDP(b, w.to) }

func udpTo(c *net.UDPConn, to *net.UDPAddr) udpWriter { return udpWriter{c, to} }

// fakeGateway serves f on loopback (the gateway) and returns its
// description URL.
func fakeGateway(t *testing.T, f *fakeIGD) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL + "/rootDesc.xml"
}

func openLoopback(t *testing.T, remembered string) *Router {
	t.Helper()
	r, err := Open(context.Background(), Config{Protocols: []schema.Via{schema.ViaUPnP}, Gateway: loopback, Remembered: remembered})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A router opened from the identity state remembers gives the view a
// router opened by discovery gives, and its description is fetched once.
func TestFakeRememberedConfirmed(t *testing.T) {
	f := &fakeIGD{entries: foreign(3)}
	loc := fakeGateway(t, f)
	heard := fakeSSDP(t, loc, "7", "uuid:fake-igd-3")
	r := openLoopback(t, "")
	want, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Identity != loc+" bootid=7" {
		t.Fatalf("discovery: identity %q", want.Identity)
	}
	f.calls = nil
	heard.Store(0)

	r = openLoopback(t, want.Identity)
	got, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("remembered view\n%+v\nwant (discovery)\n%+v", got, want)
	}
	if f.calls["GET"] != 1 || f.calls["GetExternalIPAddress"] != 1 {
		t.Errorf("calls %v: want one description and one observation", f.calls)
	}
	if heard.Load() == 0 {
		t.Error("SSDP was not asked to confirm the remembered router")
	}
}

// The confirming search goes out before the description arrives: here
// the description is held back until the search has been heard, and the
// view is the one discovery gives.
func TestFakeRememberedSearchFirst(t *testing.T) {
	f := &fakeIGD{entries: foreign(2)}
	var heard *atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			for deadline := time.Now().Add(10 * time.Second); heard.Load() == 0; time.Sleep(2 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Error("the description was asked for and no search came within 10 s")
					break
				}
			}
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	loc := srv.URL + "/rootDesc.xml"
	heard = fakeSSDP(t, loc, "7", "uuid:fake-igd-3")
	confirmedOnce(t, f, heard, loc)
}

// A gateway with several root devices answers the confirming search once
// for each: the remembered IGD's answer confirms it, whichever comes
// first, without a second search or description.
func TestFakeRememberedOtherRootFirst(t *testing.T) {
	f := &fakeIGD{entries: foreign(1)}
	loc := fakeGateway(t, f)
	other := httptest.NewServer(http.NotFoundHandler()) // a media server, say
	t.Cleanup(other.Close)
	heard := fakeSSDPRoots(t, "7", ssdpRoot{loc: other.URL + "/desc.xml", uuid: "uuid:media-1", rootOnly: true}, ssdpRoot{loc: loc, uuid: "uuid:fake-igd-3"})
	confirmedOnce(t, f, heard, loc)
}

// confirmedOnce discovers the IGD at loc, then opens it again from the
// identity discovery gave: the view must be the same, made with one
// search and one description.
func confirmedOnce(t *testing.T, f *fakeIGD, heard *atomic.Int32, loc string) {
	t.Helper()
	want, err := openLoopback(t, "").Observe(context.Background(), nil)
	if err != nil || want.Identity != loc+" bootid=7" {
		t.Fatalf("discovery: %+v, %v", want, err)
	}
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
	heard.Store(0)
	got, err := openLoopback(t, want.Identity).Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("remembered view\n%+v\nwant (discovery)\n%+v", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := heard.Load(); n != 1 || f.calls["GET"] != 1 {
		t.Errorf("%d searches, calls %v: want one search and one description", n, f.calls)
	}
}

// When the remembered router is not the one SSDP finds now, what was read
// from it is read again from what discovery found.
func TestFakeRememberedChanged(t *testing.T) {
	f := &fakeIGD{entries: foreign(2)}
	loc := fakeGateway(t, f)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/rootDesc.xml"
	dead.Close() // a remembered URL that no longer answers
	// Which is done first, the remembered URL's description or
	// discovery, varies; the view must not.
	for _, tc := range []struct {
		name       string
		remembered string
		uuid       string // the USN's
	}{
		{"stale URL", deadURL + " bootid=7", "uuid:fake-igd-3"},
		{"restarted (another BOOTID)", loc + " bootid=6", "uuid:fake-igd-3"},
		{"replaced (another UUID)", loc + " bootid=7", "uuid:other-router"},
		{"no BOOTID remembered", loc, "uuid:fake-igd-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeSSDP(t, loc, "7", tc.uuid)
			f.mu.Lock()
			f.calls = nil
			f.mu.Unlock()
			r := openLoopback(t, tc.remembered)
			v, err := r.Observe(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if v.Identity != loc+" bootid=7" || !v.Listed || len(v.Mappings) != 2 || r.Protocol() != schema.ViaUPnP {
				t.Errorf("view %+v", v)
			}
			f.mu.Lock()
			t.Logf("calls %v", f.calls)
			f.mu.Unlock()
		})
	}
}

// A remembered URL is pinned to the gateway: one on another host is never
// fetched, and discovery decides.
func TestFakeRememberedOtherHost(t *testing.T) {
	f := &fakeIGD{entries: foreign(1)}
	loc := fakeGateway(t, f)
	fakeSSDP(t, loc, "7", "uuid:fake-igd-3")
	var hits atomic.Int32
	ln, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 to listen on: %v", err)
	}
	other := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		f.ServeHTTP(w, r)
	})}}
	other.Start()
	t.Cleanup(other.Close)
	r := openLoopback(t, other.URL+"/rootDesc.xml bootid=7")
	v, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 0 {
		t.Errorf("the remembered URL on another host was contacted %d times", hits.Load())
	}
	if v.Identity != loc+" bootid=7" {
		t.Errorf("identity %q", v.Identity)
	}
}

// When SSDP does not answer, a Router opened from memory ends up where
// discovery would: here, with UPnP alone, in manual mode, saying why; and
// nothing is changed on the router through the remembered URL.
func TestFakeRememberedNoSSDP(t *testing.T) {
	f := &fakeIGD{}
	loc := fakeGateway(t, f)
	fakeSSDP(t, "", "", "")
	r := openLoopback(t, loc+" bootid=7")
	_, err := r.Add(context.Background(), ours(4242, 3600))
	if r.Protocol() != schema.ViaManual || err == nil || !strings.Contains(err.Error(), "no SSDP answer") {
		t.Errorf("protocol %s, add error %v", r.Protocol(), err)
	}
	v, err := r.Observe(context.Background(), nil)
	if err != nil || v.Protocol != schema.ViaManual {
		t.Errorf("view %+v, %v", v, err)
	}
	if f.calls["AddPortMapping"] != 0 {
		t.Errorf("calls %v", f.calls)
	}
}

func TestParseIdentity(t *testing.T) {
	for _, id := range []string{"http://192.0.2.1:45215/rootDesc.xml bootid=1795288942", "http://192.0.2.1:5000/rootDesc.xml"} {
		loc, boot, ok := parseIdentity(id)
		if !ok || identityOf(loc, boot) != id {
			t.Errorf("%q: %v %q %v", id, loc, boot, ok)
		}
	}
	for _, id := range []string{"http://[::1", "http://192.0.2.1/a b bootid=1"} {
		if _, _, ok := parseIdentity(id); ok {
			t.Errorf("%q parsed", id)
		}
	}
	u, _ := url.Parse("http://192.0.2.1/x")
	if !slices.Contains([]string{"uuid:a"}, usnUUID("uuid:a::urn:x")) || usnUUID("urn:x") != "" || identityOf(u, "") != "http://192.0.2.1/x" {
		t.Error("usnUUID or identityOf")
	}
}

// countingProtocol fails every probe and counts them.
type countingProtocol struct{ probes *atomic.Int32 }

func (p countingProtocol) probe(ctx context.Context, e endpoint, _ *rememberedIGD) (session, error) {
	p.probes.Add(1)
	return nil, fmt.Errorf("natpmp at %s: no answer (test)", e.gw)
}

// Confirming a remembered IGD, a protocol after UPnP is probed only when
// UPnP fails: a router that answers as before is asked nothing else.
func TestFakeRememberedProbesLater(t *testing.T) {
	var probes atomic.Int32
	old := protocols[schema.ViaNATPMP]
	protocols[schema.ViaNATPMP] = countingProtocol{&probes}
	t.Cleanup(func() { protocols[schema.ViaNATPMP] = old })
	f := &fakeIGD{entries: foreign(1)}
	loc := fakeGateway(t, f)
	open := func(ssdpLoc string) *Router {
		t.Helper()
		fakeSSDP(t, ssdpLoc, "7", "uuid:fake-igd-3")
		probes.Store(0)
		r, err := Open(context.Background(), Config{Protocols: []schema.Via{schema.ViaUPnP, schema.ViaNATPMP}, Gateway: loopback, Remembered: loc + " bootid=7"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open(loc)
	if r.Protocol() != schema.ViaUPnP || probes.Load() != 0 {
		t.Errorf("confirmed: protocol %s, %d NAT-PMP probes; want upnp and none", r.Protocol(), probes.Load())
	}
	r = open("") // SSDP silent: UPnP fails
	v, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Protocol() != schema.ViaManual || probes.Load() != 1 || !slices.ContainsFunc(v.Notes, func(n string) bool { return strings.Contains(n, "no answer (test)") }) {
		t.Errorf("UPnP failed: protocol %s, %d NAT-PMP probes, notes %q; want manual after one probe", r.Protocol(), probes.Load(), v.Notes)
	}
}
