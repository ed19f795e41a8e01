package diagnose

import (
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netplan42/netplan42/internal/textout"
	"github.com/netplan42/netplan42/planner"
)

// printer is a textout.Printer the renderers hang their sections on.
type printer struct{ textout.Printer }

// RenderOptions control human output.
type RenderOptions struct {
	Color bool
}

// RenderStatusJSON writes the status report as JSON (FormatVersion).
func RenderStatusJSON(w io.Writer, r *StatusReport) error { return textout.JSON(w, r) }

// RenderCheckJSON writes the check report as JSON (FormatVersion).
func RenderCheckJSON(w io.Writer, r *CheckReport) error { return textout.JSON(w, r) }

// RenderStatus writes the status report for people.
func RenderStatus(w io.Writer, r *StatusReport, opts RenderOptions) error {
	p := &printer{textout.Printer{W: w, Color: opts.Color}}
	as := "not as root: some details are hidden"
	if r.Root {
		as = "as root"
	}
	p.F("%s (network %q), %s\n", p.Paint(textout.Bold, r.Computer), r.Network, as)
	h := r.Host
	me := addrOr(h.InternalAddress, "address unknown")
	if h.InternalAddress6.IsValid() {
		me += " and " + h.InternalAddress6.String()
	}
	p.F("  host:     %s, gateway %s\n", me, addrOr(h.Gateway, "?   "))
	p.statusRouter(r)
	p.statusFirewallLine(r)
	switch {
	case h.StatePath == "":
	case h.StateFound:
		p.F("  state:    %s\n", h.StatePath)
	case !slices.ContainsFunc(r.Limits, func(l string) bool { return strings.HasPrefix(l, "state: ") }):
		p.F("  state:    %s (none yet: netplan42 has made nothing here)\n", h.StatePath)
	default:
		p.F("  state:    %s (not readable)\n", h.StatePath)
	}
	if h.NetworkStatePath != "" {
		p.F("            router forwards in %s (the network's state)\n", h.NetworkStatePath)
	}
	p.statusMappings(r)
	p.statusPinholes(r)
	p.statusRules(r)
	p.statusServices(r)
	p.findings(r.Findings)
	if len(r.Limits) > 0 {
		p.F("\n%s\n", p.Paint(textout.Bold, "Not seen from here:"))
		for _, l := range r.Limits {
			p.F("  %s\n", l)
		}
	}
	sum := statusSummary(r.Findings)
	if len(r.Limits) > 0 && sum == noProblems {
		sum = "No problems found in what could be seen."
	}
	p.F("\n%s\n", sum)
	return p.Err
}

func addrOr(a netip.Addr, alt string) string {
	if !a.IsValid() {
		return alt
	}
	return a.String()
}

func (p *printer) statusRouter(r *StatusReport) {
	rt := r.Router
	lead := "  router:   "
	line := func(s string) {
		p.F("%s%s\n", lead, s)
		lead = "            "
	}
	for _, pr := range rt.Probes {
		switch {
		case pr.Answered && pr.Protocol == rt.Protocol:
			line(pr.Detail + " (in use)")
		case pr.Answered:
			line(pr.Detail + " (answers too)")
		default:
			line(fmt.Sprintf("%s: no answer (%s)", pr.Protocol.Title(), pr.Error))
		}
	}
	switch {
	case rt.Protocol == "" && rt.Error != "":
		line("not observed: " + rt.Error)
		return
	case rt.Protocol == schema.ViaManual && len(rt.Probes) == 0:
		line("manual port forwarding (protocols = [\"manual\"])")
	}
	if rt.Protocol != schema.ViaManual && rt.Protocol != "" {
		ext := "unknown (the router reports none)"
		if rt.ExternalAddress.IsValid() {
			ext = fmt.Sprintf("%s (%s)", rt.ExternalAddress, rt.ExternalClass)
		}
		line("external address " + ext)
	}
	switch {
	case rt.PublicAddress == "":
		line("public_address: not set")
	case len(rt.PublicResolved) > 0 && rt.PublicResolved[0].String() != rt.PublicAddress:
		line(fmt.Sprintf("public_address %q (%s)", rt.PublicAddress, addrList(rt.PublicResolved)))
	default:
		line(fmt.Sprintf("public_address %q", rt.PublicAddress))
	}
	for _, n := range rt.Notes {
		line("note: " + n)
	}
}

func (p *printer) statusFirewallLine(r *StatusReport) {
	f := r.Firewall
	switch {
	case !f.Readable:
		p.F("  firewall: %s\n", orText(f.Error, "not observed"))
	case f.Backend == "none":
		p.F("  firewall: none (netplan42 manages no firewall here)\n")
	case len(f.Rules) == 0:
		p.F("  firewall: %s, no netplan42 rules\n", f.Backend)
	case f.Hooked:
		p.F("  firewall: %s, %s, reached from input\n", f.Backend, count(len(f.Rules), "netplan42 rule"))
	default:
		p.F("  firewall: %s, %s, NOT reached (the jump to them is missing)\n", f.Backend, count(len(f.Rules), "netplan42 rule"))
	}
}

