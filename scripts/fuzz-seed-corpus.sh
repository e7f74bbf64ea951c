#!/usr/bin/env bash
# Seeds fuzz/corpus/decode from every fixture (and the bench's generated image
# posts when they exist), then, if cargo-fuzz and a nightly toolchain are
# present, runs the decode target for FUZZ_SECONDS (default 60).
#   bash scripts/fuzz-seed-corpus.sh            # seed + run 60 s
#   FUZZ_SECONDS=600 bash scripts/fuzz-seed-corpus.sh
#   FUZZ_SECONDS=0 bash scripts/fuzz-seed-corpus.sh   # seed only
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus/decode
mkdir -p "$corpus"
n=0
for f in tests/fixtures/*/*.xml; do
    cp "$f" "$corpus/$(echo "$f" | tr '/' '_')"
    n=$((n + 1))
done
echo "seeded $n fixtures into $corpus"
seconds="${FUZZ_SECONDS:-60}"
if [ "$seconds" = 0 ]; then exit 0; fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not installed: cargo install cargo-fuzz (needs a nightly toolchain)" >&2
    exit 1
fi
cargo +nightly fuzz run decode -- -max_total_time="$seconds" -max_len=65536
