package planner

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// RenderOptions control human output.
type RenderOptions struct {
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

type printer struct {
	w     io.Writer
	color bool
	err   error
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func (p *printer) paint(code, s string) string {
	if !p.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func actionColor(a Action) string {
	switch a {
	case Create:
		return ansiGreen
	case Update:
		return ansiYellow
	case Delete:
		return ansiRed
	case Renew:
		return ansiCyan
	}
	return ""
}

// Render writes a plan for people, in the manner of Terraform.
func Render(w io.Writer, plan *Plan, opts RenderOptions) error {
	p := &printer{w: w, color: opts.Color}
	p.context(plan)
	p.drift(plan)
	p.diagnostics(plan)
	p.changes(plan)
	p.manual(plan)
	p.foreign(plan)
	p.summary(plan)
	return p.err
}

func (p *printer) context(plan *Plan) {
	r := plan.Router
	p.f("%s (network %q)\n", p.paint(ansiBold, plan.Computer), plan.Network)
	switch r.Protocol {
	case "":
		p.f("  router:   not refreshed (planned from state)\n")
	case ViaManual:
		p.f("  router:   manual port forwarding\n")
	default:
		p.f("  router:   %s\n", orDash(r.Detail, r.Protocol))
	}
	if r.ExternalAddress.IsValid() || r.InternalAddress.IsValid() {
		class, _ := Classify(r.ExternalAddress)
		ext := "unknown"
		if r.ExternalAddress.IsValid() {
			ext = fmt.Sprintf("%s (%s)", r.ExternalAddress, class)
		}
		p.f("            external address %s, this computer %s\n", ext, addrOr(r.InternalAddress, "unknown"))
	}
	for _, n := range plan.Router.Notes {
		p.f("            note: %s\n", n)
	}
	p.f("  firewall: %s\n\n", orDash(plan.Firewall.Backend, "not refreshed (planned from state)"))
}

func (p *printer) drift(plan *Plan) {
	if len(plan.Drift) == 0 {
		return
	}
	p.f("%s\n\n", p.paint(ansiBold, "Changed outside netplan42 since the last apply:"))
	for _, d := range plan.Drift {
		p.f("  # %s: %s\n", d.Address, d.Reason)
	}
	p.f("\n")
}

func (p *printer) diagnostics(plan *Plan) {
	for _, d := range plan.Diagnostics {
		label := p.paint(ansiBold+ansiYellow, "Warning:")
		if d.Severity == Error {
			label = p.paint(ansiBold+ansiRed, "Error:")
		}
		p.f("%s %s\n", label, d.Summary)
		if d.Address != "" {
			p.f("  on %s\n", d.Address)
		}
		if d.Detail != "" {
			p.f("  %s\n", d.Detail)
		}
		p.f("\n")
	}
}

func (p *printer) changes(plan *Plan) {
	if !plan.HasChanges() {
		return
	}
	p.f("netplan42 will perform the following actions:\n\n")
	for _, c := range plan.Changes {
		if c.Action == NoOp {
			continue
		}
		p.change(c)
	}
}

func (p *printer) change(c Change) {
	verb := map[Action]string{Create: "will be created", Update: "will be updated", Delete: "will be destroyed", Renew: "will be renewed"}[c.Action]
	if c.StateOnly {
		verb = "will be forgotten"
	}
	p.f("  # %s %s: %s\n", p.paint(ansiBold, c.Address), verb, c.Reason)
	mark := p.paint(actionColor(c.Action), c.Action.Symbol())
	p.f("  %s %s {\n", mark, c.Address)
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
			p.f("      %s %-*s = %s\n", mark, width, n, a)
		case c.Action == Delete:
			p.f("      %s %-*s = %s\n", mark, width, n, b)
		case b != a && a != "":
			p.f("      %s %-*s = %s -> %s\n", p.paint(actionColor(c.Action), "~"), width, n, b, a)
		default:
			p.f("        %-*s = %s\n", width, n, orDash(a, b))
		}
	}
	p.f("    }\n\n")
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
	p.f("%s\n\n", p.paint(ansiBold, "Set up these port forwards on the router by hand (netplan42 cannot reach it over UPnP or NAT-PMP):"))
	for _, m := range plan.Manual {
		p.f("  %s: %s\n", m.Address, m.Text)
	}
	p.f("\n")
}

func (p *printer) foreign(plan *Plan) {
	if len(plan.Foreign) == 0 {
		return
	}
	p.f("%s\n", p.paint(ansiBold, "Not managed by this computer, left alone:"))
	for _, f := range plan.Foreign {
		if f.Mapping != nil {
			m := f.Mapping
			p.f("  router: %s %q (%s)\n", m, m.Description, f.Holder)
		}
	}
	p.f("\n")
}

func (p *printer) summary(plan *Plan) {
	if plan.HasErrors() {
		p.f("%s the plan has errors (above); nothing can be applied until they are resolved.\n", p.paint(ansiBold+ansiRed, "Planning failed:"))
		return
	}
	if !plan.HasChanges() {
		if len(plan.Manual) > 0 {
			p.f("%s netplan42 has nothing to change itself; the router needs the manual steps above.\n", p.paint(ansiBold, "No changes."))
			return
		}
		p.f("%s The router and the firewall match the configuration.\n", p.paint(ansiBold+ansiGreen, "No changes."))
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
	p.f("%s.\n", p.paint(ansiBold, line))
}

// RenderJSON writes the plan as the versioned JSON contract.
func RenderJSON(w io.Writer, plan *Plan) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(plan)
}

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
