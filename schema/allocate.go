package schema

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// LockAction is what a LockChange does to an assignment.
type LockAction string

// Lock actions.
const (
	LockAssign  LockAction = "assign"
	LockMove    LockAction = "move"
	LockRelease LockAction = "release"
)

// LockChange is a change Allocate makes to the lock file.
type LockChange struct {
	Action LockAction
	Key    AssignmentKey
	From   uint16 // the port before; 0 for LockAssign
	To     uint16 // the port after; 0 for LockRelease
	Reason string // why the port moved or was released; "" for LockAssign
}

// String describes the change for people:
// assigned port 1024 to computer.desktop service "crashplan".
func (c LockChange) String() string {
	switch c.Action {
	case LockAssign:
		return fmt.Sprintf("assigned port %d to %s", c.To, c.Key)
	case LockMove:
		return fmt.Sprintf("moved %s from port %d to %d (%s)", c.Key, c.From, c.To, c.Reason)
	case LockRelease:
		return fmt.Sprintf("released port %d of %s (%s)", c.From, c.Key, c.Reason)
	}
	return fmt.Sprintf("%s %s %d→%d (%s)", c.Action, c.Key, c.From, c.To, c.Reason)
}

// portSet is a set of ports, one bit each.
type portSet [65536 / 64]uint64

func (s *portSet) has(p uint16) bool { return s[p/64]&(1<<(p%64)) != 0 }
func (s *portSet) add(p uint16)      { s[p/64] |= 1 << (p % 64) }

// pool is the state of one network's ports while allocating.
type pool struct {
	n         *Network
	computers []*Computer
	reserved  portSet
	fixed     portSet          // fixed listen and external ports of any service
	taken     portSet          // reserved, fixed or assigned: never handed out
	owner     map[uint16]int32 // the lock file's assignment of a port, by index
	next      int              // lowest port that may still be free
}

// want is a service with port = "auto".
type want struct {
	k    AssignmentKey
	c    *Computer
	s    *Service
	kept bool // its port is the lock file's
}

// Allocate gives every service with port = "auto" its port, keyed in the
// lock by network, computer address and service name, and sets the
// services' Port. It returns the new lock and the changes from the old one.
//
// A port, once assigned, stays: adding or removing computers never moves
// another computer's port. A new port is the lowest of the network's
// listen_ports that is neither reserved nor used by any service of the
// network. An assignment whose service is gone is released; one outside
// changed listen_ports, on a now-reserved port or on a port assigned twice
// (two lock files merged) is moved, with the reason. A fixed port that
// collides with an assignment, on its computer or on the router, is an
// error: the user decides which moves.
//
// With readonly, the lock must not change: each change it would need is
// an error, services without an assignment keep Port 0, and the old lock
// is returned. Allocate is pure; the caller reads and writes the lock.
// It adds the lock file to cfg.Files, for rendering its diagnostics.
func Allocate(cfg *Config, lock *Lock, readonly bool) (*Lock, []LockChange, hcl.Diagnostics) {
	return AllocateWith(cfg, lock, AllocateOptions{Readonly: readonly})
}

// AllocateOptions tune AllocateWith.
type AllocateOptions struct {
	// Readonly forbids changes to the lock: see Allocate.
	Readonly bool
	// InUse, when set, says where an assignment is known to be in use
	// ("state file /var/lib/netplan42/alpha.json records it"), or "" when
	// nothing shows it; it is asked only about conflicting assignments.
	InUse func(a Assignment) string
}

