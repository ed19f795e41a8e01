#!/bin/bash
# plan-all.sh: time the offline fleet view, `netplan42 plan --all`, on a
# generated fleet shaped like real use, as a user runs it: wall time and
# peak memory of the built binary, first run and with the lock file.
#
#   bench/plan-all.sh [-c COMPUTERS[,COMPUTERS...]] [-n RUNS]
#
# (default: 1000, 10000 and 30000 computers, 5 runs each).
# The fleet: 100 networks whose listen_ports come from a variable through a
# local; each computer has three services on port = "auto" (crashplan and
# syncthing to the internet, a backup agent on the LAN), its UI on 4243
# (localhost) and ssh on 22 (lan). The first run hands out every auto port
# and writes netplan42.lock.hcl; later runs read it, as in CI reviewing a
# committed fleet. Goal (issue 10): under 0.7 s and 120 MB at 10,000
# computers, linear beyond (30,000: under 2.1 s and 300 MB).
set -euo pipefail
sizes=1000,10000,30000 runs=5
while [ $# -gt 0 ]; do
	case "$1" in
	-c) sizes=$2; shift 2 ;;
	-n) runs=$2; shift 2 ;;
	*) echo "usage: $0 [-c COMPUTERS[,COMPUTERS...]] [-n RUNS]" >&2; exit 2 ;;
	esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -buildvcs=false -o "$work/netplan42" ./cmd/netplan42)
# generate COMPUTERS DIR: the fleet, in DIR/fleet.hcl.
generate() {
	awk -v n="$1" 'BEGIN {
		nets = 100
		printf "variable \"port_base\" {\n  type    = number\n  default = 20000\n}\n\n"
		printf "locals {\n  pool = \"${var.port_base}-${var.port_base + 29999}\"\n  ui   = 4243\n}\n\n"
		for (i = 0; i < nets; i++)
			printf "network \"net%02d\" {\n  listen_ports = local.pool\n}\n\n", i
		for (c = 0; c < n; c++) {
			printf "computer \"pc%05d\" {\n  network  = \"net%02d\"\n  firewall = \"auto\"\n", c, c % nets
			printf "  service \"crashplan\" {\n    port   = \"auto\"\n    expose = \"internet\"\n  }\n"
			printf "  service \"syncthing\" {\n    port     = \"auto\"\n    protocol = \"both\"\n    expose   = \"internet\"\n  }\n"
			printf "  service \"backup-agent\" {\n    port   = \"auto\"\n    expose = \"lan\"\n  }\n"
			printf "  service \"crashplan-ui\" {\n    port   = local.ui\n    expose = \"localhost\"\n  }\n"
			printf "  service \"ssh\" {\n    port   = 22\n    expose = \"lan\"\n  }\n}\n\n"
		}
	}' >"$2/fleet.hcl"
}

# measure DIR LABEL FILE: one run, prints wall seconds and peak RSS and
# adds them to FILE.
measure() {
	/usr/bin/time -f "%e %M" -o "$work/time" "$work/netplan42" plan --all --config "$1" >"$work/out" 2>"$work/err" || {
		cat "$work/err" >&2
		exit 1
	}
	read -r secs kb <"$work/time"
	printf '  %-40s %6.2f s  %5d MB peak RSS\n' "$2" "$secs" $((kb / 1024))
	echo "$secs $((kb / 1024))" >>"$3"
}
# summary FILE: median, min and max of the times, median of the memory.
summary() {
	sort -n "$1" | awk '{t[NR]=$1} END {printf "median %.2f s (min %.2f, max %.2f)", t[int((NR+1)/2)], t[1], t[NR]}'
	sort -n -k2 "$1" | awk '{m[NR]=$2} END {printf ", median %d MB peak RSS\n", m[int((NR+1)/2)]}'
}

for computers in ${sizes//,/ }; do
	cfg=$work/fleet-$computers
	mkdir "$cfg"
	generate "$computers" "$cfg"
	echo "fleet: $computers computers x 5 services (3 auto) in 100 networks, $(du -h "$cfg/fleet.hcl" | cut -f1) of HCL"
	for ((i = 1; i <= runs; i++)); do
		rm -f "$cfg/netplan42.lock.hcl"
		measure "$cfg" "first run $i (assigns $((computers * 3)) ports)" "$cfg.first"
		grep -q "^Fleet: 100 networks, $computers computers" "$work/out" || { tail -2 "$work/out"; exit 1; }
	done
	for ((i = 1; i <= runs; i++)); do
		measure "$cfg" "with the lock file, run $i" "$cfg.later"
	done
	echo "  $computers computers, first run:          $(summary "$cfg.first")"
	echo "  $computers computers, with the lock file: $(summary "$cfg.later")"
	echo "  output $(wc -l <"$work/out") lines; lock file $(wc -l <"$cfg/netplan42.lock.hcl") lines"
	rm -rf "$cfg"
done
