package planner

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/schema"
)

const appConfigHCL = `
network "home" {
  router {
    protocols = ["manual"]
  }
}
computer "nas" {
  network  = "home"
  firewall = "none"
  service "crashplan" {
    port   = "auto"
    expose = "lan"
    app_config "/usr/local/crashplan/conf/my.service.xml" {
      match     = "<location>[^<]*</location>"
      replace   = "<location>0.0.0.0:${self.port}</location>"
      on_change = ["/usr/bin/systemctl", "restart", "crashplan"]
    }
  }
  service "ssh" {
    port = 2222
    app_config "/etc/ssh/sshd_config.d/netplan42.conf" {
      content = "Port ${self.port}\n"
    }
  }
}
`

const (
	xmlPath = "/usr/local/crashplan/conf/my.service.xml"
	sshPath = "/etc/ssh/sshd_config.d/netplan42.conf"
	xmlAddr = `app_config.crashplan["/usr/local/crashplan/conf/my.service.xml"]`
	sshAddr = `app_config.ssh["/etc/ssh/sshd_config.d/netplan42.conf"]`
)

// myServiceXML is shaped like CrashPlan's conf/my.service.xml: the
// listen address in <location>, much else around it.
const myServiceXML = "<config version=\"8\">\n  <serviceUIConfig>\n    <serviceHost>127.0.0.1</serviceHost>\n  </serviceUIConfig>\n  <serviceHost>0.0.0.0</serviceHost>\n  <location>0.0.0.0:4242</location>\n  <cachePath>/usr/local/crashplan/cache</cachePath>\n</config>\n"

func appConfigInput(t *testing.T, files ...FileView) Input {
	t.Helper()
	cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(appConfigHCL)}, "", schema.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, _, diags := schema.Allocate(cfg, nil, false); diags.HasErrors() {
		t.Fatal(diags)
	}
	c := cfg.Computer("nas")
	o := Observed{At: t0, Refreshed: true, Files: files}
	o.Router.Protocol = "manual"
	o.Firewall.Backend = "none"
	return Input{Computer: c, Network: cfg.Networks["home"], Observed: o, Now: t0}
}

func file(path, content string) FileView {
	return FileView{Path: path, Exists: true, Content: []byte(content), SHA256: Sum([]byte(content))}
}

func missing(path string) FileView { return FileView{Path: path} }

func change(t *testing.T, p *Plan, addr string) Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Address == addr {
			return c
		}
	}
	t.Fatalf("no change for %s in %+v", addr, p.Changes)
	return Change{}
}

// applied is the state after an apply that wrote want to path.
func applied(service, path, want string) Managed {
	return Managed{Address: AppConfigAddress(service, path), Kind: KindAppConfig,
		AppConfig: &AppConfig{Path: path, Service: service, Exists: true, SHA256: Sum([]byte(want)), Size: len(want)}}
}

func renderBoth(t *testing.T, name string, p *Plan) {
	t.Helper()
	var human, js bytes.Buffer
	if err := Render(&human, p, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := RenderJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", name+".txt"), human.Bytes())
	golden.Check(t, filepath.Join("testdata", name+".json"), js.Bytes())
}

func TestAppConfigCreateAndUpdate(t *testing.T) {
	in := appConfigInput(t, file(xmlPath, myServiceXML), missing(sshPath))
	p := Compute(in)
	if p.HasErrors() {
		t.Fatalf("diagnostics: %+v", p.Diagnostics)
	}
	x := change(t, p, xmlAddr)
	want := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1)
	if x.Action != Update || string(x.After.AppConfig.Content) != want {
		t.Errorf("xml: %s %q, want update to %q", x.Action, x.After.AppConfig.Content, want)
	}
	if !strings.Contains(x.Diff, "-  <location>0.0.0.0:4242</location>\n+  <location>0.0.0.0:1024</location>") || strings.Contains(x.Diff, "cachePath") {
		t.Errorf("diff shows more or less than the changed line:\n%s", x.Diff)
	}
	s := change(t, p, sshAddr)
	if s.Action != Create || string(s.After.AppConfig.Content) != "Port 2222\n" {
		t.Errorf("ssh: %s %q", s.Action, s.After.AppConfig.Content)
	}
	renderBoth(t, "appconfig-create-update", p)

	// JSON for people leaves the content out; a saved plan keeps it.
	var js bytes.Buffer
	RenderJSON(&js, p)
	if strings.Contains(js.String(), `"content"`) {
		t.Error("plan --json shows file content")
	}
	b, _ := json.Marshal(p)
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := change(t, &back, xmlAddr).After.AppConfig; string(got.Content) != want || got.SHA256 != Sum([]byte(want)) {
		t.Errorf("saved plan lost the content: %+v", got)
	}
	if string(x.After.AppConfig.Content) != want {
		t.Error("RenderJSON changed the plan it printed")
	}
}

