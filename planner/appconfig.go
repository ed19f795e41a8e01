package planner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/schema"
)

// KindAppConfig is a file of a service's own program that netplan42 keeps
// in step with the service's ports (an app_config block).
const KindAppConfig Kind = "app_config"

// AppConfig is a program's config file on one side of a change, or as
// state remembers it.
type AppConfig struct {
	Path    string `json:"path"`
	Service string `json:"service"`
	Exists  bool   `json:"exists"`
	// SHA256 is the hex SHA-256 of the file's content; "" when it does
	// not exist.
	SHA256   string   `json:"sha256,omitempty"`
	Size     int      `json:"size"`
	OnChange []string `json:"on_change,omitempty"`
	// OnChangePending records in state that the file was written but
	// on_change failed: the next apply runs it again.
	OnChangePending bool `json:"on_change_pending,omitempty"`
	// Content is the file's bytes on the After side of a change: saved
	// plans carry it for apply to write. RenderJSON leaves it out, as
	// programs keep secrets in their config files; state never holds it.
	Content []byte `json:"content,omitempty"`
}

// FileView is an app_config file as a driver read it.
type FileView struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	// NoDir reports that the file's directory does not exist either.
	NoDir   bool   `json:"no_dir,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Content []byte `json:"-"`
	// Err says why the file could not be used: too large, not a regular
	// file, a symbolic link, unreadable.
	Err string `json:"error,omitempty"`
}

// AppConfigAddress returns the address of an app_config resource:
// app_config.ssh["/etc/ssh/sshd_config.d/netplan42.conf"].
func AppConfigAddress(service, path string) string {
	return fmt.Sprintf("%s.%s[%q]", KindAppConfig, service, path)
}

// Sum returns the hex SHA-256 of b, as AppConfig and FileView hold it.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func appConfigObj(a AppConfig) *Object { return &Object{AppConfig: &a} }

// appConfigs plans the computer's app_config files. The desired content is
// computed here from what was read: content as it is, or every match of
// match replaced. Destroy and removed blocks leave files as they are.
func (pl *planning) appConfigs() {
	files := map[string]FileView{}
	for _, f := range pl.Observed.Files {
		files[f.Path] = f
	}
	wanted := map[string]bool{}
	if !pl.Destroy {
		for _, s := range pl.Computer.Services {
			for _, a := range s.AppConfigs {
				addr := AppConfigAddress(s.Name, a.Path)
				wanted[addr] = true
				pl.appConfig(addr, s, a, files)
			}
		}
	}
	for _, r := range pl.Prior.Resources {
		if r.Kind != KindAppConfig || r.AppConfig == nil || wanted[r.Address] {
			continue
		}
		reason := "no longer in the config: netplan42 stops managing the file and leaves it as it is"
		if pl.Destroy {
			reason = "destroy leaves the file as it is (netplan42 never removes or reverts a program's config file)"
		}
		pl.add(Change{Address: r.Address, Kind: KindAppConfig, Action: Delete, StateOnly: true,
			Before: appConfigObj(*r.AppConfig), Reason: reason})
	}
}

func (pl *planning) appConfig(addr string, s *schema.Service, a *schema.AppConfig, files map[string]FileView) {
	fail := func(summary, detail string) {
		pl.diag(Diagnostic{Severity: Error, Address: addr, Summary: summary, Detail: detail})
	}
	v, diags := a.Render(pl.Computer, s)
	if diags.HasErrors() {
		for _, d := range diags {
			fail(fmt.Sprintf("%s: %s", a, d.Summary), d.Detail)
		}
		return
	}
	fv, seen := files[a.Path]
	switch {
	case !seen:
		fail(fmt.Sprintf("%s was not read", a.Path), "netplan42 plans an app_config only after reading its file; plan again")
		return
	case fv.Err != "":
		fail(fmt.Sprintf("cannot use %s: %s", a.Path, fv.Err), "netplan42 leaves the file as it is")
		return
	}
	obs := fv.Content
	var want []byte
	if v.Match == nil {
		want = []byte(v.Content)
		if !fv.Exists && fv.NoDir {
			fail(fmt.Sprintf("cannot create %s: its directory does not exist", a.Path),
				"netplan42 creates the file but not directories: install the program first, or create the directory")
			return
		}
	} else {
		if !fv.Exists {
			fail(fmt.Sprintf("%s does not exist, so match has nothing to find in it", a.Path),
				"match and replace change a file the program wrote itself: install or start the program once so that the file is there, or set content to write the whole file")
			return
		}
		var n int
		want, n = replaceAll(v.Match, obs, v.Replace)
		if n == 0 {
			fail(fmt.Sprintf("match %q finds nothing in %s", v.Match, a.Path),
				"the file does not hold what the config expects (a new version of the program, or edited by hand?): netplan42 leaves it as it is. Look at the file, then correct match, or use content")
			return
		}
		if again, m := replaceAll(v.Match, want, v.Replace); m == 0 || !bytes.Equal(again, want) {
			fail(fmt.Sprintf("replace for %s does not give text that match finds again as it is", a.Path),
				fmt.Sprintf("after replacing, match %q must find the replaced text and replacing it again must change nothing, or every plan would change the file once more. Make replace write what match finds, like match = \"Port [0-9]+\" with replace = \"Port ${self.port}\"", v.Match))
			return
		}
	}

	prior, inPrior := pl.Prior.Lookup(addr)
	inPrior = inPrior && prior.AppConfig != nil
	sum := ""
	if fv.Exists {
		sum = Sum(obs)
	}
	seenObj := AppConfig{Path: a.Path, Service: s.Name, Exists: fv.Exists, SHA256: sum, Size: len(obs)}
	after := AppConfig{Path: a.Path, Service: s.Name, Exists: true, SHA256: Sum(want), Size: len(want), OnChange: v.OnChange, Content: want}
	c := Change{Address: addr, Kind: KindAppConfig, After: appConfigObj(after)}
	if fv.Exists {
		c.Before = appConfigObj(seenObj)
	}
	drifted := ""
	if inPrior && prior.AppConfig.SHA256 != sum {
		drifted = "changed outside netplan42 since the last apply (edited by hand?)"
		var now *Object
		if fv.Exists {
			now = appConfigObj(seenObj)
		} else {
			drifted = "missing since the last apply (removed by hand?)"
		}
		pl.drift(Drift{Address: addr, Kind: KindAppConfig, Reason: drifted, Before: appConfigObj(*prior.AppConfig), After: now})
	}
	switch {
	case !fv.Exists:
		c.Action, c.Reason = Create, "new: the file does not exist"
		if drifted != "" {
			c.Reason = drifted
		}
	case bytes.Equal(obs, want) && inPrior && prior.AppConfig.OnChangePending:
		c.Action, c.Reason = Update, "on_change failed at the last apply: it runs again"
	case bytes.Equal(obs, want):
		c.Action, c.Reason = NoOp, "up to date"
		if !inPrior {
			c.Reason = "already as the config wants it; recording it in state"
		}
	default:
		c.Action, c.Reason = Update, "the file differs from the config"
		if drifted != "" {
			c.Reason = drifted
		}
	}
	if c.Action != NoOp {
		c.Diff = lineDiff(a.Path, fv.Exists, obs, want)
	}
	pl.add(c)
}

// replaceAll replaces every match of re in src with repl, in which $1 and
// ${name} expand submatches, and returns how many it replaced. A match
// that ends a CRLF line without its "\n" keeps the "\r" when repl has
// none, so a pattern like "Port .*" leaves a Windows file's line endings
// as they were.
func replaceAll(re *regexp.Regexp, src []byte, repl string) ([]byte, int) {
	idx := re.FindAllSubmatchIndex(src, -1)
	if len(idx) == 0 {
		return src, 0
	}
	out := make([]byte, 0, len(src))
	last := 0
	for _, m := range idx {
		out = append(out, src[last:m[0]]...)
		start := len(out)
		out = re.Expand(out, []byte(repl), src, m)
		keepCR := m[1] > m[0] && src[m[1]-1] == '\r' && m[1] < len(src) && src[m[1]] == '\n'
		if keepCR && !bytes.HasSuffix(out[start:], []byte("\r")) {
			out = append(out, '\r')
		}
		last = m[1]
	}
	return append(out, src[last:]...), len(idx)
}

// lineDiff is a unified diff of the lines that change, without context.
func lineDiff(path string, existed bool, before, after []byte) string {
	from := path
	if !existed {
		from = "/dev/null"
	}
	edits := udiff.Lines(string(before), string(after))
	d, err := udiff.ToUnifiedDiff(from, path, string(before), edits, 0)
	if err != nil {
		return "" // edits come from the same text: cannot happen
	}
	return d.String()
}

// withoutContent returns p with the content of app_config files left out,
// for JSON printed where people and CI logs read it.
func withoutContent(p *Plan) *Plan {
	has := false
	for _, c := range p.Changes {
		if c.Kind == KindAppConfig {
			has = true
		}
	}
	if !has {
		return p
	}
	q := *p
	q.Changes = make([]Change, len(p.Changes))
	for i, c := range p.Changes {
		for _, o := range []**Object{&c.Before, &c.After} {
			if *o != nil && (*o).AppConfig != nil && (*o).AppConfig.Content != nil {
				a := *(*o).AppConfig
				a.Content = nil
				*o = appConfigObj(a)
			}
		}
		q.Changes[i] = c
	}
	return &q
}

// maxDiffLines bounds the diff a human plan shows of one file.
const maxDiffLines = 60

// appConfigChange renders an app_config change: the file, on_change, and
// the lines that change.
func (p *printer) appConfigChange(c Change) {
	verb := map[Action]string{Create: "will be created", Update: "will be updated"}[c.Action]
	if c.StateOnly {
		p.F("  # %s will be forgotten: %s\n\n", p.Paint(textout.Bold, c.Address), c.Reason)
		return
	}
	p.F("  # %s %s: %s\n", p.Paint(textout.Bold, c.Address), verb, c.Reason)
	mark := p.Paint(actionColor(c.Action), c.Action.Symbol())
	p.F("  %s %s {\n", mark, c.Address)
	a := c.After.AppConfig
	p.F("        path      = %q\n", a.Path)
	if len(a.OnChange) > 0 {
		q := make([]string, len(a.OnChange))
		for i, s := range a.OnChange {
			q[i] = fmt.Sprintf("%q", s)
		}
		p.F("        on_change = [%s]\n", strings.Join(q, ", "))
	}
	lines := strings.Split(strings.TrimSuffix(c.Diff, "\n"), "\n")
	if len(lines) >= 2 && strings.HasPrefix(lines[0], "--- ") && strings.HasPrefix(lines[1], "+++ ") {
		lines = lines[2:] // the path is above
	}
	if c.Diff == "" {
		lines = nil
	}
	for i, l := range lines {
		if i == maxDiffLines {
			p.F("      ... %d more lines of diff (plan --json has them all)\n", len(lines)-i)
			break
		}
		switch {
		case strings.HasPrefix(l, "+"):
			l = p.Paint(actionColor(Create), l)
		case strings.HasPrefix(l, "-"):
			l = p.Paint(actionColor(Delete), l)
		}
		p.F("      %s\n", l)
	}
	p.F("    }\n\n")
}
