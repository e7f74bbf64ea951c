#!/usr/bin/env bash
# Installed as users install it: the camrelay .deb on Debian bookworm arm64
# (Raspberry Pi OS Bookworm's base: systemd 252) with udev and a real GPIO
# driver, under qemu-system-aarch64 -M virt with the kernel of
# scripts/gpio-vm-test.sh (Debian's arm64 6.12, PL061 built in).
#
#   scripts/systemd-vm-test.sh                 build what is missing, boot, check
#   scripts/systemd-vm-test.sh --deb FILE      test that package (default: the
#                                              newest target/debian/aarch64-unknown-linux-gnu/*.deb,
#                                              built by scripts/build-deb.sh when there is none)
#   scripts/systemd-vm-test.sh --no-install    never call apt-get
#
# The guest (scripts/vm/systemd-check, a oneshot unit after multi-user.target)
# first follows docs/deploy.md: its marked blocks (scripts/vm/guide-steps)
# run as written, from `dpkg -i` through adding, subscribing and importing
# a camera (scripts/vm/camera-sim.py on this host, written from the vendor's
# API documentation, reached from the guest at 10.0.2.2 and posting back
# through hostfwd) to a relay that follows the camera's person and the page's
# login with the packaged token. Then it writes the rules a user would
# (scripts/vm/systemd-rules.toml), and checks install, start, work (a traject
# post from this host through QEMU's hostfwd on 127.0.0.1), reload, crash
# (kill -9), hang (SIGSTOP and the watchdog), stop, hardening, upgrade,
# remove and purge: one PASS/FAIL line each, read from the serial console.
# MEASURE lines carry the timings (start → READY, kill -9 → line off).
#
# Exit status: 0 all passed; 1 a check failed or no summary came (the console
# is kept in target/systemd-vm/console.log); 77 a needed piece cannot be
# installed here (one loud SYSTEMD-VM: SKIPPED line names it): not run, never a pass.
#
# Cached in target/systemd-vm: the kernel and its virtio-net modules, and the
# bookworm arm64 root filesystem made by mmdebstrap (foreign maintainer
# scripts run through qemu-user-static and binfmt_misc, mounted here if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${SYSTEMD_VM_CACHE:-$ROOT/target/systemd-vm}
KERNEL_META=linux-image-6.12-arm64:arm64
SUITE=bookworm
# sudo: docs/deploy.md's commands run as written, and they start with sudo.
INCLUDE=systemd,systemd-sysv,udev,adduser,kmod,iproute2,busybox,procps,sudo
BOOT_TIMEOUT=${SYSTEMD_VM_TIMEOUT:-900}
NOT_RUN=77

install=1
deb=
while [ $# -gt 0 ]; do
    case "$1" in
        --deb) shift; deb=$1 ;;
        --no-install) install=0 ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "systemd-vm: $*" >&2; }
. scripts/vm/kernel-package.sh
skip() {
    echo "SYSTEMD-VM: SKIPPED — cannot install $1; the systemd system test did NOT run"
    exit $NOT_RUN
}
t_start=$(date +%s)
elapsed() { echo "$(($(date +%s) - t_start)) s"; }

# ---- tools ------------------------------------------------------------------------

