package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// PlanFileVersion is the version of the plan file format; readers refuse a
// newer one.
const PlanFileVersion = 1

// PlanFile is a saved plan: what apply needs to carry it out exactly as it
// was reviewed, and to refuse it once the world or the state has moved on.
type PlanFile struct {
	FormatVersion  int       `json:"format_version"`
	NetplanVersion string    `json:"netplan_version"`
	CreatedAt      time.Time `json:"created_at"`

	Plan     planner.Plan     `json:"plan"`
	Observed planner.Observed `json:"observed"`

	// StatePath, Lineage and Serial are the state the plan was made on;
	// Lineage is empty when there was no state yet. apply PLANFILE uses
	// StatePath unless told otherwise.
	StatePath string `json:"state_path"`
	Lineage   string `json:"lineage"`
	Serial    uint64 `json:"serial"`

	Drivers Drivers `json:"drivers"`
}

// Drivers is what apply needs to rebuild the router and firewall drivers
// the plan was made with, without reading the configuration again.
type Drivers struct {
	Protocols    []schema.Via `json:"protocols"` // router protocols, in the order tried
	Gateway      netip.Addr   `json:"gateway,omitzero"`
	LeaseSeconds uint32       `json:"lease_seconds"`
	Firewall     string       `json:"firewall"`
	// FirewallProfiles are the Windows firewall profiles (nil: all).
	FirewallProfiles []string `json:"firewall_profiles,omitempty"`
	ConfigDir        string   `json:"config_dir"`
	// SSH is how to log in to a router administered over SSH.
	SSH *schema.SSHRouter `json:"ssh,omitempty"`
}

// planEnvelope is the plan file on disk. Body is the PlanFile; SHA256 is
// the hash of its compact JSON, so that any edit other than whitespace, or
// a truncation, is caught.
type planEnvelope struct {
	Netplan42Plan int             `json:"netplan42_plan"`
	SHA256        string          `json:"sha256"`
	Body          json.RawMessage `json:"body"`
}

// StaleError says why a saved plan no longer fits the state or the world it
// was made against. It matches ErrStale.
type StaleError struct{ Reason string }

func (e *StaleError) Error() string {
	return "the saved plan is stale: " + e.Reason + "; run plan again and review the new plan"
}

// Is reports whether target is ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// CheckState reports, as a *StaleError, whether s (nil: no state) is not
// the state the plan was made on.
func (pf *PlanFile) CheckState(s *State) error {
	var why string
	switch {
	case s == nil && pf.Lineage == "":
		return nil
	case s == nil:
		why = fmt.Sprintf("it was made on state %s at serial %d, and there is no state now", pf.Lineage, pf.Serial)
	case pf.Lineage == "":
		why = fmt.Sprintf("it was made with no state, and there is state %s at serial %d now", s.Lineage, s.Serial)
	case s.Lineage != pf.Lineage:
		why = fmt.Sprintf("it was made on state %s, and the state is %s now", pf.Lineage, s.Lineage)
	case s.Serial != pf.Serial:
		why = fmt.Sprintf("the state was written since it was made (serial %d, now %d)", pf.Serial, s.Serial)
	default:
		return nil
	}
	return &StaleError{Reason: why}
}

// WritePlanFile writes pf to path atomically, readable by its owner only.
// It sets pf.FormatVersion.
func WritePlanFile(path string, pf *PlanFile) error {
	pf.FormatVersion = PlanFileVersion
	body, err := json.Marshal(pf)
	if err != nil {
		return fmt.Errorf("write plan file %s: %w", path, err)
	}
	sum := sha256.Sum256(body)
	b, err := json.MarshalIndent(planEnvelope{
		Netplan42Plan: PlanFileVersion,
		SHA256:        hex.EncodeToString(sum[:]),
		Body:          body,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("write plan file %s: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("write plan file: %w", err)
		}
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write plan file: %w", err)
	}
	return nil
}

// ReadPlanFile reads a plan file written by WritePlanFile, refusing one that
// was modified or damaged since.
func ReadPlanFile(path string) (*PlanFile, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan file: %w", err)
	}
	damaged := func(why string) error {
		return fmt.Errorf("read plan file %s: %s: it was modified or corrupted since it was written; re-run plan: %w", path, why, ErrCorrupt)
	}
	var env planEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, damaged(err.Error())
	}
	switch {
	case env.Netplan42Plan == 0 || env.SHA256 == "" || len(env.Body) == 0:
		return nil, fmt.Errorf("read plan file %s: not a netplan42 plan file", path)
	case env.Netplan42Plan > PlanFileVersion:
		return nil, fmt.Errorf("read plan file %s: format version %d is newer than this netplan42 understands (%d): apply it with the netplan42 that made it, or re-run plan", path, env.Netplan42Plan, PlanFileVersion)
	}
	var body bytes.Buffer
	if err := json.Compact(&body, env.Body); err != nil {
		return nil, damaged(err.Error())
	}
	sum := sha256.Sum256(body.Bytes())
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, damaged("checksum mismatch")
	}
	var pf PlanFile
	if err := json.Unmarshal(body.Bytes(), &pf); err != nil {
		return nil, damaged(err.Error())
	}
	return &pf, nil
}
