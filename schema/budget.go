package schema

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/gocty"
)

// MaxEvalSteps bounds the work of evaluating one configuration: elements
// iterated by for expressions and dynamic blocks, values they produce,
// values of locals, and what functions are given and would write. A step
// is one value, or 32 bytes of a string. Nested for expressions multiply,
// so three lines can ask for a billion iterations and gigabytes. A million
// steps are 0.5 to 3 seconds of work; a computer per entry of a
// 30,000-entry variable, made with a for expression, takes 210,000, and
// 1,080,000 with three dynamic services each.
const MaxEvalSteps = 2_000_000

// maxSteps is MaxEvalSteps; tests lower it.
var maxSteps int64 = MaxEvalSteps

// bytesPerStep is how many bytes of a string count as one step.
const bytesPerStep = 32

// errBudget is what the metering functions fail with; loader.add turns
// the diagnostic HCL makes of it into one that explains.
var errBudget = errors.New("the configuration's evaluation budget is used up")

// errCall is errBudget refused to a function's own charge.
var errCall = fmt.Errorf("%w by this call", errBudget)

// meter counts the steps of one load, or of one app_config rendering.
// Computers decode in parallel, so it is shared between goroutines. Once
// a charge is refused every later one is too, and the load fails even
// where try or can hid the refusal: what a config means must not depend
// on the budget.
type meter struct {
	used      atomic.Int64
	refused   atomic.Int64 // charges refused, for tests: past the budget, loops stop
	exhausted atomic.Bool
	mu        sync.Mutex
	at        hcl.Range // the first place, in source order, a for ran out
}

// charge adds n steps and reports whether the budget still holds; a
// refused charge adds nothing.
func (m *meter) charge(n int64) bool {
	for !m.exhausted.Load() {
		u := m.used.Load()
		if n > maxSteps-u {
			break
		}
		if m.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
	m.exhausted.Store(true)
	m.refused.Add(1)
	return false
}

// newMeter returns the meter of a load; tests watch it through onNewMeter.
func newMeter() *meter {
	m := new(meter)
	if onNewMeter != nil {
		onNewMeter(m)
	}
	return m
}

var onNewMeter func(*meter)

// left is how many steps remain.
func (m *meter) left() int64 { return maxSteps - m.used.Load() }

// ranOutAt notes that the budget ran out at r.
func (m *meter) ranOutAt(r hcl.Range) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == (hcl.Range{}) || r.Filename < m.at.Filename || r.Filename == m.at.Filename && r.Start.Byte < m.at.Start.Byte {
		m.at = r
	}
}

// check returns a budget error when the budget ran out but diags say
// nothing of it (try or can hid it), else nil.
func (m *meter) check(diags hcl.Diagnostics) *hcl.Diagnostic {
	if m == nil || !m.exhausted.Load() || slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == budgetSummary }) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := budgetError(m.at)
	d.Detail += " It ran out inside try or can, which do not hide it."
	return d
}

// Names of the metering functions wrapped around a for expression's
// collection and results. They hold a space, so no config can call them.
const (
	fnForColl  = "netplan42 for-collection"
	fnForValue = "netplan42 for-value"
	fnForStep  = "netplan42 for-step"
	fnDynamic  = "netplan42 dynamic-for_each"
)

// dynamicWeight is the steps charged per block a dynamic block makes:
// decoding a service costs far more than one step of a for expression.
const dynamicWeight = 8

// rangeType carries the source range of a metered expression to its
// metering function, for a refusal that try or can hide.
var rangeType = cty.Capsule("source range", reflect.TypeOf(hcl.Range{}))

// functionsWith returns the config's functions metered by m, and the for
// expression hooks. Every function is charged what it is given; the ones
// whose result can be far larger than that, what they would write too,
// before they write it.
func functionsWith(m *meter) map[string]function.Function {
	fns := make(map[string]function.Function, len(functions)+2)
	for name, f := range functions {
		fns[name] = charged(f, outputEstimates[name], m)
	}
	maps.Copy(fns, forHooks(m))
	return fns
}

