#!/bin/bash
# router.sh: netplan42 against the real client on the lab's miniupnpd, in
# one run, timed as users run them (wall time of `netplan42-lab exec host1
# -- CMD`, the same for every command). The commands compared are run in
# turn within each round, so load on the machine falls on all of them.
#
#  A. An empty router table:
#     A1. `netplan42 plan` for a computer with 10 services and no state
#         (discovery by SSDP) against `upnpc -s` (which discovers too).
#         Target: >= 5x faster.
#     A2. `netplan42 plan` for a computer with 2 services whose state
#         remembers the router (applied and destroyed before) against
#         `upnpc -u URL -s` (told the description URL). Target: <= 1.3x.
#         The same plan by discovery, and with firewall = "none" (the
#         router's part alone), are shown too.
#  B. The router holding MAPPINGS foreign mappings, `netplan42 plan` for a
#     computer with 1 service whose state remembers the router (it reads
#     the whole table to diff it) against `upnpc -u URL -l` (one SOAP call
#     per entry; target >= 3x faster) and `upnpc -u URL -L` (one
#     GetListOfPortMappings: the router's own floor; target <= 1.2x). The
#     library call alone (router.Observe, bench/routerobserve), the plan
#     with firewall = "none", and upnpc -L beside the firewall's listings
#     (which slow the lab's router, since it shares this machine) are
#     shown too.
#
# Plans made from a remembered router are checked to print byte for byte
# what a plan made by discovery prints.
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
# netplan42 is built as scripts/release.sh builds it (static, stripped):
# the binary users run. A cgo build starts about 3 ms slower.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin/netplan42" ./cmd/netplan42 && go build -o "$lab" ./cmd/netplan42-lab && go build -o "$bin/routerobserve" ./bench/routerobserve)
"$lab" up --hosts 2 >/dev/null
url=$("$lab" status | awk '/^rootDesc/ {print $2}')
echo "router: miniupnpd $(miniupnpd --version 2>&1 | head -1 | awk '{print $2}') at $url; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# Configs: host1 with 10 internet services, with 2 and with 1.
mkdir -p "$bin/ten" "$bin/two" "$bin/one"
{
	printf 'network "lab" {\n  router {\n    protocols = ["upnp", "natpmp"]\n  }\n}\n'
	printf 'computer "host1" {\n  network  = "lab"\n  firewall = "iptables"\n'
	for i in $(seq 0 9); do
		printf '  service "s%d" {\n    port   = %d\n    expose = "internet"\n  }\n' "$i" $((4300 + i))
	done
	printf '}\n'
} >"$bin/ten/main.hcl"
sed -e '/service "s[2-9]"/,/^  }/d' "$bin/ten/main.hcl" >"$bin/two/main.hcl"
sed -e '/service "s[1-9]"/,/^  }/d' "$bin/ten/main.hcl" >"$bin/one/main.hcl"
# The same 2 services with firewall = "none": the router's part alone.
mkdir -p "$bin/two-nofw" "$bin/one-nofw"
sed -e 's/firewall = "iptables"/firewall = "none"/' "$bin/two/main.hcl" >"$bin/two-nofw/main.hcl"
sed -e 's/firewall = "iptables"/firewall = "none"/' "$bin/one/main.hcl" >"$bin/one-nofw/main.hcl"

np() { "$lab" exec host1 -- "$bin/netplan42" "$@"; }
# remember DIR: apply DIR's config and destroy it again, so DIR/state.json
# remembers the router and nothing else; DIR/forgot.json is the same
# state without the router's identity (a plan from it discovers).
remember() {
	np apply --auto-approve --config "$1" --computer host1 --state "$1/state.json" >/dev/null
	np destroy --auto-approve --config "$1" --computer host1 --state "$1/state.json" >/dev/null
	grep -q '"identity": "http' "$1/state.json" || { echo "$1/state.json remembers no router" >&2; exit 1; }
	sed -e '/"identity":/d' "$1/state.json" >"$1/forgot.json"
}
# same DIR: a plan from memory prints what a plan by discovery prints.
same() {
	local a b
	a=$(np plan --config "$1" --computer host1 --state "$1/state.json" 2>&1)
	b=$(np plan --config "$1" --computer host1 --state "$1/forgot.json" 2>&1)
	if [ "$a" != "$b" ]; then
		echo "plan from a remembered router differs from plan by discovery:" >&2
		diff <(echo "$b") <(echo "$a") | head -20 >&2
		exit 1
	fi
	echo "  plan from memory = plan by discovery, byte for byte ($(wc -l <<<"$a") lines)"
}

