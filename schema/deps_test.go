package schema

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImports keeps schema pure: it parses configs and never touches the
// network or runs commands. syscall is allowed only indirectly, through os.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \"\\n\"}}\n--\n{{join .Deps \"\\n\"}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	imports, deps, _ := strings.Cut(string(out), "--\n")
	for _, p := range []string{"net", "net/http", "os/exec", "syscall"} {
		if slices.Contains(strings.Fields(imports), p) {
			t.Errorf("schema imports %s", p)
		}
	}
	for _, p := range []string{"net", "net/http", "os/exec"} {
		if slices.Contains(strings.Fields(deps), p) {
			t.Errorf("schema depends on %s", p)
		}
	}
}
