package router

import (
	"context"
	"errors"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// fakeIGD is a small IGD v2 for quirks miniupnpd never produces. Each
// quirk is a field; the table of mappings is kept so reads follow writes.
// Like many consumer routers (and miniupnpd without secure_mode), it lets
// any client add over or delete any entry.
type fakeIGD struct {
	mu sync.Mutex
	// Quirks.
	only725    bool          // finite leases refused with 725
	lease402   bool          // finite leases refused with 402
	noList     int           // GetListOfPortMappings fails with this code (401, 602)
	walkFail   int           // GetGenericPortMappingEntry at this index fails with HTTP 500/501
	junkEntry  bool          // GetListOfPortMappings lists one more entry, unreadable
	noSpecific int           // GetSpecificPortMappingEntry fails with this code
	hugeList   bool          // GetListOfPortMappings answers with a body past the cap
	delay      time.Duration // every SOAP answer waits this long
	oddPrefix  bool          // SOAP-ENV / m: prefixes and a prefixed UPnPError
	walkCode   int           // the code walkFail answers with; 0 means 501
	// A code of 500 in walkCode or noSpecific is a bare HTTP 500 with an
	// HTML body and no SOAP fault, as some routers' web servers send.
	addKeepsHolder bool // AddPortMapping on another client's key answers OK and keeps that entry
	addDropped     bool // AddPortMapping answers OK and stores nothing
	blankClient    bool // GetSpecificPortMappingEntry leaves NewInternalClient empty
	endless        bool // a table that never ends: every index has an entry, every page is full
	// silentAt makes the router go silent at its silentAt-th
	// AddPortMapping: that request and every later one get no answer;
	// with silentAfter, that one is carried out and answered first.
	silentAt    int
	silentAfter bool
	silent      bool
	// after, when set, is called with each action once it has been
	// carried out and before it is answered; when it returns true the
	// answer is held until the client gives up (an answer lost on the way).
	after func(action string) bool

	entries []planner.Mapping
	calls   map[string]int // SOAP actions answered; "GET" counts descriptions served
}

const fakeDesc = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><UDN>uuid:fake-igd-1</UDN><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType><UDN>uuid:fake-igd-2</UDN><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType><UDN>uuid:fake-igd-3</UDN><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL>
</service></serviceList></device></deviceList></device></deviceList></device></root>`

var argRE = regexp.MustCompile(`<(New\w+)>([^<]*)</New\w+>`)

func (f *fakeIGD) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/rootDesc.xml" {
		f.mu.Lock()
		if f.calls == nil {
			f.calls = map[string]int{}
		}
		f.calls["GET"]++
		f.mu.Unlock()
		io.WriteString(w, fakeDesc)
		return
	}
	body, _ := io.ReadAll(r.Body)
	_, action, _ := strings.Cut(strings.Trim(r.Header.Get("SOAPAction"), `"`), "#")
	args := map[string]string{}
	for _, m := range argRE.FindAllStringSubmatch(string(body), -1) {
		args[m[1]] = m[2]
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	silent := f.silent
	if action == "AddPortMapping" && f.silentAt > 0 && f.calls[action]+1 >= f.silentAt {
		f.silent = true
		silent = !f.silentAfter || f.calls[action]+1 > f.silentAt
	}
	f.calls[action]++
	f.mu.Unlock()
	if silent {
		<-r.Context().Done()
		return
	}
	if f.after != nil {
		defer func() {
			if f.after(action) {
				<-r.Context().Done()
			}
		}()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fault := func(status, code int, desc string) {
		if code == 500 {
			w.WriteHeader(500)
			io.WriteString(w, "<html><body>500 Internal Server Error</body></html>")
			return
		}
		w.WriteHeader(status)
		if f.oddPrefix {
			fmt.Fprintf(w, `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>UPnPError</faultstring><detail><e:UPnPError xmlns:e="urn:schemas-upnp-org:control-1-0"><e:errorCode> %d </e:errorCode><e:errorDescription>%s</e:errorDescription></e:UPnPError></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`, code, desc)
			return
		}
		fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, desc)
	}
	ok := func(inner string) {
		if f.oddPrefix {
			fmt.Fprintf(w, `<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><m:%sResponse xmlns:m="urn:schemas-upnp-org:service:WANIPConnection:2">%s</m:%sResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`, action, inner, action)
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:%sResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">%s</u:%sResponse></s:Body></s:Envelope>`, action, inner, action)
	}
	entry := func(m planner.Mapping) string {
		en := 1
		if m.Disabled {
			en = 0
		}
		return fmt.Sprintf("<NewRemoteHost></NewRemoteHost><NewExternalPort>%d</NewExternalPort><NewProtocol>%s</NewProtocol><NewInternalPort>%d</NewInternalPort><NewInternalClient>%s</NewInternalClient><NewEnabled>%d</NewEnabled><NewPortMappingDescription>%s</NewPortMappingDescription><NewLeaseDuration>%d</NewLeaseDuration>",
			m.ExternalPort, m.Protocol.Upper(), m.InternalPort, m.InternalAddress, en, m.Description, m.LeaseSeconds)
	}
	find := func() int {
		for i, m := range f.entries {
			if fmt.Sprint(m.ExternalPort) == args["NewExternalPort"] && m.Protocol.Upper() == args["NewProtocol"] {
				return i
			}
		}
		return -1
	}
	switch action {
	case "GetExternalIPAddress":
		ok("<NewExternalIPAddress>11.0.0.1</NewExternalIPAddress>")
	case "AddPortMapping":
		lease := args["NewLeaseDuration"]
		if lease != "0" && f.only725 {
			fault(500, 725, "OnlyPermanentLeasesSupported")
			return
		}
		if lease != "0" && f.lease402 {
			fault(500, 402, "Invalid Args")
			return
		}
		var m planner.Mapping
		fmt.Sscan(args["NewExternalPort"], &m.ExternalPort)
		fmt.Sscan(args["NewInternalPort"], &m.InternalPort)
		fmt.Sscan(lease, &m.LeaseSeconds)
		m.Protocol, _ = parseProtocol(args["NewProtocol"])
		m.InternalAddress, _ = netip.ParseAddr(args["NewInternalClient"])
		m.Description = args["NewPortMappingDescription"]
		i := find()
		switch {
		case f.addDropped:
		case f.addKeepsHolder && i >= 0 && f.entries[i].InternalAddress != m.InternalAddress:
		case i >= 0:
			f.entries[i] = m
		default:
			f.entries = append(f.entries, m)
		}
		ok("")
	case "GetSpecificPortMappingEntry":
		if f.noSpecific != 0 {
			fault(500, f.noSpecific, "ActionFailed")
			return
		}
		i := find()
		if i < 0 {
			fault(500, 714, "NoSuchEntryInArray")
			return
		}
		m := f.entries[i]
		if f.blankClient {
			m.InternalAddress = netip.Addr{}
		}
		ok(fmt.Sprintf("<NewInternalPort>%d</NewInternalPort><NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>%s</NewPortMappingDescription><NewLeaseDuration>%d</NewLeaseDuration>", m.InternalPort, m.InternalAddress, m.Description, m.LeaseSeconds))
	case "GetGenericPortMappingEntry":
		var i int
		fmt.Sscan(args["NewPortMappingIndex"], &i)
		if f.walkFail > 0 && i == f.walkFail {
			code := f.walkCode
			if code == 0 {
				code = 501
			}
			fault(500, code, "ActionFailed")
			return
		}
		if f.endless {
			ok(entry(planner.Mapping{Protocol: planner.UDP, ExternalPort: uint16(10000 + i%50000), InternalAddress: netip.MustParseAddr("127.0.0.2"), InternalPort: 9, Description: fmt.Sprintf("entry %d", i)}))
			return
		}
		if i >= len(f.entries) {
			fault(500, 713, "SpecifiedArrayIndexInvalid")
			return
		}
		ok(entry(f.entries[i]))
	case "GetListOfPortMappings":
		if f.noList != 0 {
			fault(500, f.noList, "Invalid Action")
			return
		}
		if f.hugeList {
			ok("<NewPortListing>" + strings.Repeat("x", maxSOAPBody+10) + "</NewPortListing>")
			return
		}
		var b strings.Builder
		b.WriteString(`<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection">`)
		entries := f.entries
		if f.endless {
			// Always the same full page, whatever NewStartPort says.
			entries = nil
			proto, _ := parseProtocol(args["NewProtocol"])
			for i := range listPage {
				entries = append(entries, planner.Mapping{Protocol: proto, ExternalPort: uint16(10000 + i), InternalAddress: netip.MustParseAddr("127.0.0.2"), InternalPort: 9, Description: "endless"})
			}
		}
		if !f.endless {
			// In port order from NewStartPort, at most NewNumberOfPorts,
			// as miniupnpd lists.
			var start, max int
			fmt.Sscan(args["NewStartPort"], &start)
			fmt.Sscan(args["NewNumberOfPorts"], &max)
			entries = nil
			for _, m := range f.entries {
				if int(m.ExternalPort) >= start && m.Protocol.Upper() == args["NewProtocol"] {
					entries = append(entries, m)
				}
			}
			slices.SortFunc(entries, func(a, b planner.Mapping) int { return int(a.ExternalPort) - int(b.ExternalPort) })
			entries = entries[:min(len(entries), max)]
		}
		for _, m := range entries {
			if m.Protocol.Upper() == args["NewProtocol"] {
				fmt.Fprintf(&b, "<p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost><p:NewExternalPort>%d</p:NewExternalPort><p:NewProtocol>%s</p:NewProtocol><p:NewInternalPort>%d</p:NewInternalPort><p:NewInternalClient>%s</p:NewInternalClient><p:NewEnabled>1</p:NewEnabled><p:NewDescription>%s</p:NewDescription><p:NewLeaseTime>%d</p:NewLeaseTime></p:PortMappingEntry>",
					m.ExternalPort, m.Protocol.Upper(), m.InternalPort, m.InternalAddress, m.Description, m.LeaseSeconds)
			}
		}
		if f.junkEntry {
			b.WriteString("<p:PortMappingEntry><p:NewExternalPort>x</p:NewExternalPort><p:NewProtocol>SCTP</p:NewProtocol></p:PortMappingEntry>")
		}
		b.WriteString("</p:PortMappingList>")
		ok("<NewPortListing><![CDATA[" + b.String() + "]]></NewPortListing>")
	case "DeletePortMapping":
		i := find()
		if i < 0 {
			fault(500, 714, "NoSuchEntryInArray")
			return
		}
		f.entries = append(f.entries[:i], f.entries[i+1:]...)
		ok("")
	default:
		fault(500, 401, "Invalid Action")
	}
}

// count returns how many times action was called, read under f's lock:
// for calls that timed out, whose handlers may still run.
func (f *fakeIGD) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}

var loopback = netip.MustParseAddr("127.0.0.1")

// fakeRouter serves f on loopback and returns a Router talking to it as
// its gateway.
func fakeRouter(t *testing.T, f *fakeIGD, timeout time.Duration) *Router {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	loc, _ := url.Parse(srv.URL + "/rootDesc.xml")
	d, err := openDescription(context.Background(), loopback, loc, "7", timeout)
	if err != nil {
		t.Fatal(err)
	}
	e := endpoint{timeout: timeout, gw: loopback, local: loopback}
	return &Router{proto: schema.ViaUPnP, e: e, sess: &upnpSession{d: d, e: e}}
}

func foreign(n int) []planner.Mapping {
	var ms []planner.Mapping
	for i := 0; i < n; i++ {
		ms = append(ms, planner.Mapping{Protocol: planner.UDP, ExternalPort: uint16(6000 + i), InternalPort: 6000,
			InternalAddress: netip.MustParseAddr("127.0.0.2"), Description: "foreign", LeaseSeconds: 100})
	}
	return ms
}

func TestFakeOnlyPermanent(t *testing.T) {
	for name, f := range map[string]*fakeIGD{"725": {only725: true}, "402": {lease402: true}} {
		r := fakeRouter(t, f, time.Second)
		g, err := r.Add(context.Background(), ours(4242, 3600))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !g.PermanentOnly || g.Mapping.LeaseSeconds != 0 || !strings.Contains(g.Note, "only permanent") || !strings.Contains(g.Note, name) {
			t.Errorf("%s: grant %+v", name, g)
		}
	}
}

func TestFakeNoListingWalks(t *testing.T) {
	for _, code := range []int{401, 602} {
		f := &fakeIGD{noList: code, entries: foreign(3)}
		r := fakeRouter(t, f, time.Second)
		v, err := r.Observe(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Listed || len(v.Mappings) != 3 || f.calls["GetGenericPortMappingEntry"] != 4 || !strings.Contains(strings.Join(v.Notes, " "), "GetListOfPortMappings unusable") {
			t.Errorf("%d: view %+v calls %v", code, v, f.calls)
		}
	}
}

// A walk cut off by an error is not the whole table: the view is not
// Listed, keeps what was read, and finds a wanted key past the cut-off by
// looking it up.
func TestFakeWalkEndsOn501(t *testing.T) {
	f := &fakeIGD{noList: 401, walkFail: 2, entries: foreign(5)}
	r := fakeRouter(t, f, time.Second)
	beyond := planner.MappingKey{Protocol: planner.UDP, ExternalPort: 6003} // entry 3
	absent := planner.MappingKey{Protocol: planner.TCP, ExternalPort: 7000}
	listed := planner.MappingKey{Protocol: planner.UDP, ExternalPort: 6001} // entry 1
	v, err := r.Observe(context.Background(), []planner.MappingKey{beyond, absent, listed})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("notes %q", v.Notes)
	if v.Listed || len(v.Mappings) != 3 || !strings.Contains(strings.Join(v.Notes, " "), "ended at entry 2") {
		t.Errorf("view %+v", v)
	}
	if m, ok := findMapping(v, beyond); !ok || m.InternalAddress != netip.MustParseAddr("127.0.0.2") || m.Description != "foreign" {
		t.Errorf("wanted key past the cut-off: %+v %v", m, ok)
	}
	// Only the keys the walk did not read are looked up.
	if n := f.calls["GetSpecificPortMappingEntry"]; n != 2 {
		t.Errorf("%d lookups, want 2 (%v and %v)", n, beyond, absent)
	}
}

func TestFakeWalkCap(t *testing.T) {
	// The cap on entries is under test, not the time budget: a walk of
	// MaxWalk SOAP calls under -race on a busy machine can take longer
	// than the budget (trust_test.go tests that one).
	old := listBudget
	listBudget = 10 * time.Minute
	defer func() { listBudget = old }()
	f := &fakeIGD{noList: 401, entries: foreign(MaxWalk + 5)}
	r := fakeRouter(t, f, time.Second)
	beyond := planner.MappingKey{Protocol: planner.UDP, ExternalPort: 6000 + MaxWalk + 2}
	v, err := r.Observe(context.Background(), []planner.MappingKey{beyond})
	if err != nil {
		t.Fatal(err)
	}
	if v.Listed || len(v.Mappings) != MaxWalk+1 || !strings.Contains(strings.Join(v.Notes, " "), "cap") {
		t.Errorf("listed %v mappings %d notes %q", v.Listed, len(v.Mappings), v.Notes)
	}
	if _, ok := findMapping(v, beyond); !ok {
		t.Errorf("wanted key %v past the cap not found", beyond)
	}
}

// A GetListOfPortMappings listing whose completeness the router will not
// confirm (the index just past it fails with 501, not 713), or that holds
// an entry that cannot be read, is not the whole table either.
func TestFakeListingNotProvable(t *testing.T) {
	for name, tc := range map[string]struct {
		f    *fakeIGD
		note string
	}{
		"unconfirmed": {&fakeIGD{walkFail: 3, entries: foreign(3)}, "could not confirm the listing is complete"},
		"unreadable":  {&fakeIGD{junkEntry: true, entries: foreign(3)}, "2 listed entries could not be read"},
	} {
		r := fakeRouter(t, tc.f, time.Second)
		absent := planner.MappingKey{Protocol: planner.TCP, ExternalPort: 7000}
		listed := planner.MappingKey{Protocol: planner.UDP, ExternalPort: 6001}
		v, err := r.Observe(context.Background(), []planner.MappingKey{absent, listed})
		if err != nil {
			t.Fatal(err)
		}
		if v.Listed || len(v.Mappings) != 3 || !strings.Contains(strings.Join(v.Notes, " "), tc.note) {
			t.Errorf("%s: listed %v mappings %d notes %q", name, v.Listed, len(v.Mappings), v.Notes)
		}
		if n := tc.f.calls["GetSpecificPortMappingEntry"]; n != 1 {
			t.Errorf("%s: %d lookups, want 1 (%v)", name, n, absent)
		}
	}
}

// The fake deletes any entry it is asked to, as many consumer routers do:
// Delete must read the entry first and leave it alone unless it is the
// caller's.
func TestFakeDeleteChecksOwner(t *testing.T) {
	other := planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalPort: 4242,
		InternalAddress: netip.MustParseAddr("127.0.0.2"), Description: "CrashPlan on h2"}
	mine := ours(4242, 0)
	mine.InternalAddress = loopback
	otherPort, otherDesc := mine, mine
	otherPort.InternalPort = 4243
	otherDesc.Description = "other app"
	for _, tc := range []struct {
		name    string
		router  []planner.Mapping // the router's table
		del     planner.Mapping   // what Delete is given
		notOurs string            // the error, when the entry is not del
		deleted bool              // whether DeletePortMapping is called
	}{
		{"another host holds it", []planner.Mapping{other}, mine, `external port 4242/tcp is now held by 127.0.0.2:4242 "CrashPlan on h2"; not deleting it`, false},
		{"another internal port", []planner.Mapping{otherPort}, mine, `held by 127.0.0.1:4243 "netplan42:nas/crashplan"`, false},
		{"another description", []planner.Mapping{otherDesc}, mine, `held by 127.0.0.1:4242 "other app"`, false},
		{"absent", nil, mine, "", false},
		{"ours", []planner.Mapping{mine}, mine, "", true},
		{"ours, internal address left to the router", []planner.Mapping{mine}, ours(4242, 0), "", true},
	} {
		f := &fakeIGD{entries: slices.Clone(tc.router)}
		r := fakeRouter(t, f, time.Second)
		err := r.Delete(context.Background(), tc.del)
		switch {
		case tc.notOurs != "":
			if !errors.Is(err, planner.ErrNotOurs) || !strings.Contains(fmt.Sprint(err), tc.notOurs) {
				t.Errorf("%s: err %v, want ErrNotOurs saying %q", tc.name, err, tc.notOurs)
			}
			var no *NotOursError
			if !errors.As(err, &no) || no.Holder.Description != tc.router[0].Description {
				t.Errorf("%s: no *NotOursError with the holder: %#v", tc.name, err)
			}
			t.Logf("%s: %v", tc.name, err)
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := f.calls["DeletePortMapping"]; got != map[bool]int{false: 0, true: 1}[tc.deleted] {
			t.Errorf("%s: DeletePortMapping called %d times", tc.name, got)
		}
		if tc.deleted != (len(f.entries) < len(tc.router)) {
			t.Errorf("%s: router table %+v after delete", tc.name, f.entries)
		}
	}
}

// When the entry cannot be read, Delete deletes nothing and says so; the
// error is not ErrNotOurs, which would make apply forget the mapping.
func TestFakeDeleteUncheckable(t *testing.T) {
	mine := ours(4242, 0)
	mine.InternalAddress = loopback
	f := &fakeIGD{noSpecific: 501, entries: []planner.Mapping{mine}}
	r := fakeRouter(t, f, time.Second)
	err := r.Delete(context.Background(), mine)
	t.Logf("%v", err)
	if err == nil || errors.Is(err, planner.ErrNotOurs) || !strings.Contains(err.Error(), "not deleted") || !strings.Contains(err.Error(), "501") {
		t.Errorf("err %v", err)
	}
	if f.calls["DeletePortMapping"] != 0 || len(f.entries) != 1 {
		t.Errorf("deleted: calls %v entries %+v", f.calls, f.entries)
	}
}

func TestFakeOversizedBody(t *testing.T) {
	f := &fakeIGD{hugeList: true, entries: foreign(2)}
	// The cap is under test, not the deadline: reading 4 MiB took 1.4 s
	// of the 2 s this test had under -race on a loaded 2-core machine.
	r := fakeRouter(t, f, time.Minute)
	v, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(v.Notes, " ")
	if len(v.Mappings) != 2 || !strings.Contains(notes, "too large") {
		t.Errorf("mappings %d notes %q", len(v.Mappings), notes)
	}
}

func TestFakeSlowTimesOut(t *testing.T) {
	f := &fakeIGD{}
	r := fakeRouter(t, f, 200*time.Millisecond)
	// The router answers after 3 s; the call gives up at its 200 ms
	// timeout. The bound proves it did not wait for the answer, with room
	// for a busy machine.
	const delay = 3 * time.Second
	f.mu.Lock()
	f.delay = delay
	f.mu.Unlock()
	start := time.Now()
	_, err := r.Observe(context.Background(), nil)
	if !errors.Is(err, ErrTimeout) || time.Since(start) >= delay {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	t.Logf("%v", err)
}

func TestFakeOddPrefixes(t *testing.T) {
	f := &fakeIGD{oddPrefix: true, entries: foreign(1)}
	r := fakeRouter(t, f, time.Second)
	v, err := r.Observe(context.Background(), []planner.MappingKey{{Protocol: planner.TCP, ExternalPort: 4242}})
	if err != nil || len(v.Mappings) != 1 || v.ExternalAddress != netip.MustParseAddr("11.0.0.1") {
		t.Fatalf("%+v %v", v, err)
	}
	// 714 in a prefixed fault: deleting an absent mapping is not an error.
	if err := r.Delete(context.Background(), ours(4242, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestFakeRefusesOtherHosts(t *testing.T) {
	c := newPinnedClient(loopback, time.Second, 1024)
	for _, u := range []string{"http://127.0.0.2:1/x", "http://localhost:1/x", "https://127.0.0.1:1/x"} {
		if _, err := get(context.Background(), c, u); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("GET %s: %v", u, err)
		}
	}
}

// A full first page with nothing past it is the whole table: the end
// check proves it, so no second page and no UDP page are asked for.
func TestFakeFullPageProvedWhole(t *testing.T) {
	var ms []planner.Mapping
	for i := range listPage {
		ms = append(ms, planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(20000 + i), InternalPort: 9,
			InternalAddress: netip.MustParseAddr("127.0.0.2"), Description: fmt.Sprintf("foreign %d", i), LeaseSeconds: 100})
	}
	f := &fakeIGD{entries: ms}
	r := fakeRouter(t, f, 5*time.Second)
	v, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// No note but the one on IPv6 (the fake has no IPv6 side).
	notes := slices.DeleteFunc(slices.Clone(v.Notes), func(n string) bool { return strings.HasPrefix(n, "no IPv6 pinholes") })
	if !v.Listed || len(v.Mappings) != listPage || len(notes) != 0 {
		t.Errorf("listed %v, %d mappings, notes %q", v.Listed, len(v.Mappings), v.Notes)
	}
	if n, g := f.calls["GetListOfPortMappings"], f.calls["GetGenericPortMappingEntry"]; n != 1 || g != 1 {
		t.Errorf("%d pages and %d end checks asked for, want 1 and 1", n, g)
	}
}

// When the end check after a full page finds more, listing goes on as
// before, and the listing is whole only once the final check proves it.
func TestFakeFullPageMore(t *testing.T) {
	var ms []planner.Mapping
	for i := range listPage + 5 {
		ms = append(ms, planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(20000 + i), InternalPort: 9,
			InternalAddress: netip.MustParseAddr("127.0.0.2"), Description: "foreign", LeaseSeconds: 100})
	}
	ms = append(ms, foreign(2)...)
	f := &fakeIGD{entries: ms}
	r := fakeRouter(t, f, 5*time.Second)
	v, err := r.Observe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Listed || len(v.Mappings) != listPage+7 {
		t.Errorf("listed %v, %d mappings, notes %q", v.Listed, len(v.Mappings), v.Notes)
	}
	// TCP twice, UDP once; the end checked after the first page and at the end.
	if n, g := f.calls["GetListOfPortMappings"], f.calls["GetGenericPortMappingEntry"]; n != 3 || g != 2 {
		t.Errorf("%d pages and %d end checks, want 3 and 2", n, g)
	}
}

// A full page holding an unreadable entry cannot be proved whole early.
func TestFakeFullPageUnreadable(t *testing.T) {
	var ms []planner.Mapping
	for i := range listPage - 1 {
		ms = append(ms, planner.Mapping{Protocol: planner.TCP, ExternalPort: uint16(20000 + i), InternalPort: 9,
			InternalAddress: netip.MustParseAddr("127.0.0.2"), Description: "foreign", LeaseSeconds: 100})
	}
	f := &fakeIGD{entries: ms, junkEntry: true}
	r := fakeRouter(t, f, 5*time.Second)
	want := planner.MappingKey{Protocol: planner.TCP, ExternalPort: 4242}
	v, err := r.Observe(context.Background(), []planner.MappingKey{want})
	if err != nil {
		t.Fatal(err)
	}
	if v.Listed || !strings.Contains(strings.Join(v.Notes, " "), "could not be read") || f.calls["GetSpecificPortMappingEntry"] != 1 {
		t.Errorf("listed %v, notes %q, calls %v", v.Listed, v.Notes, f.calls)
	}
}
