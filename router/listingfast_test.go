package router

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// sameListing checks that whatever quickPortListing takes,
// parsePortListingXML reads the same entries without an error; it
// returns whether quickPortListing took b.
func sameListing(t *testing.T, b []byte) bool {
	t.Helper()
	ms, skipped, ok := quickPortListing(b)
	if !ok {
		return false
	}
	xms, xskipped, err := parsePortListingXML(b)
	if err != nil {
		t.Fatalf("quickPortListing took a document encoding/xml refuses (%v):\n%q", err, b)
	}
	if skipped != xskipped || !reflect.DeepEqual(ms, xms) {
		t.Fatalf("quickPortListing read %d entries (%d skipped), encoding/xml %d (%d skipped):\n%+v\n%+v\ninput %q", len(ms), skipped, len(xms), xskipped, ms, xms, b)
	}
	return true
}

// listingDoc builds a PortMappingList of n entries as miniupnpd writes it.
func listingDoc(n int, proto string) []byte {
	var sb strings.Builder
	sb.WriteString(`<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">`)
	for i := range n {
		fmt.Fprintf(&sb, "<p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost><p:NewExternalPort>%d</p:NewExternalPort><p:NewProtocol>%s</p:NewProtocol><p:NewInternalPort>%d</p:NewInternalPort><p:NewInternalClient>192.0.2.20</p:NewInternalClient><p:NewEnabled>1</p:NewEnabled><p:NewDescription>app &amp; &lt;%d&gt;</p:NewDescription><p:NewLeaseTime>3600</p:NewLeaseTime></p:PortMappingEntry>", 10000+i, proto, 10000+i, i)
	}
	sb.WriteString("</p:PortMappingList>")
	return []byte(sb.String())
}

// TestQuickPortListing: the routers' plain documents are taken and read as
// encoding/xml reads them; anything else is left to encoding/xml.
func TestQuickPortListing(t *testing.T) {
	must := [][]byte{
		[]byte(soapValue(t, "soap-getlist-tcp.http", "NewPortListing")),
		[]byte(soapValue(t, "soap-getlist-udp.http", "NewPortListing")),
		listingDoc(1000, "TCP"),
		listingDoc(3, "udp"),
		[]byte(`<?xml version="1.0"?>` + "\n" + `<PortMappingList><PortMappingEntry><NewExternalPort> 80 </NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>80</NewInternalPort><NewRemoteHost/><NewEnabled>0</NewEnabled></PortMappingEntry><PortMappingEntry><NewProtocol>ICMP</NewProtocol></PortMappingEntry></PortMappingList>`),
		[]byte(`<PortMappingList><PortMappingEntry><NewExternalPort>81</NewExternalPort><NewProtocol>UDP</NewProtocol><NewDescription>&#34;q&#x27;&#9;&#0126;</NewDescription></PortMappingEntry></PortMappingList>`),
	}
	for _, b := range must {
		if !sameListing(t, b) {
			t.Errorf("quickPortListing declined a plain listing: %.200q", b)
		}
	}
	for _, b := range []string{
		"", "<PortMappingEntry></PortMappingEntry>", "<a><b></a></b>", "<p:PortMappingList>", "<!-- c --><PortMappingList/>",
		"<PortMappingList><![CDATA[x]]></PortMappingList>", "<PortMappingList>&#65;</PortMappingList>", "<PortMappingList>&nbsp;</PortMappingList>",
		`<?xml version="1.0" encoding="ISO-8859-1"?><PortMappingList/>`, "<PortMappingList a=b/>", "<PortMappingList a='<'/>", "<PortMappingList>é</PortMappingList>",
		"<PortMappingList>\r\n</PortMappingList>", "<:a/>", "<a:/>", "<PortMappingList/><PortMappingList/>", "<PortMappingList>]]></PortMappingList>",
		"<PortMappingList>&#13;</PortMappingList>", "<PortMappingList>&#0;</PortMappingList>", "<PortMappingList>&#X41;</PortMappingList>", "<PortMappingList>&#;</PortMappingList>",
		"<PortMappingList>&#x;</PortMappingList>", "<PortMappingList>&#-1;</PortMappingList>", "<PortMappingList>&#+65;</PortMappingList>", "<PortMappingList>&#233;</PortMappingList>",
	} {
		sameListing(t, []byte(b)) // taking it is fine only if encoding/xml agrees
	}
}

