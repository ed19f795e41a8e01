package schema

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// MaxPrinted is how many diagnostics WriteDiagnostics prints; it counts the
// rest. A broken fleet file can have tens of thousands, and the first ones
// are the ones to fix.
const MaxPrinted = 50

// WriteDiagnostics renders diags as text the way HCL does, quoting the
// offending lines of files. width wraps the detail text; 0 means no wrap.
// It prints at most MaxPrinted and then says how many more there are.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool, width uint) error {
	dw := &diagWriter{w: w, files: files, width: width, color: color, lines: map[string][]int{}}
	for i, d := range diags {
		if i == MaxPrinted {
			return dw.more(diags[i:])
		}
		if err := dw.write(d); err != nil {
			return err
		}
	}
	return nil
}

// errorAt returns an error diagnostic about rng; a zero rng, for something
// not read from a file, gives a diagnostic without a subject.
func errorAt(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	d := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
	}
	if rng != (hcl.Range{}) {
		d.Subject = rng.Ptr()
	}
	return d
}

// warningAt returns a warning diagnostic about rng.
func warningAt(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	d := errorAt(rng, summary, detail, args...)
	d.Severity = hcl.DiagWarning
	return d
}

// tidy drops repeated diagnostics (a for_each body reports the same mistake
// once per instance) and orders the rest by file position, so the output
// reads top to bottom whatever order the checks ran in.
func tidy(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) < 2 {
		return diags
	}
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		rng             hcl.Range
	}
	seen := make(map[key]bool, len(diags))
	out := diags[:0:0]
	overBudget := false
	for _, d := range diags {
		if d.Summary == budgetSummary {
			// Once the budget is used up, every for expression fails;
			// the first says where it ran out.
			if overBudget {
				continue
			}
			overBudget = true
		}
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.rng = *d.Subject
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b *hcl.Diagnostic) int {
		// Diagnostics without a place (command-line variables) come first.
		if (a.Subject == nil) != (b.Subject == nil) {
			if a.Subject == nil {
				return -1
			}
			return 1
		}
		if a.Subject == nil {
			return 0
		}
		return cmp.Or(
			cmp.Compare(a.Subject.Filename, b.Subject.Filename),
			cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte),
		)
	})
	return out
}

// synonyms maps words people plausibly write to the value they mean, for
// "did you mean" hints that edit distance alone would miss.
var synonyms = map[string]string{
	"public":   ExposeInternet,
	"wan":      ExposeInternet,
	"world":    ExposeInternet,
	"private":  ExposeLAN,
	"local":    ExposeLocalhost,
	"loopback": ExposeLocalhost,
	"nft":      FirewallNFTables,
	"ipt":      FirewallIPTables,
	"pfctl":    FirewallPF,
	"nat-pmp":  string(ViaNATPMP),
	"nat_pmp":  string(ViaNATPMP),
	"pmp":      string(ViaNATPMP),
	"igd":      string(ViaUPnP),
	"upnp-igd": string(ViaUPnP),
	"tcp+udp":  Both,
	"tcp/udp":  Both,
	"udp+tcp":  Both,
}

// didYouMean returns a hint naming the option closest to given, or "" when
// none is close enough to be a likely typo.
func didYouMean(given string, options []string) string {
	if s := suggest(given, options); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// suggest returns the option closest to given, or "" when none is close:
// one edit away for short words, two for longer ones.
func suggest(given string, options []string) string {
	lower := strings.ToLower(strings.TrimSpace(given))
	if s, ok := synonyms[lower]; ok && slices.Contains(options, s) {
		return s
	}
	limit := 1
	if len([]rune(lower)) > 4 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, o := range options {
		if lower == o {
			return o
		}
		if d := editDistance(lower, o); d < bestDist {
			best, bestDist = o, d
		}
	}
	return best
}

// editDistance returns the optimal string alignment distance between a and
// b: insertions, deletions, substitutions and swaps of neighbours, which
// are the typos people make ("tpc").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// quotedList renders options as "a", "b" or "c" for messages.
func quotedList(options []string) string {
	q := make([]string, len(options))
	for i, o := range options {
		q[i] = fmt.Sprintf("%q", o)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// position renders where rng starts, file:line, for pointing at a second
// place in a diagnostic's detail.
func position(rng hcl.Range) string {
	return fmt.Sprintf("%s:%d", rng.Filename, rng.Start.Line)
}

// numberText writes a number for a message as it was likely written: in
// full, or, when that would take more than a few dozen digits (1e99999999
// has a hundred million), in exponent form.
func numberText(v cty.Value) string {
	f := v.AsBigFloat()
	if exp := f.MantExp(nil); exp > -128 && exp < 128 {
		return f.Text('f', -1)
	}
	return f.Text('g', 20)
}
