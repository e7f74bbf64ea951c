#!/usr/bin/env bash
# Fuzz the decoder or the rules parser for a fixed budget, corpus seeded from
# the project's fixtures. Every crash found becomes a regression test (copy the
# artifact into tests/fixtures/extra or the rules test cases).
#   bash scripts/fuzz.sh decode 600     # 10 minutes on the decoder
#   bash scripts/fuzz.sh rules 600      # 10 minutes on the rules parser
#   bash scripts/fuzz.sh decode 0       # seed the corpus only
# Needs a nightly toolchain (libFuzzer's sanitizer flags) and cargo-fuzz; both
# are installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh decode|rules SECONDS}"
seconds="${2:-60}"
corpus="fuzz/corpus/$target"
mkdir -p "$corpus"
case "$target" in
decode)
    for f in tests/fixtures/*/*.xml tests/fixtures/replay/*/*.xml examples/posts/*.xml; do
        [ -f "$f" ] && cp "$f" "$corpus/$(echo "$f" | tr '/' '_')"
    done ;;
rules)
    for f in rules.example.toml scripts/vm/rules.toml tests/relays/*.toml tests/fixtures/scenes/*/rules.toml; do
        [ -f "$f" ] && cp "$f" "$corpus/$(echo "$f" | tr '/' '_')"
    done ;;
*) echo "unknown target $target (decode or rules)" >&2; exit 2 ;;
esac
echo "seeded $(ls "$corpus" | wc -l) inputs into $corpus"
[ "$seconds" = 0 ] && exit 0
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked
dict=()
[ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=65536 "${dict[@]}" 2>&1 | tee "fuzz/$target.log" \
    | grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse)|ERROR|SUMMARY|panicked' || true
grep -aE '^#[0-9]+[[:space:]]+DONE' "fuzz/$target.log" | tail -1
