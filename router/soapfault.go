package router

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
)

// parseUPnPError finds a UPnPError's errorCode and errorDescription in a
// SOAP fault or its detail, matching elements by local name so any
// namespace or prefix works (UDA 1.1 section 3.2.2). ok is false when no
// errorCode was found.
func parseUPnPError(b []byte) (*UPnPError, bool) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.CharsetReader = charsetReader
	var field string
	var code, desc strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			field = t.Name.Local
		case xml.EndElement:
			field = ""
		case xml.CharData:
			switch field {
			case "errorCode":
				if code.Len() < 16 {
					code.Write(t)
				}
			case "errorDescription":
				if desc.Len() < 256 {
					desc.Write(t)
				}
			}
		}
	}
	c, err := strconv.Atoi(strings.TrimSpace(code.String()))
	if err != nil || c <= 0 {
		return nil, false
	}
	return &UPnPError{Code: c, Description: strings.TrimSpace(desc.String())}, true
}