func TestAppConfigNoChangesAfterApply(t *testing.T) {
	want := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1)
	in := appConfigInput(t, file(xmlPath, want), file(sshPath, "Port 2222\n"))
	in.Prior.Resources = []Managed{applied("crashplan", xmlPath, want), applied("ssh", sshPath, "Port 2222\n")}
	p := Compute(in)
	if p.HasChanges() || p.HasErrors() || len(p.Drift) > 0 {
		t.Fatalf("second plan: %+v", p)
	}
	var human bytes.Buffer
	Render(&human, p, RenderOptions{})
	if !strings.Contains(human.String(), "No changes.") {
		t.Errorf("plan says:\n%s", human.String())
	}
	// Found as wanted without state: recorded, not rewritten.
	in.Prior.Resources = nil
	p = Compute(in)
	if c := change(t, p, xmlAddr); c.Action != NoOp || !strings.Contains(c.Reason, "recording it in state") {
		t.Errorf("adopt: %+v", c)
	}
}

func TestAppConfigDrift(t *testing.T) {
	want := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1)
	edited := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:4299", 1)
	in := appConfigInput(t, file(xmlPath, edited), file(sshPath, "Port 22\n"))
	in.Prior.Resources = []Managed{applied("crashplan", xmlPath, want), applied("ssh", sshPath, "Port 2222\n")}
	p := Compute(in)
	if len(p.Drift) != 2 {
		t.Fatalf("drift = %+v", p.Drift)
	}
	x := change(t, p, xmlAddr)
	if x.Action != Update || string(x.After.AppConfig.Content) != want || !strings.Contains(x.Reason, "changed outside netplan42") {
		t.Errorf("xml: %+v", x)
	}
	renderBoth(t, "appconfig-drift", p)

	// Removed by hand: made again (content), an error (match).
	in = appConfigInput(t, missing(xmlPath), missing(sshPath))
	in.Prior.Resources = []Managed{applied("crashplan", xmlPath, want), applied("ssh", sshPath, "Port 2222\n")}
	p = Compute(in)
	if c := change(t, p, sshAddr); c.Action != Create || !strings.Contains(c.Reason, "missing since the last apply") {
		t.Errorf("ssh: %+v", c)
	}
	if got := p.Blocking(); len(got) != 1 || got[0] != xmlAddr {
		t.Errorf("blocking = %q", got)
	}
}

func TestAppConfigMatchFindsNothing(t *testing.T) {
	in := appConfigInput(t, file(xmlPath, "<config><listen>0.0.0.0:4242</listen></config>\n"), file(sshPath, "Port 2222\n"))
	p := Compute(in)
	if p.Blocked() || len(p.Blocking()) != 1 || p.Blocking()[0] != xmlAddr {
		t.Fatalf("diagnostics = %+v", p.Diagnostics)
	}
	if d := p.Diagnostics[0]; !strings.Contains(d.Summary, xmlPath) || !strings.Contains(d.Summary, "finds nothing") {
		t.Errorf("error does not name the file: %+v", d)
	}
	for _, c := range p.Changes {
		if c.Address == xmlAddr {
			t.Errorf("a change for a file whose match failed: %+v", c)
		}
	}
	renderBoth(t, "appconfig-nomatch", p)

	in = appConfigInput(t, missing(xmlPath), missing(sshPath))
	p = Compute(in)
	if d := p.Diagnostics; len(d) != 1 || !strings.Contains(d[0].Summary, xmlPath+" does not exist") {
		t.Errorf("missing file for match: %+v", d)
	}
}

