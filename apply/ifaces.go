package apply

import (
	"context"

	"github.com/netplan42/netplan42/planner"
)

// mapper makes and removes router port mappings. router.Router implements it.
type mapper interface {
	// Add asks the router for m (m.LeaseSeconds is the requested lease) and
	// returns what the router granted.
	Add(ctx context.Context, m planner.Mapping) (planner.Grant, error)
	// Delete removes m; it must be one of ours.
	Delete(ctx context.Context, m planner.Mapping) error
}

// ruleset sets netplan42's own firewall rules. firewall.Firewall implements
// it.
type ruleset interface {
	// Sync makes our chain, table or anchor hold exactly rules, atomically,
	// hooked into the input path; with no rules it removes our objects and
	// hooks entirely.
	Sync(ctx context.Context, rules []planner.Rule) error
}

// reader is a mapper that can read one router entry back (UPnP can;
// NAT-PMP cannot). After an interrupted or unanswered change, apply asks
// it what the router holds, so what apply reports and what state records
// match the router, not the last answer it got.
type reader interface {
	Lookup(ctx context.Context, k planner.MappingKey) (planner.Mapping, bool, error)
}
