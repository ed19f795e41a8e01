// Package golden compares test output with files under testdata and
// rewrites them on request: `go test ./planner -update`, or
// `NETPLAN42_UPDATE=1 go test ./...` (a flag would break packages that do
// not define it).
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	udiff "github.com/aymanbagabas/go-udiff"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// Updating reports whether golden files are being rewritten.
func Updating() bool { return *update || os.Getenv("NETPLAN42_UPDATE") != "" }

// Check compares got with the file at path, or writes it when updating.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update, or NETPLAN42_UPDATE=1, to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update to accept it):\n%s", path,
			udiff.Unified(path, "got", string(want), string(got)))
	}
}
