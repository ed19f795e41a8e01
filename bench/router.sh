#!/bin/bash
# router.sh: netplan42 against the real alternative on the lab's miniupnpd,
# in one run, timed as users run them (wall time inside lab host1):
#
#  A. `netplan42 plan` for a computer with 10 services, against `upnpc -s`
#     (the status check people run first). Target: <= 300 ms and >= 5x.
#  B. the router holding 1000 foreign mappings: `netplan42 plan` (which
#     reads the whole table to diff it) against `upnpc -l` (one SOAP call
#     per entry) and `upnpc -L` (one GetListOfPortMappings: the router's
#     own floor). Target: >= 3x faster than -l, within 1.5x of -L. The
#     library call alone (router.Observe, bench/routerobserve) is shown too.
#
#   bench/router.sh [-n RUNS] [-m MAPPINGS]
#
# Needs root and the lab's packages (scripts/setup.sh). It brings up the
# persistent lab (refuses if one is up) and takes it down at the end.
set -euo pipefail
runs=5 maps=1000
while [ $# -gt 0 ]; do
	case "$1" in
	-n) runs=$2; shift 2 ;;
	-m) maps=$2; shift 2 ;;
	*) echo "usage: $0 [-n RUNS] [-m MAPPINGS]" >&2; exit 2 ;;
	esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d)
lab="$bin/netplan42-lab"
trap '"$lab" down >/dev/null 2>&1 || true; rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/netplan42" ./cmd/netplan42 && go build -o "$lab" ./cmd/netplan42-lab && go build -o "$bin/routerobserve" ./bench/routerobserve)
"$lab" up --hosts 2 >/dev/null
url=$("$lab" status | awk '/^rootDesc/ {print $2}')
echo "router: miniupnpd $(miniupnpd --version 2>&1 | head -1 | awk '{print $2}') at $url"

# Configs: host1 with 10 internet services (A) and with 1 (B).
mkdir -p "$bin/ten" "$bin/one"
{
	printf 'network "lab" {\n  router {\n    protocols = ["upnp", "natpmp"]\n  }\n}\n'
	printf 'computer "host1" {\n  network  = "lab"\n  firewall = "iptables"\n'
	for i in $(seq 0 9); do
		printf '  service "s%d" {\n    port   = %d\n    expose = "internet"\n  }\n' "$i" $((4300 + i))
	done
	printf '}\n'
} >"$bin/ten/main.hcl"
sed -e '/service "s[1-9]"/,/^  }/d' "$bin/ten/main.hcl" >"$bin/one/main.hcl"

# time_cmd NAME CHECK CMD...: RUNS timed runs in host1; prints the median
# and checks (CHECK, a shell test on the output in $out) the last output.
declare -A median
time_cmd() {
	local name=$1 check=$2; shift 2
	local ts=() out s e
	for ((i = 0; i < runs; i++)); do
		s=$(date +%s%N)
		out=$("$lab" exec host1 -- "$@" 2>&1) || true
		e=$(date +%s%N)
		ts+=($(((e - s) / 1000000)))
	done
	if [ -n "$check" ] && ! eval "$check"; then
		echo "$name: unexpected output:" >&2
		tail -5 <<<"$out" >&2
		exit 1
	fi
	median[$name]=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	printf '  %-34s median %6d ms   runs: %s\n' "$name" "${median[$name]}" "${ts[*]}"
}
ratio() { echo "scale=1; $1 / $2" | bc; }

echo "A. 10 services, empty router table"
time_cmd "netplan42 plan (10 services)" 'grep -q "Plan: 20 to add" <<<"$out"' \
	"$bin/netplan42" plan --config "$bin/ten" --computer host1 --state "$bin/ten/state.json"
time_cmd "upnpc -s" 'grep -q "ExternalIPAddress = 11.0.0.1" <<<"$out"' upnpc -s
p=${median["netplan42 plan (10 services)"]} s=${median["upnpc -s"]}
echo "  upnpc -s / netplan42 plan = $(ratio "$s" "$p")x   (target: plan <= 300 ms and >= 5x)"

echo "B. $maps foreign mappings on the router"
t0=$(date +%s.%N)
"$lab" exec host2 -- "$bin/routerobserve" -timeout 10s -fill "$maps"
echo "  (filled in $(echo "$(date +%s.%N) - $t0" | bc) s from host2)"
time_cmd "netplan42 plan (1 service)" '[ $(grep -c "192.0.2.11:" <<<"$out") -eq '"$maps"' ]' \
	"$bin/netplan42" plan --config "$bin/one" --computer host1 --state "$bin/one/state.json"
time_cmd "router.Observe (library)" 'grep -q "listed=true mappings='"$maps"' " <<<"$out"' "$bin/routerobserve"
time_cmd "upnpc -l (per entry)" '[ $(grep -c "192.0.2.11:" <<<"$out") -eq '"$maps"' ]' upnpc -u "$url" -l
time_cmd "upnpc -L (one listing)" '[ $(grep -c "192.0.2.11" <<<"$out") -eq '"$maps"' ]' upnpc -u "$url" -L
p=${median["netplan42 plan (1 service)"]} l=${median["upnpc -l (per entry)"]} L=${median["upnpc -L (one listing)"]}
echo "  upnpc -l / netplan42 plan = $(ratio "$l" "$p")x   (target >= 3x)"
echo "  netplan42 plan / upnpc -L = $(ratio "$p" "$L")x   (target <= 1.5x)"