// forHooks are the metering functions meterNode's calls name.
func forHooks(m *meter) map[string]function.Function {
	return map[string]function.Function{
		fnForColl:  forMeter(m, 1),
		fnDynamic:  forMeter(m, dynamicWeight),
		fnForValue: forMeter(m, 0),
		fnForStep:  forStep(m),
	}
}

// forMeter returns a metering function for a for expression: it charges
// m perElement steps per element of a collection, or with perElement 0
// the size of a value, and returns the value unchanged; its second
// argument is where the value's expression is.
func forMeter(m *meter, perElement int64) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{
			Name: "value", Type: cty.DynamicPseudoType,
			AllowDynamicType: true, AllowUnknown: true, AllowNull: true, AllowMarked: true,
		}, {
			Name: "at", Type: rangeType,
		}},
		Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v := args[0]
			if !v.IsKnown() || v.IsNull() || v.IsMarked() {
				return v, nil
			}
			var n int64
			switch {
			case perElement == 0:
				n = size(v, m.left()+1)
			case v.CanIterateElements():
				n = mul(int64(v.LengthInt()), perElement)
			default:
				return v, nil // not a collection: the for expression says so
			}
			if !m.charge(max(1, n)) {
				m.ranOutAt(*args[1].EncapsulatedValue().(*hcl.Range))
				return cty.NilVal, errBudget
			}
			return v, nil
		},
	})
}

// forStep returns the metering function of a for expression's condition
// (its if clause, or true): once the budget is used up it fails, and the
// for expression then skips the element without evaluating its result,
// so that the rest of a loop costs next to nothing.
func forStep(m *meter) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{
			Name: "condition", Type: cty.DynamicPseudoType,
			AllowDynamicType: true, AllowUnknown: true, AllowNull: true, AllowMarked: true,
		}},
		Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if m.exhausted.Load() {
				return cty.NilVal, errBudget
			}
			return args[0], nil
		},
	})
}

// charged returns f, which first charges m what it is given and what
// estimate (if any) says it would write, in steps.
func charged(f function.Function, estimate func([]cty.Value) int64, m *meter) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if m.exhausted.Load() {
				m.refused.Add(1)
				return cty.NilVal, errBudget // fail fast: the load has failed
			}
			n := int64(1)
			for _, a := range args {
				n = sat(n, size(a, m.left()+1))
			}
			if estimate != nil {
				n = sat(n, estimate(args))
			}
			if !m.charge(n) {
				return cty.NilVal, errCall
			}
			return f.Call(args)
		},
	})
}

// known reports whether v is known and not null, at its top level.
func known(v cty.Value) bool { return v.IsKnown() && !v.IsNull() }

