package schema

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/mitchellh/go-wordwrap"
	"github.com/zclconf/go-cty/cty"
)

// diagWriter renders diagnostics in the format of HCL's text writer, byte
// for byte, but in linear time: HCL's writer scans the whole file,
// grapheme by grapheme, for every diagnostic, which took a minute for a
// thousand mistakes in one file. This one indexes each file's lines once.
type diagWriter struct {
	w     io.Writer
	files map[string]*hcl.File
	width uint
	color bool
	lines map[string][]int // per file, the byte offset where each line starts
}

func (dw *diagWriter) write(d *hcl.Diagnostic) error {
	if d == nil {
		return errors.New("nil diagnostic")
	}
	var b bytes.Buffer
	var colorCode, highlightCode, resetCode string
	if dw.color {
		switch d.Severity {
		case hcl.DiagError:
			colorCode = "\x1b[31m"
		case hcl.DiagWarning:
			colorCode = "\x1b[33m"
		}
		resetCode = "\x1b[0m"
		highlightCode = "\x1b[1;4m"
	}
	fmt.Fprintf(&b, "%s%s%s: %s\n\n", colorCode, severityWord(d.Severity), resetCode, d.Summary)

	if d.Subject != nil {
		snip, hl := *d.Subject, *d.Subject
		if d.Context != nil {
			snip = hcl.RangeOver(snip, *d.Context)
		}
		// An empty range cannot be shown: widen it to one character.
		if snip.Empty() {
			snip.End.Byte++
			snip.End.Column++
		}
		if hl.Empty() {
			hl.End.Byte++
			hl.End.Column++
		}
		file := dw.files[d.Subject.Filename]
		if file == nil || file.Bytes == nil {
			fmt.Fprintf(&b, "  on %s line %d:\n  (source code not available)\n\n", d.Subject.Filename, d.Subject.Start.Line)
		} else {
			context := ""
			if cs, ok := file.Nav.(interface{ ContextString(offset int) string }); ok {
				if c := cs.ContextString(d.Subject.Start.Byte); c != "" {
					context = ", in " + c
				}
			}
			fmt.Fprintf(&b, "  on %s line %d%s:\n", d.Subject.Filename, d.Subject.Start.Line, context)
			dw.snippet(&b, d.Subject.Filename, file.Bytes, snip, hl, highlightCode, resetCode)
			b.WriteByte('\n')
		}
		if d.Expression != nil && d.EvalContext != nil {
			writeValues(&b, d.Expression, d.EvalContext)
		}
	}
	if d.Detail != "" {
		detail := d.Detail
		if dw.width != 0 {
			detail = wordwrap.WrapString(detail, dw.width)
		}
		fmt.Fprintf(&b, "%s\n\n", detail)
	}
	if _, err := dw.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write failed: %w", err)
	}
	return nil
}

func severityWord(s hcl.DiagnosticSeverity) string {
	switch s {
	case hcl.DiagError:
		return "Error"
	case hcl.DiagWarning:
		return "Warning"
	}
	return "???????"
}

// lineStarts returns the byte offsets where src's lines start, computed
// once per file.
func (dw *diagWriter) lineStarts(name string, src []byte) []int {
	if ls, ok := dw.lines[name]; ok {
		return ls
	}
	ls := []int{0}
	for i, c := range src {
		if c == '\n' && i+1 < len(src) {
			ls = append(ls, i+1)
		}
	}
	dw.lines[name] = ls
	return ls
}

// snippet writes the lines that overlap snip, as HCL's writer does: a line
// is shown when it and snip overlap as hcl.Range.Overlaps says, and the
// part of it inside hl is highlighted.
func (dw *diagWriter) snippet(b *bytes.Buffer, name string, src []byte, snip, hl hcl.Range, on, off string) {
	ls := dw.lineStarts(name, src)
	// The line holding snip's start, or the first after it.
	i := max(sort.SearchInts(ls, snip.Start.Byte+1)-1, 0)
	for ; i < len(ls) && ls[i] <= snip.End.Byte; i++ {
		start := ls[i]
		end := len(src)
		if i+1 < len(ls) {
			end = ls[i+1]
		}
		// The line without its line ending, as bufio.ScanLines gives it.
		text := src[start:end]
		text = bytes.TrimSuffix(text, []byte{'\n'})
		text = bytes.TrimSuffix(text, []byte{'\r'})
		line := byteRange{start, start + len(text)}
		if !line.overlaps(byteRange{snip.Start.Byte, snip.End.Byte}) {
			continue
		}
		h := line.overlap(byteRange{hl.Start.Byte, hl.End.Byte})
		if h.empty() {
			fmt.Fprintf(b, "%4d: %s\n", i+1, text)
			continue
		}
		fmt.Fprintf(b, "%4d: %s%s%s%s%s\n", i+1,
			src[line.start:h.start], on, src[h.start:h.end], off, src[h.end:line.end])
	}
}

