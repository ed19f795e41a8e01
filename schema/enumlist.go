package schema

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// enumList is how a list attribute of names from a fixed set is checked.
type enumList struct {
	what   string   // "IP version": in summaries and "is not an IP version"
	values []string // the allowed names
	empty  string   // the detail when the list is empty
	// a names one for "is not a …"; empty means "a "+what ("an" for IP).
	a string
}

// enumList decodes a, a list of distinct names from e.values, and reports
// every null, unknown or repeated element and an empty list. ok is false
// when there was a mistake or no value.
func (l *loader) enumList(a *hcl.Attribute, ctx *hcl.EvalContext, e enumList) (out []string, ok bool) {
	v, ok := l.value(a, ctx, cty.List(cty.String), false)
	if !ok {
		return nil, false
	}
	a1 := e.a
	if a1 == "" {
		a1 = article(e.what) + " " + e.what
	}
	valid := true
	for i, el := range v.AsValueSlice() {
		rng := elemRange(a.Expr, i)
		switch {
		case el.IsNull():
			l.add(errorAt(rng, "Invalid "+e.what, "%s cannot hold null.", a.Name))
			valid = false
		case !slices.Contains(e.values, el.AsString()):
			l.add(errorAt(rng, "Invalid "+e.what, "%q is not %s: use %s.%s",
				el.AsString(), a1, quotedList(e.values), didYouMean(el.AsString(), e.values)))
			valid = false
		case slices.Contains(out, el.AsString()):
			l.add(errorAt(rng, "Duplicate "+e.what, "%q is listed twice in %s; list each once.", el.AsString(), a.Name))
			valid = false
		default:
			out = append(out, el.AsString())
		}
	}
	if valid && len(out) == 0 {
		l.add(errorAt(a.Expr.Range(), "No "+e.what+"s", "%s", e.empty))
		valid = false
	}
	return out, valid
}

// article is "an" before a vowel sound in the names used here, else "a".
func article(what string) string {
	if what != "" && strings.ContainsRune("Iaeiou", rune(what[0])) {
		return "an"
	}
	return "a"
}
