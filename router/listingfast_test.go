package router

import (
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
	} {
		sameListing(t, []byte(b)) // taking it is fine only if encoding/xml agrees
	}
}

func FuzzQuickPortListing(f *testing.F) {
	f.Add([]byte(soapValue(f, "soap-getlist-tcp.http", "NewPortListing")))
	f.Add(listingDoc(2, "UDP"))
	f.Add([]byte(`<?xml version="1.0"?><PortMappingList><PortMappingEntry a="1"><NewRemoteHost/></PortMappingEntry></PortMappingList>`))
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