// byteRange is the byte part of an hcl.Range, with hcl.Range's overlap
// rules: empty ranges overlap nothing; a range holds its start, not its end.
type byteRange struct{ start, end int }

func (r byteRange) empty() bool         { return r.start == r.end }
func (r byteRange) contains(o int) bool { return o >= r.start && o < r.end }

func (r byteRange) overlaps(o byteRange) bool {
	switch {
	case r.empty() || o.empty():
		return false
	case r.contains(o.start) || r.contains(o.end):
		return true
	}
	return o.contains(r.start) || o.contains(r.end)
}

func (r byteRange) overlap(o byteRange) byteRange {
	if !r.overlaps(o) {
		return byteRange{r.start, r.start}
	}
	return byteRange{max(r.start, o.start), min(r.end, o.end)}
}

// writeValues writes the values of the variables an expression refers to,
// "with var.port as 5000.", as HCL's writer does.
func writeValues(b *bytes.Buffer, expr hcl.Expression, ctx *hcl.EvalContext) {
	var stmts []string
	seen := map[string]bool{}
	for _, tr := range expr.Variables() {
		val, diags := tr.TraverseAbs(ctx)
		if diags.HasErrors() {
			continue
		}
		name := traversalString(tr)
		if seen[name] {
			continue
		}
		switch {
		case !val.IsKnown(), val.IsMarked():
			continue
		case val.IsNull():
			stmts = append(stmts, name+" set to null")
		default:
			stmts = append(stmts, name+" as "+valueString(val))
		}
		seen[name] = true
	}
	slices.Sort(stmts)
	for i, s := range stmts {
		if i == 0 {
			b.WriteString("with ")
		} else {
			b.WriteString("     ")
		}
		b.WriteString(s)
		if i == len(stmts)-1 {
			b.WriteString(".\n\n")
		} else {
			b.WriteString(",\n")
		}
	}
}

func traversalString(tr hcl.Traversal) string {
	var b bytes.Buffer
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteByte('.')
			b.WriteString(s.Name)
		case hcl.TraverseIndex:
			b.WriteByte('[')
			if s.Key.Type().IsPrimitiveType() {
				b.WriteString(valueString(s.Key))
			} else {
				b.WriteString("...")
			}
			b.WriteByte(']')
		}
	}
	return b.String()
}

func valueString(v cty.Value) string {
	ty := v.Type()
	switch {
	case v.IsNull():
		return "null"
	case !v.IsKnown():
		return "(not yet known)"
	case ty == cty.Bool:
		if v.True() {
			return "true"
		}
		return "false"
	case ty == cty.Number:
		return v.AsBigFloat().Text('g', 10)
	case ty == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case ty.IsCollectionType() || ty.IsTupleType():
		switch n := v.LengthInt(); n {
		case 0:
			return "empty " + ty.FriendlyName()
		case 1:
			return ty.FriendlyName() + " with 1 element"
		default:
			return fmt.Sprintf("%s with %d elements", ty.FriendlyName(), n)
		}
	case ty.IsObjectType():
		atys := ty.AttributeTypes()
		switch len(atys) {
		case 0:
			return "object with no attributes"
		case 1:
			for k := range atys {
				return fmt.Sprintf("object with 1 attribute %q", k)
			}
		}
		return fmt.Sprintf("object with %d attributes", len(atys))
	}
	return ty.FriendlyName()
}

// more says how many diagnostics were not printed.
func (dw *diagWriter) more(rest hcl.Diagnostics) error {
	errs, warns := 0, 0
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	var parts []string
	if errs > 0 {
		parts = append(parts, plural(errs, "more error", "more errors"))
	}
	if warns > 0 {
		parts = append(parts, plural(warns, "more warning", "more warnings"))
	}
	w := bufio.NewWriter(dw.w)
	fmt.Fprintf(w, "... and %s not shown (netplan42 prints the first %d): fix the ones above and run it again.\n", joinAnd(parts), MaxPrinted)
	return w.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func joinAnd(parts []string) string {
	if len(parts) == 2 {
		return parts[0] + " and " + parts[1]
	}
	return parts[0]
}
