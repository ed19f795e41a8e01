package schema

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
	},
}

// variable is a declared input variable while its value is being settled.
type variable struct {
	name     string
	ty       cty.Type
	defaults *typeexpr.Defaults
	typeOK   bool
	// literal says that values from the command line and the environment
	// are strings as written, not HCL expressions: true for type = string
	// and, as in Terraform, for a variable declared without a type.
	literal bool
	value   cty.Value // cty.NilVal while unset
	decl    hcl.Range
}

// variables declares the variable blocks, settles each value from its
// default, the environment, var files and --var flags, and returns the var
// object for evaluation. A variable whose value is missing or invalid is
// unknown there, which silences follow-on errors.
func (l *loader) variables(blocks []*hcl.Block, opts Options) cty.Value {
	vars := map[string]*variable{}
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			l.add(errorAt(b.LabelRanges[0], "Invalid variable name",
				"%q cannot name a variable: use letters, digits, underscores and dashes, starting with a letter.", name))
			continue
		}
		if prev := vars[name]; prev != nil {
			l.add(errorAt(b.LabelRanges[0], "Duplicate variable",
				"A variable named %q was already declared at %s. Variable names must be unique; remove one of them.",
				name, position(prev.decl)))
			continue
		}
		v := &variable{name: name, ty: cty.DynamicPseudoType, typeOK: true, literal: true, decl: b.DefRange}
		vars[name] = v

		content, diags := b.Body.Content(variableSchema)
		l.add(diags...)
		if a := content.Attributes["type"]; a != nil {
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			l.add(diags...)
			if diags.HasErrors() {
				v.typeOK = false
			} else {
				v.ty, v.defaults, v.literal = ty, defaults, ty == cty.String
			}
		}
		if a := content.Attributes["description"]; a != nil {
			val, diags := constValue(a.Expr, l.m)
			l.add(diags...)
			if !diags.HasErrors() && !val.IsNull() && val.Type() != cty.String {
				l.add(errorAt(a.Expr.Range(), "Invalid description",
					"The description of variable %q must be a string.", name))
			}
		}
		if a := content.Attributes["default"]; a != nil {
			val, diags := constValue(a.Expr, l.m)
			l.add(diags...)
			if !diags.HasErrors() {
				l.setVariable(v, val, a.Expr.Range(), "default value")
			}
		}
	}

	for _, kv := range opts.Env {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvVarPrefix) {
			continue
		}
		name = strings.TrimPrefix(name, EnvVarPrefix)
		if v := vars[name]; v != nil {
			l.setRaw(v, raw, "environment variable "+EnvVarPrefix+name)
		}
	}

	for _, path := range opts.VarFiles {
		src, ok := opts.VarFileData[path]
		if !ok {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing var file",
				Detail:   fmt.Sprintf("The var file %s was named but its contents were not given.", path),
			})
			continue
		}
		l.varFile(vars, path, src)
	}

	for _, kv := range opts.Vars {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var option",
				Detail:   fmt.Sprintf("--var %q must be name=value, as in --var port_base=5000.", kv),
			})
			continue
		}
		v := vars[name]
		if v == nil {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail: fmt.Sprintf("--var sets %q, but the configuration declares no such variable.%s Declare it with a variable %q block, or drop the option.",
					name, didYouMean(name, slices.Sorted(maps.Keys(vars))), name),
			})
			continue
		}
		l.setRaw(v, raw, "--var "+name)
	}

	l.varNames = slices.Sorted(maps.Keys(vars))
	values := make(map[string]cty.Value, len(vars))
	for name, v := range vars {
		if v.value == cty.NilVal {
			l.add(errorAt(v.decl, "No value for required variable",
				"Variable %q has no default, and no value was given. Set it with --var %s=..., in a --var-file, or with the environment variable %s%s; or give it a default.",
				name, name, EnvVarPrefix, name))
			v.value = cty.DynamicVal
		}
		values[name] = v.value
	}
	return cty.ObjectVal(values)
}

