#!/usr/bin/env bash
# The load bench of issue 6, in one run, on loopback, writing BENCHMARKS.md.
#
# Servers, all started at once, each under the same load from bench/loadgen:
#   camrelay     `camrelay run` (release), mock backend, rules.example.toml
#   sdk          the vendor SDK's ViewtronServer (PyPI `viewtron`), no-op callback, as shipped
#   sdk-nodelay  the same with TCP_NODELAY patched in at run time (bench/sdk_server.py)
#   floor        a trivial hyper handler that reads the body and answers the success XML (bench/floor)
# Points per server:
#   traject-c1/c8/c64   traject posts, keep-alive, closed loop: posts/s, p50/p99
#   image-c4            ~530 KB posts with real random base64 images: posts/s, MB/s, p99
#   rate-500            50 connections ("cameras") x 10 traject posts/s for RATE_SECONDS: CPU %, RSS
# plus RSS idle (before and after the load), peak RSS, binary size, and the
# post → relay latency bench (cargo bench --bench latency) for camrelay.
#
# Usage: bench/run.sh            (about 8 minutes)
# Knobs: POINT_SECONDS (3), ROUNDS (3), WARMUP_SECONDS (1), RATE_SECONDS (60), SERVERS ("camrelay sdk sdk-nodelay floor"),
#        SKIP_LATENCY=1 (skip the cargo bench), OUT (bench/out), BENCHMARKS (BENCHMARKS.md)
# Installs what it needs: the SDK venv (scripts/setup-sdk-venv.sh, PyPI) and the
# bench tools (cargo, crates.io). Nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
POINT_SECONDS=${POINT_SECONDS:-3}
ROUNDS=${ROUNDS:-3}
WARMUP_SECONDS=${WARMUP_SECONDS:-1}
RATE_SECONDS=${RATE_SECONDS:-60}
SERVERS=${SERVERS:-"camrelay sdk sdk-nodelay floor"}
OUT=${OUT:-$ROOT/bench/out}
BENCHMARKS=${BENCHMARKS:-$ROOT/BENCHMARKS.md}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
META=$OUT/meta.jsonl
: >"$RESULTS"
: >"$META"
WORK=$(mktemp -d)
SERVER_PID=
ALL_PIDS=()
cleanup() {
    for pid in $SERVER_PID "${ALL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*" >&2; }
meta() { printf '%s\n' "$1" >>"$META"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

say "tools: SDK venv, camrelay release, bench tools"
bash scripts/setup-sdk-venv.sh >&2
cargo build --release --bin camrelay >&2
(cd bench && cargo build --release >&2)
CAMRELAY=$ROOT/target/release/camrelay
LOADGEN=$ROOT/bench/target/release/loadgen
FLOOR=$ROOT/bench/target/release/floor
PYTHON=$ROOT/.venv/bin/python

say "bodies"
TRAJECT=$ROOT/tests/fixtures/ipc-v1x/traject.xml
IMAGE=$WORK/image-post.xml
# An IPC perimeter-intrusion post with real random base64 in place of the
# placeholders: a 430,000-character overview and a 100,000-character crop.
python3 "$ROOT/bench/image_post.py" "$ROOT/tests/fixtures/ipc-v1x/perimeter-intrusion.xml" "$IMAGE"
"$CAMRELAY" inspect "$IMAGE" >/dev/null  # the image post must decode
echo "traject post $(stat -c %s "$TRAJECT") bytes, image post $(stat -c %s "$IMAGE") bytes" >&2

# ---- machine ----------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
meta "{\"kind\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"nproc\":$(nproc),\"cpu\":\"$CPU_MODEL\",\"kernel\":\"$(uname -r)\",\"load_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"rustc\":\"$(rustc --version)\",\"python\":\"$("$PYTHON" --version 2>&1)\",\"viewtron\":\"$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("viewtron"))')\",\"traject_bytes\":$(stat -c %s "$TRAJECT"),\"image_bytes\":$(stat -c %s "$IMAGE"),\"point_seconds\":$POINT_SECONDS,\"rounds\":$ROUNDS,\"rate_seconds\":$RATE_SECONDS}"

# ---- one server ---------------------------------------------------------------
start_server() {
    local name=$1 port=$2
    local log=$OUT/$name.log
    case $name in
        camrelay)
            local api_port
            api_port=$(free_port)
            mkdir -p "$WORK/camrelay"
            sed -e "s|^listen = \"0.0.0.0:5002\"|listen = \"127.0.0.1:$port\"|" \
                -e "s|^token = \"s3cret\"|token = \"s3cret\"\nlisten = \"127.0.0.1:$api_port\"|" \
                -e "s|^mock_log = .*|mock_log = \"$WORK/camrelay/mock-gpio.jsonl\"|" \
                rules.example.toml >"$WORK/camrelay/rules.toml"
            "$CAMRELAY" check "$WORK/camrelay/rules.toml" >/dev/null
            (cd "$WORK/camrelay" && exec "$CAMRELAY" run --config rules.toml) >"$log" 2>&1 &
            ;;
        sdk) "$PYTHON" bench/sdk_server.py "$port" >"$log" 2>&1 & ;;
        sdk-nodelay) "$PYTHON" bench/sdk_server.py "$port" --nodelay >"$log" 2>&1 & ;;
        floor) "$FLOOR" "127.0.0.1:$port" >"$log" 2>&1 & ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening" "$log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$name did not start; log:" >&2
    cat "$log" >&2
    exit 1
}

