#!/bin/bash
# agent.sh: what an idle agent costs. In the lab, `netplan42 agent` keeps
# 20 mappings (and 20 firewall rules) on miniupnpd; after its first pass we
# measure its CPU time (utime+stime from /proc) and memory (VmRSS, VmHWM)
# over SECONDS (default 180) of reconciles at the default 60 s interval.
#
#   bench/agent.sh [-s SECONDS]
#
# Target (issue 5): near-zero CPU between reconciles, RSS < 30 MB. Needs
# root and the lab packages; brings the persistent lab up and down.
set -euo pipefail
secs=180
[ "${1:-}" = "-s" ] && secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d)
lab="$bin/netplan42-lab"
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; "$lab" down >/dev/null 2>&1 || true; rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/netplan42" ./cmd/netplan42 && go build -o "$lab" ./cmd/netplan42-lab)
"$lab" up --hosts 1 >/dev/null
mkdir "$bin/cfg"
{
	printf 'network "lab" {\n  router {\n    protocols = ["upnp", "natpmp"]\n  }\n}\n'
	printf 'computer "host1" {\n  network  = "lab"\n  firewall = "iptables"\n'
	for i in $(seq 0 19); do
		printf '  service "s%02d" {\n    port   = %d\n    expose = "internet"\n  }\n' "$i" $((5000 + i))
	done
	printf '}\n'
} >"$bin/cfg/main.hcl"
"$lab" exec host1 -- "$bin/netplan42" agent --log-level debug --config "$bin/cfg" --computer host1 --state "$bin/state.json" 2>"$bin/log" &
pid=""
for _ in $(seq 200); do
	pid=$(pgrep -f "^$bin/netplan42 agent" | head -1 || true)
	[ -n "$pid" ] && [ "$(grep -c 'action=create' "$bin/log")" -eq 40 ] && break
	sleep 0.1
done
[ "$(grep -c 'action=create' "$bin/log")" -eq 40 ] || { echo "agent did not make 40 resources" >&2; cat "$bin/log" >&2; exit 1; }
tick=$(getconf CLK_TCK)
# CPU of the agent itself, and of the iptables/nft it ran and waited for.
self() { awk -v t="$tick" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
kids() { awk -v t="$tick" '{print ($16 + $17) / t}' "/proc/$1/stat"; }
mem() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
s0=$(self "$pid") k0=$(kids "$pid") p0=$(grep -c 'msg=reconciled' "$bin/log" || true)
echo "agent pid $pid made 20 mappings and 20 rules; CPU for that: ${s0} s (+ ${k0} s in iptables)"
sleep "$secs"
s1=$(self "$pid") k1=$(kids "$pid") p1=$(grep -c 'msg=reconciled' "$bin/log" || true)
printf 'idle %d s, %d reconciles: agent CPU %.2f s, iptables/nft it ran %.2f s: %.3f%% of one core in all\n' \
	"$secs" $((p1 - p0)) "$(echo "$s1 - $s0" | bc)" "$(echo "$k1 - $k0" | bc)" "$(echo "($s1 - $s0 + $k1 - $k0) * 100 / $secs" | bc -l)"
printf 'memory: RSS %d MB, peak %d MB (target < 30 MB)\n' $(($(mem "$pid" VmRSS) / 1024)) $(($(mem "$pid" VmHWM) / 1024))
echo "errors logged: $(grep -c 'level=ERROR' "$bin/log" || true)"
