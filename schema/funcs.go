package schema

import (
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions is the curated function set of the config language: pure
// functions of their arguments, so that a config means the same on every
// computer. Names and behaviour follow Terraform's where they overlap.
// setproduct is left out: three small sets make a billion elements.
var functions = map[string]function.Function{
	// Numbers.
	"abs":      stdlib.AbsoluteFunc,
	"ceil":     stdlib.CeilFunc,
	"floor":    stdlib.FloorFunc,
	"max":      stdlib.MaxFunc,
	"min":      stdlib.MinFunc,
	"parseint": stdlib.ParseIntFunc,
	"pow":      stdlib.PowFunc,
	"signum":   stdlib.SignumFunc,

	// Strings.
	"chomp":         stdlib.ChompFunc,
	"format":        stdlib.FormatFunc,
	"formatlist":    stdlib.FormatListFunc,
	"indent":        stdlib.IndentFunc,
	"join":          stdlib.JoinFunc,
	"lower":         stdlib.LowerFunc,
	"regex":         stdlib.RegexFunc,
	"regexall":      stdlib.RegexAllFunc,
	"regex_replace": stdlib.RegexReplaceFunc,
	"replace":       stdlib.ReplaceFunc,
	"split":         stdlib.SplitFunc,
	"strrev":        stdlib.ReverseFunc,
	"substr":        stdlib.SubstrFunc,
	"title":         stdlib.TitleFunc,
	"trim":          stdlib.TrimFunc,
	"trimprefix":    stdlib.TrimPrefixFunc,
	"trimspace":     stdlib.TrimSpaceFunc,
	"trimsuffix":    stdlib.TrimSuffixFunc,
	"upper":         stdlib.UpperFunc,

	// Collections.
	"chunklist":       stdlib.ChunklistFunc,
	"coalesce":        stdlib.CoalesceFunc,
	"coalescelist":    stdlib.CoalesceListFunc,
	"compact":         stdlib.CompactFunc,
	"concat":          stdlib.ConcatFunc,
	"contains":        stdlib.ContainsFunc,
	"distinct":        stdlib.DistinctFunc,
	"element":         stdlib.ElementFunc,
	"flatten":         stdlib.FlattenFunc,
	"index":           stdlib.IndexFunc,
	"keys":            stdlib.KeysFunc,
	"length":          lengthFunc,
	"lookup":          stdlib.LookupFunc,
	"merge":           stdlib.MergeFunc,
	"range":           stdlib.RangeFunc,
	"reverse":         stdlib.ReverseListFunc,
	"setintersection": stdlib.SetIntersectionFunc,
	"setsubtract":     stdlib.SetSubtractFunc,
	"setunion":        stdlib.SetUnionFunc,
	"slice":           stdlib.SliceFunc,
	"sort":            stdlib.SortFunc,
	"values":          stdlib.ValuesFunc,
	"zipmap":          stdlib.ZipmapFunc,

	// Encoding.
	"csvdecode":  stdlib.CSVDecodeFunc,
	"jsondecode": stdlib.JSONDecodeFunc,
	"jsonencode": stdlib.JSONEncodeFunc,

	// Types and errors.
	"can":      tryfunc.CanFunc,
	"try":      tryfunc.TryFunc,
	"tobool":   stdlib.MakeToFunc(cty.Bool),
	"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	"tonumber": stdlib.MakeToFunc(cty.Number),
	"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring": stdlib.MakeToFunc(cty.String),
}

// lengthFunc is Terraform's length: characters of a string, elements of a
// collection. The stdlib splits the two into strlen and length.
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters in a string or the number of elements in a list, set, map, tuple or object.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		if args[0].Type() == cty.String {
			return stdlib.StrlenFunc.ReturnType([]cty.Type{cty.String})
		}
		return stdlib.LengthFunc.ReturnType([]cty.Type{args[0].Type()})
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

// Functions returns the names of the functions a config may call, sorted.
func Functions() []string {
	return slices.Sorted(maps.Keys(functions))
}

// descriptions fills in for functions whose library gives none.
var descriptions = map[string]string{
	"can": "Evaluates its argument and returns true if that succeeds, false if it fails.",
	"try": "Returns the value of the first argument that evaluates without errors.",
}

// FunctionDescription returns a one-sentence description of the named
// function, or "" when there is no such function.
func FunctionDescription(name string) string {
	f, ok := functions[name]
	if !ok {
		return ""
	}
	if d, ok := descriptions[name]; ok {
		return d
	}
	return f.Description()
}
