package router

import (
	"bytes"

	"github.com/netplan42/netplan42/planner"
)

// quickPortListing reads a PortMappingList document of the plain form
// routers send — elements, quoted attributes, text with the five named
// entities — about ten times faster than encoding/xml's tokenizer, which
// was most of the time plan spent on a 1000-entry listing beyond the
// router's own. On anything else (a comment, CDATA, a character
// reference, non-ASCII, a prolog naming another encoding, a malformed or
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
	if bytes.HasPrefix(b, []byte("<?xml")) {
		end := bytes.Index(b, []byte("?>"))
		if end < 0 {
			return nil, 0, false
		}
		switch string(b[:end+2]) {
		case `<?xml version="1.0"?>`, `<?xml version="1.0" encoding="utf-8"?>`, `<?xml version="1.0" encoding="UTF-8"?>`:
		default:
			return nil, 0, false
		}
		s.i = end + 2
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

// quickXML is quickPortListing's cursor.
type quickXML struct {
	b   []byte
	i   int
	buf []byte
}

// text reads character data up to the next "<", entities replaced.
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
				return nil, false
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