func TestAppConfigUnreadable(t *testing.T) {
	in := appConfigInput(t,
		FileView{Path: xmlPath, Err: "a symbolic link to /opt/cp/my.service.xml: netplan42 writes only regular files; name /opt/cp/my.service.xml in app_config"},
		FileView{Path: sshPath, NoDir: true})
	p := Compute(in)
	if len(p.Blocking()) != 2 || !strings.Contains(p.Diagnostics[0].Summary+p.Diagnostics[1].Summary, "symbolic link") {
		t.Errorf("diagnostics = %+v", p.Diagnostics)
	}
}

func TestAppConfigDestroyLeavesFiles(t *testing.T) {
	want := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1)
	in := appConfigInput(t, file(xmlPath, want), file(sshPath, "Port 2222\n"))
	in.Prior.Resources = []Managed{applied("crashplan", xmlPath, want), applied("ssh", sshPath, "Port 2222\n")}
	in.Destroy = true
	p := Compute(in)
	for _, c := range p.Changes {
		if c.Action != Delete || !c.StateOnly || !strings.Contains(c.Reason, "leaves the file as it is") {
			t.Errorf("destroy: %+v", c)
		}
	}
	renderBoth(t, "appconfig-destroy", p)
}

func TestAppConfigOnChangePending(t *testing.T) {
	in := appConfigInput(t, file(xmlPath, strings.Replace(myServiceXML, "4242", "1024", 1)), file(sshPath, "Port 2222\n"))
	m := applied("crashplan", xmlPath, strings.Replace(myServiceXML, "4242", "1024", 1))
	m.AppConfig.OnChangePending = true
	in.Prior.Resources = []Managed{m, applied("ssh", sshPath, "Port 2222\n")}
	p := Compute(in)
	if c := change(t, p, xmlAddr); c.Action != Update || !strings.Contains(c.Reason, "on_change failed") {
		t.Errorf("pending on_change: %+v", c)
	}
}

func TestReplaceAll(t *testing.T) {
	for _, tc := range []struct {
		re, src, repl, want string
		n                   int
	}{
		{`Port [0-9]+`, "# x\r\nPort 22\r\nListenAddress ::\r\n", "Port 1024", "# x\r\nPort 1024\r\nListenAddress ::\r\n", 1},
		// ".*" eats the \r of a CRLF line; it is put back.
		{`Port .*`, "Port 22\r\nX 1\r\n", "Port 1024", "Port 1024\r\nX 1\r\n", 1},
		{`Port .*`, "Port 22\nX 1\n", "Port 1024", "Port 1024\nX 1\n", 1},
		{`(?m)^(\s*)Port \d+`, "  Port 22\nPort 23", "${1}Port 1024", "  Port 1024\nPort 1024", 2},
		{`nothing`, "Port 22\n", "x", "Port 22\n", 0},
	} {
		got, n := replaceAll(regexp.MustCompile(tc.re), []byte(tc.src), tc.repl)
		if string(got) != tc.want || n != tc.n {
			t.Errorf("replaceAll(%q, %q, %q) = %q, %d; want %q, %d", tc.re, tc.src, tc.repl, got, n, tc.want, tc.n)
		}
	}
}

func TestAppConfigUnstableReplace(t *testing.T) {
	cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(`
network "home" {}
computer "nas" {
  network  = "home"
  firewall = "none"
  service "x" {
    port = 4000
    app_config "/etc/x.conf" {
      match   = "port=[0-9]+"
      replace = "listen ${self.port}"
    }
  }
}
`)}, "", schema.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := cfg.Computer("nas")
	o := Observed{At: t0, Refreshed: true, Files: []FileView{file("/etc/x.conf", "port=22\n")}}
	o.Router.Protocol = "manual"
	p := Compute(Input{Computer: c, Network: cfg.Networks["home"], Observed: o, Now: t0})
	if len(p.Diagnostics) != 1 || !strings.Contains(p.Diagnostics[0].Summary, "does not give text that match finds") {
		t.Errorf("diagnostics = %+v", p.Diagnostics)
	}
}
