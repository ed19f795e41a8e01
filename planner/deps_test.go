package planner

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureCore keeps the planner, the config loader and the diagnosis of
// status and check free of IO edges: they must never reach the network,
// run commands, or import a driver.
// (os itself imports syscall, so syscall is checked among direct imports.)
func TestPureCore(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	banned := []string{"net", "net/http", "os/exec",
		"github.com/netplan42/netplan42/router", "github.com/netplan42/netplan42/firewall",
		"github.com/netplan42/netplan42/apply", "github.com/netplan42/netplan42/state"}
	for _, pkg := range []string{"github.com/netplan42/netplan42/planner", "github.com/netplan42/netplan42/schema",
		"github.com/netplan42/netplan42/diagnose"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, b := range banned {
			if deps[b] {
				t.Errorf("%s depends on %s; the core must stay pure (drivers belong at the edges)", pkg, b)
			}
		}
		direct, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, d := range strings.Fields(string(direct)) {
			if d == "syscall" || d == "unsafe" {
				t.Errorf("%s imports %s directly", pkg, d)
			}
		}
	}
}
