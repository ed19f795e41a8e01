package schema

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// pieceSize is the size above which a file is parsed in pieces. HCL's
// parser gathers a file's tokens in one growing slice; for a fleet of
// thousands of computers in one file, copying and collecting that slice
// costs more than the parse, and pieces also parse in parallel. A
// variable, so that tests can compare with a whole parse.
var pieceSize = 64 << 10

// piece is a part of a file that parses on its own: whole top-level blocks.
type piece struct {
	file  int
	src   []byte
	start hcl.Pos
	f     *hcl.File
	diags hcl.Diagnostics
}

// parseFiles parses the named files, in parallel and large ones in pieces,
// and returns each file with the bodies to decode and its diagnostics.
func parseFiles(files map[string][]byte, names []string) ([]*hcl.File, [][]hcl.Body, []hcl.Diagnostics) {
	var pieces []*piece
	for i, name := range names {
		for _, p := range cut(files[name], pieceSize) {
			p.file = i
			pieces = append(pieces, p)
		}
	}
	parse := func(p *piece) {
		p.f, p.diags = parseConfig(p.src, names[p.file], p.start)
		meterForExprs(p.src, p.f)
	}
	var wg sync.WaitGroup
	next := make(chan *piece)
	for range min(len(pieces), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for p := range next {
				parse(p)
			}
		})
	}
	for _, p := range pieces {
		next <- p
	}
	close(next)
	wg.Wait()

	parsed := make([]*hcl.File, len(names))
	bodies := make([][]hcl.Body, len(names))
	diags := make([]hcl.Diagnostics, len(names))
	for i, name := range names {
		var mine []*piece
		for _, p := range pieces {
			if p.file == i {
				mine = append(mine, p)
			}
		}
		if len(mine) == 1 {
			parsed[i], diags[i] = mine[0].f, mine[0].diags
			if parsed[i] == nil {
				parsed[i] = &hcl.File{Body: hcl.EmptyBody(), Bytes: files[name]}
			}
			bodies[i] = []hcl.Body{parsed[i].Body}
			continue
		}
		clean := true
		for _, p := range mine {
			clean = clean && p.f != nil && len(p.diags) == 0
		}
		if !clean {
			// A cut in the wrong place, or a real mistake: either way
			// the whole file parsed at once says it right.
			p := &piece{file: i, src: files[name], start: hcl.InitialPos}
			parse(p)
			parsed[i], diags[i], bodies[i] = p.f, p.diags, []hcl.Body{p.f.Body}
			continue
		}
		nav := make(pieceNav, len(mine))
		for j, p := range mine {
			bodies[i] = append(bodies[i], p.f.Body)
			nav[j] = p.f
		}
		parsed[i] = &hcl.File{Body: hcl.MergeBodies(bodies[i]), Bytes: files[name], Nav: nav}
	}
	return parsed, bodies, diags
}

// cut splits src into pieces of about size bytes, each starting at a
// top-level block: after a line "}" and before a line that begins with a
// letter, blank lines between. A cut inside some construct instead (a heredoc, an object
// written flush left) leaves a piece unbalanced, which fails to parse, and
// parseFiles then parses the file whole.
func cut(src []byte, size int) []*piece {
	var pieces []*piece
	start, pos := 0, hcl.InitialPos
	for from := size; from < len(src); {
		i := bytes.Index(src[from:], []byte("\n}\n"))
		if i < 0 {
			break
		}
		end := from + i + 3
		next := end
		for next < len(src) && src[next] == '\n' {
			next++
		}
		if next >= len(src) || !isLetter(src[next]) {
			from = end
			continue
		}
		pieces = append(pieces, &piece{src: src[start:end:end], start: pos})
		pos.Line += bytes.Count(src[start:end], []byte("\n"))
		pos.Byte = end
		start, from = end, end+size
	}
	return append(pieces, &piece{src: src[start:], start: pos})
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// pieceNav tells the diagnostic writer which block an offset of a file
// parsed in pieces lies in ("in computer "nas""), as hclsyntax does for a
// file parsed whole.
type pieceNav []*hcl.File

// ContextString returns the context of the byte at offset.
func (n pieceNav) ContextString(offset int) string {
	for _, f := range n {
		r := f.Body.(*hclsyntax.Body).SrcRange
		nav, ok := f.Nav.(interface{ ContextString(int) string })
		if ok && offset >= r.Start.Byte && offset <= r.End.Byte {
			return nav.ContextString(offset)
		}
	}
	return ""
}
