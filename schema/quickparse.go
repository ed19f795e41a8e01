package schema

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// A fleet's computer blocks are almost all plain: nested blocks with
// quoted labels, and attributes whose values are a quoted string, a
// number, true/false, a reference such as local.pool, or a one-line list
// of those. For them, hclsyntax's general scanner (which counts grapheme
// clusters for every token's column) is half of what plan --all spends.
// quickParse reads exactly that plain subset of HCL's native syntax and
// builds the syntax tree hclsyntax would build, node for node and range for
// range (TestQuickParseSameTree and FuzzQuickParse compare the two). On
// anything else — a comment block, an escape, an interpolation, an
// operator, non-ASCII text, a duplicate attribute, a syntax error — it
// declines, and the caller parses with hclsyntax, which gives its own
// diagnostics. Only the streaming path uses it: its files are not kept,
// so the tree needs no navigation for diagnostics.

// quickMaxDepth bounds nesting; deeper input goes to hclsyntax (and its
// nesting check).
const quickMaxDepth = 16

// quickParse parses src, which begins at start in filename, or reports
// ok false when src is not in the plain subset.
func quickParse(src []byte, filename string, start hcl.Pos) (f *hcl.File, ok bool) {
	for _, c := range src {
		if c >= 0x80 || c == '\r' || c == 0 {
			return nil, false
		}
	}
	q := &quick{src: src, filename: filename, base: start.Byte, line: start.Line, lineStart: -(start.Column - 1)}
	// hclsyntax's file body starts at its first token: leading blanks
	// are not one, nor is a comment that runs to the end of src.
	q.spaces()
	open := q.pos()
	if q.i < len(q.src) && (q.src[q.i] == '#' || q.src[q.i] == '/') && !bytes.Contains(q.src[q.i:], []byte("\n")) {
		open = q.advance(open, len(q.src)-q.i)
	}
	body, ok := q.body(0, open)
	if !ok || q.i != len(src) {
		return nil, false
	}
	return &hcl.File{Body: body, Bytes: src}, true
}

// quick is the plain-subset parser's cursor: i is the offset in src; line
// and lineStart (the offset of the line's first byte) give columns.
type quick struct {
	src       []byte
	filename  string
	base      int
	i         int
	line      int
	lineStart int
	strs      map[string]string // names and values seen, shared
}

// intern returns b as a string, the same string for the same bytes: a
// fleet's pieces repeat a few names and values thousands of times.
func (q *quick) intern(b []byte) string {
	if s, ok := q.strs[string(b)]; ok {
		return s
	}
	if q.strs == nil {
		q.strs = map[string]string{}
	}
	s := string(b)
	if len(q.strs) < 4096 {
		q.strs[s] = s
	}
	return s
}

func (q *quick) pos() hcl.Pos {
	return hcl.Pos{Line: q.line, Column: q.i - q.lineStart + 1, Byte: q.base + q.i}
}

func (q *quick) rng(from, to hcl.Pos) hcl.Range {
	return hcl.Range{Filename: q.filename, Start: from, End: to}
}

// spaces skips blanks and tabs.
func (q *quick) spaces() {
	for q.i < len(q.src) && (q.src[q.i] == ' ' || q.src[q.i] == '\t') {
		q.i++
	}
}

// endOfLine skips blanks and a # or // comment, then needs a newline (or
// the end of src, when eofOK), which it consumes.
func (q *quick) endOfLine(eofOK bool) bool {
	q.spaces()
	if q.i < len(q.src) && (q.src[q.i] == '#' || q.src[q.i] == '/' && q.i+1 < len(q.src) && q.src[q.i+1] == '/') {
		for q.i < len(q.src) && q.src[q.i] != '\n' {
			q.i++
		}
	}
	if q.i == len(q.src) {
		return eofOK
	}
	if q.src[q.i] != '\n' {
		return false
	}
	q.newline()
	return true
}

func (q *quick) newline() {
	q.i++
	q.line++
	q.lineStart = q.i
}

// blankLines skips lines holding only blanks or a comment.
func (q *quick) blankLines() {
	for {
		save, line, ls := q.i, q.line, q.lineStart
		if q.i == len(q.src) || !q.endOfLine(false) {
			q.i, q.line, q.lineStart = save, line, ls
			return
		}
	}
}

