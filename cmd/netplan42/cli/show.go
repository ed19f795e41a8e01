package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/state"
)

// nowFunc is the clock; tests replace it.
var nowFunc = time.Now

func unquoteKey(s string) (string, error) { return strconv.Unquote(s) }

type showFlags struct {
	configFlags
	targetFlags
	json bool
}

func newShow(stdio IO) *cobra.Command {
	f := &showFlags{}
	cmd := &cobra.Command{
		Use:   "show [PLANFILE]",
		Short: "Show a saved plan, or what state says netplan42 made",
		Long: `Show prints a plan saved with plan --out, or without an argument, the state of
this computer: every mapping and rule netplan42 made, with lease expiry.`,
		Example: "  netplan42 show nas.plan\n  netplan42 show --json --computer nas",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				pf, err := state.ReadPlanFile(args[0])
				if err != nil {
					return err
				}
				return printPlan(stdio.Out, &pf.Plan, f.json, useColor(stdio.Out, f.noColor))
			}
			return runShowState(cmd.Context(), stdio, f)
		},
	}
	f.configFlags.register(cmd, false)
	f.targetFlags.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print as JSON")
	return cmd
}

func runShowState(ctx context.Context, stdio IO, f *showFlags) error {
	var t *target
	if f.statePath != "" && f.computer != "" {
		// Enough to find the state without reading the config.
		c, err := computerFromAddress("computer." + strings.TrimPrefix(f.computer, "computer."))
		if err != nil {
			return err
		}
		t = &target{computer: c}
		if err := t.open(ctx, &f.targetFlags, "show", false); err != nil {
			return err
		}
	} else {
		cfg, _, err := loadConfig(stdio, &f.configFlags, false)
		if err != nil {
			return err
		}
		if t, err = openTarget(ctx, cfg, &f.targetFlags, "show", false); err != nil {
			return err
		}
	}
	defer t.close()
	if t.st == nil {
		if f.json {
			fmt.Fprintln(stdio.Out, "null")
			return nil
		}
		fmt.Fprintf(stdio.Out, "No state for %s in %s: netplan42 has made nothing here yet.\n", t.computer.Address(), t.store.Path())
		return nil
	}
	if f.json {
		e := json.NewEncoder(stdio.Out)
		e.SetIndent("", "  ")
		return e.Encode(t.st)
	}
	return renderState(stdio.Out, t.st, t.store.Path(), nowFunc())
}

func renderState(w io.Writer, st *state.State, path string, now time.Time) error {
	fmt.Fprintf(w, "%s — %s (serial %d, updated %s)\n", st.Computer, path, st.Serial, st.Updated.Local().Format(time.RFC3339))
	if r := st.Router; r.Protocol != "" {
		fmt.Fprintf(w, "  router: %s, external address %s\n", r.Protocol, addrOr(r.External))
	}
	if len(st.Resources) == 0 {
		fmt.Fprintln(w, "  nothing is managed")
		return nil
	}
	for _, r := range st.Resources {
		switch {
		case r.Mapping != nil:
			lease := "permanent"
			if !r.Expires.IsZero() {
				left := r.Expires.Sub(now).Round(time.Second)
				lease = fmt.Sprintf("lease %s, expires %s", time.Duration(r.Mapping.LeaseSeconds)*time.Second, r.Expires.Local().Format(time.RFC3339))
				if left <= 0 {
					lease += " (expired)"
				}
			}
			if r.PermanentOnly {
				lease += " (router allows only permanent mappings)"
			}
			fmt.Fprintf(w, "  %s  %s %q via %s, %s\n", r.Address, r.Mapping, r.Mapping.Description, r.Via, lease)
		case r.Rule != nil:
			fmt.Fprintf(w, "  %s  allow %s %d from %s\n", r.Address, r.Rule.Protocol, r.Rule.Port, prefixes(r.Rule))
		}
	}
	return nil
}

func prefixes(r *planner.Rule) string {
	var s []string
	for _, p := range r.Sources {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}
