#!/usr/bin/env bash
# Long soak, outside CI: `camrelay run` (release, mock backend, rules.example.toml)
# under N minutes of mixed traffic, asserting its memory does not grow.
#
# Traffic, all at once, from bench/loadgen at fixed rates:
#   50 keep-alive connections x 10 traject posts/s   (50 cameras' worth)
#   1 connection, 2 image posts/s (~530 KB, random base64)
#   5 connections x 1 empty-body keepalive/s          (cameras' keepalives)
#   1 connection, 2 malformed posts/s (truncated XML, answered 400; the client then reconnects)
#   20 new connections/s, one post each (Connection: close: connection churn)
# RSS is sampled every 5 s. Pass: the peak RSS of the last half of the soak is
# at most the peak of the first half plus SOAK_SLACK_KB (default 1024), the
# server answered, and no post failed except the malformed ones.
#
# Usage: bench/soak.sh [MINUTES]   (default 10). Writes bench/out/soak.* and the
# "Soak" section of BENCHMARKS.md. Exit status 1 when RSS grew.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MINUTES=${1:-${SOAK_MINUTES:-10}}
SLACK_KB=${SOAK_SLACK_KB:-1024}
OUT=${OUT:-$ROOT/bench/out}
BENCHMARKS=${BENCHMARKS:-$ROOT/BENCHMARKS.md}
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

cargo build --release --bin camrelay >&2
(cd bench && cargo build --release >&2)
CAMRELAY=$ROOT/target/release/camrelay
LOADGEN=$ROOT/bench/target/release/loadgen

# Bodies: traject, image, empty keepalive, malformed (the traject post cut in half).
TRAJECT=$ROOT/tests/fixtures/ipc-v1x/traject.xml
python3 "$ROOT/bench/image_post.py" "$ROOT/tests/fixtures/ipc-v1x/perimeter-intrusion.xml" "$WORK/image.xml"
: >"$WORK/keepalive.xml"
head -c 700 "$TRAJECT" >"$WORK/malformed.xml"

port=$(free_port)
api_port=$(free_port)
sed -e "s|^listen = \"0.0.0.0:5002\"|listen = \"127.0.0.1:$port\"|" \
    -e "s|^token = \"s3cret\"|token = \"s3cret\"\nlisten = \"127.0.0.1:$api_port\"|" \
    -e "s|^mock_log = .*|mock_log = \"$WORK/mock-gpio.jsonl\"|" rules.example.toml >"$WORK/rules.toml"
(cd "$WORK" && exec "$CAMRELAY" run --config rules.toml) >"$OUT/soak-camrelay.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for _ in $(seq 1 100); do grep -q listening "$OUT/soak-camrelay.log" && break; sleep 0.1; done
sleep 1
rss_start=$(rss_kb "$pid")
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

seconds=$((MINUTES * 60))
RES=$OUT/soak-results.jsonl
: >"$RES"
lg=("$LOADGEN" --addr "127.0.0.1:$port" --server camrelay --json "$RES" --warmup 0 --duration "$seconds")
"${lg[@]}" --label traject --body "$TRAJECT" --conns 50 --rate 500 --pid "$pid" 2>/dev/null &
PIDS+=($!)
"${lg[@]}" --label image --body "$WORK/image.xml" --conns 1 --rate 2 2>/dev/null &
PIDS+=($!)
"${lg[@]}" --label keepalive --body "$WORK/keepalive.xml" --conns 5 --rate 5 2>/dev/null &
PIDS+=($!)
"${lg[@]}" --label malformed --body "$WORK/malformed.xml" --conns 1 --rate 2 2>/dev/null &
PIDS+=($!)
"${lg[@]}" --label churn --body "$TRAJECT" --conns 20 --rate 20 --close 1 2>/dev/null &
PIDS+=($!)

SAMPLES=$OUT/soak-rss.csv
echo "seconds,rss_kb" >"$SAMPLES"
for ((t = 0; t <= seconds; t += 5)); do
    echo "$t,$(rss_kb "$pid")" >>"$SAMPLES"
    sleep 5
