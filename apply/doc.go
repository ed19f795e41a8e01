// Package apply carries out a plan's changes through small interfaces it
// declares: a mapper for router mappings and a ruleset for the host
// firewall. It records every change in state as soon as it is made, so an
// interrupted apply leaves nothing untracked; a change caught in flight is
// read back (when the driver can) so state and the closing count match
// what the router holds. Once the router stops answering, the rest of the
// router changes are not attempted.
package apply
