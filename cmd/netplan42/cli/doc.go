// Package cli is netplan42's command line: flags, wiring and exit codes.
// It is the only place where real router and firewall drivers are built;
// everything below it takes them through small interfaces.
package cli
