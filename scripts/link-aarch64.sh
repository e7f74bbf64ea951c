#!/bin/sh
# The linker for aarch64-unknown-linux-gnu (.cargo/config.toml): Debian's
# cross gcc driving rust-lld (shipped with every Rust toolchain), so that
# relative relocations are packed (DT_RELR, `-z pack-relative-relocs`).
# A position-independent binary otherwise carries 24 bytes for each of its
# ~38,000 pointers: 0.9 MB of the Pi's 8 MiB budget. Bookworm's binutils
# (2.40) ignores the option on aarch64; lld also records the
# GLIBC_ABI_DT_RELR version need, so a glibc older than 2.36 refuses the
# binary at start instead of running it unrelocated.
host=$(${RUSTC:-rustc} -vV | sed -n 's/^host: //p')
gcc_ld="$(${RUSTC:-rustc} --print sysroot)/lib/rustlib/$host/bin/gcc-ld"
exec aarch64-linux-gnu-gcc -fuse-ld=lld -B"$gcc_ld" -Wl,-z,pack-relative-relocs "$@"
