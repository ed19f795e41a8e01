#!/bin/bash
# try.sh: see netplan42 do its job against a real router. As root on Debian
# 12: installs what is needed, starts the lab (Debian's miniupnpd as a home
# router in network namespaces, two LAN hosts, an "internet" host), and runs
# plan and apply from a LAN host, then proves the port is reachable from the
# internet side. Nothing touches this machine's own network. --keep leaves
# the lab up to explore (bin/netplan42-lab down removes it); --install also
# copies netplan42 and netplan42-lab to /usr/local/bin (BINDIR).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
install=()
for a in "$@"; do
	case "$a" in
	--keep) keep=true ;;
	--install) install=(--install) ;;
	*)
		echo "usage: scripts/try.sh [--keep] [--install]" >&2
		exit 2
		;;
	esac
done
if [ "$(id -u)" -ne 0 ]; then
	echo "try.sh: run as root (network namespaces, Debian packages): su -c scripts/try.sh, or sudo scripts/try.sh" >&2
	exit 1
fi
scripts/setup.sh
scripts/build.sh "${install[@]}"
lab=bin/netplan42-lab
np=$PWD/bin/netplan42
work=$(mktemp -d)
cp examples/lab/main.hcl "$work/"
if ! $keep; then
	trap '$lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
fi
$lab down >/dev/null 2>&1 || true

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
in_host1() { echo "\$ $*"; $lab exec host1 -- "$@"; }

say "Lab up: miniupnpd router 192.0.2.1 (WAN 11.0.0.1), host1 192.0.2.10, internet host 11.0.0.254"
$lab up --hosts 2
# host1 drops inbound traffic it was not told about, like a hardened machine.
$lab exec host1 -- iptables -A INPUT -i lo -j ACCEPT
$lab exec host1 -- iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
$lab exec host1 -- iptables -P INPUT DROP

args=(--config "$work" --computer host1 --state "$work/host1.json")
say "Before: the internet host cannot reach host1's CrashPlan port"
$lab prove host1 4242 || true
say "netplan42 plan (on host1)"
in_host1 "$np" plan "${args[@]}" || true
say "netplan42 apply"
in_host1 "$np" apply --auto-approve "${args[@]}"
say "The router's table, read by the independent upnpc client"
url=$($lab status | awk '/^rootDesc/ {print $2}')
$lab exec host1 -- upnpc -u "$url" -l | grep -E '^ *[0-9]+ (TCP|UDP)'

say "After: internet host -> router -> host1"
$lab prove host1 4242
say "netplan42 plan again"
in_host1 "$np" plan --detailed-exitcode "${args[@]}"
if $keep; then
	say "The lab stays up. Try: $lab exec host1 -- $np plan ${args[*]}"
	echo "Remove it with: $lab down"
else
	say "netplan42 destroy"
	in_host1 "$np" destroy --auto-approve "${args[@]}"
fi
say "Where things are"
echo "netplan42 and netplan42-lab: $PWD/bin/"
if [ ${#install[@]} -gt 0 ]; then
	echo "  also installed in ${BINDIR:-/usr/local/bin}, on PATH"
else
	echo "  not on PATH: run bin/netplan42, or export PATH=\"$PWD/bin:\$PATH\", or scripts/build.sh --install (copies both to /usr/local/bin)"
fi
echo "Go: ${GO_PREFIX:-/usr/local/go}/bin/go; for go on PATH: export PATH=\"${GO_PREFIX:-/usr/local/go}/bin:\$PATH\""
