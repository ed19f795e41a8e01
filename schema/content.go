package schema

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// bodyContent is body.Content(schema). For a body straight from the parser
// that holds only what schema names, with every required attribute and
// each block's labels, it builds the same content directly: hclsyntax's
// Content first copies the body with maps of what it took, then checks
// what remains, and for a fleet's 60,000 bodies those maps were a sixth of
// all plan --all allocated. Any other body (one with a mistake to report,
// one dynblock made) goes to Content itself. TestContentSame compares the
// two.
func bodyContent(body hcl.Body, schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || !plainContent(sb, schema) {
		return body.Content(schema)
	}
	c := &hcl.BodyContent{Attributes: make(hcl.Attributes, len(sb.Attributes)), MissingItemRange: sb.MissingItemRange()}
	for name, a := range sb.Attributes {
		c.Attributes[name] = a.AsHCLAttribute()
	}
	for _, b := range sb.Blocks {
		c.Blocks = append(c.Blocks, b.AsHCLBlock())
	}
	return c, nil
}

// plainContent reports whether body holds only attributes and blocks
// schema names, blocks with exactly their labels, and every required
// attribute.
func plainContent(body *hclsyntax.Body, schema *hcl.BodySchema) bool {
	for name := range body.Attributes {
		found := false
		for _, a := range schema.Attributes {
			if a.Name == name {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, a := range schema.Attributes {
		if a.Required && body.Attributes[a.Name] == nil {
			return false
		}
	}
	for _, b := range body.Blocks {
		found := false
		for _, s := range schema.Blocks {
			if s.Type == b.Type {
				found = len(b.Labels) == len(s.LabelNames)
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
