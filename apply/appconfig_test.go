package apply

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// disk is an in-memory file system and command runner for app_config.
type disk struct {
	files  map[string][]byte
	runs   [][]string
	runErr error
}

func (d *disk) Write(_ context.Context, path string, content []byte, was string) error {
	old, ok := d.files[path]
	if (ok && planner.Sum(old) != was) || (!ok && was != "") {
		return errors.New("the file changed since it was planned")
	}
	d.files[path] = bytes.Clone(content)
	return nil
}

func (d *disk) Run(_ context.Context, argv []string) ([]byte, error) {
	d.runs = append(d.runs, argv)
	return []byte("restarting sshd\n"), d.runErr
}

const sshdConf = "/etc/ssh/sshd_config.d/netplan42.conf"

func sshdComputer(t *testing.T) (*schema.Computer, *schema.Network) {
	t.Helper()
	cfg, diags := schema.LoadFiles(map[string][]byte{"main.hcl": []byte(`
network "lab" {
  router {
    protocols = ["manual"]
  }
}
computer "h1" {
  network  = "lab"
  firewall = "none"
  service "ssh" {
    port = 2222
    app_config "` + sshdConf + `" {
      match     = "(?m)^Port [0-9]+"
      replace   = "Port ${self.port}"
      on_change = ["/usr/bin/systemctl", "reload", "ssh"]
    }
  }
}
`)}, "", schema.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg.Computer("h1"), cfg.Networks["lab"]
}

func planFiles(c *schema.Computer, n *schema.Network, d *disk, prior planner.Prior) *planner.Plan {
	o := planner.Observed{Refreshed: true}
	o.Router.Protocol = "manual"
	for path, b := range d.files {
		o.Files = append(o.Files, planner.FileView{Path: path, Exists: true, Content: b, SHA256: planner.Sum(b)})
	}
	if _, ok := d.files[sshdConf]; !ok {
		o.Files = append(o.Files, planner.FileView{Path: sshdConf})
	}
	return planner.Compute(planner.Input{Computer: c, Network: n, Observed: o, Prior: prior})
}

func TestApplyAppConfig(t *testing.T) {
	c, n := sshdComputer(t)
	orig := "# netplan42 keeps Port\r\nPort 22\r\nPasswordAuthentication no\r\n"
	d := &disk{files: map[string][]byte{sshdConf: []byte(orig)}}
	p := planFiles(c, n, d, planner.Prior{})
	var out bytes.Buffer
	j := &memJournal{}
	st, res, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Files: d}, j, Options{Progress: &out})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	if want := strings.Replace(orig, "Port 22", "Port 2222", 1); string(d.files[sshdConf]) != want {
		t.Errorf("file = %q, want %q", d.files[sshdConf], want)
	}
	if res.Changed != 1 || len(d.runs) != 1 || d.runs[0][1] != "reload" {
		t.Errorf("result %v, runs %q", res, d.runs)
	}
	for _, w := range []string{"Modifying...", "Modifications complete", ".netplan42.bak", "Running on_change: /usr/bin/systemctl reload ssh", "| restarting sshd", "on_change complete (exit status 0)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
	if m, ok := st.Lookup(p.Changes[0].Address); !ok || m.AppConfig.Content != nil || m.AppConfig.OnChangePending || m.AppConfig.SHA256 != planner.Sum(d.files[sshdConf]) {
		t.Errorf("state = %+v", m.AppConfig)
	}
	if p2 := planFiles(c, n, d, st); p2.HasChanges() || p2.HasErrors() {
		t.Errorf("second plan: %+v", p2.Changes)
	}

	// A hand edit is drift, put back.
	d.files[sshdConf] = []byte(orig)
	p3 := planFiles(c, n, d, st)
	if len(p3.Drift) != 1 || p3.Changes[0].Action != planner.Update {
		t.Fatalf("after a hand edit: drift %+v changes %+v", p3.Drift, p3.Changes)
	}
	if st, _, err = Apply(context.Background(), p3, st, Drivers{Files: d}, j, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(d.files[sshdConf]), "Port 2222\r\n") {
		t.Errorf("not repaired: %q", d.files[sshdConf])
	}
}

func TestApplyAppConfigOnChangeFails(t *testing.T) {
	c, n := sshdComputer(t)
	d := &disk{files: map[string][]byte{sshdConf: []byte("Port 22\n")}, runErr: errors.New("exit status 1")}
	p := planFiles(c, n, d, planner.Prior{})
	st, _, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Files: d}, &memJournal{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "runs on_change again") {
		t.Fatalf("apply: %v", err)
	}
	m, _ := st.Lookup(p.Changes[0].Address)
	if !m.AppConfig.OnChangePending || string(d.files[sshdConf]) != "Port 2222\n" {
		t.Fatalf("state %+v, file %q", m.AppConfig, d.files[sshdConf])
	}
	// Next time: no write, on_change again.
	d.runErr = nil
	p2 := planFiles(c, n, d, st)
	if len(p2.Changes) != 1 || p2.Changes[0].Action != planner.Update {
		t.Fatalf("retry plan: %+v", p2.Changes)
	}
	st, _, err = Apply(context.Background(), p2, st, Drivers{Files: d}, &memJournal{}, Options{})
	if err != nil || len(d.runs) != 2 {
		t.Fatalf("retry: %v, %d runs", err, len(d.runs))
	}
	if m, _ := st.Lookup(p.Changes[0].Address); m.AppConfig.OnChangePending {
		t.Error("still pending after a successful on_change")
	}
	if p3 := planFiles(c, n, d, st); p3.HasChanges() {
		t.Errorf("third plan: %+v", p3.Changes)
	}
}

// TestApplyAppConfigStale: a file written between plan and apply is left
// alone, and the error says so.
func TestApplyAppConfigStale(t *testing.T) {
	c, n := sshdComputer(t)
	d := &disk{files: map[string][]byte{sshdConf: []byte("Port 22\n")}}
	p := planFiles(c, n, d, planner.Prior{})
	d.files[sshdConf] = []byte("Port 23\n")
	_, _, err := Apply(context.Background(), p, planner.Prior{}, Drivers{Files: d}, &memJournal{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "changed since it was planned") || string(d.files[sshdConf]) != "Port 23\n" || len(d.runs) != 0 {
		t.Errorf("stale apply: %v, file %q, runs %d", err, d.files[sshdConf], len(d.runs))
	}
}
