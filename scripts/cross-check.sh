#!/usr/bin/env bash
# Cross-compile camrelay for the Raspberry Pi with Debian's cross toolchains
# (no Docker), run the test suite under qemu-aarch64, and report per target the
# stripped size, the oldest glibc the binary needs and the Pi OS releases it
# runs on.
#
#   scripts/cross-check.sh              install what is missing, build, test, report
#   scripts/cross-check.sh --no-tests   builds and report only
#   scripts/cross-check.sh --no-install never call apt-get, rustup or pip
#   scripts/cross-check.sh --zig        also build ARMv6 (Pi Zero / 1) with zig as
#                                       the linker (ziglang + cargo-zigbuild from PyPI)
#   scripts/cross-check.sh --floor BIN  print the glibc floor of one binary
#
# Linkers and qemu runners come from .cargo/config.toml. Exit status is
# non-zero when the aarch64 build or its tests fail; targets that cannot be
# built on this machine (ARMv6, and any rustup target that cannot be
# installed) are reported as NOT BUILT with the reason, never as passing.
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
tests=1
zig=0
while [ $# -gt 0 ]; do
    case "$1" in
        --no-tests) tests=0 ;;
        --no-install) install=0 ;;
        --zig) zig=1 ;;
        --floor) shift; floor_only="$1" ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# Highest GLIBC_x.y version the binary requires (its glibc floor), or
# "static"/"none". Same answer as the highest GLIBC_ in `objdump -T BIN`.
glibc_floor() {
    local bin="$1"
    if ! readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
        echo static
        return
    fi
    local v
    v=$(readelf -V --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V -u | tail -1)
    # Packed relative relocations (scripts/link-aarch64.sh) need glibc 2.36.
    if readelf -V --wide "$bin" | grep -q GLIBC_ABI_DT_RELR; then
        v=$(printf '%s\n2.36\n' "$v" | sort -V | tail -1)
    fi
    echo "${v:-none}"
}

# Raspberry Pi OS releases whose glibc is at least the floor.
pi_os_for() {
    local floor="$1" out=""
    if [ "$floor" = static ] || [ "$floor" = none ]; then
        echo "every release (Buster 2.28, Bullseye 2.31, Bookworm 2.36, Trixie 2.41)"
        return
    fi
    for rel in "Buster:2.28" "Bullseye:2.31" "Bookworm:2.36" "Trixie:2.41"; do
        local name=${rel%%:*} have=${rel##*:}
        if [ "$(printf '%s\n%s\n' "$floor" "$have" | sort -V | head -1)" = "$floor" ]; then
            out="$out${out:+, }$name ($have)"
        fi
    done
    echo "${out:-none of Buster..Trixie}"
}

if [ -n "${floor_only:-}" ]; then
    f=$(glibc_floor "$floor_only")
    echo "$floor_only: glibc floor $f; runs on Pi OS $(pi_os_for "$f")"
    exit 0
fi

# ---------------------------------------------------------------- install
apt_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
          gcc-arm-linux-gnueabihf libc6-dev-armhf-cross binutils-arm-linux-gnueabihf)
if [ "$install" = 1 ]; then
    missing=()
    for p in "${apt_pkgs[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    # qemu-user or qemu-user-static: either provides qemu-aarch64.
    if ! command -v qemu-aarch64 >/dev/null 2>&1 && ! command -v qemu-aarch64-static >/dev/null 2>&1; then
        missing+=(qemu-user)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        echo "== apt-get install ${missing[*]}"
        $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
        $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
    fi
fi

# rustup target add, once per target; records the ones it refuses.
declare -A unavailable=()
have_target() {
    local t="$1"
    if rustup target list --installed 2>/dev/null | grep -qx "$t"; then
        return 0
    fi
    if [ "$install" = 1 ]; then
        local err
        if err=$(rustup target add "$t" 2>&1); then
            return 0
        fi
        unavailable[$t]="rustup could not install rust-std for $t ($(echo "$err" | grep -m1 error: || echo "$err" | tail -1))"
    else
        unavailable[$t]="rust-std for $t is not installed (--no-install)"
    fi
    return 1
}

qemu_aarch64=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if [ -z "$qemu_aarch64" ]; then
    echo "qemu-aarch64 not found: install qemu-user (apt-get install qemu-user)" >&2
    exit 1
fi

# ---------------------------------------------------------------- build
declare -a rows=()
failed=0
report() { rows+=("$(printf '%-34s %-10s %-8s %s' "$@")"); }

size_of() {
    local bin="$1" triple="$2" stripped="target/$2/release/camrelay.stripped"
    # The release profile strips already; strip again with the target's
    # binutils so the number is the stripped size even if that changes.
    local strip_tool
    case "$triple" in
        aarch64-*) strip_tool=aarch64-linux-gnu-strip ;;
        arm*) strip_tool=arm-linux-gnueabihf-strip ;;
    esac
    cp "$bin" "$stripped"
    if command -v "$strip_tool" >/dev/null 2>&1; then "$strip_tool" "$stripped"; fi
    stat -c %s "$stripped"
}