func FuzzQuickPortListing(f *testing.F) {
	f.Add([]byte(soapValue(f, "soap-getlist-tcp.http", "NewPortListing")))
	f.Add(listingDoc(2, "UDP"))
	f.Add([]byte(`<?xml version="1.0"?><PortMappingList><PortMappingEntry a="1"><NewRemoteHost/></PortMappingEntry></PortMappingList>`))
	f.Add([]byte(`<PortMappingList><PortMappingEntry><NewDescription>&#34;&#x27;</NewDescription></PortMappingEntry></PortMappingList>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameListing(t, b)
	})
}

func BenchmarkPortListing(b *testing.B) {
	doc := listingDoc(1000, "TCP")
	for _, c := range []struct {
		name  string
		parse func([]byte) (int, error)
	}{
		{"quick", func(d []byte) (int, error) { ms, _, _ := quickPortListing(d); return len(ms), nil }},
		{"encoding-xml", func(d []byte) (int, error) { ms, _, err := parsePortListingXML(d); return len(ms), err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if n, err := c.parse(doc); n != 1000 || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// sameResponse checks that whatever quickListResponse takes,
// listResponseXML returns the same listing without an error; it returns
// whether quickListResponse took b.
func sameResponse(t *testing.T, b []byte) bool {
	t.Helper()
	listing, ok := quickListResponse(b)
	if !ok {
		return false
	}
	want, err := listResponseXML(b)
	if err != nil {
		t.Fatalf("quickListResponse took an envelope encoding/xml refuses (%v):\n%q", err, b)
	}
	if !bytes.Equal(listing, want) {
		t.Fatalf("quickListResponse read %.200q, encoding/xml %.200q\ninput %q", listing, want, b)
	}
	return true
}

// listResponse wraps listing in a response envelope as miniupnpd does:
// in a CDATA section, or else escaped.
func listResponse(listing []byte, cdata bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\r\n" + `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:GetListOfPortMappingsResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewPortListing>`)
	if cdata {
		b.WriteString("<![CDATA[")
		b.Write(listing)
		b.WriteString("]]>")
	} else {
		xml.EscapeText(&b, listing)
	}
	b.WriteString(`</NewPortListing></u:GetListOfPortMappingsResponse></s:Body></s:Envelope>` + "\r\n")
	return b.Bytes()
}

// TestQuickListResponse: the envelopes routers send are taken and read as
// encoding/xml reads them; anything else is left to encoding/xml, and
// readListResponse still reads what it can.
func TestQuickListResponse(t *testing.T) {
	doc := listingDoc(1000, "TCP")
	for name, b := range map[string][]byte{
		"miniupnpd tcp":   capture(t, "soap-getlist-tcp.http"),
		"miniupnpd udp":   capture(t, "soap-getlist-udp.http"),
		"miniupnpd empty": capture(t, "soap-getlist-empty.http"),
		"1000 in CDATA":   listResponse(doc, true),
		"1000 escaped":    listResponse(doc, false),
		"split":           bytes.Replace(listResponse(doc, true), []byte("<p:PortMappingEntry>"), []byte("]]>&lt;p:PortMappingEntry&gt;<![CDATA["), 1),
		"empty element":   []byte(`<a><NewPortListing></NewPortListing></a>`),
		"references":      []byte(`<a><NewPortListing>&#60;PortMappingList/&#x3e;</NewPortListing></a>`),
	} {
		if !sameResponse(t, b) {
			t.Errorf("%s: quickListResponse declined a plain envelope", name)
		}
	}
	small := listResponse(listingDoc(2, "UDP"), true)
	for name, b := range map[string][]byte{
		"carriage return in listing": bytes.Replace(small, []byte("<p:PortMappingEntry>"), []byte("\r\n<p:PortMappingEntry>"), 1),
		"comment":                    bytes.Replace(small, []byte("<s:Body>"), []byte("<s:Body><!-- x -->"), 1),
		"text around":                bytes.Replace(small, []byte("<s:Body>"), []byte("<s:Body>x"), 1),
		"element inside":             bytes.Replace(small, []byte("<NewPortListing>"), []byte("<NewPortListing><x/>"), 1),
		"two listings":               bytes.Replace(small, []byte("</s:Body>"), []byte("<NewPortListing>x</NewPortListing></s:Body>"), 1),
		"self-closing":               []byte(`<a><NewPortListing/></a>`),
		"carriage return reference":  []byte(`<a><NewPortListing>&#60;x/&#62;&#13;</NewPortListing></a>`),
		"doctype":                    append([]byte("<!DOCTYPE a>"), small...),
		"latin-1 prolog":             bytes.Replace(small, []byte(`<?xml version="1.0"?>`), []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`), 1),
		"non-ASCII":                  bytes.Replace(small, []byte("<s:Body>"), []byte("<s:Body>\u00e9"), 1),
		"unterminated CDATA":         bytes.Replace(small, []byte("]]>"), nil, 1),
		"unbalanced":                 bytes.Replace(small, []byte("</s:Body>"), nil, 1),
		"no listing":                 []byte(`<a><b>x</b></a>`),
	} {
		if sameResponse(t, b) {
			t.Errorf("%s: quickListResponse took %q", name, b)
		}
	}
	// Declined, yet read in full by encoding/xml.
	for _, b := range [][]byte{
		bytes.Replace(small, []byte("<s:Body>"), []byte("<s:Body><!-- x -->"), 1),
		bytes.Replace(small, []byte(`<?xml version="1.0"?>`), []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`), 1),
	} {
		for _, size := range []int64{-1, int64(len(b)), 10} { // unknown, announced, announced wrong
			ms, skipped, err := readListResponse(bytes.NewReader(b), size)
			if err != nil || len(ms) != 2 || skipped != 0 {
				t.Errorf("readListResponse (size %d): %d entries, %d skipped, %v", size, len(ms), skipped, err)
			}
		}
	}
}

func FuzzQuickListResponse(f *testing.F) {
	f.Add(capture(f, "soap-getlist-tcp.http"))
	f.Add(listResponse(listingDoc(2, "UDP"), false))
	f.Add([]byte(`<a><NewPortListing>x<![CDATA[<y>]]>&amp;</NewPortListing></a>`))
	f.Add([]byte(`<a b="c">&#32;<NewPortListing>&#60;&#x3e;&#34;</NewPortListing></a>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameResponse(t, b)
	})
}

// BenchmarkListResponse decodes miniupnpd's answer to a 1000-entry
// GetListOfPortMappings.
func BenchmarkListResponse(b *testing.B) {
	env := listResponse(listingDoc(1000, "TCP"), true)
	for _, c := range []struct {
		name    string
		listing func([]byte) ([]byte, error)
	}{
		{"quick", func(b []byte) ([]byte, error) { l, _ := quickListResponse(b); return l, nil }},
		{"encoding-xml", listResponseXML},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(env)))
			for b.Loop() {
				l, err := c.listing(env)
				if err != nil {
					b.Fatal(err)
				}
				if ms, _, err := parsePortListing(l); len(ms) != 1000 || err != nil {
					b.Fatal(len(ms), err)
				}
			}
		})
	}
}
