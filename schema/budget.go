package schema

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/gocty"
)

// MaxEvalSteps bounds the work of evaluating one configuration: elements
// iterated by for expressions and dynamic blocks, values they produce, values of locals and
// the text a few functions would write. A step is one value, or 32 bytes
// of a string. Nested for expressions multiply, so three lines can ask
// for a billion iterations and gigabytes; a million iterations take 1.5
// to 5 seconds and charge two to four million steps, and a computer per
// entry of a 30,000-entry variable, made with a for expression, 150,000.
const MaxEvalSteps = 2_000_000

// maxSteps is MaxEvalSteps; tests lower it.
var maxSteps int64 = MaxEvalSteps

// bytesPerStep is how many bytes of a string count as one step.
const bytesPerStep = 32

// errBudget is what the metering functions fail with; eval turns the
// diagnostic HCL makes of it into one that explains.
var errBudget = errors.New("the configuration's evaluation budget is used up")

// meter counts the steps of one load. Computers decode in parallel, so it
// is shared between goroutines.
type meter struct{ used atomic.Int64 }

// charge adds n steps and reports whether the budget still holds.
func (m *meter) charge(n int64) bool { return m.used.Add(n) <= maxSteps }

// left is how many steps remain, at least zero.
func (m *meter) left() int64 { return max(0, maxSteps-m.used.Load()) }

// Names of the metering functions wrapped around a for expression's
// collection and results. They hold a space, so no config can call them.
const (
	fnForColl  = "netplan42 for-collection"
	fnForValue = "netplan42 for-value"
)

// functionsWith returns the config's functions for one load, metered by
// m: the for expression hooks, and the functions whose result can be far
// larger than their arguments charge that result before they build it.
func functionsWith(m *meter) map[string]function.Function {
	fns := maps.Clone(functions)
	fns[fnForColl] = passThrough(func(v cty.Value) int64 {
		if v.CanIterateElements() {
			return int64(v.LengthInt())
		}
		return 1 // the for expression reports it
	}, m)
	fns[fnForValue] = passThrough(func(v cty.Value) int64 { return size(v, m.left()+1) }, m)
	for name, estimate := range outputEstimates {
		fns[name] = charged(fns[name], estimate, m)
	}
	return fns
}

// passThrough returns a function of one argument that charges cost(arg)
// to m and returns the argument unchanged.
func passThrough(cost func(cty.Value) int64, m *meter) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{
			Name: "value", Type: cty.DynamicPseudoType,
			AllowDynamicType: true, AllowUnknown: true, AllowNull: true, AllowMarked: true,
		}},
		Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v := args[0]
			if !v.IsKnown() || v.IsNull() || v.IsMarked() {
				return v, nil
			}
			if !m.charge(max(1, cost(v))) {
				return cty.NilVal, errBudget
			}
			return v, nil
		},
	})
}

// charged returns f, which first charges what estimate says its result
// will cost, in bytes, when its arguments are known.
func charged(f function.Function, estimate func([]cty.Value) int64, m *meter) function.Function {
	spec := &function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for _, a := range args {
				if !a.IsWhollyKnown() || a.IsNull() || a.ContainsMarked() {
					return f.Call(args)
				}
			}
			if m.left() == 0 {
				return cty.NilVal, errBudget // used up elsewhere: fail fast
			}
			if !m.charge(estimate(args)/bytesPerStep + 1) {
				return cty.NilVal, fmt.Errorf("its result would take more than what is left of netplan42's budget for evaluating a configuration (%d steps of one value or %d bytes)", maxSteps, bytesPerStep)
			}
			return f.Call(args)
		},
	}
	return function.New(spec)
}

// outputEstimates bound, in bytes, the result of the functions that can
// write much more than they are given, and of range, which writes up to
// 1024 numbers: a for expression counts those, but once the budget is
// used up range must not run for every iteration of an outer for.
var outputEstimates = map[string]func([]cty.Value) int64{
	"range": func([]cty.Value) int64 { return 0 },
	"format": func(args []cty.Value) int64 {
		return formatEstimate(args[0].AsString(), 1) + argBytes(args[1:])
	},
	"formatlist": func(args []cty.Value) int64 {
		n := int64(1)
		for _, a := range args[1:] {
			if a.Type().IsListType() || a.Type().IsTupleType() || a.Type().IsSetType() {
				n = max(n, int64(a.LengthInt()))
			}
		}
		return formatEstimate(args[0].AsString(), n) + n*argBytes(args[1:])
	},
	"indent": func(args []cty.Value) int64 {
		var spaces int64
		if err := gocty.FromCtyValue(args[0], &spaces); err != nil {
			spaces = math.MaxInt32 // not a plain integer: let the function say so
			if args[0].AsBigFloat().Sign() < 0 {
				spaces = 0
			}
		}
		s := args[1].AsString()
		return sat(int64(len(s)), mul(max(spaces, 0), int64(strings.Count(s, "\n"))))
	},
	"replace": func(args []cty.Value) int64 {
		s, sub, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
		if len(sub) > 1 && sub[0] == '/' && sub[len(sub)-1] == '/' {
			return regexEstimate(s, sub[1:len(sub)-1], repl)
		}
		if sub == "" {
			return sat(int64(len(s)), mul(int64(utf8.RuneCountInString(s)+1), int64(len(repl))))
		}
		return sat(int64(len(s)), mul(int64(strings.Count(s, sub)), int64(len(repl))))
	},
	"regex_replace": func(args []cty.Value) int64 {
		return regexEstimate(args[0].AsString(), args[1].AsString(), args[2].AsString())
	},
}

