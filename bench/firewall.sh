#!/bin/sh
# Apply 1000 firewall rules with one netplan42 Sync, and the same 1000
# rules with one `iptables -A` exec per rule, in fresh network namespaces
# of the same run, for iptables-nft and iptables-legacy. Needs root and
# the lab packages (see lab/netns.go); touches no host firewall.
# Usage: bench/firewall.sh [iterations]
set -e
cd "$(dirname "$0")/.."
exec go test ./firewall -run '^$' -bench 'Sync1000' -benchtime "${1:-3}x" -v
