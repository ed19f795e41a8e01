package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	// configGiven: --config or NETPLAN42_CONFIG named a config.
	configGiven bool
}

func newShow(stdio IO) *cobra.Command {
	f := &showFlags{}
	cmd := &cobra.Command{
		Use:   "show [PLANFILE]",
		Short: "Show a saved plan, or what state says netplan42 made",
		Long: `Show prints a plan saved with plan --out, or without an argument, the state of
this computer: every mapping and rule netplan42 made, with lease expiry.

The state needs no config: --state FILE, or --computer NAME (the state at its
default path), or, with neither, the one state in the default state
directory. With a config (--config, NETPLAN42_CONFIG, or *.hcl in the
current directory) the computer is picked from it as plan does; on a network
whose router netplan42 administers over SSH it also shows the computer's
router forwards, which the network's state keeps (network-NAME beside it).`,
		Example: "  netplan42 show nas.plan\n  netplan42 show\n  netplan42 show --json --computer nas",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				pf, err := state.ReadPlanFile(args[0])
				if err != nil {
					return err
				}
				return printPlan(stdio.Out, &pf.Plan, f.json, useColor(stdio.Out, f.noColor))
			}
			f.configGiven = cmd.Flags().Changed("config") || os.Getenv("NETPLAN42_CONFIG") != ""
			return runShowState(cmd.Context(), stdio, f)
		},
	}
	f.configFlags.register(cmd, false)
	f.targetFlags.register(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print as JSON")
	return cmd
}

func runShowState(ctx context.Context, stdio IO, f *showFlags) error {
	t, err := showTarget(ctx, stdio, f)
	if err != nil || t == nil {
		return err
	}
	defer t.close()
	var part *networkPart
	if t.shared != nil && t.shared.st != nil {
		part = &networkPart{Path: t.shared.store.Path(), Network: t.network.Name, Serial: t.shared.st.Serial, Updated: t.shared.st.Updated,
			Prior: priorOf(t.shared.st, t.computer.Address())}
		if len(part.Resources) == 0 {
			part = nil
		}
	}
	if t.st == nil && part == nil {
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
		if part == nil {
			return e.Encode(t.st)
		}
		st := t.st
		if st == nil {
			st = state.New(t.computer.Address())
			st.Lineage = ""
		}
		return e.Encode(stateJSON{State: st, NetworkState: part})
	}
	if t.st == nil {
		fmt.Fprintf(stdio.Out, "%s — %s: no state of its own yet\n", t.computer.Address(), t.store.Path())
	} else if err := renderState(stdio.Out, t.st, t.store.Path(), nowFunc()); err != nil {
		return err
	}
	if part != nil {
		fmt.Fprintf(stdio.Out, "  router forwards, in network %q's state %s (serial %d, updated %s):\n", part.Network, part.Path, part.Serial, part.Updated.Local().Format(time.RFC3339))
		renderResources(stdio.Out, part.Resources, nowFunc())
	}
	return nil
}

// networkPart is what show prints of the network state for a computer
// on a network whose router netplan42 administers over SSH: the
// computer's router forwards, which that state keeps (sharedPart).
type networkPart struct {
	Path    string    `json:"path"`
	Network string    `json:"network"`
	Serial  uint64    `json:"serial"`
	Updated time.Time `json:"updated"`
	planner.Prior
}

// stateJSON is show --json for such a computer: its own state, and its
// part of the network state.
type stateJSON struct {
	*state.State
	NetworkState *networkPart `json:"network_state"`
}

// showTarget opens the state show prints: the config's computer when a
// config is given or in the current directory, else the one --computer or
// --state names, else the only state in the default directory. It returns
// nil, nil when it printed that there is none.
func showTarget(ctx context.Context, stdio IO, f *showFlags) (*target, error) {
	useConfig := f.configGiven || hasConfig(f.config)
	if f.computer != "" && (!useConfig || f.statePath != "" && !f.configGiven) {
		// Enough to find the state without reading the config. A config
		// named on purpose is read even so: it says whether the
		// computer's router forwards are in its network's state.
		c, err := computerFromAddress("computer." + strings.TrimPrefix(f.computer, "computer."))
		if err != nil {
			return nil, err
		}
		t := &target{computer: c}
		return t, t.open(ctx, &f.targetFlags, "show", false)
	}
	if useConfig {
		cfg, _, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
		if err != nil {
			return nil, err
		}
		return openTarget(ctx, cfg, &f.targetFlags, "show", false)
	}
	path := f.statePath
	if path == "" {
		dir := filepath.Dir(state.DefaultPath("x"))
		found, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		switch len(found) {
		case 0:
			if f.json {
				fmt.Fprintln(stdio.Out, "null")
			} else {
				fmt.Fprintf(stdio.Out, "No state in %s: netplan42 has made nothing here yet.\n", dir)
			}
			return nil, nil
		case 1:
			path = found[0]
		default:
			return nil, fmt.Errorf("%s holds the states of %d computers (%s): pass --computer NAME, or --config PATH to pick this machine's computer from the config",
				dir, len(found), strings.Join(stateNames(found), ", "))
		}
	}
	st, err := state.NewFileStore(path).Read()
	if err != nil {
		return nil, err
	}
	if st == nil {
		if f.json {
			fmt.Fprintln(stdio.Out, "null")
		} else {
			fmt.Fprintf(stdio.Out, "No state in %s: netplan42 has made nothing here yet.\n", path)
		}
		return nil, nil
	}
	c, err := computerFromAddress(st.Computer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &target{computer: c}
	tf := f.targetFlags
	tf.statePath = path
	return t, t.open(ctx, &tf, "show", false)
}

// hasConfig reports whether path is a config file, or a directory holding
// *.hcl files.
func hasConfig(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	if !fi.IsDir() {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(path, "*.hcl"))
	return len(m) > 0
}

// stateNames returns the file names of state files, without .json.
func stateNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	return out
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
	renderResources(w, st.Resources, now)
	return nil
}

// renderResources prints one line for each of resources.
func renderResources(w io.Writer, resources []planner.Managed, now time.Time) {
	for _, r := range resources {
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
		case r.Pinhole != nil:
			h := r.Pinhole
			id := "nonce " + h.Nonce
			if h.ID != 0 {
				id = fmt.Sprintf("id %d", h.ID)
			}
			left := ""
			if !r.Expires.IsZero() {
				left = ", expires " + r.Expires.Local().Format(time.RFC3339)
				if !r.Expires.After(now) {
					left += " (expired)"
				}
			}
			fmt.Fprintf(w, "  %s  IPv6 pinhole %s via %s (%s), lease %s%s\n", r.Address, h, r.Via, id, time.Duration(h.LeaseSeconds)*time.Second, left)
		case r.Rule != nil:
			fmt.Fprintf(w, "  %s  allow %s %d from %s\n", r.Address, r.Rule.Protocol, r.Rule.Port, prefixes(r.Rule))
		case r.AppConfig != nil:
			f := r.AppConfig
			pending := ""
			if f.OnChangePending {
				pending = "; on_change failed, the next apply runs it again"
			}
			fmt.Fprintf(w, "  %s  %d bytes, sha256 %.12s%s\n", r.Address, f.Size, f.SHA256, pending)
		}
	}
}

func prefixes(r *planner.Rule) string {
	var s []string
	for _, p := range r.Sources {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}