// regexEstimate bounds the length of pattern's matches in s replaced by
// repl: each match writes repl, and each $ of it at most the match.
func regexEstimate(s, pattern, repl string) int64 {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0 // the function reports it
	}
	dollars := int64(strings.Count(repl, "$"))
	total := int64(len(s))
	for _, m := range re.FindAllStringIndex(s, -1) {
		total = sat(total, int64(len(repl)))
		total = sat(total, mul(dollars, int64(m[1]-m[0])))
	}
	return total
}

// formatEstimate bounds the text a format string writes n times: its own
// bytes and every number in its verbs (widths, precisions, argument
// indexes).
func formatEstimate(f string, n int64) int64 {
	total := int64(len(f))
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		var num int64
		for i++; i < len(f) && !isLetter(f[i]) && f[i] != '%'; i++ {
			if d := f[i]; d >= '0' && d <= '9' {
				num = min(num*10+int64(d-'0'), math.MaxInt32)
				continue
			}
			total, num = sat(total, num), 0
		}
		total = sat(total, num)
	}
	return sat(total, mul(max(n-1, 0), total))
}

// argBytes is the length of the strings among args.
func argBytes(args []cty.Value) int64 {
	var n int64
	for _, a := range args {
		if a.Type() == cty.String {
			n += int64(len(a.AsString()))
		}
	}
	return n
}

// sat adds two counts, at most math.MaxInt64.
func sat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// mul multiplies two counts, at most math.MaxInt64.
func mul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// size counts the steps of v, looking no further than limit: one per
// value, and one per bytesPerStep bytes of a string.
func size(v cty.Value, limit int64) int64 {
	var n int64
	var walk func(cty.Value)
	walk = func(v cty.Value) {
		if n >= limit {
			return
		}
		v, _ = v.Unmark()
		n++
		switch {
		case !v.IsKnown() || v.IsNull():
		case v.Type() == cty.String:
			n += int64(len(v.AsString()) / bytesPerStep)
		case v.CanIterateElements():
			for it := v.ElementIterator(); it.Next() && n < limit; {
				_, e := it.Element()
				walk(e)
			}
		}
	}
	walk(v)
	return n
}

// meterForExprs wraps the collection and results of every for expression
// in f's blocks, and the for_each of every dynamic block (nested, they
// multiply too), in the metering functions; variable blocks are evaluated
// without a context and left alone. src is f's source: without "for" in
// it there is nothing to walk.
func meterForExprs(src []byte, f *hcl.File) {
	if f == nil || !bytes.Contains(src, []byte("for")) {
		return
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return
	}
	var fors []*hclsyntax.ForExpr
	var forEach []*hclsyntax.Attribute
	collect := func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.ForExpr:
			fors = append(fors, n)
		case *hclsyntax.Block:
			if a := n.Body.Attributes["for_each"]; a != nil && n.Type == "dynamic" {
				forEach = append(forEach, a)
			}
		}
		return nil
	}
	for _, b := range body.Blocks {
		if b.Type != "variable" {
			hclsyntax.VisitAll(b.Body, collect)
		}
	}
	for _, f := range fors {
		f.CollExpr = meterCall(fnForColl, f.CollExpr)
		f.ValExpr = meterCall(fnForValue, f.ValExpr)
		if f.KeyExpr != nil {
			f.KeyExpr = meterCall(fnForValue, f.KeyExpr)
		}
	}
	for _, a := range forEach {
		a.Expr = meterCall(fnForColl, a.Expr)
	}
}

// meterCall is a call of the metering function name on e, at e's place.
func meterCall(name string, e hclsyntax.Expression) hclsyntax.Expression {
	r := e.Range()
	return &hclsyntax.FunctionCallExpr{Name: name, Args: []hclsyntax.Expression{e}, NameRange: r, OpenParenRange: r, CloseParenRange: r}
}

// explainBudget replaces the diagnostics HCL made of errBudget with one
// that says what happened, once per place.
func explainBudget(diags hcl.Diagnostics) hcl.Diagnostics {
	if !slices.ContainsFunc(diags, overBudget) {
		return diags
	}
	var out hcl.Diagnostics
	seen := map[hcl.Range]bool{}
	for _, d := range diags {
		if !overBudget(d) {
			out = append(out, d)
			continue
		}
		if d.Subject == nil || seen[*d.Subject] {
			continue
		}
		seen[*d.Subject] = true
		out = append(out, budgetError(*d.Subject))
	}
	return out
}

// overBudget reports whether d is HCL's diagnostic of a metering
// function failing with errBudget.
func overBudget(d *hcl.Diagnostic) bool {
	x, ok := d.Extra.(hclsyntax.FunctionCallDiagExtra)
	return ok && errors.Is(x.FunctionCallError(), errBudget)
}

const budgetSummary = "Configuration too costly to evaluate"

// budgetError says that evaluating the configuration went over
// MaxEvalSteps at rng.
func budgetError(rng hcl.Range) *hcl.Diagnostic {
	return errorAt(rng, budgetSummary,
		"Evaluating the configuration took more than %d steps (elements iterated by for expressions and dynamic blocks, and the values they and local values hold) when it came here. Nested for expressions multiply: a for over 1000 elements inside another one over 1000 iterates a million times. Iterate over what is needed, or build it from a variable.",
		maxSteps)
}
