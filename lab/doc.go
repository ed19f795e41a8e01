// Package lab builds netplan42's test network out of Linux network
// namespaces: a router running Debian's miniupnpd, LAN hosts, and an
// "internet" host on the router's WAN side.
//
// No namespace is linked to the root namespace, so lab traffic cannot leave
// the lab, and every firewall, route or address change happens inside a
// namespace the lab made. Close removes the namespaces and kills their
// processes; namespaces left by a killed run are swept by the next one.
//
// Tests call Require first: without root or the Debian packages a lab test
// skips, saying why, unless NETPLAN42_LAB=required (CI), where it fails.
//
// Network namespaces are Linux's: every file but this one has
// //go:build linux, so the package (empty elsewhere) does not stop the
// cross-builds and cross-vets of the packages whose tests use it.
package lab
