#!/bin/bash
# setup.sh: install what netplan42's lab and tests need on Debian 12, as
# root: the lab's Debian packages, and Go when it is missing or too old.
#
# Go: any Go on PATH (Debian 12's golang-go is 1.19, installed here when
# there is none) downloads the Go release netplan42 needs as the module
# golang.org/toolchain, the same archive GOTOOLCHAIN fetches, through the
# module proxy Go is configured with (go env GOPROXY) and checked against
# the checksum database; this script checks the archive against a SHA-256
# pinned here too, then unpacks it into GO_PREFIX (default /usr/local/go).
# A machine that reaches only Debian's mirrors and Go's module proxy can
# build netplan42.
#
# Environment: GO_PREFIX=DIR installs Go there instead of /usr/local/go.
set -euo pipefail

GO_VERSION=1.26.8
declare -A GO_SHA256=(
	[amd64]=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
	[arm64]=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
)
GO_PREFIX=${GO_PREFIX:-/usr/local/go}
PACKAGES=(iptables nftables iproute2 miniupnpd-iptables miniupnpc natpmpc iputils-ping openssh-server ca-certificates unzip git debootstrap zip etcd-server)
# SSH routers in the lab: OpenSSH's server (never started in the root
# namespace; Debian starts none without systemd) and what ../shared/openwrt's
# build.sh needs to build OpenWrt's uci, ucode and firewall4 (it installs
# them itself when missing; here so a CI image has them up front).
PACKAGES+=(openssh-client dropbear-bin busybox cmake make gcc libc6-dev pkg-config libjson-c-dev util-linux)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages): su -c scripts/setup.sh, or sudo scripts/setup.sh" >&2
	exit 1
fi
case "$GO_PREFIX" in
/?*) ;;
*)
	echo "setup: GO_PREFIX must be an absolute directory, not '$GO_PREFIX'" >&2
	exit 1
	;;
esac

apt_updated=false
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if ! $apt_updated; then
		apt-get update -qq
		apt_updated=true
	fi
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	# miniupnpd-iptables without recommends: the daemon alone, no service
	# wrapper asking for an interface at install time.
	# openssh-server is for the app_config lab test, which runs sshd inside
	# a lab namespace only: a policy-rc.d that denies keeps its install from
	# starting sshd on this machine. etcd-server likewise: the etcd tests
	# start their own etcd on loopback ports they choose, never the service.
	own_policy=false
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# setup.sh: start no service while installing\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=true
	fi
	status=0
	apt_install "${missing[@]}" || status=$?
	if $own_policy; then
		rm -f /usr/sbin/policy-rc.d
	fi
	[ $status -eq 0 ] || exit $status
fi

# have_go GO reports whether GO runs and is at least GO_VERSION.
have_go() {
	local v
	v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ "$(printf '%s\n%s\n' "$GO_VERSION" "$v" | sort -V | head -1)" = "$GO_VERSION" ]
}
if have_go "$GO_PREFIX/bin/go"; then
	exit 0
fi
if [ "$GO_PREFIX" = /usr/local/go ] && have_go go; then
	exit 0
fi

arch=$(dpkg --print-architecture)
sum=${GO_SHA256[$arch]:-}
if [ -z "$sum" ]; then
	echo "setup: no pinned Go toolchain for $arch; install Go $GO_VERSION or newer by hand" >&2
	exit 1
fi

# A Go to download Go with: any version does.
boot=$(command -v go || true)
if [ -z "$boot" ]; then
	echo "setup: installing Debian's golang-go, to download Go $GO_VERSION with"
	apt_install golang-go
	boot=$(command -v go)
fi

mod=golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch
echo "setup: downloading Go $GO_VERSION ($arch) with $("$boot" version | cut -d' ' -f3) as module $mod"
tmp=$(mktemp -d)
# The module cache is read-only: make it writable to remove it.
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/m"
echo 'module netplan42-setup' >"$tmp/m/go.mod"
# A module cache of its own, so nothing is left in the user's; GOFLAGS
# and GOTOOLCHAIN from the environment are for netplan42's build, not this.
# go mod download -json reports its errors in the JSON: show them.
for try in 1 2 3; do
	if json=$(cd "$tmp/m" && GOPATH="$tmp/gopath" GOMODCACHE="$tmp/gopath/pkg/mod" GOFLAGS=-modcacherw GOTOOLCHAIN=local \
		"$boot" mod download -json "$mod" 2>&1); then
		break
	fi
	echo "setup: go mod download $mod failed (try $try of 3):" >&2
	echo "$json" >&2
	[ "$try" -lt 3 ] || exit 1
	sleep 5
done
zip=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$/\1/p')
if [ -z "$zip" ] || [ ! -f "$zip" ]; then
	echo "setup: go mod download $mod gave no archive:" >&2
	echo "$json" >&2
	exit 1
fi
echo "$sum  $zip" | sha256sum -c --quiet -
unzip -q "$zip" -d "$tmp/x"
# Module zips carry no file modes: make the tools executable again.
src="$tmp/x/$mod"
chmod -R a+rX,u+w "$src"
find "$src/bin" "$src/pkg/tool" -type f -exec chmod a+x {} +
rm -rf "$GO_PREFIX"
mkdir -p "$(dirname "$GO_PREFIX")"
mv "$src" "$GO_PREFIX"
echo "setup: Go $GO_VERSION is in $GO_PREFIX (add $GO_PREFIX/bin to PATH)"
"$GO_PREFIX/bin/go" version
