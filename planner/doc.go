// Package planner computes what netplan42 must change on one computer.
//
// Plan takes the desired configuration, a snapshot of what the router and
// the host firewall hold now, and the prior state (what netplan42 made
// before), and returns a Plan: changes with reasons, drift, conflicts with
// foreign objects, and foreign objects it leaves alone. The package is pure:
// no network, no commands, no clock of its own; a test over its imports
// keeps it so. The data types here are shared by the drivers, state and
// apply, so arrows point inward to this package.
package planner
