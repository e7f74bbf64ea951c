#!/usr/bin/env bash
# User-space instructions per traject post, camrelay next to the hyper floor,
# counted by valgrind's callgrind: the one per-post cost on this shared machine
# that does not move with the load average (wall-clock and CPU time do, by up
# to 2x). Kernel time (recv, writev) is not counted; it is the same for both.
#
# Usage: bench/instructions.sh [SECONDS]   (default 8 s of load per server)
# Needs valgrind (apt install valgrind). Prints one line per server and leaves
# the callgrind files in target/instructions/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_OF_LOAD=${1:-8}
OUT=$ROOT/target/instructions
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind not found: apt install valgrind" >&2; exit 2; }

cargo build --release --bin camrelay >&2
(cd bench && cargo build --release >&2)
LOADGEN=$ROOT/bench/target/release/loadgen
TRAJECT=$ROOT/tests/fixtures/ipc-v1x/traject.xml
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure() {
    local name=$1 port vpid posts total
    port=$(free_port)
    rm -f "$OUT/$name.callgrind"
    case $name in
        camrelay)
            sed -e "s|^listen = \"0.0.0.0:5002\"|listen = \"127.0.0.1:$port\"|" \
                -e "s|^token = \"s3cret\"|token = \"s3cret\"\nlisten = \"127.0.0.1:$(free_port)\"|" \
                -e "s|^mock_log = .*|mock_log = \"$OUT/mock-gpio.jsonl\"|" \
                rules.example.toml >"$OUT/rules.toml"
            valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$name.callgrind" \
                "$ROOT/target/release/camrelay" run --config "$OUT/rules.toml" >"$OUT/$name.log" 2>&1 &
            ;;
        floor)
            # 0 workers: a current-thread runtime, like camrelay's.
            valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$name.callgrind" \
                "$ROOT/bench/target/release/floor" "127.0.0.1:$port" 0 >"$OUT/$name.log" 2>&1 &
            ;;
    esac
    vpid=$!
    for _ in $(seq 1 200); do
        grep -q "listening" "$OUT/$name.log" 2>/dev/null && break
        sleep 0.1
    done
    # Warm-up outside the count: first connections, lazy statics, allocator growth.
    "$LOADGEN" --addr "127.0.0.1:$port" --body "$TRAJECT" --conns 8 --duration 1 --warmup 0 >/dev/null 2>&1
    callgrind_control -i on "$vpid" >/dev/null 2>&1
    posts=$("$LOADGEN" --addr "127.0.0.1:$port" --body "$TRAJECT" --conns 8 --duration "$SECONDS_OF_LOAD" \
        --warmup 0 --json /dev/stdout 2>/dev/null | grep -o '"posts":[0-9]*' | cut -d: -f2)
    callgrind_control -i off "$vpid" >/dev/null 2>&1
    kill -INT "$vpid" 2>/dev/null || true
    sleep 1
    kill "$vpid" 2>/dev/null || true
    wait "$vpid" 2>/dev/null || true
    total=$(callgrind_annotate "$OUT/$name.callgrind" 2>/dev/null | grep "PROGRAM TOTALS" | head -1 | tr -d ',' | awk '{print $1}')
    echo "$name: $posts posts, $total instructions, $((total / posts)) instructions per post"
}

measure camrelay
measure floor
