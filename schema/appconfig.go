package schema

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// AppConfig is an app_config block of a service: a file of the service's
// own program that netplan42 keeps in step with the service's ports. Its
// values may refer to self (the service's port, external_port, protocol
// and name, and its computer's hostname), which is known only once auto
// ports are allocated: Render evaluates them then.
type AppConfig struct {
	Path string // absolute and clean: the block's label

	// Exactly one of Content (the whole file) or Match with Replace
	// (every match of the RE2 expression replaced) is set.
	Content, Match, Replace hcl.Expression
	// OnChange is the on_change expression: an argv run after a write;
	// nil when absent.
	OnChange hcl.Expression

	ctx       *hcl.EvalContext // var, local and each, as where the block is
	DeclRange hcl.Range
}

// AppConfigValues are an app_config's values with self known.
type AppConfigValues struct {
	Content  string
	Match    *regexp.Regexp // nil: Content is the whole file
	Replace  string         // for Match; $1 and ${name} expand submatches
	OnChange []string       // nil: nothing runs after a write
}

var appConfigSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "content"},
		{Name: "match"},
		{Name: "replace"},
		{Name: "on_change"},
	},
}

// appConfigBlock is the block type of app_config in a service.
var appConfigBlock = hcl.BlockHeaderSchema{Type: "app_config", LabelNames: []string{"path"}}

// selfFor is the value of self in an app_config of service s on computer
// c; with c nil, what is not known before allocation is unknown.
func selfFor(c *Computer, s *Service) cty.Value {
	port, ext, host := cty.UnknownVal(cty.Number), cty.UnknownVal(cty.Number), cty.UnknownVal(cty.String)
	if c != nil {
		port, ext, host = cty.NumberIntVal(int64(s.Port)), cty.NumberIntVal(int64(s.External())), cty.StringVal(c.Hostname)
	}
	proto := cty.UnknownVal(cty.String)
	if s.Protocol != "" {
		proto = cty.StringVal(s.Protocol)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":          cty.StringVal(s.Name),
		"port":          port,
		"external_port": ext,
		"protocol":      proto,
		"hostname":      host,
	})
}

// appConfig decodes an app_config block of service s. Values that depend
// on self are checked as far as they can be before allocation: their
// references and, when known, their types and the regular expression.
func (l *loader) appConfig(b *hcl.Block, ctx *hcl.EvalContext, s *Service) {
	a := &AppConfig{Path: b.Labels[0], ctx: ctx, DeclRange: b.DefRange}
	content, diags := bodyContent(b.Body, appConfigSchema)
	l.add(diags...)
	ok := true
	switch p := b.Labels[0]; {
	case !filepath.IsAbs(p) || strings.HasSuffix(p, "/"):
		l.add(errorAt(b.LabelRanges[0], "Invalid app_config path",
			"app_config %q must name a file by its absolute path, like \"/etc/ssh/sshd_config.d/netplan42.conf\".", p))
		ok = false
	case strings.ContainsRune(p, 0) || strings.HasSuffix(p, backupSuffix):
		l.add(errorAt(b.LabelRanges[0], "Invalid app_config path",
			"app_config %q cannot be written: netplan42 keeps the previous content of a file in FILE%s.", p, backupSuffix))
		ok = false
	default:
		a.Path = filepath.Clean(p)
	}

	attr := func(name string) hcl.Expression {
		if at := content.Attributes[name]; at != nil {
			return at.Expr
		}
		return nil
	}
	a.Content, a.Match, a.Replace, a.OnChange = attr("content"), attr("match"), attr("replace"), attr("on_change")
	switch {
	case a.Content != nil && (a.Match != nil || a.Replace != nil):
		l.add(errorAt(b.DefRange, "Conflicting app_config settings",
			"app_config %q sets content and match/replace. Use content to write the whole file, or match and replace to change only what match finds.", a.Path))
		ok = false
	case a.Content == nil && a.Match == nil && a.Replace == nil:
		l.add(errorAt(b.DefRange, "Missing app_config settings",
			"app_config %q says nothing to write. Set content to the whole file, or match (an RE2 regular expression) and replace.", a.Path))
		ok = false
	case a.Content == nil && (a.Match == nil || a.Replace == nil):
		missing := "replace"
		if a.Match == nil {
			missing = "match"
		}
		l.add(errorAt(b.DefRange, "Missing app_config settings",
			"app_config %q needs both match and replace; %s is missing.", a.Path, missing))
		ok = false
	}

	if !l.checkSelf(a.Content, a.Match, a.Replace, a.OnChange) {
		return
	}
	// Check what can be checked before auto ports are known.
	child := ctx.NewChild()
	child.Variables = map[string]cty.Value{"self": selfFor(nil, s)}
	var v AppConfigValues
	if !l.renderInto(a, child, &v) {
		ok = false
	}
	if ok {
		s.AppConfigs = append(s.AppConfigs, a)
	}
}

// backupSuffix ends the name of the copy netplan42 keeps of a file's
// previous content.
const backupSuffix = ".netplan42.bak"

// BackupSuffix ends the name of the copy netplan42 keeps of an app_config
// file's previous content: FILE.netplan42.bak.
const BackupSuffix = backupSuffix

