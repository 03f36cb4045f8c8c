#!/bin/sh
# Writes debian/copyright (DEP-5) to stdout: apppass's own licence, every
# crate compiled into the shipped binaries with its version and licence
# (from Cargo.lock, through cargo tree), and the text of each licence
# (packaging/copyright-licenses). `make copyright` runs it; `make check`
# fails when Cargo.lock changed and debian/copyright was not regenerated.
set -eu
cd "$(dirname "$0")/.."
cargo=${CARGO:-cargo}

crates=$("$cargo" tree --locked --offline -e normal \
    -p pam_apppass -p apppass-cli -p apppassd -p apppass-web \
    --prefix none --format '{p}|{l}' |
    sed 's/ (\*)$//' | grep -v ' (/' | grep '|' | sort -u)

cat <<'HEAD'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: apppass
Upstream-Contact: apppass maintainers <maintainers@apppass.org>
Comment: The programs and the PAM module are statically linked with these
 Rust crates, each under the licence or choice of licences shown (SPDX
 expressions, as the crate declares them):
HEAD
printf '%s\n' "$crates" | sed 's/^\([^ ]*\) v\([^|]*\)|\(.*\)$/ \1 \2: \3/'
cat <<'FILES'

Files: *
Copyright: 2026 the apppass developers
License: MIT

FILES
cat packaging/copyright-licenses
