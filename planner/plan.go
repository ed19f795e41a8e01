package planner

import (
	"encoding/json"
	"fmt"
	"github.com/netplan42/netplan42/schema"
	"net/netip"
)

// Action is what a change does to a resource.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	Renew  Action = "renew"
	NoOp   Action = "no-op"
)

// Symbol returns the action's mark in human output.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	case Renew:
		return ">"
	}
	return " "
}

// Object is a resource's value on one side of a change: a mapping, a rule
// or an app_config file.
type Object struct {
	Mapping   *Mapping
	Rule      *Rule
	AppConfig *AppConfig
	Pinhole   *Pinhole
}

// MarshalJSON writes the mapping or the rule, flat.
func (o *Object) MarshalJSON() ([]byte, error) {
	switch {
	case o.Mapping != nil:
		return json.Marshal(o.Mapping)
	case o.Rule != nil:
		return json.Marshal(o.Rule)
	case o.AppConfig != nil:
		return json.Marshal(o.AppConfig)
	case o.Pinhole != nil:
		return json.Marshal(o.Pinhole)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads a mapping or a rule, told apart by their fields.
func (o *Object) UnmarshalJSON(b []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if _, ok := probe["external_port"]; ok {
		o.Mapping = new(Mapping)
		return json.Unmarshal(b, o.Mapping)
	}
	if _, ok := probe["internal_port"]; ok {
		// A pinhole: internal side only, no external port.
		o.Pinhole = new(Pinhole)
		return json.Unmarshal(b, o.Pinhole)
	}
	if _, ok := probe["port"]; ok {
		o.Rule = new(Rule)
		return json.Unmarshal(b, o.Rule)
	}
	if _, ok := probe["path"]; ok {
		o.AppConfig = new(AppConfig)
		return json.Unmarshal(b, o.AppConfig)
	}
	return fmt.Errorf("object is neither a mapping nor a rule: %s", b)
}

// Change is one planned action on one resource.
type Change struct {
	Address string  `json:"address"` // router_mapping.crashplan["tcp"]
	Kind    Kind    `json:"kind"`
	Action  Action  `json:"action"`
	Reason  string  `json:"reason"`
	Before  *Object `json:"before"`
	After   *Object `json:"after"`
	// StateOnly marks a delete of something already gone, or no longer
	// ours: apply forgets it and touches nothing.
	StateOnly bool `json:"state_only,omitempty"`
	// Diff is a unified diff of the lines an app_config change changes.
	Diff string `json:"diff,omitempty"`
}

// Drift is a difference between what netplan42 last made and what the world
// holds now, caused outside netplan42.
type Drift struct {
	Address string  `json:"address"`
	Kind    Kind    `json:"kind"`
	Reason  string  `json:"reason"`
	Before  *Object `json:"before"` // as state remembers it
	After   *Object `json:"after"`  // as observed; null when gone
}

// Severity of a diagnostic.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Diagnostic is a problem the plan found in the world: a foreign mapping in
// our way, a firewall rule that shadows ours, a router behind CGNAT.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
	Address  string   `json:"address,omitempty"`
}

// Foreign is an object on the router that netplan42 does not manage and
// leaves alone.
type Foreign struct {
	Kind    Kind     `json:"kind"`
	Mapping *Mapping `json:"mapping,omitempty"`
	// Holder names who holds it: another netplan42 computer, or "not
	// managed by netplan42".
	Holder string `json:"holder"`
}

// ManualStep is a port forward a person must set up on the router by hand.
type ManualStep struct {
	Address string  `json:"address"`
	Mapping Mapping `json:"mapping"`
	Text    string  `json:"text"`
}

// FormatVersion is the version of the JSON plan format. Minor versions add
// fields; a major version change breaks readers.
const FormatVersion = "1.0"

// Plan is the result of planning one computer.
type Plan struct {
	FormatVersion string `json:"format_version"`
	Computer      string `json:"computer"` // computer.nas
	Network       string `json:"network"`
	Destroy       bool   `json:"destroy,omitempty"`

	// RouterRestarted says why the router is believed to have restarted
	// since the last apply (its mappings are then gone); empty otherwise.
	RouterRestarted string `json:"router_restarted,omitempty"`

	// FirewallCleanup names the firewall backend whose netplan42 objects
	// apply removes first, when the backend changed since the last apply.
	FirewallCleanup string `json:"firewall_cleanup,omitempty"`

	Changes     []Change     `json:"changes"`
	Drift       []Drift      `json:"drift"`
	Diagnostics []Diagnostic `json:"diagnostics"`
	Foreign     []Foreign    `json:"foreign"`
	Manual      []ManualStep `json:"manual"`

	// Router and Firewall summarise what was planned against.
	Router   RouterSummary   `json:"router"`
	Firewall FirewallSummary `json:"firewall"`
}

// RouterSummary tells which router the plan was made against.
type RouterSummary struct {
	Protocol        schema.Via `json:"protocol"`
	Detail          string     `json:"detail,omitempty"`
	ExternalAddress netip.Addr `json:"external_address,omitzero"`
	InternalAddress netip.Addr `json:"internal_address,omitzero"`
	// InternalAddress6 is this computer's global IPv6 address, when the
	// router opens pinholes for it.
	InternalAddress6 netip.Addr `json:"internal_address6,omitzero"`
	Notes            []string   `json:"notes,omitempty"`
}

// FirewallSummary tells which firewall backend the plan was made against.
type FirewallSummary struct {
	Backend string `json:"backend"`
}

// Counts returns how many changes of each action the plan has.
func (p *Plan) Counts() map[Action]int {
	n := map[Action]int{}
	for _, c := range p.Changes {
		n[c.Action]++
	}
	return n
}

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool {
	if p.FirewallCleanup != "" {
		return true
	}
	for _, c := range p.Changes {
		if c.Action != NoOp {
			return true
		}
	}
	return false
}

// HasErrors reports whether the plan found a problem.
func (p *Plan) HasErrors() bool {
	for _, d := range p.Diagnostics {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Blocked reports whether an error forbids applying anything. An error on
// one resource (a foreign mapping on its port) only keeps that resource as
// it is: the plan has no change for it, and the rest can be applied.
func (p *Plan) Blocked() bool {
	for _, d := range p.Diagnostics {
		if d.Severity == Error && d.Address == "" {
			return true
		}
	}
	return false
}

// Blocking returns the addresses an error keeps as they are.
func (p *Plan) Blocking() []string {
	var out []string
	for _, d := range p.Diagnostics {
		if d.Severity == Error && d.Address != "" {
			out = append(out, d.Address)
		}
	}
	return out
}
