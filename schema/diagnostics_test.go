package schema

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/netplan42/netplan42/internal/golden"
)

// goldenWidth wraps rendered diagnostics as a narrow terminal would.
const goldenWidth = 78

// TestDiagnosticsGolden loads each testdata/diagnostics/NAME.hcl and
// compares the rendered diagnostics with NAME.golden, which go test
// ./schema -update rewrites. When the config loads cleanly, Allocate runs
// too, against NAME.lock.hcl if there is one, and read-only when NAME
// starts with "readonly".
func TestDiagnosticsGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/diagnostics/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".lock.hcl") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(in), ".hcl")
		t.Run(name, func(t *testing.T) {
			got := renderDiagnostics(t, in)
			golden.Check(t, strings.TrimSuffix(in, ".hcl")+".golden", got)
		})
	}
}

// renderDiagnostics loads the config at path, allocates against its lock
// file when there is one, and renders every diagnostic.
func renderDiagnostics(t *testing.T, path string) []byte {
	t.Helper()
	cfg, diags := Load(path, Options{})
	files := cfg.Files
	lockPath := strings.TrimSuffix(path, ".hcl") + ".lock.hcl"
	if !diags.HasErrors() {
		lock, ldiags := &Lock{}, hcl.Diagnostics(nil)
		if src, err := os.ReadFile(lockPath); err == nil {
			lock, ldiags = ParseLock(src, lockPath)
			files[lockPath] = lock.File
			diags = append(diags, ldiags...)
		}
		if !ldiags.HasErrors() {
			readonly := strings.HasPrefix(filepath.Base(path), "readonly")
			_, changes, adiags := Allocate(cfg, lock, readonly)
			diags = append(diags, adiags...)
			for _, c := range changes {
				t.Log(c)
			}
		}
	}
	if len(diags) == 0 {
		t.Fatalf("%s: no diagnostics; a diagnostics test case must have some", path)
	}
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, files, diags, false, goldenWidth); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countErrors returns how many error diagnostics diags holds.
func countErrors(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}
