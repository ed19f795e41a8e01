#!/bin/bash
# deb-test.sh DEB: install DEB (from release.sh) into a clean Debian root
# and run `netplan42 version` there; check the unit and /etc/netplan42.
#
# The root is `debootstrap --variant=minbase` of this machine's Debian
# release and architecture, made once (a few minutes) and cached as a
# tarball under DEBROOT_CACHE (default /var/cache/netplan42-test, outside
# the repository); every run unpacks a fresh copy (seconds). The mirror is
# the one apt on this machine is configured with. Needs root.
set -euo pipefail
deb=$(realpath "${1:?usage: scripts/deb-test.sh DEB}")
cache=${DEBROOT_CACHE:-/var/cache/netplan42-test}
. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
arch=$(dpkg --print-architecture)
tarball=$cache/debian-$suite-$arch-minbase.tar

# apt_mirror prints the repository apt uses for $suite's packages.
apt_mirror() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
		awk -v s="$suite" '$2 == s && $3 == "Packages" { print $1; exit }'
}

if [ ! -s "$tarball" ]; then
	mirror=$(apt_mirror)
	if [ -z "$mirror" ]; then
		echo "deb-test: apt has no source for $suite (apt-get update first)" >&2
		exit 1
	fi
	# debootstrap fetches over http like apt: use apt's proxy, if any.
	eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
	[ -n "${http_proxy:-}" ] && export http_proxy
	install -d -m 0755 "$cache"
	build=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf "$build"' EXIT
	start=$SECONDS
	echo "deb-test: debootstrap --variant=minbase $suite ($arch), once; cached in $tarball"
	if ! timeout 900 debootstrap --variant=minbase --arch="$arch" "$suite" "$build/root" "$mirror" >"$build/log" 2>&1; then
		tail -20 "$build/log" >&2
		exit 1
	fi
	tar -C "$build/root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
	rm -rf "$build"
	echo "deb-test: debootstrap took $((SECONDS - start)) s"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
start=$SECONDS
tar -C "$root" -xf "$tarball"
cp "$deb" "$root/tmp/"
chroot "$root" dpkg -i "/tmp/$(basename "$deb")" >/dev/null
out=$(chroot "$root" /usr/bin/netplan42 version)
echo "deb-test: in a clean $suite root: $out"
fail() {
	echo "deb-test: $*" >&2
	exit 1
}
want=$(dpkg-deb -f "$deb" Version)
want=${want/\~/-}
case "$out" in
"netplan42 v$want "*) ;;
*) fail "netplan42 version says '$out', want v$want" ;;
esac
grep -q '^ExecStart=/usr/bin/netplan42 agent' "$root/lib/systemd/system/netplan42-agent.service" ||
	fail "no netplan42-agent.service running /usr/bin/netplan42"
[ -d "$root/etc/netplan42" ] || fail "no /etc/netplan42"
chroot "$root" dpkg -r netplan42 >/dev/null
[ ! -e "$root/usr/bin/netplan42" ] || fail "dpkg -r left /usr/bin/netplan42"
echo "deb-test: installed, ran, removed in $((SECONDS - start)) s"
