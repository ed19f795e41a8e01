package schema

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// A large fleet's config is mostly computer blocks. Parsed whole, its
// syntax trees outweigh everything else plan --all holds. Streaming loads
// it in two phases instead: the pieces that declare anything but computers
// (variables, locals, networks) are parsed first, to build the evaluation
// context; then the computer pieces are parsed, decoded and dropped, one
// small piece per worker at a time. What stays is the files' bytes and an
// index of their top-level blocks, for diagnostics. Whatever the streaming
// path is unsure of — a syntax error, a piece that is not what its lines
// suggested — makes it give up, and Load takes the whole-file path, which
// gives the same result with its full diagnostics.

// Streaming sizes: configurations from streamMin bytes stream, in pieces
// of about streamPiece bytes (small pieces keep HCL's token slices from
// growing; measured best between 4 and 16 KiB). Variables, so tests can
// stream small inputs.
var (
	streamMin   = 256 << 10
	streamPiece = 4 << 10
)

// streamPiece is a piece of a file on the streaming path.
type sPiece struct {
	file   int
	p      *piece
	global bool // may declare something other than computers

	// Results, from the worker that parsed and decoded it.
	blocks []topBlock
	failed bool
}

// topBlock is a top-level block as the streaming path keeps it.
type topBlock struct {
	typ     string
	labels  []string
	rng     hcl.Range // the whole block, for the diagnostics' "in computer "x""
	labelAt hcl.Range // its first label
	defAt   hcl.Range
	block   *hcl.Block // kept only for global pieces' non-computer blocks
	sub     *loader    // a decoded computer block
	nameOK  bool
}

// loadStreaming loads files on the streaming path; ok is false when it
// gave up and the whole-file path must run instead.
func loadStreaming(files map[string][]byte, dir string, opts Options) (l *loader, ok bool) {
	var names []string
	total := 0
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if filepath.Base(name) != LockFileName {
			names = append(names, name)
			total += len(files[name])
		}
	}
	if total < streamMin {
		return nil, false
	}
	l = &loader{cfg: &Config{Networks: map[string]*Network{}, Dir: dir, Files: make(map[string]*hcl.File, len(files))}}

	var pieces []*sPiece
	for i, name := range names {
		for _, p := range cut(files[name], streamPiece) {
			pieces = append(pieces, &sPiece{file: i, p: p, global: !computersOnly(p.src)})
		}
	}

	// Phase one: the pieces with globals, parsed and kept.
	parallel(pieces, func(sp *sPiece) bool { return sp.global }, func(sp *sPiece) {
		sp.parseBlocks(names[sp.file], true)
	})
	var variables, locals, networks, backends []*hcl.Block
	for _, sp := range pieces {
		if sp.failed {
			return nil, false
		}
		for _, b := range sp.blocks {
			switch b.typ {
			case "variable":
				variables = append(variables, b.block)
			case "locals":
				locals = append(locals, b.block)
			case "network":
				networks = append(networks, b.block)
			case "backend":
				backends = append(backends, b.block)
			}
		}
	}
	l.m = newMeter()
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: functionsWith(l.m)}
	ctx.Variables["var"] = l.variables(variables, opts)
	ctx.Variables["local"] = l.locals(locals, ctx)
	l.backends(backends, ctx)
	for _, b := range networks {
		l.addNetwork(b, ctx)
	}

	// Phase two: every piece's computers decoded; computer pieces parsed
	// here and their trees dropped.
	parallel(pieces, func(*sPiece) bool { return true }, func(sp *sPiece) {
		if !sp.global {
			sp.parseBlocks(names[sp.file], false)
		}
		for i := range sp.blocks {
			b := &sp.blocks[i]
			if b.typ != "computer" || b.block == nil {
				continue
			}
			b.sub = &loader{cfg: l.cfg, varNames: l.varNames, localNames: l.localNames}
			if b.nameOK = b.sub.checkName(b.block, "computer"); b.nameOK {
				b.sub.computers(b.block, ctx)
			}
			b.block = nil
		}
	})

	labels := map[string]hcl.Range{}
	navs := make([]blockNav, len(names))
	for _, sp := range pieces {
		if sp.failed {
			return nil, false
		}
		for _, b := range sp.blocks {
			navs[sp.file] = append(navs[sp.file], navBlock{start: b.rng.Start.Byte, end: b.rng.End.Byte, context: contextOf(b.typ, b.labels)})
			if b.typ != "computer" {
				continue
			}
			if !b.nameOK {
				l.add(b.sub.diags...) // the name's own diagnostic
				continue
			}
			if prev, ok := labels[b.labels[0]]; ok {
				l.add(errorAt(b.labelAt, "Duplicate computer",
					"A computer named %q was already declared at %s. Computer names must be unique; rename or remove one of them.",
					b.labels[0], position(prev)))
				continue
			}
			labels[b.labels[0]] = b.defAt
			l.comps = append(l.comps, b.sub.comps...)
			l.add(b.sub.diags...)
		}
	}
	for i, name := range names {
		l.cfg.Files[name] = &hcl.File{Body: hcl.EmptyBody(), Bytes: files[name], Nav: navs[i]}
	}
	if d := l.m.check(l.diags); d != nil {
		l.add(d)
	}
	l.finish()
	return l, true
}

