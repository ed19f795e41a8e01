package schema

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestContentSame: for every body of the project's configs, hand-made
// mistakes and a generated fleet, under every schema, bodyContent gives
// what hclsyntax's Content gives, diagnostics included.
func TestContentSame(t *testing.T) {
	var srcs [][]byte
	for _, g := range []string{"testdata/*/*.hcl", "../examples/*/*.hcl", "../cmd/netplan42/testdata/*/*.hcl"} {
		m, _ := filepath.Glob(g)
		for _, name := range m {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			srcs = append(srcs, b)
		}
	}
	for _, src := range fleetFiles(50) {
		srcs = append(srcs, src)
	}
	srcs = append(srcs, []byte(`computer "a" {
  network = "n"
  bogus   = 1
  service "x" "y" {
    port = 1
  }
  service {
  }
  service "ok" {
    port    = 2
    service = 3
  }
  nested {
  }
}
variable "v" {
}
`))
	schemas := []*hcl.BodySchema{rootSchema, networkSchema, routerSchema, computerSchema, serviceSchema, appConfigSchema,
		backendSchema, backendTLSSchema, sshSchema, variableSchema, lockSchema, assignmentSchema,
		{Attributes: []hcl.AttributeSchema{{Name: "port", Required: true}, {Name: "network", Required: true}}}}
	// Both must point into the same syntax tree.
	opts := cmp.Options{
		cmp.Comparer(func(a, b hcl.Expression) bool { return a == b }),
		cmp.Comparer(func(a, b hcl.Body) bool { return a == b }),
	}
	plain, bodies := 0, 0
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		bodies++
		for _, s := range schemas {
			got, gotDiags := bodyContent(b, s)
			want, wantDiags := b.Content(s)
			if d := cmp.Diff(want, got, opts); d != "" {
				t.Fatalf("bodyContent differs from Content at %s (-Content +bodyContent):\n%s", b.SrcRange, d)
			}
			// Content reports unsupported attributes in map order.
			byText := cmpopts.SortSlices(func(a, b *hcl.Diagnostic) bool { return a.Error() < b.Error() })
			if d := cmp.Diff(wantDiags, gotDiags, opts, byText); d != "" {
				t.Fatalf("bodyContent's diagnostics differ at %s (-Content +bodyContent):\n%s", b.SrcRange, d)
			}
			if plainContent(b, s) {
				plain++
			}
		}
		for _, blk := range b.Blocks {
			walk(blk.Body)
		}
	}
	for _, src := range srcs {
		f, diags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			continue
		}
		walk(f.Body.(*hclsyntax.Body))
	}
	if plain < bodies {
		t.Fatalf("only %d plain (body, schema) pairs of %d bodies: the fast path is not exercised", plain, bodies)
	}
	t.Logf("%d bodies, %d (body, schema) pairs on the fast path", bodies, plain)
}
