#!/usr/bin/env bash
# Real GPIO without hardware: boot Debian's arm64 Linux 6.12 under
# qemu-system-aarch64 (`-M virt` has an ARM PL061 GPIO controller, so the guest
# gets a real /dev/gpiochip0 served by the kernel's gpiolib and PL061 driver),
# and run inside it the cdev backend tests (tests/gpio_cdev.rs) and
# `camrelay run` / `camrelay safe-state` against those lines.
#
# Inputs too: QEMU's virt machine wires its gpio-key to PL061 line 3, and the
# monitor command `system_powerdown` drives that line high for ~100 ms, which
# the PL061 interrupt turns into real edge events on the GPIO character
# device. The guest boots with QEMU's own device tree minus its gpio-keys node
# (dumped with dumpdtb, the node removed with fdtput, checked with dtc), so
# no kernel driver holds line 3 and camrelay requests it as an [[input]]
# (scripts/vm/inputs.toml). When the guest prints `GPIO-VM: PRESS why` on the
# console, this script sends `system_powerdown` to the monitor's unix socket
# (python3). Input checks: input-line-held-as-input, input-button-pulses-relay
# (debounce 30ms: the press pulses a relay, /api/status counts 2 changes),
# gate-did-not-move (a relay's confirm without a press: the fault relay goes
# on), gate-moved-no-fault (with a press), input-short-pulse-ignored
# (debounce 300ms: the kernel sees both edges, camrelay nothing); plus one
# INFO line, camrelay's input -> relay latency from its log (not a check).
#
#   scripts/gpio-vm-test.sh                 everything
#   scripts/gpio-vm-test.sh --backend-only  only the cdev backend tests
#   scripts/gpio-vm-test.sh --no-install    never call apt-get or rustup
#   GPIO_VM_CAMRELAY=path/to/aarch64/camrelay scripts/gpio-vm-test.sh
#                                           test that binary instead of the debug build
#
# Prints one line per check (PASS name / FAIL name: reason) and a summary
# line. Exit status: 0 all passed; 1 a check failed or the guest gave no
# summary (the console log is kept in target/gpio-vm/console.log); 77 a needed
# piece cannot be installed here (one loud GPIO-VM: SKIPPED line names it):
# that is "not run", never a pass.
#
# Needs (installed when missing): the arm64 dpkg architecture, qemu-system-arm,
# cpio, gcc-aarch64-linux-gnu, device-tree-compiler (dtc, fdtput), python3,
# the rustup target aarch64-unknown-linux-musl;
# downloads busybox-static:arm64 and the kernel package that
# linux-image-6.12-arm64:arm64 depends on into target/gpio-vm/ (kept there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${GPIO_VM_CACHE:-$ROOT/target/gpio-vm}
TARGET=aarch64-unknown-linux-musl
KERNEL_META=linux-image-6.12-arm64:arm64
BOOT_TIMEOUT=${GPIO_VM_TIMEOUT:-300}
NOT_RUN=77

mode=full
install=1
for arg in "$@"; do
    case "$arg" in
        --backend-only) mode=backend-only ;;
        --no-install) install=0 ;;
        -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
        *) echo "unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "gpio-vm: $*" >&2; }
. scripts/vm/kernel-package.sh
skip() {
    echo "GPIO-VM: SKIPPED — cannot install $1; the GPIO VM checks did NOT run"
    exit $NOT_RUN
}
t_start=$(date +%s.%N)
elapsed() { printf '%.1f s' "$(echo "$(date +%s.%N) - $t_start" | bc 2>/dev/null || echo 0)"; }

# ---- tools ------------------------------------------------------------------

apt_updated=0
apt_update() {
    if [ $apt_updated = 0 ]; then
        say "apt-get update"
        apt-get update -qq >/dev/null 2>&1 || return 1
        apt_updated=1
    fi
}
need_pkgs=()
command -v qemu-system-aarch64 >/dev/null || need_pkgs+=(qemu-system-arm)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v aarch64-linux-gnu-gcc >/dev/null || need_pkgs+=(gcc-aarch64-linux-gnu)
# The guest's device tree without QEMU's gpio-keys node (line 3 for camrelay).
{ command -v dtc && command -v fdtput; } >/dev/null || need_pkgs+=(device-tree-compiler)
# Presses through QEMU's monitor socket.
command -v python3 >/dev/null || need_pkgs+=(python3)
# ring's C (TLS for [mqtt]) includes <stdint.h>, whose cross headers are
# only a recommends of the cross gcc, which --no-install-recommends leaves out.
[ -e /usr/aarch64-linux-gnu/include/bits/libc-header-start.h ] || need_pkgs+=(libc6-dev-arm64-cross)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ $install = 1 ] || skip "${need_pkgs[*]} (--no-install given)"
    command -v apt-get >/dev/null || skip "${need_pkgs[*]} (no apt-get on this machine)"
    apt_update || skip "${need_pkgs[*]} (apt-get update failed)"
    say "apt-get install ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 ||
        skip "${need_pkgs[*]} (apt-get install failed)"
