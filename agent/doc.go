// Package agent is netplan42's reconcile loop: it keeps one computer's
// router mappings and firewall rules matching the config, all the time.
//
// Each pass plans and applies through a Reconciler (the CLI provides the
// real one: the same planner, state and lock rules as plan and apply). The
// loop wakes every interval, and sooner when a lease passes half its
// lifetime so it is renewed before it expires; it backs off exponentially
// on errors; it reloads the config on SIGHUP and when the files change,
// keeping the last good config when a new one has errors; and on stop it
// can release everything it made. It logs one line per change and serves
// Prometheus metrics and a liveness check over HTTP.
package agent
