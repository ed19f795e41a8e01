package schema

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestDiagWriterMatchesHCL renders every diagnostics case, and mistakes
// whose diagnostics carry expressions, with our writer and HCL's, in colour
// and without, wrapped and not: the output must be the same bytes.
func TestDiagWriterMatchesHCL(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/diagnostics/*.hcl")
	type tc struct {
		files map[string]*hcl.File
		diags hcl.Diagnostics
	}
	var cases []tc
	for _, in := range inputs {
		if strings.HasSuffix(in, ".lock.hcl") {
			continue
		}
		cfg, diags := Load(in, Options{})
		cases = append(cases, tc{cfg.Files, diags})
	}
	// Evaluation errors carry the expression and its context ("with ...").
	src := `variable "base" { default = 5000 }
locals { ports = [1, 2] }
network "home" {
  listen_ports = "${var.base}-${local.ports[0] + "x"}"
}
computer "a" {
  network = "home"
  service "s" {
    port = max(var.base, local.ports, "y")
  }
}
` + "\r\ncomputer \"b\" {\r\n  network = 5\r\n}\r\n"
	cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "", Options{})
	if len(diags) == 0 {
		t.Fatal("the evaluation case has no diagnostics")
	}
	var withValues bytes.Buffer
	WriteDiagnostics(&withValues, cfg.Files, diags, false, 0)
	if !strings.Contains(withValues.String(), "\nwith ") {
		t.Fatalf("the evaluation case shows no values:\n%s", withValues.String())
	}
	cases = append(cases, tc{cfg.Files, diags})
	// Ranges HCL's writer treats specially: empty, at the end of a line,
	// past the end of the file, in a file it does not know.
	f := &hcl.File{Bytes: []byte("a = 1\nb = 2")}
	at := func(sb, eb, line int) *hcl.Range {
		return &hcl.Range{Filename: "x.hcl", Start: hcl.Pos{Line: line, Column: 1, Byte: sb}, End: hcl.Pos{Line: line, Column: 1, Byte: eb}}
	}
	var edge hcl.Diagnostics
	for _, r := range []*hcl.Range{at(0, 0, 1), at(5, 5, 1), at(5, 6, 1), at(4, 8, 1), at(11, 11, 2), at(11, 20, 2), at(0, 11, 1)} {
		edge = append(edge, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "s", Detail: "d", Subject: r})
	}
	edge = append(edge, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "s", Subject: at(0, 3, 1), Context: at(0, 11, 1)})
	edge = append(edge, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "s", Subject: &hcl.Range{Filename: "gone.hcl"}})
	cases = append(cases, tc{map[string]*hcl.File{"x.hcl": f}, edge})

	for i, c := range cases {
		for _, color := range []bool{false, true} {
			for _, width := range []uint{0, 78} {
				var ours, theirs bytes.Buffer
				if err := WriteDiagnostics(&ours, c.files, c.diags, color, width); err != nil {
					t.Fatal(err)
				}
				if len(c.diags) > MaxPrinted {
					t.Fatalf("case %d has more diagnostics than are printed", i)
				}
				hcl.NewDiagnosticTextWriter(&theirs, c.files, width, color).WriteDiagnostics(c.diags)
				if ours.String() != theirs.String() {
					t.Errorf("case %d (color %v, width %d) differs from HCL's writer:\n--- ours\n%s\n--- HCL's\n%s", i, color, width, ours.String(), theirs.String())
				}
			}
		}
	}
}

// TestWriteDiagnosticsCap: twenty thousand mistakes print the first
// MaxPrinted and a count of the rest.
func TestWriteDiagnosticsCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("network \"home\" {}\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "computer \"c%d\" {\n  network = \"nope\"\n  service \"s\" {\n    port = \"bad\"\n  }\n}\n", i)
	}
	cfg, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(b.String())}, "", Options{})
	if len(diags) != 20000 {
		t.Fatalf("got %d diagnostics, want 20000", len(diags))
	}
	var out bytes.Buffer
	if err := WriteDiagnostics(&out, cfg.Files, diags, false, 78); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\nError: ") + 1; n != MaxPrinted {
		t.Errorf("printed %d diagnostics, want %d", n, MaxPrinted)
	}
	if want := fmt.Sprintf("... and %d more errors not shown", 20000-MaxPrinted); !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q; its end:\n%s", want, out.String()[out.Len()-300:])
	}
}
