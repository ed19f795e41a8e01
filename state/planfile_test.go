package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/netplan42/netplan42/internal/golden"
	"github.com/netplan42/netplan42/planner"
)

var (
	t0    = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	me    = netip.MustParseAddr("192.0.2.10")
	wanIP = netip.MustParseAddr("11.0.0.1")
	lan   = netip.MustParsePrefix("192.0.2.0/24")
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func crashplan(left uint32) planner.Mapping {
	return planner.Mapping{Protocol: planner.TCP, ExternalPort: 4242, InternalAddress: me, InternalPort: 4242,
		Description: "netplan42:nas/crashplan", LeaseSeconds: left}
}

var ruleCP = planner.Rule{Protocol: planner.TCP, Port: 4242, Sources: planner.AnySource, Comment: "netplan42:nas/crashplan"}

func observed() planner.Observed {
	return planner.Observed{
		At: t0,
		Router: planner.RouterView{
			Protocol: schema.ViaUPnP, Can: planner.Capabilities{ReadsEntries: true, Describes: true}, Detail: "UPnP IGD v2 at http://192.0.2.1:5000/rootDesc.xml",
			Gateway: netip.MustParseAddr("192.0.2.1"), InternalAddress: me, ExternalAddress: wanIP,
			Listed: true, Identity: "http://192.0.2.1:5000/rootDesc.xml#7",
			Mappings: []planner.Mapping{
				{Protocol: planner.UDP, ExternalPort: 5000, InternalAddress: netip.MustParseAddr("192.0.2.11"),
					InternalPort: 5000, Description: "Skype"},
			},
		},
		Firewall: planner.FirewallView{
			Backend: "iptables (nf_tables)", Hooked: true, LocalPrefixes: []netip.Prefix{lan},
			Rules: []planner.Rule{ruleCP},
		},
		Refreshed: true,
	}
}

func samplePlanFile() *PlanFile {
	m := crashplan(7200)
	return &PlanFile{
		NetplanVersion: "0.1.0",
		CreatedAt:      t0,
		Plan: planner.Plan{
			FormatVersion: planner.FormatVersion, Computer: "computer.nas", Network: "home",
			Changes: []planner.Change{{
				Address: `router_mapping.crashplan["tcp"]`, Kind: planner.KindMapping, Action: planner.Create,
				Reason: "new: not on the router", After: &planner.Object{Mapping: &m},
			}, {
				Address: `firewall_rule.crashplan["tcp"]`, Kind: planner.KindRule, Action: planner.NoOp,
				Reason: "up to date", Before: &planner.Object{Rule: &ruleCP}, After: &planner.Object{Rule: &ruleCP},
			}},
			Router:   planner.RouterSummary{Protocol: schema.ViaUPnP, ExternalAddress: wanIP, InternalAddress: me},
			Firewall: planner.FirewallSummary{Backend: "iptables (nf_tables)"},
		},
		Observed: observed(),
		Lineage:  "OZ2TZ3CK7WSJ4ZLQ2CQ3ZJ7VQE",
		Serial:   3,
		Drivers: Drivers{
			Protocols: []schema.Via{"upnp", "natpmp"}, Gateway: netip.MustParseAddr("192.0.2.1"),
			LeaseSeconds: 7200, Firewall: "iptables", ConfigDir: "/home/alice/ports",
		},
	}
}

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

// TestGoldenFiles shows the state and plan file formats as users see them.
func TestGoldenFiles(t *testing.T) {
	s := New("computer.nas")
	s.Lineage, s.Serial, s.Updated = "OZ2TZ3CK7WSJ4ZLQ2CQ3ZJ7VQE", 3, t0
	m := crashplan(7200)
	s.Resources = []planner.Managed{
		{Address: `router_mapping.crashplan["tcp"]`, Kind: planner.KindMapping, Mapping: &m, Via: string(schema.ViaUPnP), Expires: t0.Add(2 * time.Hour)},
		{Address: `firewall_rule.crashplan["tcp"]`, Kind: planner.KindRule, Rule: &ruleCP},
	}
	s.Router = planner.RouterMemo{Protocol: schema.ViaUPnP, Identity: "http://192.0.2.1:5000/rootDesc.xml#7", External: wanIP}
	b, err := encodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "state.json", b)
	back, err := decodeState("golden", b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, back, cmpOpts); d != "" {
		t.Errorf("state round trip (-want +got):\n%s", d)
	}

	path := filepath.Join(t.TempDir(), "nas.plan")
	if err := WritePlanFile(path, samplePlanFile()); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "plan.json", b)
}

func TestPlanFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.plan")
	want := samplePlanFile()
	if err := WritePlanFile(path, want); err != nil {
		t.Fatal(err)
	}
	if want.FormatVersion != PlanFileVersion {
		t.Errorf("FormatVersion after write = %d; want %d", want.FormatVersion, PlanFileVersion)
	}
	got, err := ReadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("plan file round trip (-want +got):\n%s", d)
	}
	if Fingerprint(got.Observed) != Fingerprint(want.Observed) {
		t.Error("fingerprint changed through the plan file")
	}

	// Whitespace is not content: a re-indented plan still reads.
	b, _ := os.ReadFile(path)
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, compact.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPlanFile(path); err != nil {
		t.Errorf("compacted plan file: %v", err)
	}

	// A zero gateway is left out rather than written as "".
	pf := samplePlanFile()
	pf.Drivers.Gateway = netip.Addr{}
	if err := WritePlanFile(path, pf); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(`"gateway": ""`)) {
		t.Errorf("zero gateway written:\n%s", b)
	}
}

func TestReadPlanFileRefuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.plan")
	if err := WritePlanFile(good, samplePlanFile()); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(good)
	for _, tc := range []struct {
		name    string
		edit    func([]byte) []byte
		want    string
		corrupt bool
	}{
		{"port edited", replace(`"external_port": 4242`, `"external_port": 4243`),
			"checksum mismatch: it was modified or corrupted since it was written; re-run plan", true},
		{"field added", replace(`"serial": 3`, `"serial": 3, "x": 1`),
			"checksum mismatch", true},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] },
			"unexpected end of JSON input: it was modified or corrupted", true},
		{"empty", func([]byte) []byte { return nil },
			"unexpected end of JSON input: it was modified or corrupted", true},
		{"not a plan", func([]byte) []byte { return []byte(`{"format_version": 1}`) },
			"not a netplan42 plan file", false},
		{"newer", replace(`"netplan42_plan": 1`, `"netplan42_plan": 2`),
			"format version 2 is newer than this netplan42 understands (1)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "edited.plan")
			if err := os.WriteFile(path, tc.edit(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadPlanFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadPlanFile = %v; want an error naming %s and saying %q", err, path, tc.want)
			}
			if errors.Is(err, ErrCorrupt) != tc.corrupt {
				t.Errorf("errors.Is(%v, ErrCorrupt) = %v; want %v", err, !tc.corrupt, tc.corrupt)
			}
		})
	}
	if _, err := ReadPlanFile(filepath.Join(dir, "none.plan")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadPlanFile of a missing file = %v; want ErrNotExist", err)
	}
}

// replace returns an edit replacing the first old in a file with new.
func replace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
}

func TestCheckState(t *testing.T) {
	s := &State{Lineage: "L1", Serial: 3}
	for _, tc := range []struct {
		name    string
		lineage string
		serial  uint64
		state   *State
		want    string // "" for no error
	}{
		{"no state then and now", "", 0, nil, ""},
		{"same state", "L1", 3, s, ""},
		{"state removed", "L1", 3, nil, "there is no state now"},
		{"state created", "", 0, s, "there is state L1 at serial 3 now"},
		{"other lineage", "L0", 3, s, "the state is L1 now"},
		{"written since", "L1", 2, s, "the state was written since it was made (serial 2, now 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pf := &PlanFile{Lineage: tc.lineage, Serial: tc.serial}
			err := pf.CheckState(tc.state)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckState = %v; want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrStale)):
				t.Errorf("CheckState = %v; want ErrStale saying %q", err, tc.want)
			}
		})
	}
}
