# Sourced by scripts/gpio-vm-test.sh and scripts/systemd-vm-test.sh: both
# boot the same Debian arm64 kernel under qemu-system-aarch64 -M virt.
#
# arm64_kernel_package META: print the linux-image package the meta package
# META names now (the current kernel of that series: downloading by a name
# pattern would fetch every version), adding the arm64 architecture and
# updating apt's lists when needed. On failure print what could not be had
# and return 1, for the caller's "cannot install ..." line.
arm64_kernel_package() {
    local meta=$1 pkg lookup
    lookup() { apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }' || true; }
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "vm: dpkg --add-architecture arm64" >&2
        dpkg --add-architecture arm64 || { echo "the arm64 packages (dpkg --add-architecture arm64 failed)"; return 1; }
    fi
    pkg=$(lookup)
    if [ -z "$pkg" ]; then
        apt-get update -qq >/dev/null 2>&1 || { echo "$meta (apt-get update failed)"; return 1; }
        pkg=$(lookup)
    fi
    [ -n "$pkg" ] || { echo "$meta (apt-cache knows no such package)"; return 1; }
    echo "$pkg"
}
