package planner

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/netplan42/netplan42/schema"
)

// WriteFleet writes byte for byte what RenderFleet writes of Fleet, on the
// project's example configs, in color and without.
func TestWriteFleetSameAsRender(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	n := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		cfg, diags := schema.Load(dir, schema.Options{})
		if diags.HasErrors() {
			continue
		}
		if _, _, diags := schema.Allocate(cfg, &schema.Lock{}, false); diags.HasErrors() {
			continue
		}
		for _, color := range []bool{false, true} {
			var a, b bytes.Buffer
			if err := RenderFleet(&a, Fleet(cfg), RenderOptions{Color: color}); err != nil {
				t.Fatal(err)
			}
			if err := WriteFleet(&b, cfg, RenderOptions{Color: color}); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Errorf("%s: WriteFleet differs from RenderFleet:\n%s\n---\n%s", dir, b.String(), a.String())
			}
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d example configs loaded", n)
	}
}
