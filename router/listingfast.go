package router

import (
	"bytes"
	"strconv"

	"github.com/netplan42/netplan42/planner"
)

// quickPortListing reads a PortMappingList document of the plain form
// routers send — elements, quoted attributes, text with the five named
// entities and references to plain ASCII characters — about ten times
// faster than encoding/xml's tokenizer, which was most of the time plan
// spent on a 1000-entry listing beyond the router's own. On anything else
// (a comment, CDATA, another character reference, non-ASCII, a prolog
// naming another encoding, a malformed or
// unbalanced tag, or a document parsePortListing would refuse) it declines
// with ok false and parsePortListing reads it. FuzzQuickPortListing checks
// that whatever it takes, parsePortListing reads the same.
func quickPortListing(b []byte) (ms []planner.Mapping, skipped int, ok bool) {
	for _, c := range b {
		if c >= 0x80 || c < 0x20 && c != '\t' && c != '\n' {
			return nil, 0, false
		}
	}
	s := quickXML{b: b}
	if s.i, ok = s.prolog(); !ok {
		return nil, 0, false
	}
	var (
		stack [][]byte // open elements' names, prefix and all
		lr    listingReader
	)
	for s.i < len(b) {
		if b[s.i] != '<' {
			text, ok := s.text()
			if !ok {
				return nil, 0, false
			}
			lr.text(text)
			continue
		}
		closing, full, local, selfClosing, ok := s.tag()
		if !ok {
			return nil, 0, false
		}
		if !closing {
			if !lr.start(string(local)) {
				return nil, 0, false
			}
			if !selfClosing {
				stack = append(stack, full)
				continue
			}
		} else {
			if len(stack) == 0 || !bytes.Equal(stack[len(stack)-1], full) {
				return nil, 0, false
			}
			stack = stack[:len(stack)-1]
		}
		lr.end(string(local)) // an end tag, or the end of a self-closing one
	}
	if len(stack) > 0 || !lr.sawList {
		return nil, 0, false
	}
	return lr.ms, lr.skipped, true
}

// quickListResponse returns the text of NewPortListing in a
// GetListOfPortMappings response envelope of the plain form routers send,
// as listResponseXML returns it: text with the five named entities and
// references to plain ASCII characters, and CDATA sections (miniupnpd
// sends one). It declines (ok false) anything
// else quickPortListing declines, a carriage return in the listing, text
// around it, an element inside it and a second NewPortListing.
func quickListResponse(b []byte) (listing []byte, ok bool) {
	for _, c := range b {
		if c >= 0x80 || c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return nil, false
		}
	}
	s := quickXML{b: b}
	if s.i, ok = s.prolog(); !ok {
		return nil, false
	}
	var stack [][]byte
	found, in := false, false
	cdata, cdataEnd := []byte("<![CDATA["), []byte("]]>")
	for s.i < len(b) {
		if in && bytes.HasPrefix(b[s.i:], cdata) {
			end := bytes.Index(b[s.i+len(cdata):], cdataEnd)
			if end < 0 {
				return nil, false
			}
			from := s.i + len(cdata)
			if listing == nil {
				// A listing in one section (miniupnpd's) is not copied;
				// the capacity cut makes any further piece copy it.
				listing = b[from : from+end : from+end]
			} else {
				listing = append(listing, b[from:from+end]...)
			}
			s.i = from + end + len(cdataEnd)
			continue
		}
		if b[s.i] != '<' {
			text, ok := s.text()
			if !ok {
				return nil, false
			}
			if in {
				listing = append(listing, text...)
			} else if len(bytes.Trim(text, " \t\r\n")) > 0 {
				return nil, false
			}
			continue
		}
		closing, full, local, selfClosing, ok := s.tag()
		if !ok || in && !closing {
			return nil, false
		}
		switch {
		case selfClosing:
			if string(local) == "NewPortListing" {
				return nil, false
			}
		case !closing:
			if string(local) == "NewPortListing" {
				if found {
					return nil, false
				}
				found, in = true, true
			}
			stack = append(stack, full)
		default:
			if len(stack) == 0 || !bytes.Equal(stack[len(stack)-1], full) {
				return nil, false
			}
			stack = stack[:len(stack)-1]
			in = false
		}
	}
	if len(stack) > 0 || !found || bytes.IndexByte(listing, '\r') >= 0 {
		return nil, false // encoding/xml turns a carriage return into a newline
	}
	return listing, true
}

// prolog reads an XML declaration of the plain kinds, if there is one,
// and returns the index after it.
func (s *quickXML) prolog() (int, bool) {
	if !bytes.HasPrefix(s.b, []byte("<?xml")) {
		return 0, true
	}
	end := bytes.Index(s.b, []byte("?>"))
	if end < 0 {
		return 0, false
	}
	switch string(s.b[:end+2]) {
	case `<?xml version="1.0"?>`, `<?xml version="1.0" encoding="utf-8"?>`, `<?xml version="1.0" encoding="UTF-8"?>`:
		return end + 2, true
	}
	return 0, false
}