fi
if ! rustup target list --installed 2>/dev/null | grep -qx $TARGET; then
    [ $install = 1 ] || skip "the rustup target $TARGET (--no-install given)"
    command -v rustup >/dev/null || skip "the rustup target $TARGET (no rustup on this machine)"
    say "rustup target add $TARGET"
    rustup target add $TARGET >/dev/null 2>&1 || skip "the rustup target $TARGET (rustup target add failed)"
fi

# ---- kernel and busybox, cached in target/gpio-vm ---------------------------

mkdir -p "$CACHE/debs"
if [ ! -s "$CACHE/vmlinuz" ] || [ ! -x "$CACHE/busybox" ]; then
    [ $install = 1 ] || skip "the arm64 kernel and busybox packages (--no-install given)"
    kpkg=$(arm64_kernel_package "$KERNEL_META") || skip "$kpkg"
    krel=${kpkg#linux-image-}
    krel=${krel%:arm64}
    say "apt-get download busybox-static:arm64 $kpkg"
    (cd "$CACHE/debs" && rm -f ./*.deb && apt-get download busybox-static:arm64 "$kpkg" >/dev/null 2>&1) ||
        skip "busybox-static:arm64 / $kpkg (apt-get download failed)"
    rm -rf "$CACHE/x" && mkdir -p "$CACHE/x"
    dpkg-deb -x "$CACHE"/debs/busybox-static_*.deb "$CACHE/x"
    # Only the kernel image and its config, and stop reading once both are
    # out (they come first): the modules are most of the package.
    dpkg-deb --fsys-tarfile "$CACHE"/debs/linux-image-*.deb 2>/dev/null |
        tar -x -C "$CACHE/x" --occurrence=1 "./boot/vmlinuz-$krel" "./boot/config-$krel" 2>/dev/null || true
    [ -s "$CACHE/x/boot/vmlinuz-$krel" ] && [ -x "$CACHE/x/bin/busybox" ] ||
        skip "$kpkg / busybox-static:arm64 (the packages did not hold boot/vmlinuz-$krel and bin/busybox)"
    cp "$CACHE/x/bin/busybox" "$CACHE/busybox"
    cp "$CACHE/x/boot/config-$krel" "$CACHE/kernel.config"
    cp "$CACHE/x/boot/vmlinuz-$krel" "$CACHE/vmlinuz"
    rm -rf "$CACHE/x" "$CACHE/debs"
fi
# The PL061 driver must be built in: the initramfs carries no modules.
if ! grep -qx 'CONFIG_GPIO_PL061=y' "$CACHE/kernel.config" || ! grep -qx 'CONFIG_GPIO_CDEV=y' "$CACHE/kernel.config"; then
    echo "GPIO-VM: FAIL — the cached kernel lacks CONFIG_GPIO_PL061=y or CONFIG_GPIO_CDEV=y (delete $CACHE to refetch)"
    exit 1
fi
kver=$(grep -m1 '^# Linux/arm64' "$CACHE/kernel.config" | awk '{ print $3 }')
say "kernel ${kver:-?}, tools ready after $(elapsed)"

# ---- static aarch64 binaries ------------------------------------------------

# Only the linker is needed from the cross gcc (Rust ships musl itself). No
# debug info: smaller initramfs, faster link. One cargo call builds both the
# test binary and camrelay (integration tests build the package's binaries).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS:--C debuginfo=0}
export CARGO_INCREMENTAL=0
say "cargo test --no-run --target $TARGET --test gpio_cdev"
if ! cargo test --no-run --target $TARGET --test gpio_cdev --message-format=json-render-diagnostics \
    >"$CACHE/cargo.json" 2>"$CACHE/cargo.log"; then
    tail -30 "$CACHE/cargo.log" >&2
    echo "GPIO-VM: FAIL — the aarch64 build failed (log: $CACHE/cargo.log)"
    exit 1
fi
test_bin=$(grep '"name":"gpio_cdev"' "$CACHE/cargo.json" | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
# GPIO_VM_CAMRELAY: put another aarch64 camrelay build in the guest (a release build, say).
camrelay_bin=${GPIO_VM_CAMRELAY:-$ROOT/target/$TARGET/debug/camrelay}
if [ -z "$test_bin" ] || [ ! -x "$test_bin" ] || [ ! -x "$camrelay_bin" ]; then
    echo "GPIO-VM: FAIL — cargo did not produce the gpio_cdev test binary and camrelay for $TARGET"
    exit 1
fi
say "built after $(elapsed)"

# ---- initramfs --------------------------------------------------------------

root=$CACHE/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/etc/camrelay" "$root/posts" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "$CACHE/busybox" "$root/bin/busybox"
install -m 0755 scripts/vm/init "$root/init"
cp scripts/vm/rules.toml "$root/etc/camrelay/rules.toml"
cp scripts/vm/inputs.toml "$root/etc/camrelay/inputs.toml"
cp tests/fixtures/ipc-v1x/traject.xml "$root/posts/traject.xml"
cp "$test_bin" "$root/gpio_cdev"
cp "$camrelay_bin" "$root/camrelay"
# Uncompressed: the kernel unpacks a plain newc archive, and the emulated CPU
# would spend longer inflating it than the host spends copying it.
(cd "$root" && find . | cpio -o -H newc --quiet) >"$CACHE/initrd.cpio"

# ---- boot -------------------------------------------------------------------

# The machine as the guest boots it; the device tree is dumped with the same
# options (its memory, CPU, initrd and command line nodes match).
machine_args=(-cpu cortex-a57 -m 512 -nographic -no-reboot -nic none
    -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.cpio"
    -append "console=ttyAMA0 quiet panic=-1 iomem=relaxed camrelay_vm=$mode")
dtb=$CACHE/virt-no-gpio-keys.dtb
rm -f "$dtb"
if ! qemu-system-aarch64 -M "virt,dumpdtb=$dtb" "${machine_args[@]}" </dev/null >"$CACHE/dumpdtb.log" 2>&1 ||
    ! fdtput -r "$dtb" /gpio-keys 2>>"$CACHE/dumpdtb.log" ||
    ! dtc -I dtb -O dts "$dtb" 2>/dev/null | grep -q 'pl061@9030000' ||
    dtc -I dtb -O dts "$dtb" 2>/dev/null | grep -q 'gpio-keys'; then
    cat "$CACHE/dumpdtb.log" >&2
    echo "GPIO-VM: FAIL — could not make QEMU virt's device tree without its gpio-keys node ($dtb)"
    exit 1
fi

# QEMU's monitor, for the presses; a short path (unix sockets have ~100 bytes).
mondir=$(mktemp -d /tmp/gpio-vm.XXXXXX)
trap 'rm -rf "$mondir"' EXIT
monitor=$mondir/monitor.sock
# press: `system_powerdown` on the monitor: QEMU's gpio-key drives PL061
# line 3 high for about 100 ms. Waits for the monitor's prompt before and after.
press() {
    python3 - "$monitor" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
def prompt():
    buf = b""
    while b"(qemu) " not in buf:
        data = s.recv(4096)
        if not data:
            sys.exit("the monitor closed the connection")
        buf += data
prompt()
s.sendall(b"system_powerdown\n")
prompt()
s.close()
EOF
}

say "booting qemu-system-aarch64 -M virt ($mode), up to ${BOOT_TIMEOUT}s"
console=$CACHE/console.log
: >"$console"
set +e
# The console is read line by line here (tr and grep would buffer it): a
# PRESS line must reach the monitor while the guest waits for the press.
timeout "$BOOT_TIMEOUT" qemu-system-aarch64 -M virt "${machine_args[@]}" -dtb "$dtb" \
    -monitor "unix:$monitor,server,nowait" </dev/null 2>&1 |
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line//$'\r'/}
        printf '%s\n' "$line" >>"$console"
        case $line in
            'GPIO-VM: PRESS'*)
                if press 2>"$mondir/press.err"; then
                    say "system_powerdown sent: line 3 pressed for ${line#GPIO-VM: PRESS }"
                else
                    say "could not send system_powerdown to $monitor: $(tr '\n' ' ' <"$mondir/press.err")"
                fi
                ;;
            PASS* | FAIL* | INFO* | GPIO-VM:*) printf '%s\n' "$line" ;;
        esac
    done
qemu_status=${PIPESTATUS[0]}
set -e

summary=$(grep -E '^GPIO-VM: [0-9]+ passed, [0-9]+ failed$' "$console" | tail -1 || true)
if [ -z "$summary" ]; then
    tail -40 "$console" >&2
    if [ "$qemu_status" = 124 ]; then
        echo "GPIO-VM: FAIL — the guest gave no summary within ${BOOT_TIMEOUT}s (console: $console)"
    else
        echo "GPIO-VM: FAIL — the guest stopped without a summary, qemu status $qemu_status (console: $console)"
    fi
    exit 1
fi
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed$/\1/')
say "done in $(elapsed) (kernel ${kver:-?}, mode $mode)"
[ "$failed" = 0 ]
