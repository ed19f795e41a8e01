package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/netplan42/netplan42/planner"
)

// files writes app_config files and runs their on_change commands.
// appfile.Files implements it.
type files interface {
	// Write replaces the file at path with content, atomically and keeping
	// its mode and owner and a copy of the old content, provided it still
	// holds the content whose hex SHA-256 is was ("" when it must not
	// exist).
	Write(ctx context.Context, path string, content []byte, was string) error
	// Run runs argv, bounded by ctx and a timeout of the driver's, and
	// returns its output; the error says how it ended otherwise than with
	// exit status 0.
	Run(ctx context.Context, argv []string) ([]byte, error)
}

// appConfigs carries out the plan's app_config changes, after the router
// and the firewall: the program moves to its port once the port is open.
func (a *applier) appConfigs(ctx context.Context, plan *planner.Plan) error {
	var errs []error
	for _, c := range plan.Changes {
		if c.Kind != planner.KindAppConfig {
			continue
		}
		switch c.Action {
		case planner.Delete:
			a.say("%s: forgotten; the file is left as it is", c.Address)
			a.res.Forgotten++
			errs = append(errs, a.report(c, a.drop(c.Address)))
		case planner.NoOp:
			if _, ok := a.state.Lookup(c.Address); !ok {
				errs = append(errs, a.put(managedFile(c)))
			}
		default:
			errs = append(errs, a.report(c, a.appConfig(ctx, c)))
		}
	}
	return errors.Join(errs...)
}

// managedFile is what state records of an app_config change: the file's
// hash, not its content.
func managedFile(c planner.Change) planner.Managed {
	f := *c.After.AppConfig
	f.Content = nil
	return planner.Managed{Address: c.Address, Kind: planner.KindAppConfig, AppConfig: &f}
}

func (a *applier) appConfig(ctx context.Context, c planner.Change) error {
	if a.d.Files == nil {
		return fmt.Errorf("%s: no driver to write files with", c.Address)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: not applied: %w", c.Address, err)
	}
	want := c.After.AppConfig
	if want.Content == nil && want.Size > 0 {
		return fmt.Errorf("%s: the plan does not hold the file's content (plan --json leaves it out); plan again", c.Address)
	}
	was := ""
	if c.Before != nil && c.Before.AppConfig != nil && c.Before.AppConfig.Exists {
		was = c.Before.AppConfig.SHA256
	}
	if was != want.SHA256 || c.Before == nil {
		verb := map[planner.Action][2]string{
			planner.Create: {"Creating...", "Creation complete"},
			planner.Update: {"Modifying...", "Modifications complete"},
		}[c.Action]
		a.say("%s: %s", c.Address, verb[0])
		if err := a.d.Files.Write(ctx, want.Path, want.Content, was); err != nil {
			return fmt.Errorf("%s: writing %s: %w", c.Address, want.Path, err)
		}
		kept := ""
		if was != "" {
			kept = fmt.Sprintf("; the previous content is in %s.netplan42.bak", want.Path)
		}
		a.say("%s: %s (%d bytes written%s)", c.Address, verb[1], want.Size, kept)
	}
	if c.Action == planner.Create {
		a.res.Added++
	} else {
		a.res.Changed++
	}
	m := managedFile(c)
	if len(want.OnChange) == 0 {
		return a.put(m)
	}
	// Recorded before the command runs: if it fails or apply is cut
	// short, the next plan runs it again.
	m.AppConfig.OnChangePending = true
	if err := a.put(m); err != nil {
		return err
	}
	a.say("%s: Running on_change: %s", c.Address, strings.Join(want.OnChange, " "))
	out, err := a.d.Files.Run(ctx, want.OnChange)
	for _, line := range strings.Split(string(bytes.TrimRight(out, "\n")), "\n") {
		if line != "" {
			a.say("%s:   | %s", c.Address, line)
		}
	}
	if err != nil {
		a.say("%s: on_change failed: %v", c.Address, err)
		return fmt.Errorf("%s: on_change %s: %v (the file is written; the next apply runs on_change again)", c.Address, want.OnChange[0], err)
	}
	a.say("%s: on_change complete (exit status 0)", c.Address)
	m.AppConfig.OnChangePending = false
	return a.put(m)
}
