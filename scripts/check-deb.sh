#!/usr/bin/env bash
# List a camrelay .deb and assert what an install relies on:
#   scripts/check-deb.sh target/debian/camrelay_0.1.0-1_arm64.deb
# binary in /usr/bin built for the package's architecture (ELF machine),
# the systemd unit (same as systemd/camrelay.service) and its enablement,
# /etc/camrelay/rules.toml as a conffile using the cdev backend, the udev rule,
# and the postinst creating the camrelay user in group gpio.
set -euo pipefail
cd "$(dirname "$0")/.."

deb="${1:?usage: check-deb.sh PACKAGE.deb}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "ok:   $*"; }
bad()  { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }

echo "== dpkg-deb -I $deb"
dpkg-deb -I "$deb"
echo "== dpkg-deb -c $deb"
dpkg-deb -c "$deb" | tee "$tmp/contents"
dpkg-deb -e "$deb" "$tmp/control"
dpkg-deb -x "$deb" "$tmp/root"
echo "== checks"

arch=$(dpkg-deb -f "$deb" Architecture)
case "$arch" in
    arm64) machine=AArch64 ;;
    armhf|armel) machine=ARM ;;
    amd64) machine="Advanced Micro Devices X86-64" ;;
    *) machine="?" ;;
esac
bin="$tmp/root/usr/bin/camrelay"
check "/usr/bin/camrelay present and executable" test -x "$bin"
got=$(readelf -h "$bin" 2>/dev/null | sed -n 's/^ *Machine: *//p')
if [ "$got" = "$machine" ]; then ok "ELF machine $got matches Architecture $arch"; else bad "ELF machine '$got', want '$machine' for Architecture $arch"; fi
if [ "$machine" = ARM ]; then
    cpu=$(readelf -A "$bin" | sed -n 's/.*Tag_CPU_arch: //p' | head -1)
    echo "info: Tag_CPU_arch $cpu (v7: Pi 2/3/4 32-bit; v6 needed for Pi Zero/1)"
fi
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    floor=$(readelf -V --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V -u | tail -1)
    depends=$(dpkg-deb -f "$deb" Depends)
    echo "info: dynamically linked, glibc floor $floor; Depends: $depends"
    # The package must not promise an older libc than the binary needs.
    want=$(echo "$depends" | grep -o 'libc6[^,]*(>= [0-9.]*)' | grep -o '[0-9][0-9.]*)' | tr -d ')')
    if [ -n "$want" ] && [ "$(printf '%s\n%s\n' "$floor" "$want" | sort -V | head -1)" = "$floor" ]; then
        ok "Depends libc6 (>= $want) covers the glibc floor $floor"
    else
        bad "Depends '$depends' does not require libc6 >= $floor"
    fi
else
    echo "info: statically linked; Depends: $(dpkg-deb -f "$deb" Depends)"
fi

unit=""
for u in lib/systemd/system/camrelay.service usr/lib/systemd/system/camrelay.service; do
    [ -f "$tmp/root/$u" ] && unit="$u"
done
if [ -n "$unit" ]; then ok "unit /$unit present"; else bad "camrelay.service missing"; fi
[ -z "$unit" ] || check "unit is systemd/camrelay.service" cmp "$tmp/root/$unit" systemd/camrelay.service

check "/etc/camrelay/rules.toml present" test -f "$tmp/root/etc/camrelay/rules.toml"
check "/etc/camrelay/rules.toml listed in conffiles" grep -qx /etc/camrelay/rules.toml "$tmp/control/conffiles"
check "packaged rules use backend = \"cdev\"" grep -Eq '^[[:space:]]*backend[[:space:]]*=[[:space:]]*"cdev"' "$tmp/root/etc/camrelay/rules.toml"
check "packaged rules do not use the mock backend" bash -c "! grep -Eq '^[[:space:]]*backend[[:space:]]*=[[:space:]]*\"mock\"' '$tmp/root/etc/camrelay/rules.toml'"
check "packaged rules name the token file" grep -q '^token_file = "/etc/camrelay/api-token"' "$tmp/root/etc/camrelay/rules.toml"
check "packaged rules hold no active [[block]] (they drive no line)" bash -c "! grep -q '^\[\[' '$tmp/root/etc/camrelay/rules.toml'"
check "udev rule for group gpio" grep -q 'GROUP="gpio"' "$tmp/root/usr/lib/udev/rules.d/60-camrelay-gpio.rules"

check "postinst creates the camrelay system user" grep -q 'adduser --quiet --system --group' "$tmp/control/postinst"
check "postinst creates group gpio when missing" grep -q 'addgroup --quiet --system gpio' "$tmp/control/postinst"
check "postinst adds camrelay to group gpio" grep -q 'adduser --quiet camrelay gpio' "$tmp/control/postinst"
check "postinst enables the unit" grep -q 'deb-systemd-helper enable camrelay.service' "$tmp/control/postinst"
check "postinst starts the unit (the packaged rules drive no line)" grep -q 'deb-systemd-invoke \$_dh_action camrelay.service' "$tmp/control/postinst"
check "postinst makes the API token root:camrelay 0640" bash -c "grep -q 'chown root:camrelay /etc/camrelay/api-token' '$tmp/control/postinst' && grep -q 'chmod 0640 /etc/camrelay/api-token' '$tmp/control/postinst'"
check "prerm stops the unit on removal" grep -q 'deb-systemd-invoke stop camrelay.service' "$tmp/control/prerm"
check "postrm purges the unit state" grep -q 'deb-systemd-helper purge camrelay.service' "$tmp/control/postrm"
check "Depends on adduser" bash -c "dpkg-deb -f '$deb' Depends | grep -q adduser"

if [ "$fails" -eq 0 ]; then
    echo "check-deb: $deb: all checks passed"
else
    echo "check-deb: $deb: $fails check(s) FAILED"
    exit 1
fi