apt_updated=0
apt_update() {
    if [ $apt_updated = 0 ]; then
        apt-get update -qq >/dev/null 2>&1 || return 1
        apt_updated=1
    fi
}
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
# mmdebstrap needs arch-test for a foreign architecture, and QEMU's
# virtio-net-pci its option ROM (Debian's ipxe-qemu): both are only
# recommends, which --no-install-recommends leaves out.
command -v arch-test >/dev/null || need+=(arch-test)
[ -e /usr/share/qemu/efi-virtio.rom ] || need+=(ipxe-qemu)
if [ ${#need[@]} -gt 0 ]; then
    [ $install = 1 ] || skip "${need[*]} (--no-install given)"
    command -v apt-get >/dev/null || skip "${need[*]} (no apt-get on this machine)"
    apt_update || skip "${need[*]} (apt-get update failed)"
    say "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        skip "${need[*]} (apt-get install failed)"
fi
# Foreign maintainer scripts (mmdebstrap's chroot) run through qemu-user-static.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || skip "binfmt_misc (mount failed: not root?)"
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || skip "binfmt_misc for qemu-aarch64 (update-binfmts --enable qemu-aarch64 failed)"

# ---- the package ---------------------------------------------------------------------

if [ -z "$deb" ]; then
    deb=$(ls -t target/debian/aarch64-unknown-linux-gnu/camrelay_*_arm64.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then
        say "no package yet: scripts/build-deb.sh"
        bash scripts/build-deb.sh >&2 || { echo "SYSTEMD-VM: FAIL — scripts/build-deb.sh failed"; exit 1; }
        deb=$(ls -t target/debian/aarch64-unknown-linux-gnu/camrelay_*_arm64.deb | head -1)
    fi
fi
[ -f "$deb" ] || { echo "SYSTEMD-VM: FAIL — no package at $deb"; exit 1; }
say "package $deb"

# ---- kernel and its virtio-net modules, cached -------------------------------------

mkdir -p "$CACHE"
kdir=$CACHE/kernel
if [ ! -s "$kdir/vmlinuz" ] || [ ! -s "$kdir/release" ]; then
    [ $install = 1 ] || skip "the arm64 kernel package (--no-install given)"
    kpkg=$(arm64_kernel_package "$KERNEL_META") || skip "$kpkg"
    krel=${kpkg#linux-image-}
    krel=${krel%:arm64}
    say "apt-get download $kpkg"
    rm -rf "$kdir" && mkdir -p "$kdir/x"
    (cd "$kdir" && apt-get download "$kpkg" >/dev/null 2>&1) || skip "$kpkg (apt-get download failed)"
    dpkg-deb --fsys-tarfile "$kdir"/linux-image-*.deb |
        tar -x -C "$kdir/x" --wildcards "./boot/vmlinuz-$krel" "*/virtio_net.ko*" "*/net_failover.ko*" "*/failover.ko*"
    [ -s "$kdir/x/boot/vmlinuz-$krel" ] || skip "$kpkg (no boot/vmlinuz-$krel in it)"
    mv "$kdir/x/boot/vmlinuz-$krel" "$kdir/vmlinuz"
    rm -rf "$kdir/x/boot" && mv "$kdir/x" "$kdir/modules"
    rm -f "$kdir"/linux-image-*.deb
    echo "$krel" >"$kdir/release"
fi
krel=$(cat "$kdir/release")

# ---- root filesystem, cached --------------------------------------------------------

mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)}
key="$SUITE $INCLUDE"
if [ ! -s "$CACHE/rootfs.tar" ] || [ "$(cat "$CACHE/rootfs.key" 2>/dev/null)" != "$key" ]; then
    [ $install = 1 ] || skip "the bookworm arm64 root filesystem (--no-install given)"
    [ -n "$mirror" ] || skip "the bookworm arm64 root filesystem (no Debian mirror in apt's sources)"
    say "mmdebstrap --arch=arm64 --variant=minbase $SUITE ($mirror)"
    rm -f "$CACHE/rootfs.tar"
    mmdebstrap --quiet --arch=arm64 --variant=minbase --include="$INCLUDE" "$SUITE" "$CACHE/rootfs.new.tar" "$mirror" \
        >"$CACHE/mmdebstrap.log" 2>&1 || { tail -20 "$CACHE/mmdebstrap.log" >&2; skip "the root filesystem (mmdebstrap failed, log: $CACHE/mmdebstrap.log)"; }
    mv "$CACHE/rootfs.new.tar" "$CACHE/rootfs.tar"
    echo "$key" >"$CACHE/rootfs.key"
fi
say "kernel $krel and root filesystem ready after $(elapsed)"

# ---- the image: root filesystem + package (and a newer build of it) + the check ----

root=$CACHE/root
rm -rf "$root" && mkdir -p "$root"
tar -x -C "$root" -f "$CACHE/rootfs.tar"
ln -sf /lib/systemd/systemd "$root/init"
echo camrelay-vm >"$root/etc/hostname"
# sudo looks its host name up: without this it waits for DNS on every call.
printf '127.0.0.1 localhost\n127.0.1.1 camrelay-vm\n' >"$root/etc/hosts"
: >"$root/etc/machine-id"
# A unit writing to the serial console is hung up when this getty starts.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyAMA0.service"
# (bookworm is merged-/usr: /lib is a link to usr/lib)
mkdir -p "$root/usr/lib/modules" "$root/root/debs"
cp -r "$kdir/modules/lib/modules/." "$root/usr/lib/modules/"
cp "$deb" "$root/root/debs/camrelay-1.deb"
# "A newer build": the same package with a higher version, as an upgrade brings.
rm -rf "$CACHE/deb2" && mkdir -p "$CACHE/deb2"
dpkg-deb -R "$deb" "$CACHE/deb2/pkg"
v1=$(sed -n 's/^Version: //p' "$CACHE/deb2/pkg/DEBIAN/control")
sed -i "s/^Version: .*/Version: ${v1}+vmtest2/" "$CACHE/deb2/pkg/DEBIAN/control"
dpkg-deb -b --root-owner-group "$CACHE/deb2/pkg" "$root/root/debs/camrelay-2.deb" >/dev/null
echo "${v1}+vmtest2" >"$root/root/debs/version-2"
cp scripts/vm/systemd-rules.toml "$root/root/systemd-rules.toml"
# The guide's own blocks, with the test's values for the user's: the
# simulated camera's address as the guest reaches this host, and a PL061 line.
cam_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash scripts/vm/guide-steps docs/deploy.md "$root/root/guide" CAMERA="http://10.0.2.2:$cam_port" RELAY_LINE=3
printf 'pw\n' >"$root/root/guide/password"
cp "$deb" "$root/root/guide/camrelay_${v1}_arm64.deb"
install -m 0755 scripts/vm/systemd-check "$root/usr/local/sbin/camrelay-vm-check"
cat >"$root/etc/systemd/system/camrelay-vm-check.service" <<'EOF'
[Unit]
Description=camrelay system test (scripts/systemd-vm-test.sh)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/camrelay-vm-check
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyAMA0
[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../camrelay-vm-check.service "$root/etc/systemd/system/multi-user.target.wants/camrelay-vm-check.service"
# Uncompressed: the emulated CPU would spend longer inflating it.
(cd "$root" && find . | cpio -o -H newc --quiet) >"$CACHE/rootfs.cpio"
rm -rf "$root" "$CACHE/deb2"
say "image ready after $(elapsed): $(du -m "$CACHE/rootfs.cpio" | cut -f1) MB"

# ---- boot, watch the console, post when asked -----------------------------------------

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
console=$CACHE/console.log
# The camera of the guide: its API on this host, its posts into the guest.
python3 scripts/vm/camera-sim.py --port "$cam_port" --password pw --post-via "127.0.0.1:$port" \
    --state "$CACHE/camera-sim.json" 2>"$CACHE/camera-sim.log" &
camera_pid=$!
trap 'kill $camera_pid 2>/dev/null || true' EXIT
say "booting qemu-system-aarch64 -M virt (bookworm, systemd), up to ${BOOT_TIMEOUT}s; ingest on 127.0.0.1:$port"
set +e
python3 - "$BOOT_TIMEOUT" "$port" "$console" "$ROOT/tests/fixtures/ipc-v1x/traject.xml" "$camera_pid" \
    qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 2048 -nographic -no-reboot \
    -kernel "$kdir/vmlinuz" -initrd "$CACHE/rootfs.cpio" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 iomem=relaxed systemd.show_status=0 loglevel=3" \
    -device virtio-net-pci,netdev=n0 -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:5002" <<'PY'
import socket, subprocess, sys, threading, time
import os, signal
timeout, port, console, post_file, camera, cmd = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]
body = open(post_file, "rb").read()
stop_posting = threading.Event()

def post_until_seen():
    # The host's part of the "work" check: traject posts through hostfwd, as a camera would send.
    end = time.time() + 60
    while not stop_posting.is_set() and time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"POST /API HTTP/1.1\r\nHost: camrelay\r\nContent-Type: application/xml\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                s.recv(4096)
        except OSError:
            pass
        time.sleep(0.2)

q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
timer = threading.Timer(timeout, q.kill)
timer.start()
with open(console, "w") as log:
    for raw in q.stdout:
        line = raw.decode("utf-8", "replace").replace("\r", "").rstrip("\n")
        log.write(line + "\n")
        log.flush()
        if line.startswith(("PASS ", "FAIL ", "MEASURE ", "NOTE ", "BOOT-CONFIG ", "SYSTEMD-VM:")):
            print(line, flush=True)
        if line == "SYSTEMD-VM: POST NOW":
            threading.Thread(target=post_until_seen, daemon=True).start()
        if line == "SYSTEMD-VM: POSTS SEEN":
            stop_posting.set()
        if line == "SYSTEMD-VM: GUIDE DONE":
            # The guide's camera stops posting before the checks that follow.
            try:
                os.kill(camera, signal.SIGTERM)
            except OSError:
                pass
timer.cancel()
sys.exit(q.wait())
PY
qemu_status=$?
set -e

summary=$(grep -E '^SYSTEMD-VM: [0-9]+ passed, [0-9]+ failed$' "$console" | tail -1 || true)
if [ -z "$summary" ]; then
    tail -40 "$console" >&2
    echo "SYSTEMD-VM: FAIL — the guest gave no summary (qemu status $qemu_status, console: $console)"
    exit 1
fi
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed$/\1/')
say "done in $(elapsed)"
[ "$failed" = 0 ]