binary_size() {
    case $1 in
        camrelay) stat -c %s "$CAMRELAY" ;;
        floor) stat -c %s "$FLOOR" ;;
        *) du -sb "$("$PYTHON" -c 'import viewtron, os; print(os.path.dirname(viewtron.__file__))')" | cut -f1 ;;
    esac
}

# All servers run at once (an idle one costs nothing), so each point can go
# round-robin over them: ROUNDS rounds of every server in turn, and the report
# takes each server's median. Servers measured seconds apart see the same
# machine, which matters on a shared one whose load changes by the minute.
declare -A PORT PID IDLE_KB THREADS
for server in $SERVERS; do
    PORT[$server]=$(free_port)
    start_server "$server" "${PORT[$server]}"
    PID[$server]=$SERVER_PID
    ALL_PIDS+=("$SERVER_PID")
    SERVER_PID=
done
sleep 1
for server in $SERVERS; do
    IDLE_KB[$server]=$(rss_kb "${PID[$server]}")
    THREADS[$server]=$(awk '/^Threads:/ {print $2}' "/proc/${PID[$server]}/status")
done
lg() {
    local server=$1
    shift
    "$LOADGEN" --addr "127.0.0.1:${PORT[$server]}" --pid "${PID[$server]}" --server "$server" \
        --json "$RESULTS" --warmup "$WARMUP_SECONDS" "$@"
}
for round in $(seq 1 "$ROUNDS"); do
    say "round $round of $ROUNDS"
    for c in 1 8 64; do
        for server in $SERVERS; do
            lg "$server" --label "traject-c$c@$round" --body "$TRAJECT" --conns "$c" --duration "$POINT_SECONDS"
        done
    done
    for server in $SERVERS; do
        lg "$server" --label "image-c4@$round" --body "$IMAGE" --conns 4 --duration "$POINT_SECONDS"
    done
done
say "fixed rate: 50 connections x 10 posts/s for $RATE_SECONDS s"
for server in $SERVERS; do
    lg "$server" --label rate-500 --body "$TRAJECT" --conns 50 --rate 500 --duration "$RATE_SECONDS"
done
sleep 2
for server in $SERVERS; do
    pid=${PID[$server]}
    meta "{\"kind\":\"server\",\"server\":\"$server\",\"rss_idle_kb\":${IDLE_KB[$server]},\"rss_idle_after_kb\":$(rss_kb "$pid"),\"hwm_last_kb\":$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status"),\"threads_idle\":${THREADS[$server]},\"size_bytes\":$(binary_size "$server")}"
done
for pid in "${ALL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
ALL_PIDS=()

if [ "${SKIP_LATENCY:-0}" != 1 ]; then
    say "post → relay latency (cargo bench --bench latency)"
    cargo bench --bench latency 2>/dev/null | tee "$OUT/latency.txt" >&2
    grep '^LATENCY_JSON ' "$OUT/latency.txt" | sed 's/^LATENCY_JSON /{"kind":"latency",/; s/^{"kind":"latency",{/{"kind":"latency",/' >>"$META"
fi
meta "{\"kind\":\"end\",\"load_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"date_end\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"

say "report"
python3 bench/report.py "$RESULTS" "$META" "$BENCHMARKS" >"$OUT/BENCHMARKS.md"
cp "$OUT/BENCHMARKS.md" "$BENCHMARKS"
echo "wrote $BENCHMARKS" >&2
