#!/bin/bash
# plan-all.sh: time the offline fleet view, `netplan42 plan --all`, on a
# generated fleet shaped like real use, as a user runs it: wall time and
# peak memory of the built binary, first run and with the lock file.
#
#   bench/plan-all.sh [-c COMPUTERS] [-n RUNS]
#
# The fleet: 100 networks whose listen_ports come from a variable through a
# local; each computer has three services on port = "auto" (crashplan and
# syncthing to the internet, a backup agent on the LAN), its UI on 4243
# (localhost) and ssh on 22 (lan). The first run hands out every auto port
# and writes netplan42.lock.hcl; later runs read it, as in CI reviewing a
# committed fleet. Goal (issue 10): under 0.7 s and 120 MB at 10,000
# computers, linear beyond.
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
(cd "$root" && go build -buildvcs=false -o "$work/netplan42" ./cmd/netplan42)
cfg=$work/fleet
mkdir "$cfg"
awk -v n="$computers" 'BEGIN {
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
}' > "$cfg/fleet.hcl"
echo "fleet: $computers computers x 5 services (3 auto) in 100 networks, $(du -h "$cfg/fleet.hcl" | cut -f1) of HCL"

measure() { # measure LABEL FILE: one run, prints wall seconds and peak RSS
	/usr/bin/time -f "%e %M" -o "$work/time" "$work/netplan42" plan --all --config "$cfg" >"$work/out" 2>"$work/err" || {
		cat "$work/err" >&2
		exit 1
	}
	read -r secs kb <"$work/time"
	printf '%-40s %6.2f s  %5d MB peak RSS\n' "$1" "$secs" $((kb / 1024))
	echo "$secs $((kb / 1024))" >>"$work/$2"
}
median() { sort -n -k"$2" "$work/$1" | awk -v k="$2" '{a[NR]=$k} END {print a[int((NR+1)/2)]}'; }
for ((i = 1; i <= runs; i++)); do
	rm -f "$cfg/netplan42.lock.hcl"
	measure "first run $i (assigns $((computers * 3)) ports)" first
	grep -q "^Fleet: 100 networks, $computers computers" "$work/out" || { tail -2 "$work/out"; exit 1; }
done
for ((i = 1; i <= runs; i++)); do
	measure "with the lock file, run $i" later
done
echo "first run:          median $(median first 1) s, $(median first 2) MB (min-max $(sort -n "$work/first" | head -1 | cut -d' ' -f1)-$(sort -n "$work/first" | tail -1 | cut -d' ' -f1) s)"
echo "with the lock file: median $(median later 1) s, $(median later 2) MB (min-max $(sort -n "$work/later" | head -1 | cut -d' ' -f1)-$(sort -n "$work/later" | tail -1 | cut -d' ' -f1) s)"
echo "output $(wc -l <"$work/out") lines; lock file $(wc -l <"$cfg/netplan42.lock.hcl") lines"
