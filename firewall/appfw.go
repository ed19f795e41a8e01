package firewall

// macOS has two firewalls. pf (pf.go) filters by port; the Application
// Firewall filters by program: with it on, a port pf lets through is still
// closed to a program it blocks, and "Block all incoming connections"
// closes it to every program but a few system services. netplan42 does not
// change the Application Firewall (its settings are the user's, and MDM
// often locks them); status only says when it would stop a service, and
// the command that allows it.
//
// NOT run on a live macOS here: the parsers are table-tested on output
// others published (named in appfw_test.go).

import (
	"context"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// SocketFilterFW is the Application Firewall's command-line tool.
const SocketFilterFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"

// appVerdict is what --getappblocked says of one program.
type appVerdict int

const (
	appUnknown   appVerdict = iota // output not understood
	appPermitted                   // note: also said of programs the firewall has never seen
	appBlocked
	appNotListed
)

var globalStateRE = regexp.MustCompile(`\(State = (\d+)\)`)

// parseGlobalState reads `socketfilterfw --getglobalstate`: "Firewall is
// enabled. (State = 1)", "Firewall is disabled. (State = 0)". State 2 is
// "on" too; with the wording "blocking all non-essential incoming
// connections" it also means block-all, while "Firewall is enabled.
// (State = 2)" (seen with stealth mode on) says nothing of it. ok is false
// for output not understood.
func parseGlobalState(out string) (enabled, blockAll, ok bool) {
	for _, line := range strings.Split(out, "\n") {
		m := globalStateRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		switch n {
		case 0:
			return false, false, true
		case 1:
			return true, false, true
		case 2:
			return true, strings.Contains(strings.ToLower(line), "block"), true
		}
		return false, false, false
	}
	low := strings.ToLower(out)
	// Older releases print no state number.
	switch {
	case strings.Contains(low, "firewall is enabled"):
		return true, false, true
	case strings.Contains(low, "firewall is disabled"):
		return false, false, true
	case strings.Contains(low, "block all non-essential") || strings.Contains(low, "blocking all non-essential"):
		return true, true, true
	}
	return false, false, false
}

// parseBlockAll reads `socketfilterfw --getblockall`: "Firewall has block
// all state set to enabled." (current releases), "Block all ENABLED!"
// (older ones), or the "set to block all non-essential incoming
// connections" sentence.
func parseBlockAll(out string) (blockAll, ok bool) {
	low := strings.ToLower(strings.TrimSpace(out))
	switch {
	case strings.Contains(low, "block all state set to enabled"), strings.Contains(low, "block all enabled"),
		strings.Contains(low, "block all non-essential"):
		return true, true
	case strings.Contains(low, "block all state set to disabled"), strings.Contains(low, "block all disabled"):
		return false, true
	}
	return false, false
}

// parseAppBlocked reads `socketfilterfw --getappblocked PATH`. The path is
// cut out first, so that a directory named "blocked" says nothing.
// Wordings differ between releases: "Incoming connection to PATH is
// permitted.", "The application PATH is blocked", "The application at
// path ( PATH ) is not part of the firewall".
func parseAppBlocked(out, path string) appVerdict {
	s := strings.ToLower(out)
	if path != "" {
		s = strings.ReplaceAll(s, strings.ToLower(path), "")
	}
	notListed := strings.Contains(s, "not part of the firewall")
	blocked := strings.Contains(s, "is blocked") || strings.Contains(s, "is blocking") || strings.Contains(s, "blocked from")
	permitted := strings.Contains(s, "is permitted") || strings.Contains(s, "is allowed")
	switch {
	case strings.Contains(s, "usage:"):
		return appUnknown
	case notListed && !blocked && !permitted:
		return appNotListed
	case blocked && !permitted && !notListed:
		return appBlocked
	case permitted && !blocked && !notListed:
		return appPermitted
	}
	return appUnknown
}

// AppFirewallWarning is one way the Application Firewall would stop
// connections that the port filter lets through.
type AppFirewallWarning struct {
	// Program is the program it is about; empty for the firewall as a
	// whole.
	Program string
	// Info is set for a note rather than a problem: the firewall is on,
	// but without a program path it cannot be asked about one.
	Info    bool
	Summary string
	Fix     string
}

// CheckAppFirewall asks the macOS Application Firewall whether it would
// block incoming connections to programs (absolute paths of the services'
// programs; nil when they are not known). Without programs only the global
// state and block-all are checked. On other systems, when socketfilterfw
// cannot be run, or when its output is not understood, it returns nil:
// status then says nothing rather than guess.
func CheckAppFirewall(ctx context.Context, programs []string) []AppFirewallWarning {
	return checkAppFirewall(ctx, execRun, runtime.GOOS, programs)
}

func checkAppFirewall(ctx context.Context, run runFunc, goos string, programs []string) []AppFirewallWarning {
	if goos != "darwin" {
		return nil
	}
	out, err := run(ctx, nil, SocketFilterFW, "--getglobalstate")
	if err != nil {
		return nil
	}
	enabled, blockAll, ok := parseGlobalState(string(out))
	if !ok || !enabled {
		return nil
	}
	if !blockAll {
		if out, err := run(ctx, nil, SocketFilterFW, "--getblockall"); err == nil {
			blockAll, _ = parseBlockAll(string(out))
		}
	}
	if blockAll {
		return []AppFirewallWarning{{
			Summary: `the macOS Application Firewall blocks all incoming connections ("Block all incoming connections" is on): only a few system services are reached, so connections to this computer's services fail even where the port is open`,
			Fix:     "sudo " + SocketFilterFW + " --setblockall off (or System Settings > Network > Firewall > Options), then allow each service's program with --add and --unblockapp",
		}}
	}
	var ws []AppFirewallWarning
	for _, p := range programs {
		out, err := run(ctx, nil, SocketFilterFW, "--getappblocked", p)
		if err != nil {
			continue
		}
		switch parseAppBlocked(string(out), p) {
		case appBlocked:
			ws = append(ws, AppFirewallWarning{Program: p,
				Summary: "the macOS Application Firewall blocks incoming connections to " + p + ", so connections to its port fail even though the port is open",
				Fix:     allowAppFix(p)})
		case appNotListed:
			ws = append(ws, AppFirewallWarning{Program: p,
				Summary: "the macOS Application Firewall is on and has no rule for " + p + ": macOS asks on screen the first time it listens and blocks it when no one answers, unless it is signed and signed software is allowed automatically",
				Fix:     allowAppFix(p)})
		}
	}
	if len(programs) == 0 {
		ws = append(ws, AppFirewallWarning{Info: true,
			Summary: "the macOS Application Firewall is on; it filters by program, not by port, and netplan42 could not see which program serves the ports, so it cannot tell whether that program is allowed",
			Fix:     allowAppFix("/path/to/the/program")})
	}
	return ws
}

// allowAppFix is the pair of commands that lets program accept incoming
// connections.
func allowAppFix(program string) string {
	q := shellQuote(program)
	return "sudo " + SocketFilterFW + " --add " + q + " && sudo " + SocketFilterFW + " --unblockapp " + q
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._+-:@%,=", c))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
