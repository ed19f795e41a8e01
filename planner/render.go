package planner

import (
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"io"
	"net/netip"
	"strings"

	"github.com/netplan42/netplan42/internal/textout"
)

// printer is a textout.Printer the renderers hang their sections on.
type printer struct{ textout.Printer }

// RenderOptions control human output.
type RenderOptions struct {
	Color bool
}

func actionColor(a Action) string {
	switch a {
	case Create:
		return textout.Green
	case Update:
		return textout.Yellow
	case Delete:
		return textout.Red
	case Renew:
		return textout.Cyan
	}
	return ""
}

// Render writes a plan for people, in the manner of Terraform.
func Render(w io.Writer, plan *Plan, opts RenderOptions) error {
	p := &printer{textout.Printer{W: w, Color: opts.Color}}
	p.context(plan)
	p.drift(plan)
	p.diagnostics(plan)
	p.changes(plan)
	p.manual(plan)
	p.foreign(plan)
	p.summary(plan)
	return p.Err
}

func (p *printer) context(plan *Plan) {
	r := plan.Router
	p.F("%s (network %q)\n", p.Paint(textout.Bold, plan.Computer), plan.Network)
	switch r.Protocol {
	case "":
		p.F("  router:   not refreshed (planned from state)\n")
	case schema.ViaManual:
		p.F("  router:   manual port forwarding\n")
	default:
		p.F("  router:   %s\n", orDash(r.Detail, string(r.Protocol)))
	}
	if r.ExternalAddress.IsValid() || r.InternalAddress.IsValid() {
		class, _ := Classify(r.ExternalAddress)
		ext := "unknown"
		if r.ExternalAddress.IsValid() {
			ext = fmt.Sprintf("%s (%s)", r.ExternalAddress, class)
		}
		me := addrOr(r.InternalAddress, "unknown")
		if r.InternalAddress6.IsValid() {
			me += " and " + r.InternalAddress6.String()
		}
		p.F("            external address %s, this computer %s\n", ext, me)
	}
	for _, n := range plan.Router.Notes {
		p.F("            note: %s\n", n)
	}
	p.F("  firewall: %s\n\n", orDash(plan.Firewall.Backend, "not refreshed (planned from state)"))
}

func (p *printer) drift(plan *Plan) {
	if len(plan.Drift) == 0 {
		return
	}
	p.F("%s\n\n", p.Paint(textout.Bold, "Changed outside netplan42 since the last apply:"))
	for _, d := range plan.Drift {
		p.F("  # %s: %s\n", d.Address, d.Reason)
	}
	p.F("\n")
}

func (p *printer) diagnostics(plan *Plan) {
	for _, d := range plan.Diagnostics {
		label := p.Paint(textout.Bold+textout.Yellow, "Warning:")
		if d.Severity == Error {
			label = p.Paint(textout.Bold+textout.Red, "Error:")
		}
		p.F("%s %s\n", label, d.Summary)
		if d.Address != "" {
			p.F("  on %s\n", d.Address)
		}
		if d.Detail != "" {
			p.F("  %s\n", d.Detail)
		}
		p.F("\n")
	}
}

func (p *printer) changes(plan *Plan) {
	if !plan.HasChanges() {
		return
	}
	p.F("netplan42 will perform the following actions:\n\n")
	if old := plan.FirewallCleanup; old != "" {
		p.F("  # netplan42's chain, table or anchor in %s, and the jumps into it, will be removed: the firewall backend is now %s\n", old, orDash(plan.Firewall.Backend, "another"))
		p.F("  %s firewall %s\n\n", p.Paint(textout.Red, "-"), old)
	}
	for _, c := range plan.Changes {
		if c.Action == NoOp {
			continue
		}
		p.change(c)
	}
}

func (p *printer) change(c Change) {
	if c.Kind == KindAppConfig {
		p.appConfigChange(c)
		return
	}
	verb := map[Action]string{Create: "will be created", Update: "will be updated", Delete: "will be destroyed", Renew: "will be renewed"}[c.Action]
	if c.StateOnly {
		verb = "will be forgotten"
	}
	p.F("  # %s %s: %s\n", p.Paint(textout.Bold, c.Address), verb, c.Reason)
	mark := p.Paint(actionColor(c.Action), c.Action.Symbol())
	p.F("  %s %s {\n", mark, c.Address)
	before, after := fields(c.Before), fields(c.After)
	names := before.names
	if len(names) == 0 {
		names = after.names
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		b, a := before.values[n], after.values[n]
		switch {
		case c.Action == Create:
			p.F("      %s %-*s = %s\n", mark, width, n, a)
		case c.Action == Delete:
			p.F("      %s %-*s = %s\n", mark, width, n, b)
		case b != a && a != "":
			p.F("      %s %-*s = %s -> %s\n", p.Paint(actionColor(c.Action), "~"), width, n, b, a)
		default:
			p.F("        %-*s = %s\n", width, n, orDash(a, b))
		}
	}
	p.F("    }\n\n")
}