// quickXML is quickPortListing's cursor.
type quickXML struct {
	b   []byte
	i   int
	buf []byte
}

// text reads character data up to the next "<", entities and character
// references replaced.
func (s *quickXML) text() ([]byte, bool) {
	s.buf = s.buf[:0]
	for s.i < len(s.b) && s.b[s.i] != '<' {
		c := s.b[s.i]
		switch c {
		case '&':
			end := bytes.IndexByte(s.b[s.i:], ';')
			if end < 0 {
				return nil, false
			}
			switch string(s.b[s.i+1 : s.i+end]) {
			case "lt":
				c = '<'
			case "gt":
				c = '>'
			case "amp":
				c = '&'
			case "quot":
				c = '"'
			case "apos":
				c = '\''
			default:
				var ok bool
				if c, ok = charRef(s.b[s.i+1 : s.i+end]); !ok {
					return nil, false
				}
			}
			s.i += end
		case '>':
			// "]]>" is not allowed in text; a lone ">" is, but be plain.
			return nil, false
		}
		s.buf = append(s.buf, c)
		s.i++
	}
	return s.buf, true
}

// charRef reads a character reference's name ("#34", "#x22") to a plain
// ASCII character: printable, tab or newline (escaped quotes, as
// xml.EscapeText writes them).
func charRef(name []byte) (byte, bool) {
	if len(name) < 2 || len(name) > 8 || name[0] != '#' {
		return 0, false
	}
	base, digits := uint64(10), name[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	if len(digits) == 0 || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(digits), int(base), 8)
	if err != nil || n != '\t' && n != '\n' && (n < 0x20 || n > 0x7e) {
		return 0, false
	}
	return byte(n), true
}

// tag reads a start or end tag at "<" and returns its name and local name.
func (s *quickXML) tag() (closing bool, name, local []byte, selfClosing bool, ok bool) {
	s.i++ // <
	if s.i < len(s.b) && s.b[s.i] == '/' {
		closing = true
		s.i++
	}
	name, ok = s.name()
	if !ok {
		return false, nil, nil, false, false
	}
	if local, ok = qname(name); !ok {
		return false, nil, nil, false, false
	}
	for {
		sp := s.spaces()
		if s.i >= len(s.b) {
			return false, nil, nil, false, false
		}
		switch s.b[s.i] {
		case '>':
			s.i++
			return closing, name, local, false, true
		case '/':
			if closing || s.i+1 >= len(s.b) || s.b[s.i+1] != '>' {
				return false, nil, nil, false, false
			}
			s.i += 2
			return false, name, local, true, true
		}
		// An attribute: name="value", after a space, on start tags only.
		if closing || !sp {
			return false, nil, nil, false, false
		}
		if attr, ok := s.name(); !ok {
			return false, nil, nil, false, false
		} else if _, ok := qname(attr); !ok {
			return false, nil, nil, false, false
		}
		s.spaces()
		if s.i >= len(s.b) || s.b[s.i] != '=' {
			return false, nil, nil, false, false
		}
		s.i++
		s.spaces()
		if s.i >= len(s.b) || s.b[s.i] != '"' && s.b[s.i] != '\'' {
			return false, nil, nil, false, false
		}
		q := s.b[s.i]
		end := bytes.IndexByte(s.b[s.i+1:], q)
		if end < 0 {
			return false, nil, nil, false, false
		}
		if bytes.ContainsAny(s.b[s.i+1:s.i+1+end], "<&") {
			return false, nil, nil, false, false
		}
		s.i += end + 2
	}
}

// name reads an XML name of ASCII letters, digits and . - _ :.
func (s *quickXML) name() ([]byte, bool) {
	from := s.i
	if s.i >= len(s.b) || !nameStart(s.b[s.i]) {
		return nil, false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		if !(nameStart(c) || c >= '0' && c <= '9' || c == '.' || c == '-') {
			break
		}
		s.i++
	}
	return s.b[from:s.i], true
}

// qname checks a name is NAME or PREFIX:NAME, each part starting with a
// letter or _, and returns its local part.
func qname(name []byte) (local []byte, ok bool) {
	prefix, local, found := bytes.Cut(name, []byte(":"))
	if !found {
		return name, len(name) > 0
	}
	if len(prefix) == 0 || len(local) == 0 || bytes.IndexByte(local, ':') >= 0 {
		return nil, false
	}
	return local, true
}

func nameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

// spaces skips blanks and reports whether there were any.
func (s *quickXML) spaces() bool {
	from := s.i
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n') {
		s.i++
	}
	return s.i > from
}