func (p *printer) statusMappings(r *StatusReport) {
	if len(r.Mappings) == 0 && len(r.Foreign) == 0 {
		return
	}
	p.F("\n%s\n", p.Paint(textout.Bold, "Router mappings:"))
	for _, m := range r.Mappings {
		k := fmt.Sprintf("%s %d", m.Protocol.Upper(), m.ExternalPort)
		switch m.State {
		case MappingPresent:
			p.F("  %s  %s  present, %s\n", m.Address, m.Mapping, leaseText(m))
		case MappingMissing:
			p.F("  %s  %s  %s\n", m.Address, k, p.Paint(textout.Red, "missing"))
		case MappingStale:
			p.F("  %s  %s  %s: ours, but to %s\n", m.Address, k, p.Paint(textout.Red, "stale"), netip.AddrPortFrom(m.Mapping.InternalAddress, m.Mapping.InternalPort))
		case MappingHeld:
			p.F("  %s  %s  %s by %s\n", m.Address, k, p.Paint(textout.Red, "held"), mappingText(*m.Mapping))
		default:
			if m.Source == "state" {
				p.F("  %s  %s  unknown on the router; state: %s, %s\n", m.Address, k, m.Mapping, leaseText(m))
			} else {
				p.F("  %s  %s  unknown (the router cannot list its mappings)\n", m.Address, k)
			}
		}
	}
	for _, f := range r.Foreign {
		if slices.ContainsFunc(r.Mappings, func(m MappingStatus) bool { return m.State == MappingHeld && *m.Mapping == f.Mapping }) {
			continue // said above
		}
		p.F("  foreign: %s, %s: %s\n", mappingText(f.Mapping), f.Holder, f.Why)
	}
}

func leaseText(m MappingStatus) string {
	switch {
	case m.Permanent:
		return "permanent"
	case m.LeaseRemainingSeconds == nil:
		return "lease unknown"
	case *m.LeaseRemainingSeconds <= 0:
		return "lease ended"
	}
	return "lease " + planner.LeaseText(uint32(*m.LeaseRemainingSeconds)) + " left"
}

func (p *printer) statusRules(r *StatusReport) {
	if len(r.Firewall.Rules) == 0 {
		return
	}
	p.F("\n%s\n", p.Paint(textout.Bold, "Firewall rules (netplan42's):"))
	for _, rule := range r.Firewall.Rules {
		var src []string
		for _, s := range rule.Sources {
			src = append(src, s.String())
		}
		p.F("  allow %s %d from %s  %q\n", rule.Protocol, rule.Port, strings.Join(src, ", "), rule.Comment)
	}
}

func (p *printer) statusServices(r *StatusReport) {
	if len(r.Services) == 0 {
		return
	}
	p.F("\n%s\n", p.Paint(textout.Bold, "Services:"))
	wName, wPort := 0, 0
	for _, s := range r.Services {
		wName = max(wName, len(s.Service))
		wPort = max(wPort, len(portText(s)))
	}
	for _, s := range r.Services {
		var parts []string
		switch s.Listening {
		case Yes:
			parts = append(parts, "listening: "+listenersText(s.Listeners))
		case No:
			parts = append(parts, p.Paint(textout.Red, "not listening"))
		default:
			parts = append(parts, "listening: unknown")
		}
		switch s.FirewallRule {
		case Present:
			parts = append(parts, "firewall rule present")
		case Missing:
			parts = append(parts, p.Paint(textout.Red, "firewall rule missing"))
		case Differs:
			parts = append(parts, p.Paint(textout.Red, "firewall rule differs"))
		case NotReached:
			parts = append(parts, p.Paint(textout.Red, "firewall rule not reached"))
		case Unknown:
			parts = append(parts, "firewall rule unknown")
		}
		if s.Mapping != "" {
			m := "mapping " + s.Mapping
			if s.Mapping != MappingPresent && s.Mapping != MappingUnknown {
				m = p.Paint(textout.Red, m)
			}
			parts = append(parts, m)
		}
		p.F("  %-*s  %-*s  %-9s  %s\n", wName, s.Service, wPort, portText(s), s.Expose, strings.Join(parts, "; "))
	}
}

func portText(s ServiceStatus) string {
	t := fmt.Sprintf("%d/%s", s.Port, s.Protocol)
	if s.Port == 0 {
		t = "unassigned/" + string(s.Protocol)
	}
	if s.ExternalPort != 0 && s.ExternalPort != s.Port {
		t += fmt.Sprintf(" (router %d)", s.ExternalPort)
	}
	return t
}

