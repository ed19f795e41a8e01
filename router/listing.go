// GetListOfPortMappings' NewPortListing document.
//
// Reference: UPnP IGD v2, WANIPConnection:2 Service, section 2.5.20
// (GetListOfPortMappings) and the PortMappingList XML schema
// (urn:schemas-upnp-org:gw:WANIPConnection, WANIPConnection-v2.xsd).

package router

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	ig "github.com/huin/goupnp/dcps/internetgateway2"

	"github.com/netplan42/netplan42/planner"
)

// maxListing bounds how many entries one listing document may hold; a
// router has at most 2 × 65536 mappings without remote-host filters.
const maxListing = 2 * 65536

// listingFields are the PortMappingEntry fields read, by local name.
var listingFields = map[string]int{
	"NewRemoteHost": fRemoteHost, "NewExternalPort": fExternalPort, "NewProtocol": fProtocol,
	"NewInternalPort": fInternalPort, "NewInternalClient": fInternalClient, "NewEnabled": fEnabled,
	"NewDescription": fDescription, "NewLeaseTime": fLeaseTime,
}

const (
	fRemoteHost = iota
	fExternalPort
	fProtocol
	fInternalPort
	fInternalClient
	fEnabled
	fDescription
	fLeaseTime
	nFields
)

// maxListingField bounds one field's text: no more is added once it is
// this long.
const maxListingField = 1024

// parsePortListing parses a PortMappingList document. Elements are matched
// by local name, whatever their namespace prefix. Entries that cannot be
// read (no port, an unknown protocol) are counted in skipped.
func parsePortListing(b []byte) (ms []planner.Mapping, skipped int, err error) {
	if ms, skipped, ok := quickPortListing(b); ok {
		return ms, skipped, nil
	}
	return parsePortListingXML(b)
}

// parsePortListingXML is parsePortListing with encoding/xml's tokenizer,
// for any document.
func parsePortListingXML(b []byte) (ms []planner.Mapping, skipped int, err error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.CharsetReader = charsetReader
	var lr listingReader
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return lr.ms, lr.skipped, fmt.Errorf("port listing: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !lr.start(t.Name.Local) {
				return lr.ms, lr.skipped, fmt.Errorf("port listing: more than %d entries", maxListing)
			}
		case xml.CharData:
			lr.text(t)
		case xml.EndElement:
			lr.end(t.Name.Local)
		}
	}
	if !lr.sawList {
		return lr.ms, lr.skipped, fmt.Errorf("port listing: no PortMappingList element")
	}
	return lr.ms, lr.skipped, nil
}

// listingReader gathers a PortMappingList's entries from its elements,
// whichever tokenizer reads them: elements are matched by local name, an
// entry's fields are its known children's text.
type listingReader struct {
	ms      []planner.Mapping
	skipped int // entries that could not be read
	sawList bool
	inEntry bool
	field   int // of the element open in an entry; -1 for none
	cur     [nFields][]byte
}

// start takes a start tag; false when the listing holds too many entries.
func (lr *listingReader) start(local string) bool {
	switch {
	case local == "PortMappingList":
		lr.sawList = true
	case local == "PortMappingEntry":
		if len(lr.ms)+lr.skipped >= maxListing {
			return false
		}
		lr.inEntry = true
		for i := range lr.cur {
			lr.cur[i] = lr.cur[i][:0]
		}
		lr.field = -1
	case lr.inEntry:
		lr.field = -1
		if f, ok := listingFields[local]; ok {
			lr.field = f
		}
	}
	return true
}

func (lr *listingReader) text(t []byte) {
	if lr.inEntry && lr.field >= 0 && len(lr.cur[lr.field]) < maxListingField {
		lr.cur[lr.field] = append(lr.cur[lr.field], t...)
	}
}

func (lr *listingReader) end(local string) {
	switch {
	case local == "PortMappingEntry" && lr.inEntry:
		if m, ok := listingEntry(&lr.cur); ok {
			lr.ms = append(lr.ms, m)
		} else {
			lr.skipped++
		}
		lr.inEntry = false
	case lr.inEntry:
		lr.field = -1
	}
}

