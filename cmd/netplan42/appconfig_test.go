//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/golden"
)

// The app_config scenarios of issue 14 without a lab: a manual router and
// no firewall, so only the files change. Paths under the test's temporary
// directory read as $DIR in golden files.

// myServiceXML is shaped like CrashPlan's conf/my.service.xml, with CRLF
// line endings and no final newline: every byte outside the match must
// survive.
const myServiceXML = "<config version=\"8\">\r\n  <serviceUIConfig>\r\n    <serviceHost>127.0.0.1</serviceHost>\r\n  </serviceUIConfig>\r\n  <location>0.0.0.0:4242</location>\r\n  <cachePath>/usr/local/crashplan/cache</cachePath>\r\n</config>"

const appConfigE2E = `
network "home" {
  router {
    protocols = ["manual"]
  }
}

computer "desktop" {
  network  = "home"
  firewall = "none"

  service "crashplan" {
    port   = "auto"
    expose = "internet"
    app_config "$DIR/crashplan/my.service.xml" {
      match     = "<location>[^<]*</location>"
      replace   = "<location>0.0.0.0:${self.port}</location>"
      on_change = ["/bin/sh", "-c", "echo restarting crashplan on $0; echo restarted >> $DIR/restarts", "${self.port}"]
    }
  }

  service "ssh" {
    port   = "auto"
    expose = "lan"
    app_config "$DIR/ssh/netplan42.conf" {
      content = "Port ${self.port}\n"
    }
  }
}
`

var hostAddr = regexp.MustCompile(`(this computer |forward TCP port \d+ to |"internal_address": ")[0-9a-f.:]+( port|"|\n)`)

type appConfigRun struct {
	t              *testing.T
	dir, cfg, stat string
}