// varFile sets variables from the attributes of a --var-file.
func (l *loader) varFile(vars map[string]*variable, path string, src []byte) {
	f, diags := parseConfig(src, path, hcl.InitialPos)
	if f != nil {
		l.cfg.Files[path] = f
	}
	l.add(diags...)
	if diags.HasErrors() {
		return
	}
	attrs, diags := f.Body.JustAttributes()
	l.add(diags...)
	// In file order, so that diagnostics and repeated names read naturally.
	list := slices.SortedFunc(maps.Values(attrs), func(a, b *hcl.Attribute) int {
		return a.Range.Start.Byte - b.Range.Start.Byte
	})
	for _, a := range list {
		v := vars[a.Name]
		if v == nil {
			l.add(errorAt(a.NameRange, "Undeclared variable",
				"%s sets %q, but the configuration declares no such variable.%s Declare it with a variable %q block, or remove the line.",
				path, a.Name, didYouMean(a.Name, slices.Sorted(maps.Keys(vars))), a.Name))
			continue
		}
		val, diags := constValue(a.Expr, l.m)
		l.add(diags...)
		if !diags.HasErrors() {
			l.setVariable(v, val, a.Expr.Range(), "value in "+path)
		}
	}
}

// setRaw sets v from a command-line or environment string: taken as it is
// for a string variable, parsed as an HCL expression otherwise. source
// names where the string came from, for messages.
func (l *loader) setRaw(v *variable, raw, source string) {
	// A pseudo-file lets diagnostics quote the value as they quote a line.
	name := "<value for var." + v.name + " from " + source + ">"
	l.cfg.Files[name] = &hcl.File{Body: hcl.EmptyBody(), Bytes: []byte(raw)}
	rng := hcl.Range{
		Filename: name,
		Start:    hcl.InitialPos,
		End:      hcl.Pos{Line: 1, Column: len(raw) + 1, Byte: len(raw)},
	}
	if v.literal {
		l.setVariable(v, cty.StringVal(raw), rng, source)
		return
	}
	expr, diags := parseExpression([]byte(raw), name, hcl.InitialPos)
	var val cty.Value
	if !diags.HasErrors() {
		val, diags = constValue(expr, l.m)
	}
	if diags.HasErrors() {
		// HCL's own words ("Variables not allowed" for a bare word) would
		// puzzle someone who typed a command line.
		l.add(errorAt(rng, "Invalid value for variable",
			"Variable %q is %s, so the value from %s is read as an HCL expression, like 5000 or [\"a\", \"b\"], and %q is not one: %s",
			v.name, typeName(v.ty), source, shorten(raw, 200), diags[0].Detail))
		v.value = cty.DynamicVal
		return
	}
	l.setVariable(v, val, rng, source)
}

// setVariable converts val to v's type and makes it v's value; a later
// source overrides an earlier one.
func (l *loader) setVariable(v *variable, val cty.Value, rng hcl.Range, source string) {
	if !v.typeOK {
		v.value = cty.DynamicVal
		return
	}
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	conv, err := convert.Convert(val, v.ty)
	if err != nil {
		l.add(errorAt(rng, "Invalid value for variable",
			"The %s for variable %q is not %s: %s.", source, v.name, typeName(v.ty), err))
		v.value = cty.DynamicVal
		return
	}
	v.value = conv
}

// typeName names ty for messages: "a string", "a list of number".
func typeName(ty cty.Type) string {
	s := typeexpr.TypeString(ty)
	switch {
	case ty == cty.DynamicPseudoType:
		return "a valid value"
	case strings.HasPrefix(s, "object"), strings.HasPrefix(s, "any"):
		return "of type " + s
	case strings.IndexByte("aeiou", s[0]) >= 0:
		return "an " + s
	}
	return "a " + s
}

// shorten cuts s to at most n bytes for a message, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