// Render evaluates a with self set for service s of computer c, whose
// ports are allocated.
func (a *AppConfig) Render(c *Computer, s *Service) (AppConfigValues, hcl.Diagnostics) {
	// Each rendering has a budget of its own: the agent renders again
	// and again.
	l := &loader{m: new(meter)}
	child := a.ctx.NewChild()
	child.Variables = map[string]cty.Value{"self": selfFor(c, s)}
	child.Functions = functionsWith(l.m)
	var v AppConfigValues
	l.renderInto(a, child, &v)
	if d := l.m.check(l.diags); d != nil {
		l.add(d)
	}
	return v, l.diags
}

// renderInto evaluates a's expressions into v; unknown values are left
// out. It reports whether no mistake was found.
func (l *loader) renderInto(a *AppConfig, ctx *hcl.EvalContext, v *AppConfigValues) bool {
	before := len(l.diags)
	str := func(expr hcl.Expression, name string) (string, bool) {
		if expr == nil {
			return "", false
		}
		val, diags := l.eval(expr, ctx)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			return "", false
		}
		if val.IsNull() {
			l.add(errorAt(expr.Range(), "Invalid "+name, "%s cannot be null.", name))
			return "", false
		}
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			l.add(errorAt(expr.Range(), "Invalid "+name, "%s must be a string: %s.", name, err))
			return "", false
		}
		return s.AsString(), true
	}
	if s, ok := str(a.Content, "content"); ok {
		v.Content = s
	}
	if s, ok := str(a.Match, "match"); ok {
		re, err := regexp.Compile(s)
		switch {
		case err != nil:
			l.add(errorAt(a.Match.Range(), "Invalid match",
				"match = %q is not an RE2 regular expression: %s.", s, strings.TrimPrefix(err.Error(), "error parsing regexp: ")))
		case re.MatchString(""):
			l.add(errorAt(a.Match.Range(), "Invalid match",
				"match = %q matches the empty string, so it would insert replace between every two characters. Make it match the setting itself, like \"<location>[^<]*</location>\".", s))
		default:
			v.Match = re
		}
	}
	if s, ok := str(a.Replace, "replace"); ok {
		v.Replace = s
	}
	if a.OnChange != nil {
		val, diags := l.eval(a.OnChange, ctx)
		if !diags.HasErrors() && val.IsWhollyKnown() {
			list, err := convert.Convert(val, cty.List(cty.String))
			switch {
			case err != nil || list.IsNull():
				l.add(errorAt(a.OnChange.Range(), "Invalid on_change",
					"on_change must be a list of strings, the program and its arguments, like [\"/usr/bin/systemctl\", \"restart\", \"ssh\"]."))
			case list.LengthInt() == 0:
				l.add(errorAt(a.OnChange.Range(), "Invalid on_change",
					"on_change = [] runs nothing. Leave it out, or name the program and its arguments."))
			default:
				var argv []string
				for i, e := range list.AsValueSlice() {
					if e.IsNull() {
						l.add(errorAt(elemRange(a.OnChange, i), "Invalid on_change", "on_change cannot hold null."))
						return false
					}
					argv = append(argv, e.AsString())
				}
				if argv[0] == "" || !filepath.IsAbs(argv[0]) {
					l.add(errorAt(elemRange(a.OnChange, 0), "Invalid on_change",
						"on_change runs %q, which is not an absolute path. Name the program by its path, like \"/usr/bin/systemctl\": netplan42 runs it without a shell and without searching PATH.", argv[0]))
					return false
				}
				v.OnChange = argv
			}
		}
	}
	return len(l.diags) == before || !hcl.Diagnostics(l.diags[before:]).HasErrors()
}

// selfNames are the attributes of self in an app_config.
var selfNames = []string{"external_port", "hostname", "name", "port", "protocol"}

// checkSelf reports references to self that name no attribute of it, and
// whether there were none.
func (l *loader) checkSelf(exprs ...hcl.Expression) bool {
	ok := true
	for _, e := range exprs {
		if e == nil {
			continue
		}
		for _, t := range e.Variables() {
			if t.RootName() != "self" {
				continue
			}
			step, isAttr := hcl.Traversal(nil), false
			if len(t) > 1 {
				_, isAttr = t[1].(hcl.TraverseAttr)
				step = t[:2]
			}
			if !isAttr {
				l.add(errorAt(t.SourceRange(), "Invalid reference to self",
					"self is the service: use self.%s.", strings.Join(selfNames, ", self.")))
				ok = false
				continue
			}
			name := t[1].(hcl.TraverseAttr).Name
			if !slices.Contains(selfNames, name) {
				l.add(errorAt(step.SourceRange(), "Unknown attribute of self",
					"self has no attribute %q.%s In an app_config, self has port, external_port, protocol and name of the service, and the computer's hostname.",
					name, didYouMean(name, selfNames)))
				ok = false
			}
		}
	}
	return ok
}

// checkAppConfigs reports two app_config blocks of one computer on the
// same file: their writes would undo each other.
func (l *loader) checkAppConfigs(c *Computer) {
	seen := map[string]hcl.Range{}
	for _, s := range c.Services {
		for _, a := range s.AppConfigs {
			if prev, ok := seen[a.Path]; ok {
				l.add(errorAt(a.DeclRange, "Duplicate app_config",
					"%s already has an app_config for %q, at %s. Each file is written by one app_config block: merge the two (one content, or one match that finds both settings).",
					c.Address(), a.Path, position(prev)))
				continue
			}
			seen[a.Path] = a.DeclRange
		}
	}
}

// String names the block for messages: app_config "/etc/ssh/...".
func (a *AppConfig) String() string { return fmt.Sprintf("app_config %q", a.Path) }
