package router

import (
	"bytes"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
)

// capture returns a testdata file; for .http captures, the body after the
// headers.
func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".http") {
		if _, body, ok := bytes.Cut(b, []byte("\r\n\r\n")); ok {
			return body
		}
	}
	return b
}

func TestParseSSDPReply(t *testing.T) {
	for _, st := range []string{"WANIPConnection-2", "WANIPConnection-1", "WANPPPConnection-1"} {
		r, err := parseSSDPReply(capture(t, "ssdp-"+st+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		wantST := "urn:schemas-upnp-org:service:" + strings.Replace(st, "-", ":", 1)
		if r.ST != wantST || r.Location != "http://192.0.2.1:45215/rootDesc.xml" || r.BootID != "1795288942" {
			t.Errorf("%s: %+v", st, r)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 404 Not Found\r\n\r\n", "HTTP/1.1 200 OK\r\nST: x\r\n\r\n", "NOTIFY * HTTP/1.1\r\n\r\n"} {
		if _, err := parseSSDPReply([]byte(bad)); err == nil {
			t.Errorf("parseSSDPReply(%q) succeeded", bad)
		}
	}
}

func TestPinnedLocation(t *testing.T) {
	gw := netip.MustParseAddr("192.0.2.1")
	for loc, ok := range map[string]bool{
		"http://192.0.2.1:45215/rootDesc.xml":  true,
		"http://192.0.2.1/x":                   true,
		"http://192.0.2.11:8080/rootDesc.xml":  false,
		"https://192.0.2.1/rootDesc.xml":       false,
		"http://router.lan/rootDesc.xml":       false,
		"http://192.0.2.1.evil/rootDesc.xml":   false,
		"http://user@192.0.2.11/":              false,
		"http://[::ffff:192.0.2.1]:80/x":       true,
		"http://192.0.2.1@192.0.2.11/desc.xml": false,
	} {
		_, err := pinnedLocation(loc, gw)
		if (err == nil) != ok {
			t.Errorf("pinnedLocation(%q) error %v, want ok=%v", loc, err, ok)
		}
	}
}

func TestParseDescription(t *testing.T) {
	loc, _ := url.Parse("http://192.0.2.1:45215/rootDesc.xml")
	for name, want := range map[string][]string{
		"rootdesc-igd2.http": {stWANIPv2 + " http://192.0.2.1:45215/ctl/IPConn"},
		"rootdesc-igd1.http": {stWANIPv1 + " http://192.0.2.1:45215/ctl/IPConn"},
	} {
		root, svcs, err := parseDescription(capture(t, name), loc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, s := range svcs {
			got = append(got, s.Type+" "+s.ControlURL)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: services %q, want %q", name, got, want)
		}
		if root.Device.DeviceType == "" {
			t.Errorf("%s: no device type", name)
		}
	}
	// goupnp resolves a relative control URL from the root of URLBase
	// ("ctl/ppp" as "/ctl/ppp"), a workaround for routers that mean it so;
	// the SOAP clients it builds use the same URL.
	_, svcs, err := parseDescription([]byte(oddDescription), loc)
	if err != nil || len(svcs) != 1 || svcs[0].ControlURL != "http://192.0.2.1:5000/ctl/ppp" {
		t.Errorf("odd description: %+v %v", svcs, err)
	}
	if _, _, err := parseDescription([]byte(`<root xmlns="urn:schemas-upnp-org:device-1-0"><device/></root>`), loc); err == nil {
		t.Error("a description without WAN services parsed")
	}
}

// oddDescription has a URLBase and a namespaced, re-prefixed document (a
// quirk miniupnpd never produces).
const oddDescription = `<?xml version="1.0" encoding="ISO-8859-1"?>
<d:root xmlns:d="urn:schemas-upnp-org:device-1-0"><d:URLBase>http://192.0.2.1:5000/base/</d:URLBase>
<d:device><d:deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</d:deviceType>
<d:deviceList><d:device><d:deviceList><d:device><d:serviceList><d:service>
<d:serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</d:serviceType>
<d:controlURL>ctl/ppp</d:controlURL></d:service></d:serviceList></d:device></d:deviceList></d:device></d:deviceList></d:device></d:root>`

// igdPath is testdata/rootdesc-igd2.http cut down to the path from the
// root to its WANIPConnection:2 service, with a URLBase.
const igdPath = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><URLBase>http://192.0.2.1:45215/</URLBase><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><deviceList><device><deviceList><device><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ctl/IPConn</controlURL>
</service></serviceList></device></deviceList></device></deviceList></device></root>`

// TestParseDescriptionShape feeds descriptions a buggy or hostile router
// could send within maxDescription: each must fail at the shape check,
// before goupnp decodes a value for every element.
func TestParseDescriptionShape(t *testing.T) {
	loc, _ := url.Parse("http://192.0.2.1:45215/rootDesc.xml")
	const head = `<root xmlns="urn:schemas-upnp-org:device-1-0"><device>`
	// fill repeats unit between start and end to make a description of
	// nearly maxDescription bytes.
	fill := func(start, unit, end string) []byte {
		n := (maxDescription - len(head) - len(start) - len(end) - len("</device></root>")) / len(unit)
		return []byte(head + start + strings.Repeat(unit, n) + end + "</device></root>")
	}
	for _, tc := range []struct {
		name     string
		in       []byte
		err      string
		elements int // where the shape check stopped
	}{
		// Before the check, the first decoded into about 29,000
		// goupnp.Device values (350,000 allocations, 130 MB).
		{"devices", fill("<deviceList>", "<device/>", "</deviceList>"), "more than 4096 elements", maxDescriptionElements + 1},
		{"services", fill("<serviceList>", "<service/>", "</serviceList>"), "more than 4096 elements", maxDescriptionElements + 1},
		{"icons", fill("<iconList>", "<icon/>", "</iconList>"), "more than 4096 elements", maxDescriptionElements + 1},
		{"unknown", fill("", "<x/>", ""), "more than 4096 elements", maxDescriptionElements + 1},
		{"deep", []byte(head + strings.Repeat("<deviceList><device>", 4000)), "nested more than 32 deep", maxDescriptionDepth + 1},
		{"deep unclosed", []byte(head + strings.Repeat("<a>", 30000)), "nested more than 32 deep", maxDescriptionDepth + 1},
	} {
		if len(tc.in) > maxDescription {
			t.Fatalf("%s: %d bytes, over maxDescription", tc.name, len(tc.in))
		}
		n, err := descriptionShape(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.err) || n != tc.elements {
			t.Errorf("%s: descriptionShape read %d elements, error %v; want %d, %q", tc.name, n, err, tc.elements, tc.err)
		}
		_, _, err = parseDescription(tc.in, loc)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: parseDescription error %v, want %q", tc.name, err, tc.err)
		}
		// The check itself allocates about 3 per element it reads.
		if a := testing.AllocsPerRun(1, func() { parseDescription(tc.in, loc) }); a > 4*maxDescriptionElements {
			t.Errorf("%s: %.0f allocations", tc.name, a)
		}
	}

	// A description at both limits still parses: igdPath with empty
	// elements and a nest of them in root, before its device.
	nested := strings.Repeat("<x>", maxDescriptionDepth-1) + strings.Repeat("</x>", maxDescriptionDepth-1)
	pad := strings.Repeat("<x/>", maxDescriptionElements-strings.Count(igdPath+nested, "</"))
	in := strings.Replace(igdPath, "<device>", pad+nested+"<device>", 1)
	if n, err := descriptionShape([]byte(in)); err != nil || n != maxDescriptionElements {
		t.Errorf("at the limits: %d elements, %v", n, err)
	}
	if _, svcs, err := parseDescription([]byte(in), loc); err != nil || len(svcs) != 1 {
		t.Errorf("at the limits: %+v %v", svcs, err)
	}
}

func TestParsePortListing(t *testing.T) {
	ms, skipped, err := parsePortListing([]byte(soapValue(t, "soap-getlist-tcp.http", "NewPortListing")))
	if err != nil || skipped != 0 {
		t.Fatal(err, skipped)
	}
	want := []planner.Mapping{
		{Protocol: planner.TCP, ExternalPort: 5000, InternalAddress: netip.MustParseAddr("192.0.2.10"), InternalPort: 5000, Description: "foreign app", LeaseSeconds: 3590},
		{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: netip.MustParseAddr("192.0.2.10"), InternalPort: 4242, Description: "netplan42:nas/crashplan", LeaseSeconds: 604792},
	}
	if len(ms) != 2 || ms[0] != want[0] || ms[1] != want[1] {
		t.Errorf("got %+v", ms)
	}
	ms, _, err = parsePortListing([]byte(soapValue(t, "soap-getlist-udp.http", "NewPortListing")))
	if err != nil || len(ms) != 1 || ms[0].Protocol != planner.UDP || ms[0].ExternalPort != 6001 || ms[0].InternalPort != 6000 {
		t.Errorf("udp: %+v %v", ms, err)
	}
	ms, _, err = parsePortListing([]byte(soapValue(t, "soap-getlist-empty.http", "NewPortListing")))
	if err != nil || len(ms) != 0 {
		t.Errorf("empty: %+v %v", ms, err)
	}
	// No namespace prefix, disabled entry, an unreadable entry.
	odd := `<PortMappingList><PortMappingEntry><NewExternalPort> 80 </NewExternalPort><NewProtocol>tcp</NewProtocol>
<NewInternalPort>8080</NewInternalPort><NewInternalClient>192.0.2.20</NewInternalClient><NewEnabled>0</NewEnabled>
<NewDescription>web &amp; co</NewDescription><NewLeaseTime>0</NewLeaseTime></PortMappingEntry>
<PortMappingEntry><NewExternalPort>99999</NewExternalPort><NewProtocol>TCP</NewProtocol></PortMappingEntry></PortMappingList>`
	ms, skipped, err = parsePortListing([]byte(odd))
	if err != nil || skipped != 1 || len(ms) != 1 || !ms[0].Disabled || ms[0].Description != "web & co" || ms[0].ExternalPort != 80 {
		t.Errorf("odd: %+v skipped %d %v", ms, skipped, err)
	}
	if _, _, err := parsePortListing([]byte("<nope/>")); err == nil {
		t.Error("no PortMappingList parsed")
	}
}

// soapValue returns the text of element name in a captured SOAP response.
func soapValue(t testing.TB, file, name string) string {
	t.Helper()
	b := string(capture(t, file))
	i := strings.Index(b, "<"+name+">")
	j := strings.Index(b, "</"+name+">")
	if i < 0 || j < i {
		t.Fatalf("%s: no %s", file, name)
	}
	v := b[i+len(name)+2 : j]
	v = strings.TrimPrefix(v, "<![CDATA[")
	return strings.TrimSuffix(v, "]]>")
}

func TestParseUPnPError(t *testing.T) {
	for file, code := range map[string]int{
		"soap-generic-713.http":                 713,
		"soap-specific-714.http":                714,
		"soap-add-718-secure-other-client.http": 718,
	} {
		e, ok := parseUPnPError(capture(t, file))
		if !ok || e.Code != code || e.Description == "" {
			t.Errorf("%s: %+v %v", file, e, ok)
		}
	}
	if _, ok := parseUPnPError(capture(t, "soap-externalip.http")); ok {
		t.Error("a success response parsed as a fault")
	}
}

func TestParseNATPMP(t *testing.T) {
	r, err := parseNATPMPResponse(capture(t, "natpmp-external.bin"))
	if err != nil || r.Op != opExternalAddress || r.ResultCode != 0 || r.External != netip.MustParseAddr("11.0.0.1") {
		t.Errorf("external: %+v %v", r, err)
	}
	r, err = parseNATPMPResponse(capture(t, "natpmp-map-tcp-4242.bin"))
	if err != nil || r.Op != opMapTCP || r.InternalPort != 4242 || r.ExternalPort != 4242 || r.Lifetime != 600 || r.Epoch != 1 {
		t.Errorf("map: %+v %v", r, err)
	}
	r, err = parseNATPMPResponse(capture(t, "natpmp-delete-tcp-4242.bin"))
	if err != nil || r.ExternalPort != 0 || r.Lifetime != 0 {
		t.Errorf("delete: %+v %v", r, err)
	}
	r, err = parseNATPMPResponse(capture(t, "natpmp-external-cgnat-result3.bin"))
	if err != nil || r.ResultCode != 3 || r.External.IsValid() {
		t.Errorf("cgnat: %+v %v", r, err)
	}
	for _, bad := range [][]byte{nil, {0, 128}, {2, 128, 0, 0, 0, 0, 0, 0}, {0, 2, 0, 0, 0, 0, 0, 0}, {0, 128, 0, 0, 0, 0, 0, 0, 1}} {
		if _, err := parseNATPMPResponse(bad); err == nil {
			t.Errorf("parseNATPMPResponse(%x) succeeded", bad)
		}
	}
	req, _ := natpmpMapRequest(planner.TCP, 4242, 4242, 600)
	if want := []byte{0, 2, 0, 0, 0x10, 0x92, 0x10, 0x92, 0, 0, 2, 0x58}; !bytes.Equal(req, want) {
		t.Errorf("map request %x, want %x", req, want)
	}
}

func TestParseProcNetRoute(t *testing.T) {
	// /proc/net/route of a lab LAN host (192.0.2.10, default via 192.0.2.1).
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
`
	gw, err := parseProcNetRoute([]byte(table))
	if err != nil || gw != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("got %v %v", gw, err)
	}
	if _, err := parseProcNetRoute([]byte("Iface\tDestination\n")); err == nil {
		t.Error("no default route parsed")
	}
}

func FuzzParseSSDPReply(f *testing.F) {
	for _, st := range []string{"WANIPConnection-2", "WANIPConnection-1", "WANPPPConnection-1"} {
		f.Add(capture(f, "ssdp-"+st+".txt"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSSDPReply(b)
		if err == nil {
			pinnedLocation(r.Location, netip.MustParseAddr("192.0.2.1"))
		}
	})
}

// FuzzParseDescription starts from small descriptions, not the 3 kB
// captures: the fuzzing engine minimizes every input that finds new
// coverage, with a pass that is quadratic in its length, for up to
// -fuzzminimizetime (60 s) (golang/go#48820). From the captures a
// 30-second run spent all its time minimizing and reported 6 execs.
func FuzzParseDescription(f *testing.F) {
	f.Add([]byte(igdPath))
	f.Add([]byte(oddDescription))
	loc, _ := url.Parse("http://192.0.2.1:45215/rootDesc.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, svcs, err := parseDescription(b, loc)
		if err == nil && len(svcs) == 0 {
			t.Fatal("no services and no error")
		}
	})
}

func FuzzParsePortListing(f *testing.F) {
	f.Add([]byte(soapValue(f, "soap-getlist-tcp.http", "NewPortListing")))
	f.Add([]byte(soapValue(f, "soap-getlist-udp.http", "NewPortListing")))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, _, _ := parsePortListing(b)
		if len(ms) > maxListing {
			t.Fatalf("%d entries", len(ms))
		}
	})
}

func FuzzParseUPnPError(f *testing.F) {
	f.Add(capture(f, "soap-generic-713.http"))
	f.Add(capture(f, "soap-add-718-secure-other-client.http"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseUPnPError(b)
	})
}

func FuzzParseNATPMP(f *testing.F) {
	for _, n := range []string{"natpmp-external.bin", "natpmp-map-tcp-4242.bin", "natpmp-external-cgnat-result3.bin"} {
		f.Add(capture(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNATPMPResponse(b)
	})
}
