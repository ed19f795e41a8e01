package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netplan42/netplan42/agent"
	"github.com/netplan42/netplan42/planner"
	"github.com/netplan42/netplan42/schema"
)

// fleetReportVersion is the format of a computer's report, as stored in the
// backend and printed by fleet status --json.
const fleetReportVersion = "1.0"

// fleetReport is what a computer says of itself after every apply and
// every agent pass: the live fleet view.
type fleetReport struct {
	FormatVersion string    `json:"format_version"`
	Computer      string    `json:"computer"` // computer.nas
	Time          time.Time `json:"time"`
	Operation     string    `json:"operation"` // apply, destroy, agent
	Version       string    `json:"version"`
	// MappingsPresent and MappingsMissing are the router mappings the
	// config asks for ("TCP 4242") that state does and does not hold.
	MappingsPresent []string   `json:"mappings_present"`
	MappingsMissing []string   `json:"mappings_missing"`
	FirewallOK      bool       `json:"firewall_ok"`
	Changes         int        `json:"changes"` // changes the pass planned: drift, renewals, new services
	Errors          []string   `json:"errors"`
	ExternalAddress netip.Addr `json:"external_address,omitzero"`
}

// reportBackend is what reports need of a backend.
type reportBackend interface {
	PutReport(ctx context.Context, name string, report []byte, ttl time.Duration) error
}

// publishReport writes c's report after a pass, when its config has a
// backend. A report that cannot be written is for the caller to warn
// about: the pass itself stands.
func publishReport(ctx context.Context, c *schema.Computer, op string, plan *planner.Plan, st planner.Prior, passErr error) error {
	b, ok := backends.Load(c)
	if !ok {
		return nil
	}
	rb, ok := b.(reportBackend)
	if !ok {
		return nil
	}
	r := buildReport(c, op, plan, st, passErr, nowFunc())
	body, _ := json.Marshal(r)
	// The pass may have ended on an interrupt: the report still goes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return rb.PutReport(ctx, c.Tag(), body, b.(fleetBackend).ReportTTL())
}

// publishApplyReport is publishReport for apply and destroy: the state is
// read back as the pass left it (target.readBack).
func publishApplyReport(ctx context.Context, w io.Writer, p *planned, op string, passErr error) {
	if _, ok := backends.Load(p.t.computer); !ok {
		return
	}
	if err := publishReport(ctx, p.t.computer, op, p.plan, p.t.readBack(), passErr); err != nil {
		fmt.Fprintf(w, "warning: report not written: %v (the fleet view will show %s as silent)\n", err, p.t.computer.Address())
	}
}

// readBack reads t's state again as a pass left it, with the router part
// a computer on an administered network keeps in the network state: the
// combination plan sees (target.prior). A state that cannot be read
// counts as empty.
func (t *target) readBack() planner.Prior {
	own, _ := t.store.Read()
	if t.shared == nil {
		if own == nil {
			return planner.Prior{}
		}
		return own.Prior
	}
	network, _ := t.shared.store.Read()
	return mergePrior(own, network, t.computer.Address())
}

// buildReport is the report of a pass that planned plan (nil: none) and
// left st, ending with passErr.
func buildReport(c *schema.Computer, op string, plan *planner.Plan, st planner.Prior, passErr error, now time.Time) fleetReport {
	r := fleetReport{FormatVersion: fleetReportVersion, Computer: c.Address(), Time: now.UTC(), Operation: op,
		Version: Version, FirewallOK: true, MappingsPresent: []string{}, MappingsMissing: []string{}, Errors: []string{}}
	have := map[planner.MappingKey]bool{}
	for _, m := range st.Resources {
		if m.Mapping != nil {
			have[m.Mapping.Key()] = true
		}
	}
	for _, s := range c.Services {
		if s.Expose != schema.ExposeInternet {
			continue
		}
		for _, p := range s.Protocols() {
			k := planner.MappingKey{Protocol: planner.Protocol(p), ExternalPort: s.External()}
			name := fmt.Sprintf("%s %d", strings.ToUpper(p), s.External())
			if have[k] {
				r.MappingsPresent = append(r.MappingsPresent, name)
			} else {
				r.MappingsMissing = append(r.MappingsMissing, name)
			}
		}
	}
	if plan != nil {
		for _, ch := range plan.Changes {
			if ch.Action != planner.NoOp {
				r.Changes++
			}
		}
		for _, d := range plan.Diagnostics {
			if d.Severity == planner.Error {
				r.Errors = append(r.Errors, d.Summary)
			}
		}
	}
	// An exit code alone carries no message: the plan's errors said it.
	var code exitCode
	if passErr != nil && !errors.As(passErr, &code) {
		r.Errors = append(r.Errors, passErr.Error())
		var ae *agent.Error
		if errors.As(passErr, &ae) && ae.Kind == agent.KindFirewall {
			r.FirewallOK = false
		}
	}
	r.ExternalAddress = st.Router.External
	return r
}

type fleetFlags struct {
	configFlags
	json, watch bool
}