// AllocateWith is Allocate with options.
func AllocateWith(cfg *Config, lock *Lock, opts AllocateOptions) (*Lock, []LockChange, hcl.Diagnostics) {
	readonly := opts.Readonly
	if lock == nil {
		lock = &Lock{}
	}
	// Diagnostics may point into the lock file; rendering needs it.
	if lock.File != nil && lock.Filename != "" && cfg.Files != nil {
		cfg.Files[lock.Filename] = lock.File
	}
	var diags hcl.Diagnostics
	var changes []LockChange

	// Each pool's owners come from the lock file: size the maps for them.
	inLock := make(map[string]int, len(cfg.Networks))
	for _, a := range lock.Assignments {
		inLock[a.Key.Network]++
	}
	pools := make(map[string]*pool, len(cfg.Networks))
	for name, n := range cfg.Networks {
		p := &pool{n: n, owner: make(map[uint16]int32, inLock[name]), next: int(n.ListenPorts.First)}
		for _, r := range n.ReservedPorts {
			p.reserved.add(r)
			p.taken.add(r)
		}
		pools[name] = p
	}
	byAddress := make(map[string]*Computer, len(cfg.Computers))
	autos := 0
	for _, c := range cfg.Computers {
		for _, s := range c.Services {
			if s.Auto {
				autos++
			}
		}
	}
	// The services on port = "auto", by key; index finds them from the
	// lock file's keys.
	wants := make([]want, 0, autos)
	for _, c := range cfg.Computers {
		byAddress[c.Address()] = c
		p := pools[c.Network]
		if p == nil {
			continue
		}
		p.computers = append(p.computers, c)
		for _, s := range c.Services {
			if !s.Auto && s.Port != 0 {
				p.fixed.add(s.Port)
				p.taken.add(s.Port)
			}
			if s.Expose == ExposeInternet && s.ExternalPort != 0 {
				p.fixed.add(s.ExternalPort)
				p.taken.add(s.ExternalPort)
			}
			if s.Auto {
				wants = append(wants, want{k: AssignmentKey{Network: c.Network, Computer: c.Address(), Service: s.Name}, c: c, s: s})
			}
		}
	}
	byKey := func(a, b want) int { return a.k.compare(b.k) }
	if !slices.IsSortedFunc(wants, byKey) {
		slices.SortFunc(wants, byKey)
	}
	index := make(map[AssignmentKey]int32, len(wants))
	for i := range wants {
		if _, dup := index[wants[i].k]; !dup {
			index[wants[i].k] = int32(i)
		}
	}

	next := &Lock{File: lock.File, Filename: lock.Filename, Assignments: make([]Assignment, 0, len(wants))}
	lockName := lock.Filename
	if lockName == "" {
		lockName = LockFileName
	}
	moved := map[AssignmentKey]LockChange{}

	// Existing assignments first, so that they hold their ports before
	// any new one is handed out.
	for i, a := range lock.Assignments {
		wi, ok := index[a.Key]
		if !ok {
			ch := LockChange{
				Action: LockRelease, Key: a.Key, From: a.Port,
				Reason: releaseReason(cfg, byAddress, a.Key),
			}
			changes = append(changes, ch)
			if readonly {
				diags = append(diags, readonlyError(a.DeclRange, ch, lockName))
			}
			continue
		}
		w, p := &wants[wi], pools[a.Key.Network]
		firstAt, dup := p.owner[a.Port]
		reason := ""
		switch {
		case !p.n.ListenPorts.Contains(a.Port):
			reason = fmt.Sprintf("%d is outside listen_ports %s of network %q", a.Port, p.n.ListenPorts, p.n.Name)
		case p.reserved.has(a.Port):
			reason = fmt.Sprintf("%d is reserved in network %q", a.Port, p.n.Name)
		case dup:
			// Two branches each handed the port out and a merge kept both.
			// Moving either could move the computer that already uses it.
			first := lock.Assignments[firstAt]
			diags = append(diags, errorAt(a.DeclRange, "Port assigned twice in the lock file",
				"Port %d is assigned to %s (%s) and to %s (%s); a merge of two branches that each handed it out keeps both. netplan42 never renumbers a port by itself.%s%s Delete the entry of the one that does not use the port yet, then run netplan42 plan to give it a free port, and commit %s.",
				a.Port, first.Key, lockPosition(first, lockName), a.Key, lockPosition(a, lockName),
				inUse(opts.InUse, first), inUse(opts.InUse, a), lockName))
			w.kept = true
			w.s.Port = a.Port
			continue
		case p.fixed.has(a.Port):
			for _, h := range p.holders(a.Port, *w) {
				diags = append(diags, errorAt(h.rng, "Port assigned to another service",
					"Port %d is assigned to %s in the lock file (%s), so %s cannot use it. netplan42 never moves a port it handed out by itself: pick another port here, or delete that assignment from %s to have %s given a new port.",
					a.Port, a.Key, lockPosition(a, lockName), h.what, lockName, a.Key))
			}
		}
		if reason != "" {
			moved[a.Key] = LockChange{Action: LockMove, Key: a.Key, From: a.Port, Reason: reason}
			continue
		}
		p.owner[a.Port] = int32(i)
		p.taken.add(a.Port)
		w.kept = true
		w.s.Port = a.Port
		next.Assignments = append(next.Assignments, a)
	}

	for i := range wants {
		w := &wants[i]
		if w.kept || index[w.k] != int32(i) { // kept, or a key already seen
			continue
		}
		k, p := w.k, pools[w.k.Network]
		port := p.alloc()
		if port == 0 {
			diags = append(diags, errorAt(w.s.PortRange(), "No free port",
				"Network %q has no free port left for %s: every port of listen_ports %s is reserved or used by another service. Widen listen_ports, or give some services fixed ports.",
				k.Network, k, p.n.ListenPorts))
			continue
		}
		ch, ok := moved[k]
		if ok {
			ch.To = port
		} else {
			ch = LockChange{Action: LockAssign, Key: k, To: port}
		}
		changes = append(changes, ch)
		if readonly {
			diags = append(diags, readonlyError(w.s.PortRange(), ch, lockName))
			continue
		}
		w.s.Port = port
		next.Assignments = append(next.Assignments, Assignment{Key: k, Port: port})
	}
	diags = tidy(diags)
	if readonly {
		return lock, changes, diags
	}
	if byKey := func(a, b Assignment) int { return a.Key.compare(b.Key) }; !slices.IsSortedFunc(next.Assignments, byKey) {
		slices.SortFunc(next.Assignments, byKey)
	}
	return next, changes, diags
}

