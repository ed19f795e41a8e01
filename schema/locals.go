package schema

import (
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// local is one named value of a locals block.
type local struct {
	attr  *hcl.Attribute
	deps  []string // other locals it refers to, in order of reference
	value cty.Value
	state int // 0 unvisited, 1 on the stack, 2 done
}

// locals evaluates every locals block, each value after the locals it
// refers to, and returns the local object. A cycle is reported once, naming
// its path; the locals in it, and the ones that depend on them, are
// unknown, which silences follow-on errors.
func (l *loader) locals(blocks []*hcl.Block, ctx *hcl.EvalContext) cty.Value {
	all := map[string]*local{}
	var order []string // declaration order, for stable diagnostics
	for _, b := range blocks {
		attrs, diags := b.Body.JustAttributes()
		l.add(diags...)
		list := slices.SortedFunc(maps.Values(attrs), func(a, b *hcl.Attribute) int {
			return a.Range.Start.Byte - b.Range.Start.Byte
		})
		for _, a := range list {
			if prev := all[a.Name]; prev != nil {
				l.add(errorAt(a.NameRange, "Duplicate local value",
					"A local value named %q was already defined at %s. Local value names must be unique across all locals blocks; rename or remove one of them.",
					a.Name, position(prev.attr.Range)))
				continue
			}
			all[a.Name] = &local{attr: a}
			order = append(order, a.Name)
		}
	}

	l.localNames = slices.Sorted(maps.Keys(all))
	for _, name := range order {
		lc := all[name]
		for _, t := range lc.attr.Expr.Variables() {
			if t.RootName() != "local" || len(t) < 2 {
				continue
			}
			step, ok := t[1].(hcl.TraverseAttr)
			if !ok || all[step.Name] == nil {
				continue // an undeclared one is reported when evaluated
			}
			if !slices.Contains(lc.deps, step.Name) {
				lc.deps = append(lc.deps, step.Name)
			}
		}
	}

	var stack []string
	var visit func(name string)
	visit = func(name string) {
		lc := all[name]
		switch lc.state {
		case 2:
			return
		case 1:
			// A cycle: the stack from name's first appearance to its top.
			i := slices.Index(stack, name)
			cycle := append(slices.Clone(stack[i:]), name)
			for _, n := range cycle {
				all[n].value = cty.DynamicVal
			}
			path := "local." + strings.Join(cycle, " → local.")
			l.add(errorAt(lc.attr.NameRange, "Cycle in local values",
				"The local values refer to each other in a loop: %s. Break the loop by writing one of them without the others.", path))
			return
		}
		lc.state = 1
		stack = append(stack, name)
		for _, d := range lc.deps {
			visit(d)
		}
		stack = stack[:len(stack)-1]
		lc.state = 2
		if lc.value != cty.NilVal {
			return // in a cycle
		}
		deps := make(map[string]cty.Value, len(lc.deps))
		for _, d := range lc.deps {
			deps[d] = all[d].value
		}
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{"local": cty.ObjectVal(deps)}
		val, diags := l.eval(lc.attr.Expr, child)
		if diags.HasErrors() {
			val = cty.DynamicVal
		} else if l.m != nil && !l.m.charge(size(val, l.m.left()+1)) {
			// Locals can double: b = [a, a], c = [b, b], …
			l.m.ranOutAt(lc.attr.Expr.Range())
			l.add(budgetError(lc.attr.Expr.Range()))
			val = cty.DynamicVal
		}
		lc.value = val
	}
	for _, name := range order {
		visit(name)
	}

	values := make(map[string]cty.Value, len(all))
	for name, lc := range all {
		values[name] = lc.value
	}
	return cty.ObjectVal(values)
}