func newFleet(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "The fleet as its computers report it (needs a backend block)",
	}
	f := &fleetFlags{}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show every computer of the config: reporting or silent, ports open, drift, errors",
		Long: `Fleet status reads the reports that apply and the agent write to the config's
backend after every pass, and shows every computer of the config: reporting
(and how long ago) or silent (since when: its report outlived report_ttl
without renewal), its router mappings open or missing, the changes its last
pass made, and its errors. Computers that never reported stand out.

--watch follows the reports as they change, until interrupted.`,
		Example: `  netplan42 fleet status
  netplan42 fleet status --watch
  netplan42 fleet status --json | jq '.computers[] | select(.status != "reporting")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFleetStatus(cmd.Context(), stdio, f) },
	}
	f.configFlags.register(status, false)
	status.Flags().BoolVar(&f.json, "json", false, "print the fleet as JSON")
	status.Flags().BoolVar(&f.watch, "watch", false, "print the fleet again whenever a report changes or expires")
	cmd.AddCommand(status)
	return cmd
}

// fleetBackendReports is what fleet status needs of a backend.
type fleetBackendReports interface {
	Reports(ctx context.Context) (map[string]reportRecord, int64, error)
	WatchReports(ctx context.Context, rev int64, changed func()) error
}

// reportRecord is a computer's live report (nil once expired) and its
// last one (nil when it never reported).
type reportRecord struct{ Live, Last []byte }

// fleetEntry is one computer in fleet status.
type fleetEntry struct {
	Computer string `json:"computer"`
	// Status is "reporting", "silent" or "never reported".
	Status string `json:"status"`
	// Since is when a silent computer's report expired (its last report
	// plus report_ttl); zero otherwise.
	Since  time.Time    `json:"since,omitzero"`
	Report *fleetReport `json:"report,omitempty"`
}

func runFleetStatus(ctx context.Context, stdio IO, f *fleetFlags) error {
	cfg, _, err := loadConfigContext(ctx, stdio, &f.configFlags, false)
	if err != nil {
		return err
	}
	if cfg.Backend == nil {
		return errors.New("fleet status reads the reports in the config's backend, and the config has no backend block: add a backend \"etcd\" block")
	}
	b, err := backendOf(cfg)
	if err != nil {
		return err
	}
	fb, ok := b.(fleetBackendReports)
	if !ok {
		return fmt.Errorf("%s keeps no reports", b)
	}
	show := func() (int64, error) {
		recs, rev, err := fb.Reports(ctx)
		if err != nil {
			return 0, err
		}
		entries := fleetEntries(cfg, recs, b.ReportTTL())
		if f.json {
			return rev, writeFleetJSON(stdio.Out, entries)
		}
		return rev, writeFleet(stdio.Out, entries, nowFunc())
	}
	rev, err := show()
	if err != nil || !f.watch {
		return err
	}
	changed := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	werr := make(chan error, 1)
	go func() {
		werr <- fb.WatchReports(wctx, rev, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-werr:
			return err
		case <-changed:
			if !f.json {
				fmt.Fprintf(stdio.Out, "\n--- %s\n", nowFunc().Format(time.TimeOnly))
			}
			if _, err := show(); err != nil {
				return err
			}
		}
	}
}

// backendOf returns the backend loading cfg opened.
func backendOf(cfg *schema.Config) (fleetBackend, error) {
	if len(cfg.Computers) > 0 {
		if b, ok := backends.Load(cfg.Computers[0]); ok {
			return b.(fleetBackend), nil
		}
	}
	return openBackend(cfg)
}

// fleetEntries lists every computer of cfg with what recs say of it.
func fleetEntries(cfg *schema.Config, recs map[string]reportRecord, ttl time.Duration) []fleetEntry {
	var out []fleetEntry
	for _, c := range cfg.Computers {
		e := fleetEntry{Computer: c.Address(), Status: "never reported"}
		rec := recs[c.Tag()]
		body := rec.Live
		if body != nil {
			e.Status = "reporting"
		} else if rec.Last != nil {
			e.Status = "silent"
			body = rec.Last
		}
		if body != nil {
			var r fleetReport
			if json.Unmarshal(body, &r) == nil {
				e.Report = &r
				if e.Status == "silent" {
					e.Since = r.Time.Add(ttl)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

func writeFleetJSON(w io.Writer, entries []fleetEntry) error {
	b, err := json.MarshalIndent(struct {
		FormatVersion string       `json:"format_version"`
		Computers     []fleetEntry `json:"computers"`
	}{fleetReportVersion, entries}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeFleet(w io.Writer, entries []fleetEntry, now time.Time) error {
	counts := map[string]int{}
	var b strings.Builder
	for _, e := range entries {
		counts[e.Status]++
		switch e.Status {
		case "never reported":
			fmt.Fprintf(&b, "%s  NEVER REPORTED\n", e.Computer)
			continue
		case "silent":
			fmt.Fprintf(&b, "%s  SILENT since %s (%s ago)\n", e.Computer, e.Since.Local().Format(time.DateTime), now.Sub(e.Since).Round(time.Second))
		default:
			fmt.Fprintf(&b, "%s  reporting, last %s ago\n", e.Computer, now.Sub(e.Report.Time).Round(time.Second))
		}
		r := e.Report
		if r == nil {
			continue
		}
		fw := "firewall ok"
		if !r.FirewallOK {
			fw = "FIREWALL FAILED"
		}
		open := "none asked"
		if n := len(r.MappingsPresent) + len(r.MappingsMissing); n > 0 {
			open = fmt.Sprintf("%d of %d open", len(r.MappingsPresent), n)
			if len(r.MappingsMissing) > 0 {
				open += " (missing " + strings.Join(r.MappingsMissing, ", ") + ")"
			}
		}
		fmt.Fprintf(&b, "    %s by %s, netplan42 %s: mappings %s, %s, %s\n", r.Time.Local().Format(time.DateTime), r.Operation, r.Version, open, fw, plural(r.Changes, "change"))
		if r.ExternalAddress.IsValid() {
			fmt.Fprintf(&b, "    external address %s\n", r.ExternalAddress)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "    error: %s\n", e)
		}
	}
	keys := []string{"reporting", "silent", "never reported"}
	var parts []string
	for _, k := range keys {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	fmt.Fprintf(&b, "\nFleet: %s: %s.\n", plural(len(entries), "computer"), strings.Join(parts, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}
