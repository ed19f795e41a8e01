// Package state keeps what netplan42 made on one computer, and the plan
// files that carry a reviewed plan from plan to apply.
//
// A State is one computer's record: the router mappings and firewall rules
// netplan42 made (planner.Prior), under a Lineage chosen once when the state
// is created and a Serial bumped by every write, so that a write can refuse
// to replace another computer's state or a newer one. The planner reads the
// Prior; apply writes the state after every change it makes.
//
// Backends implement three small interfaces: Reader, Writer and Locker.
// FileStore keeps the state in a JSON file written atomically, with the
// previous version kept as PATH.backup, and locks it with flock(2) on
// PATH.lock: exclusive for apply and destroy, shared for plan. Every backend
// runs the conformance test in package state/statetest. Journal adapts a
// Writer to apply's journal.
//
// The state reveals the LAN layout, so it lives outside the configuration
// directory (which is committed to git), in a directory only its owner can
// read; DefaultPath says where.
//
// A PlanFile is a saved plan together with the observation it was made
// against, the state serial it was made on, and what apply needs to rebuild
// the drivers. It carries a checksum so that a hand-edited or truncated plan
// is refused rather than applied. Fingerprint and DescribeChanges let apply
// refuse a plan whose world has changed since, saying what changed.
package state