func listenersText(ls []Listener) string {
	// Group addresses by owner: "nc (pid 812) on 0.0.0.0:4242, [::]:4242".
	type group struct {
		owner string
		addrs []string
	}
	var gs []*group
	for _, l := range ls {
		owner := ownerText(l)
		var g *group
		for _, x := range gs {
			if x.owner == owner {
				g = x
			}
		}
		if g == nil {
			g = &group{owner: owner}
			gs = append(gs, g)
		}
		g.addrs = append(g.addrs, l.Address.String())
	}
	var out []string
	for _, g := range gs {
		out = append(out, g.owner+" on "+strings.Join(g.addrs, ", "))
	}
	return strings.Join(out, "; ")
}

func ownerText(l Listener) string {
	if len(l.Processes) == 0 {
		who := fmt.Sprintf("uid %d", l.UID)
		if l.User != "" {
			who = "user " + l.User
		}
		return "a process of " + who + " (not visible)"
	}
	var ps []string
	for _, p := range l.Processes {
		ps = append(ps, procText(p))
	}
	return strings.Join(ps, ", ")
}

func (p *printer) findings(fs []Finding) {
	if len(fs) == 0 {
		return
	}
	p.F("\n%s\n", p.Paint(textout.Bold, "Findings:"))
	for _, f := range fs {
		label := map[Severity]string{Error: p.Paint(textout.Red+textout.Bold, "Error:"), Warning: p.Paint(textout.Yellow+textout.Bold, "Warning:"), Info: "Info:"}[f.Severity]
		p.F("  %s %s\n", label, f.Summary)
		if f.Fix != "" {
			p.F("    fix: %s\n", f.Fix)
		}
	}
}

const noProblems = "No problems found."

func statusSummary(fs []Finding) string {
	n := map[Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	if n[Error] == 0 && n[Warning] == 0 {
		return noProblems
	}
	return fmt.Sprintf("%s, %s.", count(n[Error], "error"), count(n[Warning], "warning"))
}

func count(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

var verdictWords = map[Verdict]string{
	VRefused: "refused", VTimeout: "timed out", VUnreach: "unreachable", WrongPeer: "wrong peer",
	NoMapping: "no mapping", NoAddress: "no address", VError: "error",
}

// RenderCheck writes the check report for people: one line per check
// with its verdict and the likely cause, then the fix.
func RenderCheck(w io.Writer, r *CheckReport, opts RenderOptions) error {
	p := &printer{textout.Printer{W: w, Color: opts.Color}}
	targets := map[string]bool{}
	for _, res := range r.Results {
		targets[res.Target] = true
	}
	p.F("Checking from %s (network %q), timeout %s:\n\n", p.Paint(textout.Bold, r.From), r.Network, time.Duration(r.TimeoutMS)*time.Millisecond)
	for _, res := range r.Results {
		var mark string
		switch {
		case res.OK:
			mark = p.Paint(textout.Green, "ok  ")
		case res.Verdict == VSkipped:
			mark = "skip"
		case res.Verdict == VUnknown:
			mark = p.Paint(textout.Yellow, "?   ")
		default:
			mark = p.Paint(textout.Red+textout.Bold, "FAIL")
		}
		what := fmt.Sprintf("%s %s %d/%s", strings.TrimPrefix(res.Target, "computer."), res.Service, res.Port, res.Protocol)
		var where string
		switch res.Path {
		case RouterPath:
			where = "on this network's router"
		default:
			where = "via " + orText(res.Address, "?")
			src := res.AddressSource
			if res.Path == Internal {
				src = strings.TrimSpace("LAN address " + src)
			}
			if src != "" {
				where += " (" + src + ")"
			}
		}
		var text string
		switch {
		case res.OK || res.Verdict == VSkipped:
			text = res.Detail
		case res.Verdict == VUnknown:
			text = res.Cause
		default:
			text = verdictWords[res.Verdict] + ": " + orText(res.Cause, res.Detail)
		}
		p.F("%s  %s %s: %s\n", mark, what, where, text)
		if res.Fix != "" && !res.OK {
			p.F("      fix: %s\n", res.Fix)
		}
		for _, n := range res.Notes {
			p.F("      note: %s\n", n)
		}
	}
	for _, s := range r.Skipped {
		p.F("skip  %s\n", s)
	}
	if len(r.Limits) > 0 {
		p.F("\n%s\n", p.Paint(textout.Bold, "Not seen from here:"))
		for _, l := range r.Limits {
			p.F("  %s\n", l)
		}
	}
	n := len(r.Results)
	if n == 0 && len(r.Skipped) == 0 {
		p.F("Nothing to check: no other computer of the config exposes a service.\n")
		return p.Err
	}
	sum := fmt.Sprintf("%s to %s: %d passed, %d failed", count(n, "check"), count(len(targets), "computer"), r.Passed, r.Failed)
	if r.Unknown > 0 {
		sum += fmt.Sprintf(", %d not judged", r.Unknown)
	}
	p.F("\n%s.\n", sum)
	return p.Err
}
