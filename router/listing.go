// GetListOfPortMappings' NewPortListing document.
//
// Reference: UPnP IGD v2, WANIPConnection:2 Service, section 2.5.20
// (GetListOfPortMappings) and the PortMappingList XML schema
// (urn:schemas-upnp-org:gw:WANIPConnection, WANIPConnection-v2.xsd).

package router

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// maxListing bounds how many entries one listing document may hold; a
// router has at most 2 × 65536 mappings without remote-host filters.
const maxListing = 2 * 65536

// parsePortListing parses a PortMappingList document. Elements are matched
// by local name, whatever their namespace prefix. Entries that cannot be
// read (no port, an unknown protocol) are counted in skipped.
func parsePortListing(b []byte) (ms []planner.Mapping, skipped int, err error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.CharsetReader = charsetReader
	var (
		inEntry bool
		field   string
		cur     map[string]string
		sawList bool
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ms, skipped, fmt.Errorf("port listing: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "PortMappingList":
				sawList = true
			case t.Name.Local == "PortMappingEntry":
				if len(ms)+skipped >= maxListing {
					return ms, skipped, fmt.Errorf("port listing: more than %d entries", maxListing)
				}
				inEntry, cur = true, map[string]string{}
			case inEntry:
				field = t.Name.Local
			}
		case xml.CharData:
			if inEntry && field != "" && len(cur[field]) < 1024 {
				cur[field] += string(t)
			}
		case xml.EndElement:
			switch {
			case t.Name.Local == "PortMappingEntry" && inEntry:
				if m, ok := listingEntry(cur); ok {
					ms = append(ms, m)
				} else {
					skipped++
				}
				inEntry, cur = false, nil
			case inEntry:
				field = ""
			}
		}
	}
	if !sawList {
		return ms, skipped, fmt.Errorf("port listing: no PortMappingList element")
	}
	return ms, skipped, nil
}

func listingEntry(f map[string]string) (planner.Mapping, bool) {
	get := func(k string) string { return strings.TrimSpace(f[k]) }
	proto, ok := parseProtocol(get("NewProtocol"))
	if !ok {
		return planner.Mapping{}, false
	}
	ext, err := strconv.ParseUint(get("NewExternalPort"), 10, 16)
	if err != nil {
		return planner.Mapping{}, false
	}
	in, err := strconv.ParseUint(get("NewInternalPort"), 10, 16)
	if err != nil {
		return planner.Mapping{}, false
	}
	lease, _ := strconv.ParseUint(get("NewLeaseTime"), 10, 32)
	m := planner.Mapping{
		Protocol:     proto,
		ExternalPort: uint16(ext),
		InternalPort: uint16(in),
		Description:  f["NewDescription"],
		LeaseSeconds: uint32(lease),
		RemoteHost:   get("NewRemoteHost"),
		Disabled:     !parseBool(get("NewEnabled"), true),
	}
	m.InternalAddress, _ = netip.ParseAddr(get("NewInternalClient"))
	return m, true
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