func listingEntry(f *[nFields][]byte) (planner.Mapping, bool) {
	get := func(k int) string { return string(bytes.TrimSpace(f[k])) }
	proto, ok := parseProtocol(get(fProtocol))
	if !ok {
		return planner.Mapping{}, false
	}
	ext, err := strconv.ParseUint(get(fExternalPort), 10, 16)
	if err != nil {
		return planner.Mapping{}, false
	}
	in, err := strconv.ParseUint(get(fInternalPort), 10, 16)
	if err != nil {
		return planner.Mapping{}, false
	}
	lease, _ := strconv.ParseUint(get(fLeaseTime), 10, 32)
	m := planner.Mapping{
		Protocol:     proto,
		ExternalPort: uint16(ext),
		InternalPort: uint16(in),
		Description:  string(f[fDescription]),
		LeaseSeconds: uint32(lease),
		RemoteHost:   get(fRemoteHost),
		Disabled:     !parseBool(get(fEnabled), true),
	}
	m.InternalAddress, _ = netip.ParseAddr(get(fInternalClient))
	return m, true
}

// listingError is a GetListOfPortMappings answer that could not be read.
type listingError struct{ err error }

func (e *listingError) Error() string { return e.err.Error() }

// listPage asks for one page of proto's mappings from start with
// GetListOfPortMappings over the IGD's pinned SOAP client, and reads the
// answer as it arrives: the envelope's tokens are read once, without
// decoding it into a struct, and NewPortListing's text (one CDATA token
// from miniupnpd) goes straight to parsePortListing. goupnp's generated
// call would decode the envelope, then its action again by reflection,
// and hand the listing back as a string to be parsed a third time. A
// SOAP fault is returned as a *UPnPError when it carries an errorCode.
func (d *igd) listPage(ctx context.Context, start uint16, proto planner.Protocol) ([]planner.Mapping, int, error) {
	sc := d.v2.ServiceClient.SOAPClient
	body := fmt.Sprintf(xml.Header+`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`+
		`<u:GetListOfPortMappings xmlns:u="%s"><NewStartPort>%d</NewStartPort><NewEndPort>65535</NewEndPort><NewProtocol>%s</NewProtocol><NewManage>1</NewManage><NewNumberOfPorts>%d</NewNumberOfPorts></u:GetListOfPortMappings>`+
		`</s:Body></s:Envelope>`, ig.URN_WANIPConnection_2, start, proto.Upper(), listPage)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sc.EndpointURL.String(), strings.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("SOAPACTION", `"`+ig.URN_WANIPConnection_2+`#GetListOfPortMappings"`)
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	resp, err := sc.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("soap request: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		if e, ok := parseUPnPError(b); ok {
			return nil, 0, e
		}
		return nil, 0, fmt.Errorf("soap request: HTTP %s", resp.Status)
	}
	return readListResponse(resp.Body, resp.ContentLength)
}

// readListResponse reads a GetListOfPortMappings response envelope of
// size bytes (-1: unknown) and parses its NewPortListing.
func readListResponse(r io.Reader, size int64) ([]planner.Mapping, int, error) {
	// Read in one buffer of the announced size (the transport caps the
	// body whatever it announces): growing it by doubling left as much
	// garbage as the body, enough to cost a 1000-entry plan a GC.
	var buf bytes.Buffer
	if size > 0 && size <= maxSOAPBody {
		buf.Grow(int(size) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, 0, &listingError{fmt.Errorf("response: %v", err)}
	}
	b := buf.Bytes()
	listing, ok := quickListResponse(b)
	if !ok {
		var err error
		if listing, err = listResponseXML(b); err != nil {
			return nil, 0, err
		}
	}
	ms, skipped, err := parsePortListing(listing)
	if err != nil {
		return nil, 0, &listingError{err}
	}
	return ms, skipped, nil
}

// listResponseXML returns the text of a response envelope's
// NewPortListing, read with encoding/xml's tokenizer.
func listResponseXML(b []byte) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.CharsetReader = charsetReader
	var listing []byte
	in, found := false, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &listingError{fmt.Errorf("response: %v", err)}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "NewPortListing" {
				in, found = true, true
			}
		case xml.CharData:
			if in {
				listing = append(listing, t...)
			}
		case xml.EndElement:
			if in && t.Name.Local == "NewPortListing" {
				in = false
			}
		}
	}
	if !found {
		return nil, &listingError{errors.New("response: no NewPortListing")}
	}
	return listing, nil
}

func parseProtocol(s string) (planner.Protocol, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TCP":
		return planner.TCP, true
	case "UDP":
		return planner.UDP, true
	}
	return "", false
}

// parseBool reads a UPnP boolean ("1", "0", "true", "false", "yes", "no").
func parseBool(s string, def bool) bool {
	switch strings.ToLower(s) {
	case "1", "true", "yes":
		return true
	case "0", "false", "no":
		return false
	}
	return def
}
