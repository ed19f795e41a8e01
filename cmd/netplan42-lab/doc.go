// Command netplan42-lab builds and runs netplan42's lab network for people
// and scripts: a router running miniupnpd, LAN hosts and an internet host,
// each in a network namespace never linked to the host's.
//
//	netplan42-lab up [--hosts N] [--no-upnp] [--no-natpmp] [--igd1] [--wan CIDR] [--ipv6]
//	netplan42-lab status
//	netplan42-lab exec HOST -- CMD...   (HOST: router, internet, host1, host2, …)
//	netplan42-lab restart-router [--flush]
//	netplan42-lab listen HOST PORT...   (a program listening on HOST's PORTs, until down)
//	netplan42-lab prove HOST PORT       (internet host -> router WAN:PORT -> HOST)
//	netplan42-lab prove6 HOST PORT      (internet host -> HOST's global IPv6 address:PORT)
//	netplan42-lab down
//
// The lab's namespaces are named np42lab-router, np42lab-internet,
// np42lab-host1, …; what was started is recorded in /run/netplan42-lab so
// down removes everything (NETPLAN42_LAB_NAME and NETPLAN42_LAB_DIR change
// the two, to run a second lab). Hidden: `_listen PORT SECONDS` and `_dial
// ADDR:PORT PAYLOAD SECONDS` prove traffic (run them with exec).
//
// It runs on Linux only: elsewhere it says so and exits 1.
package main