// parseBlocks parses the piece and sorts its top-level blocks; keep says
// whether its blocks stay for later phases (a piece with globals). A
// syntax error, or a non-computer block in a piece thought to hold only
// computers, fails the piece.
func (sp *sPiece) parseBlocks(name string, keep bool) {
	f, ok := quickParse(sp.p.src, name, sp.p.start)
	if !ok {
		var diags hcl.Diagnostics
		if f, diags = parseConfig(sp.p.src, name, sp.p.start); f == nil || diags.HasErrors() {
			sp.failed = true
			return
		}
		meterForExprs(sp.p.src, f) // quickParse makes no for expressions
	}
	content, diags := f.Body.Content(rootSchema)
	if len(diags) > 0 {
		sp.failed = true // let the whole path report it, in its words
		return
	}
	for _, b := range content.Blocks {
		if !keep && b.Type != "computer" {
			sp.failed = true
			return
		}
		body, ok := b.Body.(*hclsyntax.Body)
		if !ok {
			sp.failed = true
			return
		}
		tb := topBlock{typ: b.Type, labels: b.Labels, rng: hcl.RangeBetween(b.TypeRange, body.SrcRange), defAt: b.DefRange, block: b}
		if len(b.LabelRanges) > 0 {
			tb.labelAt = b.LabelRanges[0]
		}
		sp.blocks = append(sp.blocks, tb)
	}
}

// parallel runs fn on the pieces that want, on every processor.
func parallel(pieces []*sPiece, want func(*sPiece) bool, fn func(*sPiece)) {
	next := make(chan *sPiece)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for sp := range next {
				fn(sp)
			}
		})
	}
	for _, sp := range pieces {
		if want(sp) {
			next <- sp
		}
	}
	close(next)
	wg.Wait()
}

// computersOnly reports whether every line of src that starts with a
// letter starts a computer block: then the piece declares nothing the
// evaluation context needs. A wrong guess is caught when the piece is
// parsed.
func computersOnly(src []byte) bool {
	for len(src) > 0 {
		if isLetter(src[0]) && !bytes.HasPrefix(src, []byte("computer ")) && !bytes.HasPrefix(src, []byte("computer\"")) {
			return false
		}
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			break
		}
		src = src[i+1:]
	}
	return true
}

// contextOf renders a block header as hclsyntax's navigation does:
// computer "nas".
func contextOf(typ string, labels []string) string {
	var b strings.Builder
	b.WriteString(typ)
	for _, l := range labels {
		fmt.Fprintf(&b, " %q", l)
	}
	return b.String()
}

// blockNav tells the diagnostic writer which top-level block an offset
// lies in, from an index kept after the syntax trees are gone.
type blockNav []navBlock

type navBlock struct {
	start, end int
	context    string
}

// ContextString returns the header of the block holding offset, or "".
func (n blockNav) ContextString(offset int) string {
	// Blocks are in file order: the last one starting at or before offset.
	i := sort.Search(len(n), func(i int) bool { return n[i].start > offset }) - 1
	if i < 0 || offset >= n[i].end {
		return ""
	}
	return n[i].context
}