# bench NAME CHECK CMD... ; NAME CHECK CMD... ; ...: RUNS rounds, each
# running every command once in turn in host1; prints min, median and max
# of each and checks (CHECK, a shell test on the output in $out) its last
# output. Medians go to median[NAME].
declare -A median
bench() {
	local names=() checks=() cmds=() n=0 i j s e out
	while [ $# -gt 0 ]; do
		names[n]=$1 checks[n]=$2; shift 2
		local c=()
		while [ $# -gt 0 ] && [ "$1" != ";" ]; do c+=("$(printf '%q' "$1")"); shift; done
		[ $# -gt 0 ] && shift
		cmds[n]="${c[*]}"
		n=$((n + 1))
	done
	declare -A ts
	for ((i = 0; i < runs; i++)); do
		for ((j = 0; j < n; j++)); do
			s=$(date +%s%N)
			out=$(eval "\"\$lab\" exec host1 -- ${cmds[j]}" 2>&1) || true
			e=$(date +%s%N)
			ts[$j]+="$(((e - s) / 1000000)) "
			if [ $i -eq $((runs - 1)) ] && [ -n "${checks[j]}" ] && ! eval "${checks[j]}"; then
				echo "${names[j]}: unexpected output:" >&2
				tail -5 <<<"$out" >&2
				exit 1
			fi
		done
	done
	for ((j = 0; j < n; j++)); do
		read -r mn md mx < <(tr ' ' '\n' <<<"${ts[$j]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}')
		median[${names[j]}]=$md
		printf '  %-36s min %5d  median %5d  max %5d ms   runs: %s\n' "${names[j]}" "$mn" "$md" "$mx" "${ts[$j]}"
	done
}
ratio() { echo "scale=2; $1 / $2" | bc; }

echo "A1. 10 services, empty router, no state (discovery)"
bench "netplan42 plan (10, no state)" 'grep -q "Plan: 20 to add" <<<"$out"' \
	"$bin/netplan42" plan --config "$bin/ten" --computer host1 --state "$bin/ten/state.json" \; \
	"upnpc -s" 'grep -q "ExternalIPAddress = 11.0.0.1" <<<"$out"' upnpc -s
p=${median["netplan42 plan (10, no state)"]} s=${median["upnpc -s"]}
echo "  upnpc -s / netplan42 plan = $(ratio "$s" "$p")x   (target >= 5x)"

echo "A2. 2 services, empty router, state remembers the router"
remember "$bin/two"
remember "$bin/two-nofw"
same "$bin/two"
bench "netplan42 plan (2, remembered)" 'grep -q "Plan: 4 to add" <<<"$out"' \
	"$bin/netplan42" plan --config "$bin/two" --computer host1 --state "$bin/two/state.json" \; \
	"netplan42 plan (2, remembered, no fw)" 'grep -q "Plan: 2 to add" <<<"$out"' \
	"$bin/netplan42" plan --config "$bin/two-nofw" --computer host1 --state "$bin/two-nofw/state.json" \; \
	"netplan42 plan (2, discovery)" 'grep -q "Plan: 4 to add" <<<"$out"' \
	"$bin/netplan42" plan --config "$bin/two" --computer host1 --state "$bin/two/forgot.json" \; \
	"upnpc -u URL -s" 'grep -q "ExternalIPAddress = 11.0.0.1" <<<"$out"' upnpc -u "$url" -s
p=${median["netplan42 plan (2, remembered)"]} d=${median["netplan42 plan (2, discovery)"]} s=${median["upnpc -u URL -s"]}
n=${median["netplan42 plan (2, remembered, no fw)"]}
echo "  netplan42 plan / upnpc -u URL -s = $(ratio "$p" "$s")x remembered, $(ratio "$d" "$s")x by discovery, $(ratio "$n" "$s")x remembered without firewall   (target <= 1.3x)"

echo "B. $maps foreign mappings on the router"
remember "$bin/one"
remember "$bin/one-nofw"
t0=$(date +%s.%N)
"$lab" exec host2 -- "$bin/routerobserve" -timeout 10s -fill "$maps"
echo "  (filled in $(echo "$(date +%s.%N) - $t0" | bc) s from host2)"
same "$bin/one"
id=$("$lab" exec host1 -- "$bin/routerobserve" | sed -n 's/.* identity=//p')
# The lab's router shares this machine: the firewall's listings, which a
# plan runs beside the router's, slow the router too (on a network it is
# another device). The no-firewall plan, and upnpc -L beside those same
# listings, show how much. The plan starts two tools here: the legacy
# listing and nft's chains are answered in-process (firewall/run.go).
fwlists='iptables-nft-save >/dev/null & ip6tables-nft-save >/dev/null &'
bench "netplan42 plan (1, remembered)" '[ $(grep -c "192.0.2.11:" <<<"$out") -eq '"$maps"' ]' \
	"$bin/netplan42" plan --config "$bin/one" --computer host1 --state "$bin/one/state.json" \; \
	"netplan42 plan (1, remembered, no fw)" '[ $(grep -c "192.0.2.11:" <<<"$out") -eq '"$maps"' ]' \
	"$bin/netplan42" plan --config "$bin/one-nofw" --computer host1 --state "$bin/one-nofw/state.json" \; \
	"upnpc -u URL -L (one listing)" '[ $(grep -c "192.0.2.11" <<<"$out") -eq '"$maps"' ]' upnpc -u "$url" -L \; \
	"upnpc -L beside the fw listings" '[ $(grep -c "192.0.2.11" <<<"$out") -eq '"$maps"' ]' bash -c "$fwlists upnpc -u $url -L" \; \
	"router.Observe (library, remembered)" 'grep -q "listed=true mappings='"$maps"' " <<<"$out"' "$bin/routerobserve" -remembered "$id"
bench "upnpc -u URL -l (per entry)" '[ $(grep -c "192.0.2.11:" <<<"$out") -eq '"$maps"' ]' upnpc -u "$url" -l
p=${median["netplan42 plan (1, remembered)"]} l=${median["upnpc -u URL -l (per entry)"]} L=${median["upnpc -u URL -L (one listing)"]}
echo "  upnpc -u URL -l / netplan42 plan = $(ratio "$l" "$p")x   (target >= 3x)"
n=${median["netplan42 plan (1, remembered, no fw)"]} F=${median["upnpc -L beside the fw listings"]}
echo "  netplan42 plan / upnpc -u URL -L = $(ratio "$p" "$L")x   (target <= 1.2x); without firewall $(ratio "$n" "$L")x; upnpc -L beside the firewall's listings $(ratio "$F" "$L")x"