// body parses attributes and blocks up to a "}" (depth > 0, not consumed)
// or the end of src (depth 0). open is where the body starts: the file's
// start, or the block's "{".
func (q *quick) body(depth int, open hcl.Pos) (*hclsyntax.Body, bool) {
	b := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, Blocks: hclsyntax.Blocks{}}
	for {
		q.blankLines()
		q.spaces()
		if q.i == len(q.src) {
			if depth > 0 {
				return nil, false
			}
			end := q.pos()
			b.SrcRange, b.EndRange = q.rng(open, end), q.rng(end, end)
			return b, true
		}
		if q.src[q.i] == '}' {
			if depth == 0 {
				return nil, false
			}
			return b, true
		}
		nameFrom := q.pos()
		name, ok := q.ident()
		if !ok {
			return nil, false
		}
		nameRange := q.rng(nameFrom, q.pos())
		q.spaces()
		if q.i < len(q.src) && q.src[q.i] == '=' {
			if _, dup := b.Attributes[name]; dup {
				return nil, false
			}
			eqFrom := q.pos()
			q.i++
			eq := q.rng(eqFrom, q.pos())
			q.spaces()
			expr, ok := q.expr(true)
			if !ok {
				return nil, false
			}
			b.Attributes[name] = &hclsyntax.Attribute{Name: name, Expr: expr, SrcRange: q.rng(nameFrom, expr.Range().End), NameRange: nameRange, EqualsRange: eq}
			if !q.endOfLine(depth == 0) {
				return nil, false
			}
			continue
		}
		blk, ok := q.block(depth, name, nameRange)
		if !ok {
			return nil, false
		}
		b.Blocks = append(b.Blocks, blk)
	}
}

// block parses the rest of a block header (labels, "{") and its body.
func (q *quick) block(depth int, typ string, typeRange hcl.Range) (*hclsyntax.Block, bool) {
	if depth+1 > quickMaxDepth {
		return nil, false
	}
	blk := &hclsyntax.Block{Type: typ, TypeRange: typeRange}
	for {
		q.spaces()
		if q.i == len(q.src) {
			return nil, false
		}
		from := q.pos()
		switch c := q.src[q.i]; {
		case c == '{':
			q.i++
			openEnd := q.pos()
			blk.OpenBraceRange = q.rng(from, openEnd)
			if !q.endOfLine(false) {
				return nil, false // a one-line block: hclsyntax's
			}
			body, ok := q.body(depth+1, from)
			if !ok {
				return nil, false
			}
			closeFrom := q.pos()
			q.i++
			closeEnd := q.pos()
			blk.CloseBraceRange = q.rng(closeFrom, closeEnd)
			body.SrcRange, body.EndRange = q.rng(from, closeEnd), q.rng(closeEnd, closeEnd)
			blk.Body = body
			if !q.endOfLine(depth == 0) {
				return nil, false
			}
			return blk, true
		case c == '"':
			s, ok := q.quoted()
			if !ok {
				return nil, false
			}
			blk.Labels = append(blk.Labels, s)
			blk.LabelRanges = append(blk.LabelRanges, q.rng(from, q.pos()))
		default:
			name, ok := q.ident()
			if !ok {
				return nil, false
			}
			blk.Labels = append(blk.Labels, name)
			blk.LabelRanges = append(blk.LabelRanges, q.rng(from, q.pos()))
		}
	}
}

// ident reads an ASCII identifier: a letter or _, then letters, digits, _
// and -.
func (q *quick) ident() (string, bool) {
	from := q.i
	if q.i == len(q.src) || !(isLetter(q.src[q.i]) || q.src[q.i] == '_') {
		return "", false
	}
	for q.i < len(q.src) {
		if !isIdentByte(q.src[q.i]) {
			break
		}
		q.i++
	}
	return q.intern(q.src[from:q.i]), true
}

// quoted reads a quoted string without escapes or template sequences ($
// and % are declined outright, as is a string broken by a newline).
func (q *quick) quoted() (string, bool) {
	q.i++ // "
	from := q.i
	for q.i < len(q.src) {
		switch q.src[q.i] {
		case '"':
			s := q.intern(q.src[from:q.i])
			q.i++
			return s, true
		case '\\', '$', '%', '\n':
			return "", false
		}
		q.i++
	}
	return "", false
}

