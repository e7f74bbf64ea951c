#!/usr/bin/env bash
# Build the camrelay Debian package for Raspberry Pi targets with cargo-deb.
#
#   scripts/build-deb.sh                          arm64 (aarch64-unknown-linux-gnu)
#   scripts/build-deb.sh armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl
#   scripts/build-deb.sh --no-build TARGET        package the binary already built
#
# For each target: cargo build --release (linkers from .cargo/config.toml),
# then cargo deb --no-build, then scripts/check-deb.sh on the result. Packages
# land in target/debian/<target>/ (the gnu and the static musl arm64 packages
# share a file name). musl targets use the `static` variant (no libc6
# dependency); ARMv6 uses the `armv6` variant (libc6 >= 2.28, its zig-linked
# floor) and must be built beforehand. The Debian architecture follows the
# target: aarch64 → arm64, armv7 and armv6 → armhf.
#
# The packaged /etc/camrelay/rules.toml is rules.example.toml (or
# $CAMRELAY_RULES_SRC) with `backend = "mock"` turned into `backend = "cdev"`,
# `mock_log` commented out, the demo token replaced by the token file the
# package makes (/etc/camrelay/api-token), and every block from the first
# [[relay]] on commented out: the example stays in the file as a reference,
# but the package drives no line and names no camera until the user says so,
# so the service can run from the install on and `camrelay camera add
# --name driveway` finds no driveway already there. It is checked with
# `camrelay check` (host build) unless CAMRELAY_SKIP_RULES_CHECK=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
build=1
if [ "${1:-}" = --no-build ]; then build=0; shift; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu)

# cargo-deb, pinned.
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "== cargo install cargo-deb --version $CARGO_DEB_VERSION"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

# The packaged rules file.
src="${CAMRELAY_RULES_SRC:-rules.example.toml}"
if [ ! -f "$src" ]; then
    echo "build-deb: $src not found (set CAMRELAY_RULES_SRC to the rules file to package)" >&2
    exit 1
fi
mkdir -p target/deb-assets
out=target/deb-assets/rules.toml
{
    echo "# camrelay rules: /etc/camrelay/rules.toml (installed from rules.example.toml)."
    echo "# Edit, then: sudo -u camrelay camrelay check /etc/camrelay/rules.toml && sudo systemctl reload camrelay"
    echo "# Reference: /usr/share/doc/camrelay/deploy.md and rules.md"
    echo "#"
    echo "# The example's relays, cameras, zones and rules are below, commented out:"
    echo "# nothing is switched until you write your own (camrelay camera add and"
    echo "# camera zones --write add the camera and zone blocks for you)."
    echo
    sed -E \
        -e 's/^([[:space:]]*backend[[:space:]]*=[[:space:]]*)"mock"/\1"cdev"/' \
        -e 's/^([[:space:]]*mock_log[[:space:]]*=)/# (mock backend only) \1/' \
        -e 's|^[[:space:]]*token[[:space:]]*=.*$|token_file = "/etc/camrelay/api-token"   # made at install; the page logs in with its first line|' \
        -e 's|^([[:space:]]*dir[[:space:]]*=[[:space:]]*)"history"|\1"/var/lib/camrelay/history"   # the unit'"'"'s StateDirectory, removed on purge|' \
        "$src" |
        awk '/^\[\[/ { off = 1 } { if (off && $0 !~ /^[[:space:]]*(#|$)/) print "# " $0; else print }'
} > "$out"
if grep -Eq '^\[\[' "$out"; then
    echo "build-deb: $out still has an active [[block]]" >&2
    exit 1
fi
if ! grep -Eq '^dir = "/var/lib/camrelay/history"' "$out"; then
    echo "build-deb: $out keeps no history in /var/lib/camrelay" >&2
    exit 1
fi
if grep -Eq '^[[:space:]]*backend[[:space:]]*=[[:space:]]*"mock"' "$out"; then
    echo "build-deb: $out still selects the mock backend" >&2
    exit 1
fi
echo "== packaged rules: $out (from $src, backend cdev)"
if [ "${CAMRELAY_SKIP_RULES_CHECK:-0}" != 1 ]; then
    cargo run --quiet --locked -- check "$out"
fi

status=0
for triple in "${targets[@]}"; do
    echo "== $triple"
    if [ "$build" = 1 ] && [ "$triple" = arm-unknown-linux-gnueabihf ]; then
        echo "build-deb: build ARMv6 first (scripts/cross-check.sh --zig, or cross), then: $0 --no-build $triple" >&2
        exit 1
    fi
    if [ "$build" = 1 ]; then
        rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
        cargo build --release --locked --target "$triple"
    fi
    variant=()
    case "$triple" in
        *-musl*) variant=(--variant static) ;;
        arm-unknown-linux-gnueabihf) variant=(--variant armv6) ;;
    esac
    deb=$(cargo deb --no-build --no-strip --target "$triple" "${variant[@]}" --output "target/debian/$triple/" | tail -1)
    echo "   $deb"
    scripts/check-deb.sh "$deb" || status=1
done
exit "$status"
