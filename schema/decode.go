package schema

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var (
	networkSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "listen_ports"},
			{Name: "reserved_ports"},
			{Name: "public_address"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "router"}},
	}
	routerSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "protocols"},
			{Name: "lease"},
			{Name: "gateway"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "ssh"}},
	}
	forEachSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "for_each"}},
	}
	computerSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "for_each"},
			{Name: "network", Required: true},
			{Name: "hostname"},
			{Name: "address"},
			{Name: "firewall"},
			{Name: "firewall_profiles"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "service", LabelNames: []string{"name"}}},
	}
	serviceSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "port", Required: true},
			{Name: "protocol"},
			{Name: "expose"},
			{Name: "external_port"},
			{Name: "allow_from"},
			{Name: "ip_versions"},
		},
		Blocks: []hcl.BlockHeaderSchema{appConfigBlock},
	}
)

// value evaluates a's expression and converts it to ty; cty.DynamicPseudoType
// converts nothing. ok is false when there is no value to use: a is absent,
// or null (so a default applies, unless required), or a mistake was
// reported, or the value is unknown because of a mistake reported earlier.
func (l *loader) value(a *hcl.Attribute, ctx *hcl.EvalContext, ty cty.Type, required bool) (cty.Value, bool) {
	if a == nil {
		return cty.NilVal, false
	}
	v, diags := l.eval(a.Expr, ctx)
	switch {
	case diags.HasErrors(), !v.IsWhollyKnown():
		return cty.NilVal, false
	case v.IsNull():
		if required {
			l.add(errorAt(a.Expr.Range(), "Missing required argument",
				"The argument %q is required, but its value is null.", a.Name))
		}
		return cty.NilVal, false
	case ty == cty.DynamicPseudoType:
		return v, true
	}
	c, err := convert.Convert(v, ty)
	if err != nil {
		l.add(errorAt(a.Expr.Range(), "Invalid value for "+a.Name,
			"%s must be %s: %s.", a.Name, typeName(ty), err))
		return cty.NilVal, false
	}
	return c, true
}

// eval evaluates expr, reports its diagnostics and returns them. A
// reference to an undeclared variable or local value gets a message naming
// it, with a suggestion, instead of HCL's "Unsupported attribute".
func (l *loader) eval(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	// Most of a fleet's values are plain literals ("auto", 22, "lan"):
	// take them as HCL would return them, without its evaluator.
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return e.Val, nil
	case *hclsyntax.TemplateExpr:
		if len(e.Parts) == 1 {
			if lit, ok := e.Parts[0].(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && !lit.Val.IsNull() {
				return lit.Val, nil
			}
		}
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		diags = l.explainRefs(expr, diags)
	}
	l.add(diags...)
	return v, diags
}

