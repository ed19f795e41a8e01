package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// complete runs the hidden __complete command the shell scripts call and
// returns its candidates (the last line is cobra's directive).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Run(context.Background(), append([]string{"__complete"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errb}); code != ExitOK {
		t.Fatalf("__complete %q: exit %d: %s", args, code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t") // "name\tdescription"
		got = append(got, name)
	}
	return got
}

func TestCompleteSubcommandsAndFlags(t *testing.T) {
	if got := complete(t, "pl"); strings.Join(got, " ") != "plan" {
		t.Errorf("subcommands for pl: %q", got)
	}
	got := complete(t, "completion", "")
	if strings.Join(got, " ") != "bash zsh fish powershell" {
		t.Errorf("completion shells: %q", got)
	}
	got = complete(t, "plan", "--comp")
	if strings.Join(got, " ") != "--computer" {
		t.Errorf("flags for plan --comp: %q", got)
	}
}

func TestCompleteNames(t *testing.T) {
	fleet := "../../../examples/fleet"
	got := complete(t, "plan", "--config", fleet, "--computer", "")
	want := []string{"backup-server", "desk[alice]"}
	for _, w := range want {
		if !strings.Contains(strings.Join(got, " "), w) {
			t.Errorf("computers of %s: %q; want %s among them", fleet, got, w)
		}
	}
	got = complete(t, "status", "--config", fleet, "--computer", "desk")
	for _, g := range got {
		if !strings.HasPrefix(g, "desk") {
			t.Errorf("computers starting desk: %q", got)
		}
	}
	if len(got) == 0 {
		t.Errorf("no computer starting with desk in %s", fleet)
	}
	t.Setenv("NETPLAN42_CONFIG", fleet)
	if got := complete(t, "plan", "--network", ""); strings.Join(got, " ") != "office" {
		t.Errorf("networks from NETPLAN42_CONFIG: %q; want office", got)
	}
	// A config that does not load completes nothing, silently.
	if got := complete(t, "plan", "--config", "/nonexistent", "--computer", ""); len(got) != 0 {
		t.Errorf("computers of a missing config: %q", got)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__netplan42_",
		"zsh":        "#compdef netplan42",
		"fish":       "complete -c netplan42",
		"powershell": "Register-ArgumentCompleter",
	} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), []string{"completion", shell}, IO{Out: &out, Err: &errb}); code != ExitOK {
			t.Errorf("completion %s: exit %d: %s", shell, code, errb.String())
			continue
		}
		if !strings.Contains(out.String(), marker) || !strings.Contains(out.String(), "__complete") {
			t.Errorf("completion %s: no %q or __complete in the script", shell, marker)
		}
	}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"completion", "tcsh"}, IO{Out: &out, Err: &errb}); code != ExitError {
		t.Errorf("completion tcsh: exit %d", code)
	}
}
