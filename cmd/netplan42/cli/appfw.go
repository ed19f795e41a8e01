package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/netplan42/netplan42/diagnose"
	"github.com/netplan42/netplan42/firewall"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// addAppFirewallFindings adds what the macOS Application Firewall would
// block to rep; off macOS it does nothing.
func addAppFirewallFindings(ctx context.Context, rep *diagnose.StatusReport, in *diagnose.StatusInput) {
	if runtime.GOOS != "darwin" {
		return
	}
	programs, service := servicePrograms(in, func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular()
	})
	for _, w := range firewall.CheckAppFirewall(ctx, programs) {
		f := diagnose.Finding{Severity: diagnose.Warning, Subject: "firewall", Summary: w.Summary, Fix: w.Fix}
		if w.Info {
			f.Severity = diagnose.Info
		}
		if name, ok := service[w.Program]; ok {
			f.Subject = "service." + name
		}
		insertFinding(rep, f)
	}
}

// servicePrograms returns the programs that serve the computer's inbound
// services, and the service of each. The config names no program, so it is
// the one seen listening on the service's port, when the OS shows its
// command and that starts with the absolute path of a file (isFile); a
// path with spaces is cut at the first one and then found not to exist.
func servicePrograms(in *diagnose.StatusInput, isFile func(string) bool) ([]string, map[string]string) {
	var programs []string
	service := map[string]string{}
	for _, sv := range in.Computer.Services {
		if sv.Expose == schema.ExposeLocalhost {
			continue
		}
		for _, p := range sv.Protocols() {
			for _, l := range in.Listeners {
				if l.Protocol != planner.Protocol(p) || l.Address.Port() != sv.Port {
					continue
				}
				for _, pr := range l.Processes {
					prog, _, _ := strings.Cut(pr.Command, " ")
					if filepath.IsAbs(prog) && !slices.Contains(programs, prog) && isFile(prog) {
						programs = append(programs, prog)
						service[prog] = sv.Name
					}
				}
			}
		}
	}
	return programs, service
}

// insertFinding adds f after the findings of its severity, keeping the
// order diagnose.Status gives them (errors, warnings, notes).
func insertFinding(rep *diagnose.StatusReport, f diagnose.Finding) {
	rank := func(s diagnose.Severity) int {
		switch s {
		case diagnose.Error:
			return 0
		case diagnose.Warning:
			return 1
		}
		return 2
	}
	i := slices.IndexFunc(rep.Findings, func(g diagnose.Finding) bool { return rank(g.Severity) > rank(f.Severity) })
	if i < 0 {
		i = len(rep.Findings)
	}
	rep.Findings = slices.Insert(rep.Findings, i, f)
}
