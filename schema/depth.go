package schema

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting is how deep brackets, braces, parentheses, template
// interpolations and directives and unary operators may nest in a file.
// HCL's parser recurses once or more per level, so hundreds of thousands of
// levels overflow its stack and kill the process; real configurations stay
// below twenty.
const MaxNesting = 256

// parseConfig is hclsyntax.ParseConfig behind a nesting check: every file
// netplan42 reads goes through it.
func parseConfig(src []byte, filename string, start hcl.Pos) (*hcl.File, hcl.Diagnostics) {
	if d := checkNesting(src, filename, start); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseConfig(src, filename, start)
}

// parseExpression is hclsyntax.ParseExpression behind the nesting check.
func parseExpression(src []byte, filename string, start hcl.Pos) (hclsyntax.Expression, hcl.Diagnostics) {
	if d := checkNesting(src, filename, start); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseExpression(src, filename, start)
}

// Scanner modes: the kind of each open level.
const (
	modeExpr      = iota // inside { [ ( or ${ }: expression syntax
	modeString           // inside "…": a quoted template
	modeHeredoc          // inside <<EOT … EOT
	modeStrInterp        // ${ or %{ inside a string or heredoc: expression syntax until }
)

type level struct {
	mode   int
	marker []byte // a heredoc's closing word
}

// checkNesting scans src once, in linear time, tracking the nesting that
// HCL's parser will recurse into, and returns an error diagnostic at the
// first place it passes MaxNesting, or nil. It follows HCL's lexical
// structure closely enough (strings, escapes, comments, heredocs) that
// brackets inside strings and comments do not count; where it is unsure it
// errs towards not counting.
func checkNesting(src []byte, filename string, start hcl.Pos) *hcl.Diagnostic {
	var stack []level
	directives := 0 // open %{if} / %{for} directives
	top := func() int {
		if len(stack) == 0 {
			return modeExpr
		}
		return stack[len(stack)-1].mode
	}
	tooDeep := func(i int) *hcl.Diagnostic {
		pos := offsetPos(src, i, start)
		end := pos
		end.Byte++
		end.Column++
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Nesting too deep",
			Detail: fmt.Sprintf("This file nests brackets, braces, parentheses, templates or operators more than %d levels deep here. netplan42 stops before its parser would run out of stack: flatten the expression (use locals for the inner parts).",
				MaxNesting),
			Subject: &hcl.Range{Filename: filename, Start: pos, End: end},
		}
	}
	lineStart := true
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch top() {
		case modeString:
			switch {
			case c == '\\':
				i++
			case c == '"':
				stack = stack[:len(stack)-1]
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == c && i+2 < len(src) && src[i+2] == '{':
				i += 2 // $${ and %%{ are literal
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				directives += directive(src[i+2:], c)
				stack = append(stack, level{mode: modeStrInterp})
				i++
			}
		case modeHeredoc:
			if lineStart {
				end := bytes.IndexByte(src[i:], '\n')
				if end < 0 {
					end = len(src) - i
				}
				if bytes.Equal(bytes.TrimSpace(src[i:i+end]), stack[len(stack)-1].marker) {
					stack = stack[:len(stack)-1]
					i += end - 1
					lineStart = false
					continue
				}
			}
			switch {
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == c && i+2 < len(src) && src[i+2] == '{':
				i += 2
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				directives += directive(src[i+2:], c)
				stack = append(stack, level{mode: modeStrInterp})
				i++
			}
		default: // expression syntax
			switch {
			case c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/'):
				if end := bytes.IndexByte(src[i:], '\n'); end >= 0 {
					i += end - 1 // the newline itself is seen below
				} else {
					i = len(src)
				}
			case c == '/' && i+1 < len(src) && src[i+1] == '*':
				if end := bytes.Index(src[i+2:], []byte("*/")); end >= 0 {
					i += end + 3
				} else {
					i = len(src)
				}
			case c == '"':
				stack = append(stack, level{mode: modeString})
			case c == '<' && i+1 < len(src) && src[i+1] == '<':
				if marker, n := heredocStart(src[i:]); n > 0 {
					stack = append(stack, level{mode: modeHeredoc, marker: marker})
					i += n - 1 // to the newline, so the next line starts fresh
				} else {
					i++
				}
			case c == '{' || c == '[' || c == '(':
				stack = append(stack, level{mode: modeExpr})
			case c == '}' || c == ']' || c == ')':
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			case c == '!' || c == '-':
				// A run of unary operators recurses once per operator.
				run := 0
				j := i
				for ; j < len(src); j++ {
					if src[j] == '!' || src[j] == '-' {
						run++
					} else if src[j] != ' ' && src[j] != '\t' {
						break
					}
				}
				if len(stack)+directives+run > MaxNesting {
					return tooDeep(i)
				}
				i = j - 1
			}
		}
		if i < len(src) {
			lineStart = src[i] == '\n'
		}
		if len(stack)+directives > MaxNesting {
			return tooDeep(min(i, len(src)-1))
		}
	}
	return nil
}

// directive returns +1 when the template directive after "%{" opens a
// level (if, for), -1 when it closes one (endif, endfor), else 0.
func directive(rest []byte, sigil byte) int {
	if sigil != '%' {
		return 0
	}
	rest = bytes.TrimLeft(rest, "~ \t")
	for _, w := range []struct {
		word  string
		delta int
	}{{"endif", -1}, {"endfor", -1}, {"if", 1}, {"for", 1}} {
		if bytes.HasPrefix(rest, []byte(w.word)) && (len(rest) == len(w.word) || !isIdentByte(rest[len(w.word)])) {
			return w.delta
		}
	}
	return 0
}

// heredocStart parses "<<EOT\n" or "<<-EOT\n" at the start of b and returns
// the marker and the length up to, not including, the newline; n is 0 when
// b does not open a heredoc.
func heredocStart(b []byte) (marker []byte, n int) {
	i := 2
	if i < len(b) && b[i] == '-' {
		i++
	}
	j := i
	for j < len(b) && isIdentByte(b[j]) {
		j++
	}
	if j == i {
		return nil, 0
	}
	k := j
	if k < len(b) && b[k] == '\r' {
		k++
	}
	if k >= len(b) || b[k] != '\n' {
		return nil, 0
	}
	return b[i:j], k
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// offsetPos returns the position of byte i of src, which starts at start.
func offsetPos(src []byte, i int, start hcl.Pos) hcl.Pos {
	before := src[:i]
	lines := bytes.Count(before, []byte{'\n'})
	col := i + 1
	if nl := bytes.LastIndexByte(before, '\n'); nl >= 0 {
		col = i - nl
	} else {
		col += start.Column - 1
	}
	return hcl.Pos{Line: start.Line + lines, Column: col, Byte: start.Byte + i}
}
