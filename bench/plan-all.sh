#!/bin/bash
# plan-all.sh: time the offline fleet view, `netplan42 plan --all`, on a
# generated fleet of COMPUTERS computers x 3 services (default 10000), as a
# user runs it: wall time and peak memory of the built binary.
#
#   bench/plan-all.sh [-c COMPUTERS] [-n RUNS]
#
# The fleet: 100 networks; each computer has crashplan on port = "auto"
# (internet), its UI on 4243 (localhost) and ssh on 22 (lan). The first run
# hands out every auto port and writes netplan42.lock.hcl; later runs read
# it, as in CI reviewing a committed fleet. Target (issue 2): under 1 s.
set -euo pipefail
computers=10000 runs=5
while [ $# -gt 0 ]; do
	case "$1" in
	-c) computers=$2; shift 2 ;;
	-n) runs=$2; shift 2 ;;
	*) echo "usage: $0 [-c COMPUTERS] [-n RUNS]" >&2; exit 2 ;;
	esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/netplan42" ./cmd/netplan42)
cfg=$work/fleet
mkdir "$cfg"
awk -v n="$computers" 'BEGIN {
	nets = 100
	for (i = 0; i < nets; i++)
		printf "network \"net%02d\" {\n  listen_ports = \"1024-5999\"\n}\n\n", i
	for (c = 0; c < n; c++) {
		printf "computer \"pc%05d\" {\n  network  = \"net%02d\"\n  firewall = \"auto\"\n", c, c % nets
		printf "  service \"crashplan\" {\n    port   = \"auto\"\n    expose = \"internet\"\n  }\n"
		printf "  service \"crashplan-ui\" {\n    port   = 4243\n    expose = \"localhost\"\n  }\n"
		printf "  service \"ssh\" {\n    port   = 22\n    expose = \"lan\"\n  }\n}\n\n"
	}
}' > "$cfg/fleet.hcl"
echo "fleet: $computers computers x 3 services in 100 networks, $(du -h "$cfg/fleet.hcl" | cut -f1) of HCL"

measure() { # measure LABEL: one run, prints wall seconds and peak RSS
	/usr/bin/time -f "%e %M" -o "$work/time" "$work/netplan42" plan --all --config "$cfg" >"$work/out" 2>"$work/err" || {
		cat "$work/err" >&2
		exit 1
	}
	read -r secs kb <"$work/time"
	printf '%-34s %6.2f s  %5d MB peak RSS\n' "$1" "$secs" $((kb / 1024))
	echo "$secs" >>"$work/$2"
}
measure "first run (assigns $computers ports)" first
grep -q "^Fleet: 100 networks, $computers computers" "$work/out" || { tail -2 "$work/out"; exit 1; }
for ((i = 1; i <= runs; i++)); do
	measure "with the lock file, run $i" later
done
median=$(sort -n "$work/later" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median with the lock file: $median s (target < 1 s); output $(wc -l <"$work/out") lines"
