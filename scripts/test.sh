#!/bin/bash
# test.sh: run every netplan42 test — unit, golden, CLI end-to-end, and the
# lab tests against Debian's miniupnpd and real iptables/nftables in network
# namespaces — under the race detector. Run as root on Debian 12; it
# installs what it needs first. The lab never touches the host's firewall,
# routes or addresses.
#
# NETPLAN42_LAB=required (the default here) makes a lab test that cannot run
# fail instead of skip. Extra arguments go to every `go test` (e.g. -run
# TestLab).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (lab tests need network namespaces): su -c scripts/test.sh, or sudo scripts/test.sh" >&2
	exit 1
fi
scripts/setup.sh
export PATH="${GO_PREFIX:-/usr/local/go}/bin:$PATH"
export NETPLAN42_LAB="${NETPLAN42_LAB:-required}"
# As root in a clone another user owns, git refuses to say the VCS status
# and go build fails: never ask for it.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
git() { command git -c safe.directory="$PWD" "$@"; }

mapfile -t gofiles < <(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then
	echo "gofmt needed:"
	echo "$unformatted"
	exit 1
fi
go vet ./...

# Every shipped target builds, and every package vets on every GOOS (test
# files and build-tagged code included), from this Linux machine.
for goos in linux darwin freebsd windows; do
	for goarch in amd64 arm64; do
		GOOS=$goos GOARCH=$goarch go build -o /dev/null ./cmd/netplan42 || { echo "build failed: $goos/$goarch"; exit 1; }
	done
	[ "$goos" = linux ] || GOOS=$goos go vet ./... || { echo "go vet failed for GOOS=$goos"; exit 1; }
done

# Every package runs under -race (the e2e tests build netplan42 itself
# with -race), each with a deadline well above what it took on this
# project's 2-core machine with other work running (go test -race -p 1):
# cmd/netplan42 about 15 min (the agent's lease tests wait out real
# leases: 150 s, and 430 s for three 2-minute PCP lifetimes), firewall
# 217 s, router 360 s, the rest under a minute each. A hang fails at the
# deadline, not at go test's 10-minute alarm, and a busy machine still
# passes.
#
# The three lab-heavy packages run one after the other, beside the rest:
# run at once, their miniupnpd and iptables work slowed each other down
# until routers missed netplan42's 2 s deadline. Go runs test binaries
# two at a time otherwise (-p 2).
mod=$(go list -m)
lab=(router firewall cmd/netplan42)
declare -A deadline=([router]=20m [firewall]=12m [cmd/netplan42]=45m)
mapfile -t rest < <(go list ./... | grep -v -x -e "$mod/router" -e "$mod/firewall" -e "$mod/cmd/netplan42" | sed "s|^$mod|.|")

restlog=$(mktemp)
trap 'rm -f "$restlog"' EXIT
go test -count=1 -race -timeout 5m "${rest[@]}" "$@" >"$restlog" 2>&1 &
restpid=$!
status=0
for p in "${lab[@]}"; do
	go test -count=1 -race -timeout "${deadline[$p]}" "./$p" "$@" || status=1
done
wait "$restpid" || status=1
cat "$restlog"

# The parsers of what users hand netplan42 are fuzzed briefly on every run
# (longer by hand: FUZZTIME=200000x, or a duration): the lock file, config
# loading with nesting, the plain-subset parser against hclsyntax, and the
# router listing's fast readers (listing, response envelope) against
# encoding/xml. Only on a full run, not when arguments pick tests. The
# budget is a count of inputs, not a duration: Go 1.26's coordinator can
# fail a target that found nothing when a duration runs out
# (golang/go#75804, fixed in 1.27), and a count is the same work on a
# busy machine.
if [ $# -eq 0 ] && [ $status -eq 0 ]; then
	for target in schema:FuzzParseLock schema:FuzzLoad schema:FuzzQuickParse router:FuzzQuickPortListing router:FuzzQuickListResponse; do
		go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime "${FUZZTIME:-60000x}" "./${target%%:*}" || status=1
	done
fi

# The Debian package from release.sh installs into a clean Debian root and
# runs there (deb-test.sh: debootstrap once, cached outside the repo).
if [ $# -eq 0 ] && [ $status -eq 0 ]; then
	TARGETS="linux/$(go env GOARCH)" scripts/release.sh v0.0.0-test >/dev/null || status=1
	scripts/deb-test.sh dist/v0.0.0-test/netplan42_0.0.0~test_"$(dpkg --print-architecture)".deb || status=1
fi
exit $status
