#!/bin/bash
# setup.sh: install what netplan42's lab and tests need on Debian 12, as
# root: the lab's Debian packages, and Go when it is missing or too old.
#
# Go comes from the Go module proxy (the same archive `GOTOOLCHAIN` would
# fetch), checked against a SHA-256 pinned here, so a machine that reaches
# only the proxy and Debian's mirrors can build netplan42.
set -euo pipefail

GO_VERSION=1.26.8
declare -A GO_SHA256=(
	[amd64]=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
	[arm64]=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
)
PACKAGES=(iptables nftables iproute2 miniupnpd-iptables miniupnpc natpmpc iputils-ping ca-certificates curl unzip)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# miniupnpd-iptables without recommends: the daemon alone, no service
	# wrapper asking for an interface at install time.
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

have_go() {
	local v
	v=$("${1:-go}" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ "$(printf '%s\n%s\n' "$GO_VERSION" "$v" | sort -V | head -1)" = "$GO_VERSION" ]
}
if have_go go || have_go /usr/local/go/bin/go; then
	exit 0
fi

arch=$(dpkg --print-architecture)
sum=${GO_SHA256[$arch]:-}
if [ -z "$sum" ]; then
	echo "setup: no pinned Go toolchain for $arch; install Go $GO_VERSION or newer by hand" >&2
	exit 1
fi
echo "setup: installing Go $GO_VERSION ($arch) from the Go module proxy into /usr/local/go"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL -o "$tmp/go.zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-$arch.zip"
echo "$sum  $tmp/go.zip" | sha256sum -c --quiet -
unzip -q "$tmp/go.zip" -d "$tmp"
# Module zips carry no file modes: make the tools executable again.
src="$tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
chmod -R a+rX "$src"
find "$src/bin" "$src/pkg/tool" -type f -exec chmod a+x {} +
rm -rf /usr/local/go
mv "$src" /usr/local/go
/usr/local/go/bin/go version