// expr reads a value: a quoted string, a decimal integer, true, false,
// null, a reference (local.pool), or, at an attribute (list true), a
// one-line list of those.
func (q *quick) expr(list bool) (hclsyntax.Expression, bool) {
	if q.i == len(q.src) {
		return nil, false
	}
	from := q.pos()
	switch c := q.src[q.i]; {
	case c == '"':
		s, ok := q.quoted()
		if !ok {
			return nil, false
		}
		end := q.pos()
		// The literal lies between the quotes; an empty one sits at the
		// template's end, where hclsyntax puts it.
		litFrom, litTo := q.advance(from, 1), q.advance(end, -1)
		if s == "" {
			litFrom, litTo = end, end
		}
		lit := &hclsyntax.LiteralValueExpr{Val: cty.StringVal(s), SrcRange: q.rng(litFrom, litTo)}
		return &hclsyntax.TemplateExpr{Parts: []hclsyntax.Expression{lit}, SrcRange: q.rng(from, end)}, true
	case c >= '0' && c <= '9':
		start := q.i
		for q.i < len(q.src) && q.src[q.i] >= '0' && q.src[q.i] <= '9' {
			q.i++
		}
		if q.i < len(q.src) && (q.src[q.i] == '.' || q.src[q.i] == 'e' || q.src[q.i] == 'E' || isLetter(q.src[q.i]) || q.src[q.i] == '_') {
			return nil, false
		}
		v, err := cty.ParseNumberVal(string(q.src[start:q.i]))
		if err != nil {
			return nil, false
		}
		return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: q.rng(from, q.pos())}, true
	case c == '[' && list:
		return q.tuple(from)
	case isLetter(c) || c == '_':
		name, _ := q.ident()
		root := q.rng(from, q.pos())
		if q.i < len(q.src) && q.src[q.i] != '.' {
			switch name {
			case "true":
				return &hclsyntax.LiteralValueExpr{Val: cty.True, SrcRange: root}, true
			case "false":
				return &hclsyntax.LiteralValueExpr{Val: cty.False, SrcRange: root}, true
			case "null":
				return &hclsyntax.LiteralValueExpr{Val: cty.NullVal(cty.DynamicPseudoType), SrcRange: root}, true
			}
		}
		if name == "true" || name == "false" || name == "null" {
			return nil, false
		}
		tr := hcl.Traversal{hcl.TraverseRoot{Name: name, SrcRange: root}}
		for q.i < len(q.src) && q.src[q.i] == '.' {
			dot := q.pos()
			q.i++
			attr, ok := q.ident()
			if !ok {
				return nil, false
			}
			tr = append(tr, hcl.TraverseAttr{Name: attr, SrcRange: q.rng(dot, q.pos())})
		}
		if q.i < len(q.src) && (q.src[q.i] == '(' || q.src[q.i] == '[' || q.src[q.i] == ':') {
			return nil, false // a call, an index, a namespaced function
		}
		return &hclsyntax.ScopeTraversalExpr{Traversal: tr, SrcRange: q.rng(from, q.pos())}, true
	}
	return nil, false
}

// tuple reads a one-line list after its "[".
func (q *quick) tuple(from hcl.Pos) (hclsyntax.Expression, bool) {
	q.i++
	t := &hclsyntax.TupleConsExpr{OpenRange: q.rng(from, q.pos())}
	q.spaces()
	if rest := q.src[q.i:]; len(rest) >= 3 && string(rest[:3]) == "for" && (len(rest) == 3 || !isIdentByte(rest[3])) {
		return nil, false // [for …]: a for expression, hclsyntax's
	}
	for {
		q.spaces()
		if q.i == len(q.src) {
			return nil, false
		}
		if q.src[q.i] == ']' {
			q.i++
			t.SrcRange = q.rng(from, q.pos())
			return t, true
		}
		e, ok := q.expr(false)
		if !ok {
			return nil, false
		}
		t.Exprs = append(t.Exprs, e)
		q.spaces()
		if q.i < len(q.src) && q.src[q.i] == ',' {
			q.i++
			continue
		}
		if q.i == len(q.src) || q.src[q.i] != ']' {
			return nil, false
		}
	}
}

// advance moves p by n bytes within one line.
func (q *quick) advance(p hcl.Pos, n int) hcl.Pos {
	p.Column += n
	p.Byte += n
	return p
}