// explainRefs replaces HCL's diagnostics about var.x or local.x, where x is
// not declared, with one that says so.
func (l *loader) explainRefs(expr hcl.Expression, diags hcl.Diagnostics) hcl.Diagnostics {
	for _, t := range expr.Variables() {
		root := t.RootName()
		if len(t) < 2 || (root != "var" && root != "local") {
			continue
		}
		step, ok := t[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		declared, kind, how := l.varNames, "variable", "Declare it with a variable %q block."
		if root == "local" {
			declared, kind, how = l.localNames, "local value", "Define it in a locals block: %s = ..."
		}
		if slices.Contains(declared, step.Name) {
			continue
		}
		rng := t.SourceRange()
		kept := diags[:0:0]
		for _, d := range diags {
			if d.Subject != nil && d.Summary == "Unsupported attribute" && d.Subject.Filename == rng.Filename &&
				d.Subject.Start.Byte >= rng.Start.Byte && d.Subject.End.Byte <= rng.End.Byte {
				continue
			}
			kept = append(kept, d)
		}
		diags = append(kept, errorAt(rng, "Reference to undeclared "+kind,
			"%s.%s is not declared.%s "+how, root, step.Name, didYouMean(step.Name, declared), step.Name))
	}
	return diags
}

// enum evaluates a string attribute that must be one of options.
func (l *loader) enum(a *hcl.Attribute, ctx *hcl.EvalContext, summary string, options []string) (string, bool) {
	v, ok := l.value(a, ctx, cty.String, false)
	if !ok {
		return "", false
	}
	s := v.AsString()
	if slices.Contains(options, s) {
		return s, true
	}
	l.add(errorAt(a.Expr.Range(), summary, "%s = %q is not supported: use %s.%s",
		a.Name, s, quotedList(options), didYouMean(s, options)))
	return "", false
}

// elemRange returns the range of the i-th element of a list written out
// in place, or of the whole expression when it was computed.
func elemRange(expr hcl.Expression, i int) hcl.Range {
	if exprs, diags := hcl.ExprList(expr); !diags.HasErrors() && i < len(exprs) {
		return exprs[i].Range()
	}
	return expr.Range()
}

// network decodes a network block; nil when its name is unusable.
func (l *loader) network(b *hcl.Block, ctx *hcl.EvalContext) *Network {
	if !l.checkName(b, "network") {
		return nil
	}
	n := &Network{
		Name:          b.Labels[0],
		ListenPorts:   DefaultListenPorts,
		ReservedPorts: slices.Clone(DefaultReservedPorts),
		Router:        Router{Protocols: slices.Clone(DefaultProtocols), Lease: DefaultLease},
		DeclRange:     b.DefRange,
	}
	content, diags := b.Body.Content(networkSchema)
	l.add(diags...)

	// A number is one port; cty turns it into the string the parser wants.
	if a := content.Attributes["listen_ports"]; a != nil {
		if v, ok := l.value(a, ctx, cty.String, false); ok {
			r, err := ParsePortRange(v.AsString())
			if err != nil {
				l.add(errorAt(a.Expr.Range(), "Invalid listen_ports",
					"listen_ports = %q is not a port range: %s. Write it as first-last, like \"1024-5999\".", v.AsString(), err))
			} else {
				n.ListenPorts = r
			}
		}
	}

	if a := content.Attributes["reserved_ports"]; a != nil {
		if v, ok := l.value(a, ctx, cty.List(cty.Number), false); ok {
			n.ReservedPorts = n.ReservedPorts[:0]
			for i, e := range v.AsValueSlice() {
				if e.IsNull() {
					l.add(errorAt(elemRange(a.Expr, i), "Invalid reserved port", "reserved_ports cannot hold null."))
					continue
				}
				p, err := portFromNumber(e)
				if err != nil {
					l.add(errorAt(elemRange(a.Expr, i), "Invalid reserved port",
						"%s %s. Use port numbers from 1 to 65535.", numberText(e), err))
					continue
				}
				n.ReservedPorts = append(n.ReservedPorts, p)
			}
			slices.Sort(n.ReservedPorts)
			n.ReservedPorts = slices.Compact(n.ReservedPorts)
		}
	}

	if a := content.Attributes["public_address"]; a != nil {
		if v, ok := l.value(a, ctx, cty.String, false); ok {
			s := v.AsString()
			if _, err := netip.ParseAddr(s); err != nil && !validDNSName(s) {
				l.add(errorAt(a.Expr.Range(), "Invalid public_address",
					"public_address = %q is neither an IP address nor a DNS name. Write how other networks reach this one, like \"203.0.113.7\" or \"home.example.net\".", s))
			} else {
				n.PublicAddress = s
			}
		}
	}

	for i, rb := range content.Blocks {
		if i > 0 {
			l.add(errorAt(rb.DefRange, "Duplicate router block",
				"Network %q already has a router block at %s; a network has one router. Merge the two blocks.",
				n.Name, position(content.Blocks[0].DefRange)))
			continue
		}
		l.router(rb, ctx, &n.Router)
	}
	return n
}

// router decodes a router block into r, which holds the defaults.
func (l *loader) router(b *hcl.Block, ctx *hcl.EvalContext, r *Router) {
	content, diags := b.Body.Content(routerSchema)
	l.add(diags...)

	if a := content.Attributes["protocols"]; a != nil {
		if v, ok := l.value(a, ctx, cty.List(cty.String), false); ok {
			var protos []Via
			valid := true
			for i, e := range v.AsValueSlice() {
				rng := elemRange(a.Expr, i)
				switch {
				case e.IsNull():
					l.add(errorAt(rng, "Invalid router protocol", "protocols cannot hold null."))
					valid = false
				case !slices.Contains(routerValues, e.AsString()):
					l.add(errorAt(rng, "Invalid router protocol", "%q is not a router protocol: use %s.%s",
						e.AsString(), quotedList(routerValues), didYouMean(e.AsString(), routerValues)))
					valid = false
				case slices.Contains(protos, Via(e.AsString())):
					l.add(errorAt(rng, "Duplicate router protocol", "%q is listed twice in protocols; list each protocol once.", e.AsString()))
					valid = false
				default:
					if len(protos) > 0 && protos[len(protos)-1] == ViaManual {
						l.add(warningAt(rng, "Protocol never tried",
							"%q comes after \"manual\", which always succeeds by printing the forwarding steps, so it is never tried. Put \"manual\" last.", e.AsString()))
					}
					protos = append(protos, Via(e.AsString()))
				}
			}
			if valid && len(protos) == 0 {
				l.add(errorAt(a.Expr.Range(), "No router protocols",
					"protocols is empty. List at least one of %s, or leave protocols out to try \"upnp\" then \"natpmp\".", quotedList(routerValues)))
				valid = false
			}
			if valid {
				r.Protocols = protos
			}
		}
	}

	if a := content.Attributes["lease"]; a != nil {
		if v, ok := l.value(a, ctx, cty.DynamicPseudoType, false); ok {
			// A number is seconds, as routers count.
			var s, written string
			switch v.Type() {
			case cty.Number:
				written = numberText(v)
				s = written + "s"
				if written == "0" {
					s = "0"
				}
			case cty.String:
				s = v.AsString()
				written = fmt.Sprintf("%q", s)
			}
			d, err := ParseLease(s)
			switch {
			case written == "":
				l.add(errorAt(a.Expr.Range(), "Invalid lease",
					"lease must be a duration like \"2h\", not %s.", aType(v.Type())))
			case err != nil:
				l.add(errorAt(a.Expr.Range(), "Invalid lease",
					"lease = %s is not a valid lease: %s. Use a duration from 1m to 7d like \"2h\", or \"permanent\".", written, err))
			default:
				r.Lease = d
			}
		}
	}

	if a := content.Attributes["gateway"]; a != nil {
		if v, ok := l.value(a, ctx, cty.String, false); ok {
			s := v.AsString()
			ip, err := netip.ParseAddr(s)
			switch {
			case err != nil || ip.Zone() != "":
				l.add(errorAt(a.Expr.Range(), "Invalid gateway",
					"gateway = %q is not an IP address. Write the router's LAN address, like \"192.168.1.1\", or leave gateway out to use the default route's gateway.", s))
			case ip.IsUnspecified() || ip.IsMulticast():
				l.add(errorAt(a.Expr.Range(), "Invalid gateway",
					"gateway = %q cannot be a router's address. Write the router's LAN address, like \"192.168.1.1\", or leave gateway out to use the default route's gateway.", s))
			default:
				r.Gateway = ip.Unmap()
			}
		}
	}

	protocolsRange := b.DefRange
	if a := content.Attributes["protocols"]; a != nil {
		protocolsRange = a.Expr.Range()
	}
	l.sshBlocks(content.Blocks, ctx, r, protocolsRange)
}

// computers decodes a computer block: one instance, or one per for_each key.
func (l *loader) computers(b *hcl.Block, ctx *hcl.EvalContext) {
	a := forEachAttr(b.Body)
	if a == nil {
		l.computer(b, ctx, "", false)
		return
	}
	v, diags := l.eval(a.Expr, ctx)
	if diags.HasErrors() || !v.IsKnown() {
		return
	}
	if v.IsNull() {
		l.add(errorAt(a.Expr.Range(), "Invalid for_each",
			"for_each must be a map, or a set of strings, not null."))
		return
	}

	type instance struct {
		key   string
		value cty.Value
	}
	var instances []instance
	ty := v.Type()
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			instances = append(instances, instance{k.AsString(), e})
		}
	case ty.IsSetType() || ty.IsListType() || ty.IsTupleType():
		// Sets are what Terraform takes; a list of distinct strings is as
		// unambiguous, since keys are the strings and not the positions.
		seen := map[string]bool{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if !e.IsWhollyKnown() {
				return
			}
			s, err := convert.Convert(e, cty.String)
			if err != nil || s.IsNull() {
				l.add(errorAt(a.Expr.Range(), "Invalid for_each",
					"for_each holds %s; a set for for_each must hold strings, the keys of the computers.", aType(e.Type())))
				return
			}
			if seen[s.AsString()] {
				l.add(errorAt(a.Expr.Range(), "Invalid for_each",
					"for_each holds %q twice; keys must be unique. Use toset() to drop repeats, or a map.", s.AsString()))
				return
			}
			seen[s.AsString()] = true
			instances = append(instances, instance{s.AsString(), s})
		}
		slices.SortFunc(instances, func(a, b instance) int { return strings.Compare(a.key, b.key) })
	default:
		l.add(errorAt(a.Expr.Range(), "Invalid for_each",
			"for_each must be a map, or a set of strings; this is %s.", aType(ty)))
		return
	}

	for _, in := range instances {
		if !validKey(in.key) {
			l.add(errorAt(a.Expr.Range(), "Invalid for_each key",
				"%q cannot be a for_each key. Keys name computers in addresses, router descriptions and firewall comments: use 1 to 63 printable characters without spaces, quotes, slashes, backslashes, brackets, braces, '$' or '%%'.", in.key))
			continue
		}
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{
			"each": cty.ObjectVal(map[string]cty.Value{
				"key":   cty.StringVal(in.key),
				"value": in.value,
			}),
		}
		l.computer(b, child, in.key, true)
	}
}

