#!/bin/bash
# release.sh VERSION: build netplan42's release into dist/VERSION/:
#
#   netplan42_X.Y.Z_GOOS_GOARCH.tar.gz (.zip for Windows) for linux,
#     darwin, freebsd and windows on amd64 and arm64: the binary, README.md
#     and examples/
#   netplan42_X.Y.Z_ARCH.deb for linux amd64 and arm64: /usr/bin/netplan42,
#     the agent's systemd unit (installed, not enabled: it needs a config)
#     and an empty config directory /etc/netplan42
#   SHA256SUMS over all of them
#
# VERSION is a tag like v1.2.3 (or v1.2.3-rc1); it and the commit are
# stamped into `netplan42 version`. TARGETS="linux/amd64 ..." builds only
# those (test.sh builds one .deb this way). Needs Go and dpkg-deb only;
# archives are reproducible (sorted, owner 0, mtime of the commit).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-}
case "$version" in
v[0-9]*) ;;
*)
	echo "usage: scripts/release.sh VERSION   (a tag such as v1.2.3)" >&2
	exit 2
	;;
esac
export PATH="${GO_PREFIX:-/usr/local/go}/bin:$PATH"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
export CGO_ENABLED=0
git() { command git -c safe.directory="$PWD" "$@"; }

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then
	commit+="-dirty"
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
cli=github.com/netplan42/netplan42/cmd/netplan42/cli
ldflags="-s -w -X $cli.Version=$version -X $cli.Commit=$commit"
plain=${version#v}
# Debian orders 1.2.3~rc1 before 1.2.3, as a release candidate should be.
debversion=${plain/-/\~}
TARGETS=${TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 freebsd/amd64 freebsd/arm64 windows/amd64 windows/arm64}

out=dist/$version
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball() { # DIR NAME: dist archive of $work/DIR/NAME
	tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -cf - "$2" | gzip -n >"$out/$2.tar.gz"
}

deb() { # ARCH BINARY
	local arch=$1 bin=$2 root=$work/deb-$1
	install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/netplan42" "$root/usr/share/doc/netplan42"
	install -m 0755 "$bin" "$root/usr/bin/netplan42"
	# The unit in examples/ is written for a hand install in /usr/local/bin.
	sed 's|/usr/local/bin/netplan42|/usr/bin/netplan42|g' examples/systemd/netplan42-agent.service >"$root/lib/systemd/system/netplan42-agent.service"
	chmod 0644 "$root/lib/systemd/system/netplan42-agent.service"
	gzip -9n <README.md >"$root/usr/share/doc/netplan42/README.md.gz"
	cat >"$root/DEBIAN/control" <<EOF
Package: netplan42
Version: $debversion
Architecture: $arch
Maintainer: netplan42 maintainers
Section: net
Priority: optional
Recommends: nftables | iptables
Homepage: https://github.com/netplan42/netplan42
Description: inbound ports as code: router mappings and firewall rules
 netplan42 keeps the inbound ports of a fleet of computers in an HCL file
 and makes the router (UPnP IGD, NAT-PMP) and each host firewall match it:
 plan shows what would change, apply makes it so. The agent's systemd unit
 netplan42-agent.service is installed but not enabled: put the fleet's
 config in /etc/netplan42 first.
EOF
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zxz --build "$root" "$out/netplan42_${debversion}_$arch.deb" >/dev/null
}

for t in $TARGETS; do
	goos=${t%/*} goarch=${t#*/}
	name=netplan42_${plain}_${goos}_${goarch}
	exe=netplan42
	[ "$goos" = windows ] && exe=netplan42.exe
	mkdir -p "$work/$t/$name"
	GOOS=$goos GOARCH=$goarch go build -trimpath -ldflags "$ldflags" -o "$work/$t/$name/$exe" ./cmd/netplan42
	cp README.md "$work/$t/$name/"
	cp -r examples "$work/$t/$name/"
	find "$work/$t/$name" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	if [ "$goos" = windows ]; then
		(cd "$work/$t" && find "$name" -print | LC_ALL=C sort | zip -qX "$OLDPWD/$out/$name.zip" -@)
	else
		tarball "$work/$t" "$name"
	fi
	if [ "$goos" = linux ]; then
		deb "$goarch" "$work/$t/$name/$exe"
	fi
	echo "release: $t"
done
(
	cd "$out"
	shopt -s nullglob
	sha256sum -- *.tar.gz *.zip *.deb >SHA256SUMS
)
echo "release: $version ($commit) in $out:"
ls -l "$out"
