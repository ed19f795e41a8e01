package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// sameTree checks that quickParse either declines src or builds exactly
// the tree hclsyntax builds, for input hclsyntax accepts without a word.
// It returns whether quickParse took it.
func sameTree(t *testing.T, src []byte, start hcl.Pos) bool {
	t.Helper()
	qf, ok := quickParse(src, "f.hcl", start)
	hf, diags := hclsyntax.ParseConfig(src, "f.hcl", start)
	if !ok {
		return false
	}
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("quickParse took input hclsyntax reports: %v\n%s", diags, src)
	}
	opts := cmp.Options{
		cmpopts.IgnoreUnexported(hclsyntax.Body{}, hcl.TraverseRoot{}, hcl.TraverseAttr{}),
		cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) }),
	}
	if d := cmp.Diff(hf.Body, qf.Body, opts); d != "" {
		t.Fatalf("quickParse's tree differs from hclsyntax's (-hclsyntax +quick):\n%s\ninput:\n%s", d, src)
	}
	return true
}

// TestQuickParseSameTree: on the project's own configs, a generated fleet
// and hand-picked edges, the plain-subset parser builds hclsyntax's tree
// or declines; the fleet and the plain cases it must take.
func TestQuickParseSameTree(t *testing.T) {
	var files []string
	for _, g := range []string{"testdata/*/*.hcl", "../examples/*/*.hcl", "../cmd/netplan42/testdata/*/*.hcl"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d config files", len(files))
	}
	took := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if sameTree(t, src, hcl.InitialPos) {
			took++
		}
	}
	t.Logf("quickParse took %d of %d config files", took, len(files))

	for name, src := range fleetFiles(300) {
		for _, p := range cut(src, 4<<10) {
			if !sameTree(t, p.src, p.start) {
				t.Fatalf("%s: quickParse declined a plain fleet piece at line %d", name, p.start.Line)
			}
		}
	}

	must := []string{
		"",
		"\n\n# only a comment\n",
		"a = 1",
		"a = \"\"\n",
		"a = []\nb = [ ]\nc = [\"x\", 1, true, local.y]\nd = [1,]\n",
		"a = null\nb = false\nc = var.x.y\n_d-e = local.p\n",
		"x \"a\" b {\n}\n",
		"x {\n  // c\n  y \"l\" {\n    z = 0\n  }   # after\n\n}\n",
		"computer \"pc\" {\n\tnetwork = \"n\"\t# tab\n}",
	}
	for _, src := range must {
		if !sameTree(t, []byte(src), hcl.Pos{Line: 7, Column: 1, Byte: 300}) {
			t.Errorf("quickParse declined plain input %q", src)
		}
	}
	declines := []string{
		"a = \"${x}\"\n", "a = \"%{if x}\"\n", "a = \"\\n\"\n", "a = 1.5\n", "a = 1 + 2\n",
		"a = f(1)\n", "a = x[0]\n", "a = {}\n", "a = [\n1]\n", "a = [[1]]\n", "x { a = 1 }\n",
		"x {}\n", "/* c */\n", "a = 1\na = 2\n", "a = \"é\"\n", "a = 1\r\n", "a = <<EOT\nx\nEOT\n",
		"x {\n", "}\n", "a = true.x\n", "a = 1 b = 2\n", "x \"a\" {\n}b = 1\n", "a = \"x\n\"\n",
		"a = 01\n", "a = -1\n", "a = x::y\n", "a = [for]\n", "a = [for, 1]\n", "a = [ for ]\n", "a = [for.x]\n",
	}
	for _, src := range declines {
		if qf, ok := quickParse([]byte(src), "f.hcl", hcl.InitialPos); ok {
			// Taking it is fine only if the tree is hclsyntax's.
			if !sameTree(t, []byte(src), hcl.InitialPos) {
				t.Errorf("quickParse took %q (%v) but sameTree did not", src, qf)
			}
		}
	}
	if _, ok := quickParse([]byte(strings.Repeat("x {\n", quickMaxDepth+1)+strings.Repeat("}\n", quickMaxDepth+1)), "f.hcl", hcl.InitialPos); ok {
		t.Error("quickParse took nesting past quickMaxDepth")
	}
}

// FuzzQuickParse: whatever quickParse takes, hclsyntax parses without a
// diagnostic into the same tree.
func FuzzQuickParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	for _, name := range seeds {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	for _, src := range fleetFiles(3) {
		f.Add(src)
	}
	f.Add([]byte("a = [\"x\", 1, true, local.y]\nx \"a\" b {\n  c = 01\n}\n"))
	f.Add([]byte("a = [for]\nb = [forx, for-y]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		sameTree(t, src, hcl.InitialPos)
	})
}