func newAppConfigRun(t *testing.T) *appConfigRun {
	dir := t.TempDir()
	for _, d := range []string{"crashplan", "ssh", "config"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(dir, "crashplan", "my.service.xml"), []byte(myServiceXML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	os.WriteFile(filepath.Join(cfg, "main.hcl"), []byte(strings.ReplaceAll(appConfigE2E, "$DIR", dir)), 0o644)
	return &appConfigRun{t: t, dir: dir, cfg: cfg, stat: filepath.Join(dir, "desktop.json")}
}

func (r *appConfigRun) np(args ...string) result {
	r.t.Helper()
	args = append(args, "--config", r.cfg, "--computer", "desktop")
	switch args[0] {
	case "plan", "apply", "destroy", "output", "show":
		args = append(args, "--state", r.stat)
	}
	res := run(r.t, r.cfg, nil, "", args...)
	for _, s := range []*string{&res.stdout, &res.stderr} {
		*s = strings.ReplaceAll(*s, r.dir, "$DIR")
		// This machine's address, as a manual router's steps name it.
		*s = hostAddr.ReplaceAllString(*s, "${1}ADDR$2")
	}
	return res
}

func (r *appConfigRun) read(rel string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func TestAppConfigPlanApply(t *testing.T) {
	r := newAppConfigRun(t)
	p := r.np("plan", "--detailed-exitcode")
	p.want(t, 2, "Plan: 1 to add, 1 to change, 0 to destroy, 0 to renew.")
	golden.Check(t, filepath.Join("testdata", "appconfig-plan.txt"), []byte(p.stdout))
	js := r.np("plan", "--json")
	js.want(t, 0)
	if strings.Contains(js.stdout, `"content"`) {
		t.Error("plan --json shows the files' content")
	}
	// The app_config changes; the router part depends on this machine.
	var plan struct {
		Changes json.RawMessage `json:"changes"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "appconfig-plan-changes.json"), append(plan.Changes, '\n'))

	a := r.np("apply", "--auto-approve")
	a.want(t, 0, "Apply complete! Resources: 1 added, 1 changed, 0 destroyed, 0 renewed.",
		"| restarting crashplan on 1024", "on_change complete (exit status 0)", "my.service.xml.netplan42.bak")
	golden.Check(t, filepath.Join("testdata", "appconfig-apply.txt"), []byte(a.stdout))
	want := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1)
	if got := r.read("crashplan/my.service.xml"); got != want {
		t.Errorf("my.service.xml = %q, want %q (every other byte kept)", got, want)
	}
	if got := r.read("crashplan/my.service.xml.netplan42.bak"); got != myServiceXML {
		t.Errorf("backup = %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(r.dir, "crashplan", "my.service.xml")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 kept", fi.Mode())
	}
	if got := r.read("ssh/netplan42.conf"); got != "Port 1025\n" {
		t.Errorf("netplan42.conf = %q", got)
	}
	r.np("plan", "--detailed-exitcode").want(t, 0, "No changes.")
	r.np("show").want(t, 0, `app_config.crashplan["$DIR/crashplan/my.service.xml"]  206 bytes, sha256 2519e486656e`)

	// A hand edit is drift; apply puts it back and restarts the program.
	os.WriteFile(filepath.Join(r.dir, "crashplan", "my.service.xml"), []byte(myServiceXML), 0o600)
	d := r.np("plan", "--detailed-exitcode")
	d.want(t, 2, "Changed outside netplan42 since the last apply:", `# app_config.crashplan["$DIR/crashplan/my.service.xml"]: changed outside netplan42 since the last apply (edited by hand?)`)
	golden.Check(t, filepath.Join("testdata", "appconfig-drift.txt"), []byte(d.stdout))
	r.np("apply", "--auto-approve").want(t, 0, "Resources: 0 added, 1 changed")
	if got := r.read("crashplan/my.service.xml"); got != want {
		t.Errorf("not repaired: %q", got)
	}
	if got := r.read("restarts"); got != "restarted\nrestarted\n" {
		t.Errorf("on_change ran %q times", got)
	}
	r.np("plan", "--detailed-exitcode").want(t, 0, "No changes.")

	// port and output, for scripts.
	pr := r.np("port", "crashplan")
	pr.want(t, 0)
	if pr.stdout != "1024\n" || pr.stderr != "" {
		t.Errorf("port crashplan = %q, stderr %q", pr.stdout, pr.stderr)
	}
	r.np("port", "nope").want(t, 1, `computer.desktop has no service "nope" (services: crashplan, ssh)`)
	out := r.np("output")
	out.want(t, 0)
	golden.Check(t, filepath.Join("testdata", "appconfig-output.txt"), []byte(out.stdout))
	oj := r.np("output", "--json")
	oj.want(t, 0)
	var o struct {
		Services []struct {
			Name         string `json:"name"`
			Port         uint16 `json:"port"`
			ExternalPort uint16 `json:"external_port"`
			Protocol     string `json:"protocol"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(oj.stdout), &o); err != nil || len(o.Services) != 2 || o.Services[0].Port != 1024 || o.Services[0].ExternalPort != 1024 || o.Services[1].ExternalPort != 0 {
		t.Errorf("output --json: %v\n%s", err, oj.stdout)
	}

	// destroy forgets the files and leaves them.
	ds := r.np("destroy", "--auto-approve")
	ds.want(t, 0, "destroy leaves the file as it is", "Destroy complete! Resources: 0 added, 0 changed, 0 destroyed, 0 renewed, 2 forgotten.")
	if got := r.read("crashplan/my.service.xml"); got != want {
		t.Errorf("destroy changed the file: %q", got)
	}
	if got := r.read("ssh/netplan42.conf"); got != "Port 1025\n" {
		t.Errorf("destroy changed netplan42.conf: %q", got)
	}
}

// TestAppConfigMatchFindsNothing: the program's file changed shape; the
// plan fails naming it, the rest still applies, and the file is untouched.
func TestAppConfigMatchFindsNothing(t *testing.T) {
	r := newAppConfigRun(t)
	other := "<config>\n  <listen>0.0.0.0:4242</listen>\n</config>\n"
	os.WriteFile(filepath.Join(r.dir, "crashplan", "my.service.xml"), []byte(other), 0o600)
	p := r.np("plan")
	p.want(t, 1, `Error: match "<location>[^<]*</location>" finds nothing in $DIR/crashplan/my.service.xml`)
	golden.Check(t, filepath.Join("testdata", "appconfig-nomatch.txt"), []byte(p.stdout))
	a := r.np("apply", "--auto-approve")
	a.want(t, 1, "Apply incomplete!", `left as it is because of the error in the plan: app_config.crashplan["$DIR/crashplan/my.service.xml"]`)
	if got := r.read("crashplan/my.service.xml"); got != other {
		t.Errorf("file changed: %q", got)
	}
	if got := r.read("ssh/netplan42.conf"); got != "Port 1025\n" {
		t.Errorf("the other file was not written: %q", got)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "restarts")); err == nil {
		t.Error("on_change ran for a file that was not written")
	}
}

// TestAppConfigOnChangeFails: a failing on_change is an error of its
// resource, and runs again at the next apply.
func TestAppConfigOnChangeFails(t *testing.T) {
	r := newAppConfigRun(t)
	cfg := strings.Replace(r.read("config/main.hcl"), `"/bin/sh", "-c", "echo restarting`, `"/bin/sh", "-c", "test -e `+r.dir+`/ok || { echo no such unit >&2; exit 5; }; echo restarting`, 1)
	os.WriteFile(filepath.Join(r.cfg, "main.hcl"), []byte(cfg), 0o644)
	a := r.np("apply", "--auto-approve")
	a.want(t, 1, "| no such unit", "on_change failed: exit status 5", "the next apply runs on_change again")
	p := r.np("plan", "--detailed-exitcode")
	p.want(t, 2, "on_change failed at the last apply: it runs again", "Plan: 0 to add, 1 to change")
	os.WriteFile(filepath.Join(r.dir, "ok"), nil, 0o644)
	r.np("apply", "--auto-approve").want(t, 0, "on_change complete (exit status 0)")
	r.np("plan", "--detailed-exitcode").want(t, 0, "No changes.")
}

func TestExampleAppConfig(t *testing.T) {
	dir := copyDir(t, filepath.Join("..", "..", "examples", "app-config"))
	run(t, dir, nil, "", "validate").want(t, 0, "Success! The configuration is valid")
	run(t, dir, nil, "", "plan", "--all", "--lockfile=readonly").want(t, 0, "Fleet: 1 network, 1 computer, 3 services")
	run(t, dir, nil, "", "fmt", "--check").want(t, 0)
	pr := run(t, dir, nil, "", "port", "syncthing", "--computer", "desktop", "--lockfile=readonly")
	pr.want(t, 0)
	if pr.stdout != "1026\n" {
		t.Errorf("port syncthing = %q", pr.stdout)
	}
}

// TestAppConfigAgentRepairs: the agent writes the files at start and puts
// a hand edit back within an interval, running on_change each time.
func TestAppConfigAgentRepairs(t *testing.T) {
	r := newAppConfigRun(t)
	cmd := exec.Command(binary, "agent", "--config", r.cfg, "--computer", "desktop", "--state", r.stat, "--interval", "1s", "--listen", "")
	cmd.Env = append(os.Environ(), "NETPLAN42_COMPUTER=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	want := strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1)
	xml := filepath.Join(r.dir, "crashplan", "my.service.xml")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("agent: %s did not happen within 20 s", what)
			}
		}
	}
	restarts := func() int {
		b, _ := os.ReadFile(filepath.Join(r.dir, "restarts"))
		return strings.Count(string(b), "restarted")
	}
	waitFor("first write and on_change", func() bool { b, _ := os.ReadFile(xml); return string(b) == want && restarts() == 1 })
	os.WriteFile(xml, []byte(myServiceXML), 0o600)
	waitFor("repair of a hand edit", func() bool { b, _ := os.ReadFile(xml); return string(b) == want && restarts() == 2 })
}

// TestAppConfigSavedPlan: a saved plan carries the content it writes, and
// refuses a file that changed since it was made.
func TestAppConfigSavedPlan(t *testing.T) {
	r := newAppConfigRun(t)
	planFile := filepath.Join(r.dir, "desktop.plan")
	r.np("plan", "--out", planFile).want(t, 0, "Saved the plan")
	os.WriteFile(filepath.Join(r.dir, "crashplan", "my.service.xml"), []byte(strings.Replace(myServiceXML, "4242", "4299", 1)), 0o600)
	res := run(t, r.cfg, nil, "", "apply", planFile)
	res.want(t, 1, "the file changed since it was planned")
	if got := r.read("crashplan/my.service.xml"); !strings.Contains(got, "4299") {
		t.Errorf("a stale plan wrote the file: %q", got)
	}
	r.np("plan", "--out", planFile).want(t, 0)
	run(t, r.cfg, nil, "", "apply", planFile).want(t, 0, "Apply complete!")
	if got := r.read("crashplan/my.service.xml"); got != strings.Replace(myServiceXML, "0.0.0.0:4242", "0.0.0.0:1024", 1) {
		t.Errorf("saved plan wrote %q", got)
	}
}
