package schema

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestCheckNesting(t *testing.T) {
	deep := func(open, close string, n int) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	for _, tc := range []struct {
		name string
		src  string
		line int // 0: no diagnostic
	}{
		{"flat", `locals { a = [1, 2, {b = (3)}] }`, 0},
		{"at the limit", "locals {\n a = " + deep("[", "]", MaxNesting-1) + "\n}", 0},
		{"brackets", "locals {\n a = " + deep("[", "]", 300000) + "\n}", 2},
		{"parentheses", "locals {\n\n a = " + deep("(", ")", 1000) + "1\n}", 3},
		{"objects", "locals {\n a = " + deep("{a=", "}", 1000) + "\n}", 2},
		{"calls", "locals {\n a = " + deep("max(", ")", 1000) + "\n}", 2},
		{"interpolations", "locals {\n a = \"" + deep(`${"`, `"}`, 100000) + "\"\n}", 2},
		{"directives", "locals {\n a = \"" + strings.Repeat("%{if true}", 1000) + strings.Repeat("%{endif}", 1000) + "\"\n}", 2},
		{"unary not", "locals {\n a = " + strings.Repeat("!", 300000) + "true\n}", 2},
		{"unary minus", "locals {\n a = " + strings.Repeat("- ", 300000) + "1\n}", 2},
		{"in strings", `locals { a = "` + strings.Repeat("[{(", 1000) + `" }`, 0},
		{"escaped quote", `locals { a = "\"` + strings.Repeat("[", 1000) + `" }`, 0},
		{"literal interpolation", `locals { a = "$${` + strings.Repeat("[", 1000) + `" }`, 0},
		{"in comments", "# " + strings.Repeat("[", 1000) + "\n// " + strings.Repeat("{", 1000) + "\n/* " + strings.Repeat("(", 1000) + " */\nlocals {}", 0},
		{"in heredoc", "locals {\n a = <<EOT\n" + strings.Repeat("[", 1000) + "\n  EOT\n b = 1\n}", 0},
		{"indented heredoc", "locals {\n a = <<-EOT\n  " + strings.Repeat("{", 1000) + "\n  EOT\n}", 0},
		{"heredoc interpolation", "locals {\n a = <<EOT\n${" + deep("[", "]", 1000) + "}\nEOT\n}", 3},
		{"dashed names", `computer "a-b-c" { network = "x-y" }`, 0},
		{"subtraction", `locals { a = 5 - 3 - -1 }`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := checkNesting([]byte(tc.src), "main.hcl", hcl.InitialPos)
			switch {
			case tc.line == 0 && d != nil:
				t.Fatalf("unexpected diagnostic: %v", d)
			case tc.line != 0 && d == nil:
				t.Fatal("no diagnostic")
			case tc.line != 0 && (d.Subject == nil || d.Subject.Start.Line != tc.line || d.Subject.Filename != "main.hcl"):
				t.Fatalf("subject = %v, want main.hcl line %d", d.Subject, tc.line)
			}
			if tc.line == 0 {
				// What passes the check must not crash the parser either.
				parseConfig([]byte(tc.src), "main.hcl", hcl.InitialPos)
			}
		})
	}
}

// TestLoadDeepNesting: a config nested hundreds of thousands deep is a
// diagnostic from Load, not a stack overflow that kills the process.
func TestLoadDeepNesting(t *testing.T) {
	src := "network \"home\" {}\nlocals {\n  x = " + strings.Repeat("[", 500000) + strings.Repeat("]", 500000) + "\n}\n"
	_, diags := LoadFiles(map[string][]byte{"main.hcl": []byte(src)}, "", Options{})
	if !diags.HasErrors() || diags[0].Summary != "Nesting too deep" || diags[0].Subject.Start.Line != 3 {
		t.Fatalf("diags = %v", diags)
	}
	_, diags = LoadFiles(map[string][]byte{"main.hcl": []byte("network \"home\" {}\nvariable \"x\" { type = list(number) }\n")}, "",
		Options{Vars: []string{"x=" + strings.Repeat("(", 500000)}})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "levels deep") {
		t.Fatal("deep --var value: no error")
	}
	if _, diags := ParseLock([]byte(strings.Repeat("{", 500000)), LockFileName); !diags.HasErrors() {
		t.Fatal("deep lock file: no error")
	}
	if _, diags := Format([]byte(strings.Repeat("{", 500000)), "main.hcl"); !diags.HasErrors() {
		t.Fatal("deep file to format: no error")
	}
}
