package cli

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netplan42/netplan42/schema"
)

// TestAgentStageWritesNothing stages a config that needs a new port
// assignment: Stage must leave the lock file alone, or the agent would see
// its own write as an edit under way and never take the config into use;
// Use records the assignment.
func TestAgentStageWritesNothing(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.hcl")
	src := `network "home" {
  listen_ports = "1024-5999"
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
  }
  service "web" {
    port   = 8080
    expose = "lan"
  }
}
`
	if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(t.TempDir(), "site.vars.hcl")
	if err := os.WriteFile(vars, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, schema.LockFileName)
	r := &agentRunner{
		flags: &agentFlags{
			configFlags: configFlags{config: dir, lockfile: "update", varFiles: []string{vars}},
			targetFlags: targetFlags{computer: "desktop"},
		},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, config := range []string{dir, main} {
		r.flags.config = config
		files := r.files()
		for _, want := range []string{main, lock, vars} {
			if !slices.Contains(files, want) {
				t.Errorf("with --config %s the agent watches %v; want %s among them", config, files, want)
			}
		}
	}

	st, err := r.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); err == nil {
		t.Fatal("Stage wrote the lock file")
	}
	if r.InUse() != nil {
		t.Fatalf("Stage took the config into use: %v", r.InUse())
	}
	if want := []string{"crashplan", "web"}; !slices.Equal(st.Services, want) {
		t.Errorf("staged services %v, want %v", st.Services, want)
	}
	if err := st.Use(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(lock)
	if err != nil || !strings.Contains(string(b), `assignment "home" "computer.desktop" "crashplan"`) {
		t.Errorf("Use did not record the assignment: %v\n%s", err, b)
	}
	if got := r.InUse(); !slices.Equal(got, []string{"crashplan", "web"}) {
		t.Errorf("in use %v", got)
	}
	if r.computer.Services[0].Port == 0 {
		t.Error("the auto port was not allocated")
	}
}
