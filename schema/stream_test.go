package schema

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

// loadBothWays loads files on the whole-file path and, forced with tiny
// pieces, on the streaming path; streamed reports whether streaming took
// the input (rather than giving up).
func loadBothWays(t *testing.T, files map[string][]byte, opts Options) (whole, stream *Config, wd, sd hcl.Diagnostics, streamed bool) {
	t.Helper()
	defer func(m, p int) { streamMin, streamPiece = m, p }(streamMin, streamPiece)
	streamMin = 1 << 40
	whole, wd = LoadFiles(files, "", opts)
	streamMin, streamPiece = 0, 64
	l, ok := loadStreaming(files, "", opts)
	stream, sd = LoadFiles(files, "", opts)
	return whole, stream, wd, sd, ok && l != nil
}

func render(files map[string]*hcl.File, diags hcl.Diagnostics) string {
	var b bytes.Buffer
	WriteDiagnostics(&b, files, diags, false, 100)
	return b.String()
}

// checkSameLoad: both paths give the same config and the same rendered
// diagnostics, snippets and block contexts included.
func checkSameLoad(t *testing.T, files map[string][]byte, opts Options) bool {
	t.Helper()
	whole, stream, wd, sd, streamed := loadBothWays(t, files, opts)
	if d := cmp.Diff(whole, stream, cmpopts.IgnoreFields(Config{}, "Files"), cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmp.AllowUnexported(Service{}, serviceRanges{}, pos32{})); d != "" {
		t.Fatalf("configs differ (-whole +stream):\n%s", d)
	}
	if w, s := render(whole.Files, wd), render(stream.Files, sd); w != s {
		t.Fatalf("diagnostics differ:\n--- whole\n%s\n--- stream\n%s", w, s)
	}
	return streamed
}

func TestStreamingMatchesWhole(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*/*.hcl")
	streamed := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".lock.hcl") || strings.HasSuffix(in, VarFileSuffix) {
			continue
		}
		src, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(in, func(t *testing.T) {
			if checkSameLoad(t, map[string][]byte{in: src}, Options{}) {
				streamed++
			}
		})
	}
	if streamed < 5 {
		t.Errorf("only %d inputs took the streaming path", streamed)
	}
}

// TestStreamingFleet: a fleet with variables, locals, for_each, dynamic
// blocks, mistakes in computers and a duplicate streams, with the same
// result as a whole load.
func TestStreamingFleet(t *testing.T) {
	var b strings.Builder
	b.WriteString(`variable "base" {
  type    = number
  default = 20000
}

locals {
  pool = "${var.base}-${var.base + 999}"
}

network "home" {
  listen_ports = local.pool
}

`)
	for i := range 200 {
		fmt.Fprintf(&b, "computer \"pc%03d\" {\n  network = \"home\"\n  service \"a\" {\n    port = \"auto\"\n  }\n", i)
		switch i % 50 {
		case 7:
			b.WriteString("  service \"b\" {\n    port = \"nope\"\n  }\n")
		case 11:
			b.WriteString("  dynamic \"service\" {\n    for_each = [\"x\", \"y\"]\n    content {\n      name = service.value\n      port = 22\n    }\n  }\n")
		}
		b.WriteString("}\n\n")
		if i == 120 {
			b.WriteString("computer \"pc005\" {\n  network = \"home\"\n}\n\ncomputer \"bad name\" {\n  network = \"home\"\n}\n\n")
			b.WriteString("computer \"desk\" {\n  for_each = toset([\"alice\", \"bob\"])\n  network  = \"home\"\n  hostname = \"desk-${each.key}\"\n}\n\n")
		}
	}
	files := map[string][]byte{"fleet.hcl": []byte(b.String())}
	if !checkSameLoad(t, files, Options{Vars: []string{"base=30000"}}) {
		t.Fatal("the fleet did not stream")
	}
	// A network declared late, flush left between computers, still
	// streams: its piece is read in the first phase.
	late := strings.Replace(b.String(), "computer \"pc100\"", "network \"late\" {}\n\ncomputer \"pc100\"", 1)
	if !checkSameLoad(t, map[string][]byte{"fleet.hcl": []byte(late)}, Options{}) {
		t.Fatal("the fleet with a late network did not stream")
	}
	// An indented locals block hides from the line scan; parsing finds
	// it, and the whole path runs instead: same result.
	hidden := strings.Replace(b.String(), "computer \"pc150\"", "  locals {\n    z = 1\n  }\n\ncomputer \"pc150\"", 1)
	if checkSameLoad(t, map[string][]byte{"fleet.hcl": []byte(hidden)}, Options{}) {
		t.Fatal("a hidden locals block streamed")
	}
	// A syntax error anywhere gives the whole path's diagnostics.
	broken := strings.Replace(b.String(), "port = \"auto\"", "port = = 1", 1)
	checkSameLoad(t, map[string][]byte{"fleet.hcl": []byte(broken)}, Options{})
}
