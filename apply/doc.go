// Package apply carries out a plan's changes through small interfaces it
// declares: a mapper for router mappings and a ruleset for the host
// firewall. It records every change in state as soon as it is made, so an
// interrupted apply leaves nothing untracked.
package apply