build_target() {
    local triple="$1"
    echo "== cargo build --release --target $triple"
    if ! have_target "$triple"; then
        echo "   NOT BUILT: ${unavailable[$triple]}"
        report "$triple" "-" "-" "NOT BUILT: ${unavailable[$triple]}"
        return 1
    fi
    local t0=$SECONDS
    if ! cargo build --release --locked --target "$triple"; then
        report "$triple" "-" "-" "BUILD FAILED"
        return 2
    fi
    local bin="target/$triple/release/camrelay" size floor arch
    size=$(size_of "$bin" "$triple")
    floor=$(glibc_floor "$bin")
    arch=$(readelf -A "$bin" 2>/dev/null | sed -n 's/.*Tag_CPU_arch: //p' | head -1)
    echo "   built in $((SECONDS - t0))s: $bin, $size bytes stripped, glibc floor $floor${arch:+, Tag_CPU_arch $arch}"
    report "$triple" "$(awk -v s="$size" 'BEGIN{printf "%.2f MB", s/1048576}')" "$floor" \
        "Pi OS: $(pi_os_for "$floor")${arch:+; Tag_CPU_arch $arch}"
}

build_target aarch64-unknown-linux-gnu || failed=1
aarch64_size=$(stat -c %s target/aarch64-unknown-linux-gnu/release/camrelay.stripped 2>/dev/null || echo 0)
# The budget with everything in the default build: the web page (issue 15),
# MQTT and its TLS (issue 17), the history's SQLite (issue 27).
if [ "$aarch64_size" -ge $((8 * 1024 * 1024)) ]; then
    echo "aarch64 binary is $aarch64_size bytes: over the 8 MiB budget" >&2
    failed=1
fi

# ---------------------------------------------------------------- tests
if [ "$tests" = 1 ] && [ "$failed" = 0 ]; then
    echo "== cargo test --target aarch64-unknown-linux-gnu (under $qemu_aarch64)"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$qemu_aarch64 -L /usr/aarch64-linux-gnu"
    # Tests that spawn the camrelay binary need the kernel to run an aarch64
    # ELF. Without binfmt_misc for qemu (containers usually lack it), they
    # must prefix the runner themselves: CAMRELAY_TEST_RUNNER says how.
    if ! grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
        export CAMRELAY_TEST_RUNNER="$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
    fi
    if cargo test --locked --target aarch64-unknown-linux-gnu 2>&1 | tee target/cross-check-aarch64-tests.log; then
        tests_line="aarch64 tests under qemu: $(grep -h '^test result:' target/cross-check-aarch64-tests.log \
            | awk '{p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d ignored", p, f, i}')"
    else
        tests_line="aarch64 tests under qemu: FAILED (see target/cross-check-aarch64-tests.log)"
        failed=1
    fi
else
    tests_line="aarch64 tests under qemu: not run"
fi

build_target armv7-unknown-linux-gnueabihf || true
build_target aarch64-unknown-linux-musl || true
build_target armv7-unknown-linux-musleabihf || true

# ARMv6 (Pi Zero / 1): only with a real ARMv6 toolchain, which Debian lacks
# (its arm-linux-gnueabihf gcc and libc are ARMv7/Thumb-2). Two ways:
#  --zig: zig links against a glibc 2.28 it builds for ARMv6 itself, and the
#         Rust standard library is compiled from rust-src (-Zbuild-std, with
#         RUSTC_BOOTSTRAP=1 on the stable compiler) because rustup has no
#         prebuilt rust-std for this target here;
#  cross: its container image carries an ARMv6 toolchain (needs Docker/Podman).
armv6=arm-unknown-linux-gnueabihf
armv6_check() {
    local bin="$1" how="$2" arch floor size
    arch=$(readelf -A "$bin" | sed -n 's/.*Tag_CPU_arch: //p' | head -1)
    floor=$(glibc_floor "$bin")
    size=$(stat -c %s "$bin")
    if [ "$arch" = v6 ]; then
        echo "   $bin: $size bytes, glibc floor $floor, Tag_CPU_arch v6 ($how)"
        report "$armv6" "$(awk -v s="$size" 'BEGIN{printf "%.2f MB", s/1048576}')" "$floor" \
            "Pi OS: $(pi_os_for "$floor"); Tag_CPU_arch v6 ($how)"
    else
        report "$armv6" "-" "-" "WRONG ARCH: Tag_CPU_arch ${arch:-missing}, want v6 ($how)"
        failed=1
    fi
}
echo "== $armv6 (ARMv6)"
if [ "$zig" = 1 ]; then
    venv=target/zig-venv
    if [ ! -x "$venv/bin/cargo-zigbuild" ] && [ "$install" = 1 ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q ziglang==0.17.0 cargo-zigbuild==0.24.0
    fi
    if [ "$install" = 1 ]; then rustup component add rust-src >/dev/null 2>&1 || true; fi
    if [ -x "$venv/bin/cargo-zigbuild" ] && PATH="$PWD/$venv/bin:$PATH" RUSTC_BOOTSTRAP=1 \
        cargo zigbuild --release --locked --target "$armv6.2.28" -Zbuild-std=std,panic_abort; then
        armv6_check "target/$armv6/release/camrelay" "zig, glibc 2.28"
    else
        report "$armv6" "-" "-" "BUILD FAILED (zig: needs python3-venv, PyPI and the rust-src component)"
        failed=1
    fi
elif command -v cross >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    if cross build --release --locked --target "$armv6"; then
        armv6_check "target/$armv6/release/camrelay" cross
    else
        report "$armv6" "-" "-" "BUILD FAILED (cross)"
    fi
else
    report "$armv6" "-" "-" \
        "NOT BUILT: needs an ARMv6 toolchain (Debian's is ARMv7): run with --zig, or 'cross build --release --target $armv6' where Docker runs"
fi

# ---------------------------------------------------------------- report
echo
echo "== camrelay cross-check summary ($(rustc --version))"
printf '%-34s %-10s %-8s %s\n' target size glibc "runs on"
printf '%s\n' "${rows[@]}"
echo "$tests_line"
exit "$failed"