type fieldSet struct {
	names  []string
	values map[string]string
}

func fields(o *Object) fieldSet {
	fs := fieldSet{values: map[string]string{}}
	set := func(n, v string) {
		fs.names = append(fs.names, n)
		fs.values[n] = v
	}
	switch {
	case o == nil:
	case o.Mapping != nil:
		m := o.Mapping
		set("protocol", fmt.Sprintf("%q", m.Protocol))
		set("external_port", fmt.Sprint(m.ExternalPort))
		set("internal_address", quoteAddr(m.InternalAddress, "(this computer)"))
		set("internal_port", fmt.Sprint(m.InternalPort))
		set("description", fmt.Sprintf("%q", m.Description))
		lease := fmt.Sprint(m.LeaseSeconds)
		if m.LeaseSeconds == 0 {
			lease += " (permanent)"
		} else {
			lease += fmt.Sprintf(" (%s)", human(secs(m.LeaseSeconds)))
		}
		set("lease_seconds", lease)
	case o.Pinhole != nil:
		h := o.Pinhole
		set("protocol", fmt.Sprintf("%q", h.Protocol))
		set("internal_address", quoteAddr(h.InternalAddress, "(this computer's IPv6 address)"))
		set("internal_port", fmt.Sprint(h.InternalPort))
		set("lease_seconds", fmt.Sprintf("%d (%s)", h.LeaseSeconds, human(secs(h.LeaseSeconds))))
		if h.ID != 0 {
			set("id", fmt.Sprint(h.ID))
		}
		if h.Nonce != "" {
			set("nonce", fmt.Sprintf("%q", h.Nonce))
		}
	case o.Rule != nil:
		r := o.Rule
		set("protocol", fmt.Sprintf("%q", r.Protocol))
		set("port", fmt.Sprint(r.Port))
		if r.Sources == nil {
			set("sources", "(this computer's local networks)")
		} else {
			q := make([]string, len(r.Sources))
			for i, s := range r.Sources {
				q[i] = fmt.Sprintf("%q", s)
			}
			set("sources", "["+strings.Join(q, ", ")+"]")
		}
		set("comment", fmt.Sprintf("%q", r.Comment))
	}
	return fs
}

func (p *printer) manual(plan *Plan) {
	if len(plan.Manual) == 0 {
		return
	}
	p.F("%s\n\n", p.Paint(textout.Bold, "Set up these port forwards on the router by hand (netplan42 cannot reach it over UPnP or NAT-PMP):"))
	for _, m := range plan.Manual {
		p.F("  %s: %s\n", m.Address, m.Text)
	}
	p.F("\n")
}

func (p *printer) foreign(plan *Plan) {
	if len(plan.Foreign) == 0 {
		return
	}
	p.F("%s\n", p.Paint(textout.Bold, "Not managed by this computer, left alone:"))
	for _, f := range plan.Foreign {
		if f.Mapping != nil {
			m := f.Mapping
			p.F("  router: %s %q (%s)\n", m, m.Description, f.Holder)
		}
	}
	p.F("\n")
}

func (p *printer) summary(plan *Plan) {
	if plan.Blocked() {
		p.F("%s the plan has errors (above); nothing can be applied until they are resolved.\n", p.Paint(textout.Bold+textout.Red, "Planning failed:"))
		return
	}
	defer func() {
		if b := plan.Blocking(); len(b) > 0 {
			p.F("%s %s stays as it is until the error above is resolved.\n", p.Paint(textout.Bold+textout.Red, "Blocked:"), strings.Join(b, ", "))
		}
	}()
	if !plan.HasChanges() {
		switch {
		case plan.HasErrors():
			p.F("%s nothing else to change.\n", p.Paint(textout.Bold, "No other changes:"))
		case len(plan.Manual) > 0:
			p.F("%s netplan42 has nothing to change itself; the router needs the manual steps above.\n", p.Paint(textout.Bold, "No changes."))
		default:
			p.F("%s The router and the firewall match the configuration.\n", p.Paint(textout.Bold+textout.Green, "No changes."))
		}
		return
	}
	n := plan.Counts()
	forget := 0
	for _, c := range plan.Changes {
		if c.StateOnly {
			forget++
		}
	}
	line := fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy, %d to renew", n[Create], n[Update], n[Delete]-forget, n[Renew])
	if forget > 0 {
		line += fmt.Sprintf(", %d to forget", forget)
	}
	p.F("%s.\n", p.Paint(textout.Bold, line))
}

// RenderJSON writes the plan as the versioned JSON contract.
func RenderJSON(w io.Writer, plan *Plan) error { return textout.JSON(w, withoutContent(plan)) }

func orDash(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func addrOr(a netip.Addr, alt string) string {
	if !a.IsValid() {
		return alt
	}
	return a.String()
}

func quoteAddr(a netip.Addr, alt string) string {
	if !a.IsValid() {
		return alt
	}
	return fmt.Sprintf("%q", a.String())
}
