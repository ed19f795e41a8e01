package schema

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical HCL layout, for netplan42 fmt. It
// refuses a file with syntax errors, whose layout would be a guess;
// filename names it in the diagnostics.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if _, diags := parseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}
