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
//
// A config is never taken from files in the middle of an edit: a change is
// read once the files (config, var and lock files, by name, size, time and
// content) have held still for a settle time, and a read during which they
// changed is thrown away and done again. A config that drops services is
// acted on only when the same files give it twice, and dropping many is
// logged as a warning naming them. A Reconciler that is a Stager gets these
// checks; one that only has Reload gets the settle time.
//
// A signal (the end of Run's context) stops the loop at once, even in the
// middle of reading the config; a second one cuts the release on exit
// short.
package agent