// forEachAttr returns the for_each attribute of body, or nil.
func forEachAttr(body hcl.Body) *hcl.Attribute {
	// The syntax tree answers without building content; a large fleet
	// has thousands of computers.
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a := sb.Attributes["for_each"]; a != nil {
			return a.AsHCLAttribute()
		}
		return nil
	}
	content, _, _ := body.PartialContent(forEachSchema)
	return content.Attributes["for_each"]
}

// hasDynamic reports whether body may hold dynamic blocks, which need
// expanding before decoding.
func hasDynamic(body hcl.Body) bool {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return true
	}
	for _, b := range sb.Blocks {
		if b.Type == "dynamic" {
			return true
		}
	}
	return false
}

// computer decodes one instance of a computer block.
func (l *loader) computer(b *hcl.Block, ctx *hcl.EvalContext, key string, hasKey bool) {
	c := &Computer{
		Label:     b.Labels[0],
		Key:       key,
		HasKey:    hasKey,
		Firewall:  FirewallAuto,
		DeclRange: b.DefRange,
	}
	d := &computerDecl{c: c, networkRange: b.DefRange, hostRange: b.DefRange}
	l.comps = append(l.comps, d)

	body := b.Body
	if hasDynamic(body) {
		body = dynblock.Expand(body, ctx)
	}
	content, diags := bodyContent(body, computerSchema)
	l.add(diags...)

	if a := content.Attributes["network"]; a != nil {
		d.networkRange = a.Expr.Range()
		if v, ok := l.value(a, ctx, cty.String, true); ok {
			c.Network = v.AsString()
		}
	}

	c.Hostname = c.Label
	if hasKey {
		c.Hostname = key
	}
	if a := content.Attributes["hostname"]; a != nil {
		d.hostRange = a.Expr.Range()
		if v, ok := l.value(a, ctx, cty.String, false); ok {
			if s := v.AsString(); validHostname(s) {
				c.Hostname = s
			} else {
				l.add(errorAt(a.Expr.Range(), "Invalid hostname",
					"hostname = %q cannot be a host name: use letters, digits, dots, dashes and underscores, as the machine's hostname command prints it.", s))
			}
		}
	} else if !validHostname(c.Hostname) {
		l.add(errorAt(b.DefRange, "Invalid hostname",
			"%s takes its hostname from its for_each key, %q, which cannot be a host name. Set hostname.", c.Address(), c.Hostname))
	}

	l.lanAddress(content.Attributes["address"], ctx, c)

	if a := content.Attributes["firewall"]; a != nil {
		if s, ok := l.enum(a, ctx, "Invalid firewall", firewallValues); ok {
			c.Firewall = s
		}
	}
	if a := content.Attributes["firewall_profiles"]; a != nil {
		l.firewallProfiles(a, ctx, c)
	}

	names := map[string]hcl.Range{}
	for _, sb := range content.Blocks {
		s := l.service(sb, ctx)
		if s == nil {
			continue
		}
		if prev, ok := names[s.Name]; ok {
			l.add(errorAt(sb.LabelRanges[0], "Duplicate service",
				"Computer %q already has a service named %q, at %s. Service names must be unique within a computer; rename or remove one of them.",
				c.Label, s.Name, position(prev)))
			continue
		}
		names[s.Name] = sb.DefRange
		c.Services = append(c.Services, s)
	}
	l.checkAppConfigs(c)
}

