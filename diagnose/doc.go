// Package diagnose turns what netplan42 can see into verdicts, likely
// causes and fixes: the steps of a backup vendor's "computers cannot
// connect" guide, run against the topology the config declares.
//
// Status judges one computer from its own point of view: the router that
// answered and its external address, our mappings and the foreign ones on
// our ports, the firewall's rules, and what listens on each service's port
// (the guide's netstat step). Judge explains one connection check (the
// guide's telnet step) from the evidence gathered around it: the dial's
// outcome, the router table of the checking computer's network, the ARP
// table, the public address's class.
//
// The package is pure like planner: callers gather the evidence (cmd/
// netplan42 does, with the router, firewall and host drivers) and pass it
// in; nothing here touches the network, runs a command or reads a clock.
// Every cause it states names the evidence it rests on, and says what is
// unknowable from where the command ran and where to run it instead.
//
// StatusReport and CheckReport are also the JSON contract of `status
// --json` and `check --json`, versioned by FormatVersion.
package diagnose
