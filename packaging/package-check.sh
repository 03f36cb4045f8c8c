#!/bin/sh
# make package-check: piuparts installs, removes and purges the package in
# a clean Debian 12 chroot, then installs the previous release's package
# (0.1.0, built from PREVIOUS_COMMIT) from a local repository and upgrades
# it to this one. Slow (several minutes): not part of make check.
# Usage: packaging/package-check.sh DEB PREVIOUS_COMMIT
set -eu
deb=$(readlink -f "$1")
previous=$2
cd "$(dirname "$0")/.."
work=$(pwd)/target/package-check
mkdir -p "$work"

# The previous release's package, built once from its own source.
repo=$work/repo
if ! ls "$repo"/libpam-apppass_*.deb >/dev/null 2>&1; then
    rm -rf "$work/previous" "$repo"
    mkdir -p "$work/previous" "$repo"
    git archive "$previous" | tar -x -C "$work/previous"
    echo "package-check: building the previous release's package from $previous"
    make -C "$work/previous" deb >"$work/previous.log" 2>&1 ||
        { tail -n 30 "$work/previous.log"; echo "package-check: the previous package did not build (log: $work/previous.log)" >&2; exit 1; }
    cp "$work"/previous/target/deb/libpam-apppass_*.deb "$repo/"
    rm -rf "$work/previous"
fi
(cd "$repo" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null)

# The mirror this host's apt uses.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

echo "package-check: piuparts on $(basename "$deb") (bookworm from $mirror; previous: $(ls "$repo"/*.deb | xargs -n1 basename))"
piuparts --distribution bookworm --mirror "$mirror" \
    --bindmount "$repo" --extra-repo "deb [trusted=yes] file://$repo ./" \
    --log-file "$work/piuparts.log" "$deb"
echo "package-check: piuparts passed (log: $work/piuparts.log)"