// service decodes a service block; nil when its name is unusable.
func (l *loader) service(b *hcl.Block, ctx *hcl.EvalContext) *Service {
	if !l.checkName(b, "service") {
		return nil
	}
	s := &Service{
		Name:     b.Labels[0],
		Protocol: TCP,
		Expose:   ExposeLAN, // safe default: nothing reaches it from the internet unless asked
	}
	s.ranges.set(&s.ranges.decl, b.DefRange)
	s.ranges.set(&s.ranges.port, b.DefRange)
	content, diags := bodyContent(b.Body, serviceSchema)
	l.add(diags...)

	if a := content.Attributes["port"]; a != nil {
		s.ranges.set(&s.ranges.port, a.Expr.Range())
		s.Port, s.Auto, _ = l.port(a, ctx, true)
	}
	if a := content.Attributes["protocol"]; a != nil {
		if v, ok := l.enum(a, ctx, "Invalid protocol", protocolValues); ok {
			s.Protocol = v
		}
	}
	if a := content.Attributes["expose"]; a != nil {
		if v, ok := l.enum(a, ctx, "Invalid expose", exposeValues); ok {
			s.Expose = v
		}
	}

	ext := content.Attributes["external_port"]
	if ext != nil {
		s.ranges.set(&s.ranges.ext, ext.Expr.Range())
		s.ExternalPort, _, _ = l.port(ext, ctx, false)
	}
	from := content.Attributes["allow_from"]
	if from != nil {
		l.allowFrom(from, ctx, s)
	}
	if a := content.Attributes["ip_versions"]; a != nil {
		l.ipVersions(a, ctx, s)
		if s.Expose != ExposeInternet {
			l.add(warningAt(a.NameRange, "Setting has no effect",
				"Service %q is not exposed to the internet, so ip_versions (which chooses between a router mapping and an IPv6 pinhole) means nothing. Remove it, or set expose = \"internet\".", s.Name))
		}
	}
	for _, ab := range content.Blocks {
		l.appConfig(ab, ctx, s)
	}

	switch s.Expose {
	case ExposeLocalhost:
		for _, a := range []*hcl.Attribute{ext, from} {
			if a != nil {
				l.add(errorAt(a.NameRange, "Setting has no effect",
					"Service %q has expose = \"localhost\", so netplan42 opens nothing for it and %s means nothing. Remove %s, or expose the service to the \"lan\" or the \"internet\".",
					s.Name, a.Name, a.Name))
			}
		}
	case ExposeLAN:
		if ext != nil {
			l.add(warningAt(ext.NameRange, "Setting has no effect",
				"Service %q has expose = \"lan\", so the router maps nothing and external_port is not used. Remove it, or set expose = \"internet\".", s.Name))
		}
	}
	return s
}