// str is v's string, or "" when v is not a known string.
func str(v cty.Value) string {
	if !known(v) || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// outputEstimates bound, in steps, what the functions that can write far
// more than they are given would write. range writes at most 1024
// numbers, which its charge of one step covers: it is here so that once
// the budget is used up it fails at once rather than for every iteration
// of an outer for.
var outputEstimates = map[string]func([]cty.Value) int64{
	"format": func(args []cty.Value) int64 {
		return formatEstimate(str(args[0]), maxBytes(args[1:])) / bytesPerStep
	},
	"formatlist": func(args []cty.Value) int64 {
		n, widest := int64(1), int64(0)
		for _, a := range args[1:] {
			if known(a) && (a.Type().IsListType() || a.Type().IsTupleType() || a.Type().IsSetType()) {
				n = max(n, int64(a.LengthInt()))
				for it := a.ElementIterator(); it.Next(); {
					_, e := it.Element()
					widest = max(widest, valueBytes(e))
				}
			} else {
				widest = max(widest, valueBytes(a))
			}
		}
		return mul(n, formatEstimate(str(args[0]), widest)) / bytesPerStep
	},
	"indent": func(args []cty.Value) int64 {
		var spaces int64
		if known(args[0]) && gocty.FromCtyValue(args[0], &spaces) != nil {
			spaces = 0 // not a whole number: the function says so
		}
		s := str(args[1])
		return sat(int64(len(s)), mul(max(spaces, 0), int64(strings.Count(s, "\n")))) / bytesPerStep
	},
	"join": func(args []cty.Value) int64 {
		sep := int64(len(str(args[0])))
		var n int64
		for _, l := range args[1:] {
			if known(l) && l.CanIterateElements() {
				n = sat(n, int64(l.LengthInt()))
			}
		}
		return mul(n, sep) / bytesPerStep
	},
	"replace": func(args []cty.Value) int64 {
		s, sub, repl := str(args[0]), str(args[1]), str(args[2])
		times := int64(strings.Count(s, sub)) // len(s)+1 for an empty sub
		return sat(int64(len(s)), mul(times, int64(len(repl)))) / bytesPerStep
	},
	"regex_replace": func(args []cty.Value) int64 {
		return regexEstimate(str(args[0]), str(args[1]), str(args[2])) / bytesPerStep
	},
	// One value per character at most.
	"split":     func(args []cty.Value) int64 { return int64(len(str(args[1]))) },
	"regexall":  func(args []cty.Value) int64 { return int64(len(str(args[1]))) },
	"csvdecode": func(args []cty.Value) int64 { return int64(len(str(args[0]))) },
	// jsondecode makes fewer values than its text has bytes, jsonencode
	// writes a few bytes per value it is given (already charged).
	"jsondecode": func(args []cty.Value) int64 { return int64(len(str(args[0]))) },
	"range":      func([]cty.Value) int64 { return 0 },
}

// regexEstimate bounds the length of pattern's matches in s replaced by
// repl: each match writes repl, and each $ of it at most the match.
func regexEstimate(s, pattern, repl string) int64 {
	re, err := regexp.Compile(pattern)
	if err != nil || repl == "" {
		return int64(len(s)) // the function reports a bad pattern
	}
	dollars := int64(strings.Count(repl, "$"))
	total := int64(len(s))
	// ReplaceAllStringFunc visits the matches in memory bounded by s.
	re.ReplaceAllStringFunc(s, func(m string) string {
		total = sat(total, sat(int64(len(repl)), mul(dollars, int64(len(m)))))
		return ""
	})
	return total
}

// formatEstimate bounds the text a format string writes when each verb
// writes at most arg bytes: its own bytes, and per verb the numbers in
// it (widths, precisions, argument indexes) and arg.
func formatEstimate(f string, arg int64) int64 {
	total := int64(len(f))
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		total = sat(total, arg)
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
	return total
}

// maxBytes is the most bytes any of args writes.
func maxBytes(args []cty.Value) int64 {
	var n int64
	for _, a := range args {
		n = max(n, valueBytes(a))
	}
	return n
}

// valueBytes bounds the bytes v is written as: a string's own, a number's
// digits, a collection about what jsonencode writes (up to a cap).
func valueBytes(v cty.Value) int64 {
	switch {
	case !known(v):
		return 4
	case v.Type() == cty.String:
		return int64(len(v.AsString()))
	case v.Type() == cty.Number:
		// 2^exp has exp·log10(2) digits; a number's text also carries
		// its mantissa's digits, at most 20 or so beyond that.
		exp := v.AsBigFloat().MantExp(nil)
		return int64(math.Abs(float64(exp))*0.30103) + 24
	}
	return size(v, math.MaxInt32) * 8
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
// value, and one per bytesPerStep bytes of a string or an object's key. A
// value built by doubling (b = [a, a]) is counted as written out, which
// is what converting, encoding or flattening it costs.
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
			keyed := v.Type().IsObjectType() || v.Type().IsMapType()
			for it := v.ElementIterator(); it.Next() && n < limit; {
				k, e := it.Element()
				if keyed {
					n += int64(len(k.AsString()) / bytesPerStep)
				}
				walk(e)
			}
		}
	}
	walk(v)
	return n
}

// meterForExprs meters the for expressions and dynamic blocks in f's
// blocks other than variable blocks (constValue meters those). src is
// f's source: without "for" in it there is nothing to walk.
func meterForExprs(src []byte, f *hcl.File) {
	if f == nil || !bytes.Contains(src, []byte("for")) {
		return
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return
	}
	for _, b := range body.Blocks {
		if b.Type != "variable" {
			meterNode(b.Body)
		}
	}
}

