package schema

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestPieces checks that a large file parsed in pieces loads exactly as it
// does parsed whole: same config, same rendered diagnostics, whether the
// mistakes are in the config or in the syntax, and whether the cuts fall
// between blocks or (for a valid but oddly laid out file) inside one.
func TestPieces(t *testing.T) {
	split := fleetFiles(800)
	var base []byte
	for _, name := range slices.Sorted(maps.Keys(split)) {
		base = append(base, split[name]...)
	}
	mistakes := strings.Replace(string(base), `port   = 6011`, `port   = 99999`, 1)
	mistakes = strings.Replace(mistakes, `network  = "net007"`, `network  = "net07"`, 1)
	flushLeft := strings.Replace(string(base), "computer \"pc00500\" {", "locals {\n  flush = {\na = 1\n}\nb = 2\n}\n\ncomputer \"pc00500\" {", 1)
	syntax := strings.Replace(string(base), `computer "pc00600" {`, `computer "pc00600" {{`, 1)
	flushLeftBad := flushLeft + "\nnetwork \"net007\" {}\n"
	heredoc := strings.Replace(string(base), "computer \"pc00400\" {", "locals {\n  text = <<EOT\n}\ncomputer \"fake\" {\nEOT\n}\n\ncomputer \"pc00400\" {", 1)

	for name, src := range map[string]string{
		"clean":          string(base),
		"mistakes":       mistakes,
		"flush-left":     flushLeft,
		"flush-left-bad": flushLeftBad,
		"heredoc":        heredoc,
		"syntax":         syntax,
	} {
		t.Run(name, func(t *testing.T) {
			if len(src) < 3*pieceSize {
				t.Fatalf("the file is too small to be cut: %d bytes", len(src))
			}
			render := func() (string, string) {
				files := map[string][]byte{"fleet.hcl": []byte(src)}
				cfg, diags := LoadFiles(files, "", Options{})
				var buf bytes.Buffer
				WriteDiagnostics(&buf, cfg.Files, diags, false, 80)
				var sum strings.Builder
				for _, c := range cfg.Computers {
					fmt.Fprintf(&sum, "%s %s %d %v\n", c.Address(), c.Network, len(c.Services), c.DeclRange)
				}
				return buf.String(), sum.String()
			}
			defer func(size int) { pieceSize = size }(pieceSize)
			pieceSize = 1 << 30
			wantDiags, wantConfig := render()
			// 16 bytes cuts at every place that looks like a block's end.
			for _, size := range []int{64 << 10, 16} {
				pieceSize = size
				gotDiags, gotConfig := render()
				if gotDiags != wantDiags {
					t.Errorf("pieces of %d: diagnostics differ:\n--- in pieces\n%s\n--- whole\n%s", size, gotDiags, wantDiags)
				}
				if gotConfig != wantConfig {
					t.Errorf("pieces of %d: configs differ", size)
				}
			}
			if name == "mistakes" && !strings.Contains(wantDiags, `in computer "pc00700"`) {
				t.Errorf("no block context in:\n%s", wantDiags)
			}
		})
	}

	pieces := cut(base, pieceSize)
	if len(pieces) < 4 {
		t.Errorf("%d pieces", len(pieces))
	}
	var joined []byte
	for _, p := range pieces {
		if trimmed := bytes.TrimLeft(p.src, "\n"); !bytes.HasPrefix(trimmed, []byte("computer ")) && !bytes.HasPrefix(trimmed, []byte("network ")) {
			t.Errorf("a piece starts with %q", p.src[:min(20, len(p.src))])
		}
		if want := bytes.Count(base[:p.start.Byte], []byte("\n")) + 1; p.start.Line != want {
			t.Errorf("piece at byte %d: line %d, want %d", p.start.Byte, p.start.Line, want)
		}
		joined = append(joined, p.src...)
	}
	if !bytes.Equal(joined, base) {
		t.Error("the pieces do not make the file")
	}
}