// port evaluates a port attribute: a number from 1 to 65535, or, with
// allowAuto, "auto". ok is false when a mistake was reported.
func (l *loader) port(a *hcl.Attribute, ctx *hcl.EvalContext, allowAuto bool) (port uint16, auto, ok bool) {
	v, ok := l.value(a, ctx, cty.DynamicPseudoType, true)
	if !ok {
		return 0, false, false
	}
	hint, options := "Use a number from 1 to 65535", []string(nil)
	if allowAuto {
		hint += `, or "auto" to have a free port of the network's listen_ports picked`
		options = []string{"auto"}
	}
	var problem string
	switch v.Type() {
	case cty.String:
		s := v.AsString()
		if allowAuto && s == "auto" {
			return 0, true, true
		}
		p, err := parsePort(strings.TrimSpace(s))
		if err == nil {
			return p, false, true
		}
		problem = fmt.Sprintf("%s = %q is not a port.%s", a.Name, s, didYouMean(s, options))
	case cty.Number:
		p, err := portFromNumber(v)
		if err == nil {
			return p, false, true
		}
		problem = fmt.Sprintf("%s = %s %s.", a.Name, numberText(v), err)
	default:
		problem = fmt.Sprintf("%s must be a port number, not %s.", a.Name, aType(v.Type()))
	}
	summary := "Invalid port"
	if a.Name == "external_port" {
		summary = "Invalid external port"
	}
	l.add(errorAt(a.Expr.Range(), summary, "%s %s.", problem, hint))
	return 0, false, false
}