// meterNode wraps the collection and results of every for expression in
// n, and the for_each of every dynamic block (nested, they multiply too),
// in the metering functions. It reports whether it found any.
func meterNode(n hclsyntax.Node) bool {
	var fors []*hclsyntax.ForExpr
	var forEach []*hclsyntax.Attribute
	hclsyntax.VisitAll(n, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.ForExpr:
			fors = append(fors, n)
		case *hclsyntax.Block:
			if a := n.Body.Attributes["for_each"]; a != nil && n.Type == "dynamic" {
				forEach = append(forEach, a)
			}
		}
		return nil
	})
	for _, f := range fors {
		f.CollExpr = meterCall(fnForColl, f.CollExpr)
		f.ValExpr = meterCall(fnForValue, f.ValExpr)
		if f.KeyExpr != nil {
			f.KeyExpr = meterCall(fnForValue, f.KeyExpr)
		}
		cond := f.CondExpr
		if cond == nil {
			cond = &hclsyntax.LiteralValueExpr{Val: cty.True, SrcRange: f.SrcRange}
		}
		f.CondExpr = &hclsyntax.FunctionCallExpr{Name: fnForStep, Args: []hclsyntax.Expression{cond},
			NameRange: cond.Range(), OpenParenRange: cond.Range(), CloseParenRange: cond.Range()}
	}
	for _, a := range forEach {
		a.Expr = meterCall(fnDynamic, a.Expr)
	}
	return len(fors) > 0 || len(forEach) > 0
}

// meterCall is a call of the metering function name on e, at e's place.
func meterCall(name string, e hclsyntax.Expression) hclsyntax.Expression {
	r := e.Range()
	at := &hclsyntax.LiteralValueExpr{Val: cty.CapsuleVal(rangeType, &r), SrcRange: r}
	return &hclsyntax.FunctionCallExpr{Name: name, Args: []hclsyntax.Expression{e, at}, NameRange: r, OpenParenRange: r, CloseParenRange: r}
}

// constValue evaluates expr of a variable block, a var file or --var,
// which may use no functions and no variables. A for expression in it is
// metered by m.
func constValue(expr hcl.Expression, m *meter) (cty.Value, hcl.Diagnostics) {
	var ctx *hcl.EvalContext // nil: "Function calls not allowed", as before
	if e, ok := expr.(hclsyntax.Expression); ok && m != nil && meterNode(e) {
		ctx = &hcl.EvalContext{Functions: forHooks(m)}
	}
	return expr.Value(ctx)
}

// explainBudget replaces the diagnostics HCL made of errBudget with ones
// that say what happened, once per place.
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
		e := budgetError(*d.Subject)
		if x := d.Extra.(hclsyntax.FunctionCallDiagExtra); errors.Is(x.FunctionCallError(), errCall) {
			name := x.CalledFunctionName()
			e.Detail = fmt.Sprintf("Calling %s here would take more than what is left of the %d steps netplan42 allows for evaluating a configuration: one per value a function is given or writes, or per %d bytes of text. Ask it for less: a smaller width or count, a shorter text, fewer repetitions.", name, maxSteps, bytesPerStep)
		}
		out = append(out, e)
	}
	return out
}

// overBudget reports whether d is HCL's diagnostic of a metered function
// failing with errBudget.
func overBudget(d *hcl.Diagnostic) bool {
	x, ok := d.Extra.(hclsyntax.FunctionCallDiagExtra)
	return ok && errors.Is(x.FunctionCallError(), errBudget)
}

const budgetSummary = "Configuration too costly to evaluate"

// budgetError says that evaluating the configuration went over
// MaxEvalSteps at rng.
func budgetError(rng hcl.Range) *hcl.Diagnostic {
	return errorAt(rng, budgetSummary,
		"Evaluating the configuration took more than %d steps (elements iterated by for expressions and dynamic blocks, values they make, values of locals, and what functions are given and write) when it came here. Nested for expressions multiply: a for over 1000 elements inside another one over 1000 iterates a million times. Iterate over what is needed, or build it from a variable.",
		maxSteps)
}
