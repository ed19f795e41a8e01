#!/bin/bash
# build.sh: build netplan42 and netplan42-lab into bin/; with --install,
# also copy them to BINDIR (default /usr/local/bin, which needs root).
#
# The version is stamped from git describe. Builds never ask the go
# command to read git (-buildvcs=false): as root in a clone another user
# owns, git refuses to, and go build fails with "error obtaining VCS
# status".
set -euo pipefail
cd "$(dirname "$0")/.."
install=false
[ "${1:-}" = "--install" ] && install=true
BINDIR=${BINDIR:-/usr/local/bin}
export PATH="${GO_PREFIX:-/usr/local/go}/bin:$PATH"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# safe.directory on the command line: reading the commit is harmless, and
# git would otherwise refuse a clone owned by another user.
version=$(git -c safe.directory="$PWD" describe --tags --always --dirty 2>/dev/null || echo dev)
ldflags="-X github.com/netplan42/netplan42/cmd/netplan42/cli.Version=$version"
go build -ldflags "$ldflags" -o bin/netplan42 ./cmd/netplan42
go build -o bin/netplan42-lab ./cmd/netplan42-lab
echo "build: bin/netplan42 ($version) and bin/netplan42-lab in $PWD"
if $install; then
	install -d "$BINDIR"
	install -m 0755 bin/netplan42 bin/netplan42-lab "$BINDIR/"
	echo "build: installed netplan42 and netplan42-lab in $BINDIR"
fi