// allowFrom decodes allow_from into s.AllowFrom.
func (l *loader) allowFrom(a *hcl.Attribute, ctx *hcl.EvalContext, s *Service) {
	v, ok := l.value(a, ctx, cty.List(cty.String), false)
	if !ok {
		return
	}
	elems := v.AsValueSlice()
	if len(elems) == 0 {
		l.add(errorAt(a.Expr.Range(), "Empty allow_from",
			"allow_from = [] would admit no one. Leave allow_from out to admit any source, or list the networks to admit, like [\"192.168.1.0/24\"]."))
		return
	}
	prefixes := make([]netip.Prefix, 0, len(elems))
	for i, e := range elems {
		if e.IsNull() {
			l.add(errorAt(elemRange(a.Expr, i), "Invalid allow_from", "allow_from cannot hold null."))
			continue
		}
		p, err := parseSource(e.AsString())
		if err != nil {
			l.add(errorAt(elemRange(a.Expr, i), "Invalid allow_from",
				"%s. List CIDR prefixes like \"192.168.1.0/24\" or single addresses.", capitalize(err.Error())))
			continue
		}
		prefixes = append(prefixes, p)
	}
	s.AllowFrom = prefixes
}

// capitalize upper-cases the first letter of s, to start a sentence with an
// error message.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// aType names ty with an article, for messages: "a tuple", "an object".
func aType(ty cty.Type) string {
	s := ty.FriendlyName()
	if s != "" && strings.IndexByte("aeiou", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + s
}
