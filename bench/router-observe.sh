#!/bin/bash
# router-observe.sh: time netplan42's router Observe against upnpc on a lab
# router holding 1000 foreign mappings, in the same run.
#
#   bench/router-observe.sh [-n RUNS] [-m MAPPINGS] [-- EXTRA COMMAND...]
#
# Needs root and the lab's Debian packages. It brings up the persistent lab
# (cmd/netplan42-lab; refuses if one is up), fills the router from host2,
# then runs each command RUNS times in host1 (192.0.2.10) and prints the
# median wall time of each and the ratios. An EXTRA COMMAND (e.g. the
# whole-CLI `netplan42 plan ...`) is timed the same way; @ROOTDESC@ in it is
# replaced by the router's description URL. The lab is taken down at the end.
set -euo pipefail
runs=5 maps=1000
while [ $# -gt 0 ]; do
	case "$1" in
	-n) runs=$2; shift 2 ;;
	-m) maps=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 [-n RUNS] [-m MAPPINGS] [-- EXTRA COMMAND...]" >&2; exit 2 ;;
	esac
done
extra=("$@")
root=${NETPLAN42_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
bin=$(mktemp -d)
trap '"$bin/netplan42-lab" down >/dev/null 2>&1 || true; rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/netplan42-lab" ./cmd/netplan42-lab && go build -o "$bin/routerobserve" ./bench/routerobserve)
lab="$bin/netplan42-lab"
"$lab" up --hosts 2 >/dev/null
url=$("$lab" status | awk '/^rootDesc/ {print $2}')
echo "router: miniupnpd $(miniupnpd --version 2>&1 | head -1 | awk '{print $2}') at $url; filling $maps mappings from host2 ..."
t0=$(date +%s.%N)
"$lab" exec host2 -- "$bin/routerobserve" -timeout 10s -fill "$maps"
echo "filled in $(echo "$(date +%s.%N) - $t0" | bc) s"

# time_cmd NAME CHECK-REGEX CMD...: RUNS timed runs in host1; prints the median
# and checks that the output lists every mapping.
declare -A median
time_cmd() {
	local name=$1 check=$2; shift 2
	local ts=() out
	for ((i = 0; i < runs; i++)); do
		local s e
		s=$(date +%s%N)
		out=$("$lab" exec host1 -- "$@" 2>&1)
		e=$(date +%s%N)
		ts+=($(((e - s) / 1000000)))
	done
	if [ -n "$check" ] && ! eval "$check" <<<"$out"; then
		echo "$name: output does not show all $maps mappings:" >&2
		tail -5 <<<"$out" >&2
		exit 1
	fi
	median[$name]=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	printf '%-28s median %6d ms   runs: %s\n' "$name" "${median[$name]}" "${ts[*]}"
}
time_cmd "netplan42 router.Observe" "grep -q 'listed=true mappings=$maps '" "$bin/routerobserve"
time_cmd "upnpc -l (per entry)" "[ \$(grep -c '192.0.2.11:' ) -eq $maps ]" upnpc -u "$url" -l
time_cmd "upnpc -L (one listing)" "[ \$(grep -c '192.0.2.11' ) -eq $maps ]" upnpc -u "$url" -L
if [ ${#extra[@]} -gt 0 ]; then
	time_cmd "extra: ${extra[0]##*/}" "" "${extra[@]//@ROOTDESC@/$url}"
fi
ours=${median["netplan42 router.Observe"]}
l=${median["upnpc -l (per entry)"]}
L=${median["upnpc -L (one listing)"]}
echo "ratio upnpc -l / netplan42 = $(echo "scale=2; $l / $ours" | bc)  (target >= 3)"
echo "ratio netplan42 / upnpc -L = $(echo "scale=2; $ours / $L" | bc)  (target <= 1.5)"
