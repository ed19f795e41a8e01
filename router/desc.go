// Device description parsing.
//
// References:
//   - UPnP Device Architecture 1.1, section 2.3 (device description:
//     URLBase, serviceList, controlURL relative to URLBase or the
//     description's URL).
//   - InternetGatewayDevice:2 and :1 device templates (WANDevice ->
//     WANConnectionDevice -> WANIPConnection / WANPPPConnection).

package router

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/huin/goupnp"
)

// maxDescription bounds a device description we read.
const maxDescription = 256 << 10

// Limits on a description's shape, checked before it is decoded.
// miniupnpd's has 75 elements nested 9 deep (testdata/rootdesc-igd2.http);
// the limits leave vendors' larger ones ample room. Without them a
// description of maxDescription bytes of "<device/>" decodes into some
// 29,000 goupnp.Device values: 130 MB allocated for one bad answer.
const (
	maxDescriptionElements = 4096
	maxDescriptionDepth    = 32
)

// igdService is a WAN connection service found in a description.
type igdService struct {
	Type       string // urn:schemas-upnp-org:service:WANIPConnection:2
	ControlURL string // resolved against URLBase or the location
}

// parseDescription parses a device description fetched from loc into
// goupnp's RootDevice (so its generated SOAP clients can be built from it)
// and lists the WAN connection services it offers, best first:
// WANIPConnection:2, WANIPConnection:1, WANPPPConnection:1. It decodes
// like goupnp.DeviceByURL does, without goupnp fetching anything.
func parseDescription(b []byte, loc *url.URL) (*goupnp.RootDevice, []igdService, error) {
	if len(b) > maxDescription {
		return nil, nil, fmt.Errorf("device description of %d bytes is too long", len(b))
	}
	if _, err := descriptionShape(b); err != nil {
		return nil, nil, fmt.Errorf("device description: %v", err)
	}
	root := new(goupnp.RootDevice)
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.DefaultSpace = goupnp.DeviceXMLNamespace
	dec.CharsetReader = charsetReader
	if err := dec.Decode(root); err != nil {
		return nil, nil, fmt.Errorf("device description: %v", err)
	}
	base := loc
	if s := strings.TrimSpace(root.URLBaseStr); s != "" {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, fmt.Errorf("device description: URLBase %q: %v", s, err)
		}
		base = loc.ResolveReference(u)
	}
	root.SetURLBase(base)
	var found []igdService
	for _, st := range searchTargets {
		root.Device.VisitServices(func(s *goupnp.Service) {
			if strings.TrimSpace(s.ServiceType) == st {
				found = append(found, igdService{Type: st, ControlURL: s.ControlURL.URL.String()})
			}
		})
	}
	if len(found) == 0 {
		return root, nil, fmt.Errorf("device description lists no WANIPConnection or WANPPPConnection service")
	}
	return root, found, nil
}

// descriptionShape reads b's elements without decoding them and fails at
// the first element past maxDescriptionElements or maxDescriptionDepth. It
// returns how many elements it read, so tests can see where it stopped.
func descriptionShape(b []byte) (int, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.CharsetReader = charsetReader
	elements, depth := 0, 0
	for {
		t, err := dec.RawToken()
		if err != nil {
			// The decoder reports syntax errors, with their lines.
			return elements, nil
		}
		switch t.(type) {
		case xml.StartElement:
			elements++
			depth++
			if elements > maxDescriptionElements {
				return elements, fmt.Errorf("more than %d elements", maxDescriptionElements)
			}
			if depth > maxDescriptionDepth {
				return elements, fmt.Errorf("elements nested more than %d deep", maxDescriptionDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// charsetReader accepts the encodings routers declare for ASCII XML.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1":
		return r, nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}
