package schema

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/netplan42/netplan42/internal/userfile"
)

// Options are the variable values given from outside the configuration,
// in the order Terraform users expect: defaults < environment < var files
// (in order) < --var flags (in order).
type Options struct {
	// Vars are "name=value" settings from --var flags, in order.
	Vars []string
	// VarFiles are paths of --var-file files, in order. Each holds HCL
	// attributes, one per variable: port_base = 5000.
	VarFiles []string
	// VarFileData holds the contents of VarFiles by path. LoadFiles reads
	// var files only from here; Load fills it from disk.
	VarFileData map[string][]byte
	// Env is the environment, as from os.Environ. NETPLAN42_VAR_name=value
	// sets var.name; names of undeclared variables are ignored, since the
	// environment is shared with other configurations.
	Env []string
}

// EnvVarPrefix starts the names of environment variables that set
// configuration variables.
const EnvVarPrefix = "NETPLAN42_VAR_"

// Load reads the configuration at path: one file, or every *.hcl file in a
// directory except the lock file, var files (*.vars.hcl, and any named in
// opts.VarFiles) and hidden or editor backup files. It
// always returns a Config whose Dir and Files are set, so that the
// diagnostics can be rendered; the rest is meaningful only when the
// diagnostics have no errors.
func Load(path string, opts Options) (*Config, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	files := map[string][]byte{}
	dir := path
	info, err := os.Stat(path)
	switch {
	case err != nil:
		diags = append(diags, ioError("Cannot read configuration", err))
	case info.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			diags = append(diags, ioError("Cannot read configuration", err))
		}
		for _, e := range entries {
			name := filepath.Join(path, e.Name())
			if e.IsDir() || !isConfigFile(e.Name()) || isVarFile(name, opts.VarFiles) {
				continue
			}
			src, err := userfile.Read(name)
			if err != nil {
				diags = append(diags, fileError("Cannot read configuration file", name, err, configFileHint))
				continue
			}
			files[name] = src
		}
		if err == nil && len(files) == 0 && !diags.HasErrors() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No configuration files",
				Detail:   "The directory " + path + " holds no *.hcl files. Write the configuration there (netplan42.hcl, say), or name a file.",
			})
		}
	default:
		dir = filepath.Dir(path)
		src, err := userfile.Read(path)
		if err != nil {
			diags = append(diags, fileError("Cannot read configuration file", path, err, configFileHint))
		} else {
			files[path] = src
		}
	}

	data := maps.Clone(opts.VarFileData)
	if data == nil {
		data = map[string][]byte{}
	}
	var varFiles []string
	for _, name := range opts.VarFiles {
		if _, ok := data[name]; !ok {
			src, err := userfile.Read(name)
			if err != nil {
				diags = append(diags, fileError("Cannot read var file", name, err, "Name a plain file of name = value lines."))
				continue
			}
			data[name] = src
		}
		varFiles = append(varFiles, name)
	}
	opts.VarFiles, opts.VarFileData = varFiles, data

	if diags.HasErrors() {
		return &Config{Networks: map[string]*Network{}, Dir: dir, Files: map[string]*hcl.File{}}, diags
	}
	cfg, more := LoadFiles(files, dir, opts)
	return cfg, append(diags, more...)
}

// ioError reports a file that could not be read; err names the file.
func ioError(summary string, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: err.Error() + "."}
}

// configFileHint says what a configuration file must be.
const configFileHint = "Every *.hcl file of a configuration directory is read: move this one away, or rename it (a name starting with \".\" or ending in \"~\" is skipped)."

// fileError reports a file that could not be read, pointing at the file
// so that the message names it, with what to do when the file is not
// something netplan42 reads (a FIFO, a device, a directory, too large).
func fileError(summary, name string, err error, hint string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: err.Error() + "."}
	if errors.Is(err, userfile.ErrNotRegular) || errors.Is(err, userfile.ErrTooLarge) {
		d.Detail += " netplan42 reads only regular files of at most 64 MiB. " + hint
		pos := hcl.Pos{Line: 1, Column: 1}
		d.Subject = &hcl.Range{Filename: name, Start: pos, End: pos}
	}
	return d
}

// isConfigFile reports whether a directory entry named name is part of the
// configuration. Like Terraform, it skips hidden files and editor
// leftovers; var files, NAME.vars.hcl, are read only when named, as
// Terraform's .tfvars are.
func isConfigFile(name string) bool {
	return strings.HasSuffix(name, ".hcl") && !strings.HasSuffix(name, VarFileSuffix) && name != LockFileName &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#") && !strings.HasSuffix(name, "~")
}

// VarFileSuffix ends the names of var files, which Load leaves out of a
// configuration directory so that they can live beside it.
const VarFileSuffix = ".vars.hcl"

// isVarFile reports whether the file name is one of varFiles.
func isVarFile(name string, varFiles []string) bool {
	for _, v := range varFiles {
		if a, b := filepath.Clean(v), filepath.Clean(name); a == b {
			return true
		}
		if a, err := filepath.Abs(v); err == nil {
			if b, err := filepath.Abs(name); err == nil && a == b {
				return true
			}
		}
	}
	return false
}

// LoadFiles is Load without the file system: files maps file names to their
// contents, dir is the directory the lock file belongs to, and var files
// come from opts.VarFileData. A file named like the lock file is skipped.
func LoadFiles(files map[string][]byte, dir string, opts Options) (*Config, hcl.Diagnostics) {
	if l, ok := loadStreaming(files, dir, opts); ok {
		return l.cfg, tidy(l.diags)
	}
	l := &loader{cfg: &Config{
		Networks: map[string]*Network{},
		Dir:      dir,
		Files:    make(map[string]*hcl.File, len(files)),
	}}
	l.load(files, opts)
	return l.cfg, tidy(l.diags)
}

