package schema

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// The lock file is netplan42's own, written in one canonical form:
//
//	assignment "NETWORK" "computer.NAME" "SERVICE" {
//	  port = 1024
//	}
//
// sorted by key, after a header of # comments. parseCanonicalLock reads
// exactly that form with a line scanner, which for a 30,000-entry file is
// about fifty times faster than HCL's parser and keeps no syntax tree.
// Anything else — a hand edit, a mistake, a merge conflict — falls back to
// the HCL path, which gives the full diagnostics.

// parseCanonicalLock parses src when it is a valid lock file in canonical
// form; ok is false for anything else, valid or not.
func parseCanonicalLock(src []byte, filename string) (lock *Lock, ok bool) {
	n := bytes.Count(src, []byte("\nassignment "))
	lock = &Lock{Filename: filename, Assignments: make([]Assignment, 0, n+1)}
	nav := &lockNav{blocks: make([]lockBlock, 0, n+1)}
	line, off := 0, 0
	next := func() ([]byte, bool) {
		if off >= len(src) {
			return nil, false
		}
		end := bytes.IndexByte(src[off:], '\n')
		if end < 0 {
			return nil, false // canonical files end with a newline
		}
		l := src[off : off+end]
		off += end + 1
		line++
		return l, true
	}
	for {
		start := off
		l, more := next()
		if !more {
			if off != len(src) {
				return nil, false
			}
			break
		}
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		if len(l) < len("assignment ")+len(" {") || !bytes.HasPrefix(l, []byte("assignment ")) || !bytes.HasSuffix(l, []byte(" {")) {
			return nil, false
		}
		headerLine := line
		labels, ranges, good := lockLabels(l[len("assignment "):len(l)-2], filename, headerLine, start+len("assignment "))
		if !good {
			return nil, false
		}
		k := AssignmentKey{Network: labels[0], Computer: labels[1], Service: labels[2]}
		if !validName(k.Network) || !validName(k.Service) || len(k.Computer) <= len("computer.") || string(k.Computer[:len("computer.")]) != "computer." {
			return nil, false
		}
		pl, more := next()
		if !more || !bytes.HasPrefix(pl, []byte("  port = ")) {
			return nil, false
		}
		port, err := strconv.ParseUint(string(pl[len("  port = "):]), 10, 16)
		if err != nil || port == 0 || pl[len("  port = ")] == '0' {
			return nil, false
		}
		cl, more := next()
		if !more || len(cl) != 1 || cl[0] != '}' {
			return nil, false
		}
		if i := len(lock.Assignments); i > 0 && lock.Assignments[i-1].Key.compare(k) >= 0 {
			return nil, false // out of order or a duplicate: let HCL's path say
		}
		typeRange := hcl.Range{Filename: filename,
			Start: hcl.Pos{Line: headerLine, Column: 1, Byte: start},
			End:   hcl.Pos{Line: headerLine, Column: 11, Byte: start + 10}}
		def := hcl.RangeBetween(typeRange, ranges[2])
		lock.Assignments = append(lock.Assignments, Assignment{Key: k, Port: uint16(port), DeclRange: def})
		nav.blocks = append(nav.blocks, lockBlock{start: start, end: off - 1, key: k})
	}
	if len(lock.Assignments) == 0 {
		lock.Assignments = nil // as HCL's path has it
	}
	lock.File = &hcl.File{Body: hcl.EmptyBody(), Bytes: src, Nav: nav}
	return lock, true
}

// lockLabels reads the three quoted labels of a header, `"a" "b" "c"`,
// which start at byte off of line; it accepts only the escapes \" and \\
// and printable ASCII, which is all netplan42 writes for valid names.
func lockLabels(b []byte, filename string, line, off int) (labels [3]string, ranges [3]hcl.Range, ok bool) {
	i := 0
	for n := range 3 {
		if n > 0 {
			if i >= len(b) || b[i] != ' ' {
				return labels, ranges, false
			}
			i++
		}
		if i >= len(b) || b[i] != '"' {
			return labels, ranges, false
		}
		from := i
		i++
		var s []byte
		for {
			if i >= len(b) {
				return labels, ranges, false
			}
			c := b[i]
			switch {
			case c == '"':
			case c == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\'):
				s = append(s, b[i+1])
				i += 2
				continue
			case c < 0x20 || c >= 0x7f || c == '\\' || c == '$' || c == '%':
				return labels, ranges, false
			default:
				s = append(s, c)
				i++
				continue
			}
			break
		}
		i++ // the closing quote
		labels[n] = string(s)
		ranges[n] = hcl.Range{Filename: filename,
			Start: hcl.Pos{Line: line, Column: len("assignment ") + from + 1, Byte: off + from},
			End:   hcl.Pos{Line: line, Column: len("assignment ") + i + 1, Byte: off + i}}
	}
	return labels, ranges, i == len(b)
}

// lockNav tells the diagnostic writer which assignment a byte of a lock
// file read by parseCanonicalLock lies in, as hclsyntax's navigation does.
type lockNav struct{ blocks []lockBlock }

type lockBlock struct {
	start, end int // from "assignment" to just past the closing brace
	key        AssignmentKey
}

// ContextString returns `assignment "net" "computer.x" "svc"` for an
// offset inside that block, "" elsewhere.
func (n *lockNav) ContextString(offset int) string {
	i := sort.Search(len(n.blocks), func(i int) bool { return n.blocks[i].end > offset })
	if i == len(n.blocks) || n.blocks[i].start > offset {
		return ""
	}
	k := n.blocks[i].key
	return fmt.Sprintf("assignment %q %q %q", k.Network, k.Computer, k.Service)
}

// appendLabel appends s as an HCL quoted string, as hclwrite writes it.
func appendLabel(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '$' || c == '%' {
			// Rare: let hclwrite choose the escapes.
			return append(b, hclwrite.TokensForValue(cty.StringVal(s)).Bytes()...)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// lockBytes renders assignments, sorted by key, in the canonical form.
func lockBytes(as []Assignment) []byte {
	if !slices.IsSortedFunc(as, func(a, b Assignment) int { return a.Key.compare(b.Key) }) {
		as = slices.Clone(as)
		slices.SortFunc(as, func(a, b Assignment) int { return a.Key.compare(b.Key) })
	}
	b := make([]byte, 0, len(lockHeader)+len(as)*96)
	b = append(b, lockHeader...)
	for _, a := range as {
		b = append(b, "\nassignment "...)
		b = appendLabel(b, a.Key.Network)
		b = append(b, ' ')
		b = appendLabel(b, a.Key.Computer)
		b = append(b, ' ')
		b = appendLabel(b, a.Key.Service)
		b = append(b, " {\n  port = "...)
		b = strconv.AppendUint(b, uint64(a.Port), 10)
		b = append(b, "\n}\n"...)
	}
	return b
}