done
wait "${PIDS[@]:1}" 2>/dev/null || true
rss_end=$(rss_kb "$pid")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
metrics=$(curl -sf "http://127.0.0.1:$api_port/metrics" || true)
kill "$pid"
wait "$pid" 2>/dev/null || true
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$SAMPLES" "$RES" "$BENCHMARKS" "$MINUTES" "$SLACK_KB" "$rss_start" "$rss_end" "$hwm" \
    "$started" "$load_start" "$load_end" "$(nproc)" "$metrics" <<'EOF'
import json, sys
(samples, res, bench, minutes, slack, rss_start, rss_end, hwm, started, load_start, load_end, nproc,
 metrics) = sys.argv[1:]
rows = [l.split(",") for l in open(samples).read().split("\n")[1:] if l]
rss = [(int(t), int(kb)) for t, kb in rows if kb]
half = len(rss) // 2
first = max(kb for _, kb in rss[:half]) if half else 0
last = max(kb for _, kb in rss[half:]) if rss else 0
grew = last > first + int(slack)
content = open(res).read()
runs = {r["label"]: r for r in (json.loads(l) for l in content.splitlines() if l)}
bad = [k for k, r in runs.items() if k != "malformed" and r["errors"]]
malformed_ok = runs.get("malformed", {}).get("posts", 0) == 0
def m(name):
    total = 0
    for line in metrics.splitlines():
        if line.startswith(name):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total
verdict = "pass" if not grew and not bad and malformed_ok and len(runs) == 5 else "FAIL"
lines = [
    "## Soak",
    "",
    f"`bench/soak.sh {minutes}`, last run {started} on {nproc} CPUs (load average {load_start} at the start, {load_end} at the end):",
    f"`camrelay run` (release, rules.example.toml, mock backend) for {minutes} min under traject 500/s on 50",
    "keep-alive connections, 2 image posts/s (~530 KB), 5 empty keepalives/s, 2 malformed posts/s and 20",
    "new connections/s (one post each, `Connection: close`).",
    "",
    "| stream | posts answered | errors | p99 write → reply |",
    "|---|---:|---:|---:|",
]
for k in ("traject", "image", "keepalive", "malformed", "churn"):
    r = runs.get(k)
    if r:
        p99 = r.get("service_p99_us")
        lines.append(f"| {k} | {r['posts']:,} | {r['errors']:,}{' (400, expected)' if k == 'malformed' else ''} | {p99 / 1000:.2f} ms |" if p99 else f"| {k} | {r['posts']:,} | {r['errors']:,} | – |")
t = runs.get("traject", {})
lines += [
    "",
    f"- RSS: {int(rss_start) / 1024:.1f} MB at the start, peak {first / 1024:.1f} MB in the first half, peak {last / 1024:.1f} MB in the second half, {int(rss_end) / 1024:.1f} MB at the end (VmHWM {int(hwm) / 1024:.1f} MB); growth allowed {int(slack)} KB: **{'grew' if grew else 'no growth'}**.",
    f"- Server CPU during the soak: {t.get('server_cpu_pct', 0):.1f}% of one core.",
    f"- camrelay's own counters at the end: {m('camrelay_posts_total'):,} posts decoded, {m('camrelay_decode_errors_total'):,} answered 400, {m('camrelay_connections_total'):,} connections accepted; the load generators counted {sum(r['posts'] for k, r in runs.items() if k != 'malformed'):,} answered 200 and {runs.get('malformed', {}).get('errors', 0):,} refused.",
    f"- Verdict: **{verdict}**.",
]
section = "\n".join(lines)
print(section)
try:
    text = open(bench, encoding="utf-8").read()
except FileNotFoundError:
    text = "# Benchmarks\n\n<!-- soak:begin -->\n<!-- soak:end -->\n"
begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
if begin in text and end in text:
    text = text.split(begin, 1)[0] + begin + "\n" + section + "\n" + end + text.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + begin + "\n" + section + "\n" + end + "\n"
open(bench, "w", encoding="utf-8").write(text)
sys.exit(0 if verdict == "pass" else 1)
EOF