// rootSchema is what a configuration file may hold at its top level.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "network", LabelNames: []string{"name"}},
		{Type: "computer", LabelNames: []string{"name"}},
		{Type: "backend", LabelNames: []string{"type"}},
	},
}

// loader carries the state of one LoadFiles call.
type loader struct {
	cfg   *Config
	diags hcl.Diagnostics
	comps []*computerDecl // in declaration order

	// varNames and localNames are the declared names, sorted, for
	// messages about references to undeclared ones.
	varNames, localNames []string

	m *meter // the load's evaluation steps; nil in a computer's own loader
}

// computerDecl is a decoded computer instance and the places its attributes
// were set, for cross-checks that point back at them.
type computerDecl struct {
	c            *Computer
	networkRange hcl.Range
	hostRange    hcl.Range
}

func (l *loader) add(d ...*hcl.Diagnostic) { l.diags = append(l.diags, explainBudget(d)...) }

func (l *loader) load(files map[string][]byte, opts Options) {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if filepath.Base(name) != LockFileName {
			names = append(names, name)
		}
	}
	parsed, pieces, parseDiags := parseFiles(files, names)
	var bodies []hcl.Body
	for i, name := range names {
		l.cfg.Files[name] = parsed[i]
		l.add(parseDiags[i]...)
		bodies = append(bodies, pieces[i]...)
	}
	// A syntax error leaves a partial body whose decoding would only report
	// follow-on mistakes; the syntax errors are the ones worth reading.
	if l.diags.HasErrors() {
		return
	}

	var variables, locals, networks, computers, backends []*hcl.Block
	for _, body := range bodies {
		content, diags := body.Content(rootSchema)
		l.add(diags...)
		for _, b := range content.Blocks {
			switch b.Type {
			case "variable":
				variables = append(variables, b)
			case "locals":
				locals = append(locals, b)
			case "network":
				networks = append(networks, b)
			case "computer":
				computers = append(computers, b)
			case "backend":
				backends = append(backends, b)
			}
		}
	}

	l.m = newMeter()
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{},
		Functions: functionsWith(l.m),
	}
	ctx.Variables["var"] = l.variables(variables, opts)
	ctx.Variables["local"] = l.locals(locals, ctx)
	l.backends(backends, ctx)

	for _, b := range networks {
		l.addNetwork(b, ctx)
	}

	labels := map[string]hcl.Range{}
	var unique []*hcl.Block
	for _, b := range computers {
		if !l.checkName(b, "computer") {
			continue
		}
		if prev, ok := labels[b.Labels[0]]; ok {
			l.add(errorAt(b.LabelRanges[0], "Duplicate computer",
				"A computer named %q was already declared at %s. Computer names must be unique; rename or remove one of them.",
				b.Labels[0], position(prev)))
			continue
		}
		labels[b.Labels[0]] = b.DefRange
		unique = append(unique, b)
	}
	l.decodeComputers(unique, ctx)
	if d := l.m.check(l.diags); d != nil {
		l.add(d)
	}
	l.finish()
}

// addNetwork decodes a network block and adds it, unless its name is taken.
func (l *loader) addNetwork(b *hcl.Block, ctx *hcl.EvalContext) {
	n := l.network(b, ctx)
	if n == nil {
		return
	}
	if prev := l.cfg.Networks[n.Name]; prev != nil {
		l.add(errorAt(b.LabelRanges[0], "Duplicate network",
			"A network named %q was already declared at %s. Network names must be unique; rename or remove one of them.",
			n.Name, position(prev.DeclRange)))
		return
	}
	l.cfg.Networks[n.Name] = n
}

// finish checks the decoded config as a whole and lists its computers.
func (l *loader) finish() {
	l.check()
	l.cfg.Computers = make([]*Computer, len(l.comps))
	for i, d := range l.comps {
		l.cfg.Computers[i] = d.c
	}
	slices.SortFunc(l.cfg.Computers, func(a, b *Computer) int { return strings.Compare(a.Address(), b.Address()) })
}

// decodeComputers decodes computer blocks in parallel: blocks depend on
// nothing but the evaluation context, which is only read, and a large fleet
// has thousands. Each block decodes into a loader of its own, merged in
// block order, so results do not depend on scheduling.
func (l *loader) decodeComputers(blocks []*hcl.Block, ctx *hcl.EvalContext) {
	subs := make([]*loader, len(blocks))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(len(blocks), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				sub := &loader{cfg: l.cfg, varNames: l.varNames, localNames: l.localNames}
				sub.computers(blocks[i], ctx)
				subs[i] = sub
			}
		})
	}
	for i := range blocks {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, sub := range subs {
		l.comps = append(l.comps, sub.comps...)
		l.add(sub.diags...)
	}
}

// checkName reports whether the label of block b, a kind, is a usable name,
// and reports the mistake when it is not. Names appear in addresses
// (computer.nas), router mapping descriptions and firewall comments, so
// they keep to letters, digits, '_' and '-'.
func (l *loader) checkName(b *hcl.Block, kind string) bool {
	if validName(b.Labels[0]) {
		return true
	}
	l.add(errorAt(b.LabelRanges[0], "Invalid "+kind+" name",
		"%q cannot name a %s: use letters, digits, underscores and dashes, starting with a letter or digit.",
		b.Labels[0], kind))
	return false
}

// validName reports whether s is a valid network, computer or service name.
func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