// alloc hands out the lowest free port of the pool, or 0 when none is left.
// Ports only ever become taken during one Allocate, so the search resumes
// where the last one ended.
func (p *pool) alloc() uint16 {
	for ; p.next <= int(p.n.ListenPorts.Last); p.next++ {
		port := uint16(p.next)
		if !p.taken.has(port) {
			p.taken.add(port)
			p.next++
			return port
		}
	}
	return 0
}

// holder is a service holding a fixed port, as said in messages.
type holder struct {
	what string    // computer.nas service "crashplan"
	rng  hcl.Range // where the port is set
}

// holders returns the services whose fixed port collides with port,
// assigned to w: on w's own computer, a service listening on it; on the
// router, an internet service whose external port it is, when w's service
// is mapped there too.
func (p *pool) holders(port uint16, w want) []holder {
	routed := w.s.Expose == ExposeInternet && w.s.ExternalPort == 0
	var hs []holder
	for _, c := range p.computers {
		for _, s := range c.Services {
			if s == w.s || !overlap(s, w.s) {
				continue
			}
			what := fmt.Sprintf("%s service %q", c.Address(), s.Name)
			switch {
			case c == w.c && !s.Auto && s.Port == port:
				hs = append(hs, holder{what, s.PortRange()})
			case routed && s.Expose == ExposeInternet && s.ExternalPort == port:
				hs = append(hs, holder{what, s.ExternalPortRange()})
			case routed && s.Expose == ExposeInternet && s.ExternalPort == 0 && !s.Auto && s.Port == port:
				hs = append(hs, holder{what, s.PortRange()})
			}
		}
	}
	return hs
}

// overlap reports whether services a and b share a protocol.
func overlap(a, b *Service) bool {
	return a.Protocol == b.Protocol || a.Protocol == Both || b.Protocol == Both
}

// releaseReason says why the assignment for k is no longer wanted;
// computers maps addresses to computers.
func releaseReason(cfg *Config, computers map[string]*Computer, k AssignmentKey) string {
	if cfg.Networks[k.Network] == nil {
		return fmt.Sprintf("network %q is no longer in the config", k.Network)
	}
	c := computers[k.Computer]
	if c == nil {
		return "no longer in the config"
	}
	if c.Network != k.Network {
		return fmt.Sprintf("%s is now in network %q", k.Computer, c.Network)
	}
	for _, s := range c.Services {
		if s.Name == k.Service && !s.Auto {
			return fmt.Sprintf("its port is now fixed at %d", s.Port)
		}
	}
	return "no longer in the config"
}

// inUse is the sentence saying where a is in use, or "" when unknown.
func inUse(f func(Assignment) string, a Assignment) string {
	if f == nil {
		return ""
	}
	if where := f(a); where != "" {
		return fmt.Sprintf(" %s is in use: %s.", a.Key, where)
	}
	return ""
}

// lockPosition says where the lock file records a, for messages.
func lockPosition(a Assignment, lockName string) string {
	if a.DeclRange.Filename == "" {
		return lockName
	}
	return position(a.DeclRange)
}

// readonlyError reports a change that a read-only lock file forbids.
func readonlyError(rng hcl.Range, ch LockChange, lockName string) *hcl.Diagnostic {
	return errorAt(rng, "Lock file out of date",
		"netplan42 would have %s, but the lock file is read-only (--lockfile=readonly). Run netplan42 plan without --lockfile=readonly, then commit %s.",
		ch, lockName)
}
