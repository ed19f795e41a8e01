#!/bin/bash
# test.sh: run every netplan42 test — unit, golden, CLI end-to-end, and the
# lab tests against Debian's miniupnpd and real iptables/nftables in network
# namespaces. Run as root on Debian 12; it installs what it needs first.
# The lab never touches the host's firewall, routes or addresses.
#
# NETPLAN42_LAB=required (the default here) makes a lab test that cannot run
# fail instead of skip. Extra arguments go to `go test` (e.g. -run TestLab).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="/usr/local/go/bin:$PATH"
export NETPLAN42_LAB="${NETPLAN42_LAB:-required}"
test -z "$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
go vet ./...
go test -count=1 "$@" ./...
