"""Writes BENCHMARKS.md (to stdout) from one run of bench/run.sh.

Usage: python3 bench/report.py RESULTS.jsonl META.jsonl [EXISTING_BENCHMARKS.md]

RESULTS: one JSON object per load point (bench/loadgen). META: machine, per
server idle RSS and size, the latency bench, the end of the run. The soak
section of an existing BENCHMARKS.md (between the soak markers, written by
bench/soak.sh) is kept.
"""
import json
import os
import sys

SERVERS = [
    ("camrelay", "camrelay"),
    ("sdk", "SDK as shipped"),
    ("sdk-nodelay", "SDK + TCP_NODELAY"),
    ("floor", "floor (hyper)"),
]
SOAK_BEGIN = "<!-- soak:begin -->"
SOAK_END = "<!-- soak:end -->"
# Hand-written findings (profiles, what to change) survive a re-run between these.
NOTES_BEGIN = "<!-- notes:begin -->"
NOTES_END = "<!-- notes:end -->"


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ms(us):
    if us is None:
        return "–"
    if us >= 10_000:
        return f"{us / 1000:,.0f} ms"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def mb(kb):
    return "–" if kb is None else f"{kb / 1024:.1f} MB"


def main(results_path, meta_path, existing_path):
    results = load(results_path)
    meta = load(meta_path)
    machine = next(m for m in meta if m["kind"] == "machine")
    end = next((m for m in meta if m["kind"] == "end"), {})
    servers = {m["server"]: m for m in meta if m["kind"] == "server"}
    latency = next((m for m in meta if m["kind"] == "latency"), None)
    point = aggregate(results)
    present = [(k, name) for k, name in SERVERS if k in servers]

    def get(server, label, key):
        r = point.get((server, label))
        return None if r is None else r.get(key)

    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Measured by `bench/run.sh` in one run: every server below got the same load from")
    w("`bench/loadgen` (keep-alive HTTP/1.1 on loopback, exact per-request latency), one")
    w("server at a time. Reproduce with `bench/run.sh` (about 6 minutes; it installs the SDK")
    w("venv and builds what it needs). The post → relay latency is `cargo bench --bench latency`.")
    w("")
    w("## Machine and run")
    w("")
    w("| | |")
    w("|---|---|")
    w(f"| date (UTC) | {machine['date']} → {end.get('date_end', '?')} |")
    w(f"| CPU | {machine['cpu']}, `nproc` = {machine['nproc']} |")
    w(f"| kernel | {machine['kernel']} |")
    w(f"| load average (1/5/15 min) | {machine['load_start']} at the start, {end.get('load_end', '?')} at the end |")
    w(f"| toolchain | {machine['rustc']}; {machine['python']}, viewtron {machine['viewtron']} |")
    w(f"| bodies | traject post {machine['traject_bytes']:,} B (tests/fixtures/ipc-v1x/traject.xml); image post {machine['image_bytes']:,} B (perimeter-intrusion.xml, random base64 430,000 + 100,000 chars) |")
    w(f"| durations | closed-loop points: {machine.get('rounds', 1)} rounds, each server in turn, {machine['point_seconds']} s each after 1 s warm-up (medians below; posts/s also as min–max over rounds); {machine['rate_seconds']} s at the fixed rate |")
    w("")
    w("The machine is shared (2 cores, several other jobs: see the load average), and the load")
    w("generator runs on the same 2 cores as the server, so absolute numbers are low and noisy.")
    w("All servers run at once and every point goes round-robin over them, so the servers compared")
    w("saw the same machine within seconds; server CPU per post is the least load-sensitive figure.")
    w("")
    w("## Side by side")
    w("")
    header = "| | " + " | ".join(name for _, name in present) + " |"
    w(header)
    w("|---|" + "---:|" * len(present))

    def row(title, fn):
        w(f"| {title} | " + " | ".join(fn(k) for k, _ in present) + " |")

    for c in (1, 8, 64):
        label = f"traject-c{c}"
        row(f"traject c={c}: posts/s", lambda k: spread(point.get((k, label))))
        row(f"traject c={c}: p50 / p99", lambda k: f"{ms(get(k, label, 'p50_us'))} / {ms(get(k, label, 'p99_us'))}")
        row(f"traject c={c}: server CPU per post", lambda k: ms(get(k, label, "server_cpu_us_per_post")))
    row("image c=4: posts/s", lambda k: spread(point.get((k, "image-c4"))))
    row("image c=4: MB/s", lambda k: fmt(get(k, "image-c4", "mb_per_s"), 1))
    row("image c=4: p99", lambda k: ms(get(k, "image-c4", "p99_us")))
    row("image c=4: peak RSS", lambda k: mb(peak(point, k, ["image-c4"])))
    row("500 posts/s (50 conns): achieved posts/s", lambda k: fmt(get(k, "rate-500", "posts_per_s")))
    row("500 posts/s: p50 / p99 (write → reply)", lambda k: f"{ms(get(k, 'rate-500', 'service_p50_us'))} / {ms(get(k, 'rate-500', 'service_p99_us'))}")
    row("500 posts/s: p99 from the schedule (client lag p99)", lambda k: f"{ms(get(k, 'rate-500', 'p99_us'))} ({ms(get(k, 'rate-500', 'client_lag_p99_us'))})")
    row("500 posts/s: server CPU", lambda k: pct(get(k, "rate-500", "server_cpu_pct")))
    row("500 posts/s: RSS max", lambda k: mb(peak(point, k, ["rate-500"])))
    row("RSS idle (1 s after start)", lambda k: mb(servers[k]["rss_idle_kb"]))
    row("RSS idle after the load", lambda k: mb(servers[k]["rss_idle_after_kb"]))
    row("peak RSS over the run", lambda k: mb(peak(point, k, None)))
    row("threads idle", lambda k: str(servers[k]["threads_idle"]))
    row("binary size", lambda k: size(k, servers[k]["size_bytes"]))
    errors = sum(r.get("errors", 0) for r in results)
    w("")
    w(f"Errors (non-200 replies, resets, timeouts) over all points: {errors}.")
    w("Latency is per post, from the first byte written to the reply read whole. At the fixed rate")
    w("it is also given from the scheduled send time (wrk2-style, so a server falling behind would")
    w("show); there most of it is the client's own timer lag (1 ms timer granularity and wake-ups on")
    w("a loaded machine), shown in brackets. Server CPU is utime + stime of")
    w("the server process over the measured window (/proc/PID/stat); RSS is VmRSS sampled every")
    w("50 ms and VmHWM reset at each window's start (/proc/PID/clear_refs).")
    w("")

    w("## Ratios")
    w("")
    w("camrelay's posts/s divided by the other server's, per point.")
    w("")
    others = [(k, n) for k, n in present if k != "camrelay"]
    w("| point | " + " | ".join(f"camrelay / {n}" for _, n in others) + " |")
    w("|---|" + "---:|" * len(others))
    for label in ("traject-c1", "traject-c8", "traject-c64", "image-c4"):
        cells = []
        for k, _ in others:
            a, b = get("camrelay", label, "posts_per_s"), get(k, label, "posts_per_s")
            cells.append("–" if not a or not b else (f"{a / b:.2f}×" if a / b < 10 else f"{a / b:.0f}×"))
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")
    w("Server CPU per post, the other server's divided by camrelay's (how many times more work the")
    w("other server spends per post; below 1 means camrelay spends more):")
    w("")
    w("| point | " + " | ".join(f"{n} / camrelay" for _, n in others) + " |")
    w("|---|" + "---:|" * len(others))
    for label in ("traject-c1", "traject-c8", "traject-c64", "image-c4", "rate-500"):
        cells = []
        for k, _ in others:
            a, b = get("camrelay", label, "server_cpu_us_per_post"), get(k, label, "server_cpu_us_per_post")
            cells.append("–" if not a or not b else f"{b / a:.2f}×")
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")

    w("## Targets (issue 6)")
    w("")
    w("| target | measured | |")
    w("|---|---|---|")
    c8 = get("camrelay", "traject-c8", "posts_per_s")
    nd8 = get("sdk-nodelay", "traject-c8", "posts_per_s")
    fl8 = get("floor", "traject-c8", "posts_per_s")
    p99 = get("camrelay", "traject-c8", "p99_us")
    idle = servers.get("camrelay", {}).get("rss_idle_kb")
    img = peak(point, "camrelay", ["image-c4"])
    targets = [
        ("traject posts/s at c=8 ≥ 15× SDK + TCP_NODELAY", ratio_text(c8, nd8, "×"), ok(c8 and nd8 and c8 >= 15 * nd8)),
        ("traject posts/s at c=8 ≥ 80% of the floor", ratio_text(c8, fl8, "%"), ok(c8 and fl8 and c8 >= 0.8 * fl8)),
        ("p99 at c=8 < 1 ms", ms(p99), ok(p99 is not None and p99 < 1000)),
        ("RSS idle < 10 MB", mb(idle), ok(idle is not None and idle < 10 * 1024)),
        ("RSS under the image load < 32 MB", mb(img), ok(img is not None and img < 32 * 1024)),
    ]
    for t, m, verdict in targets:
        w(f"| {t} | {m} | {verdict} |")
    w("")

    if latency:
        w("## Post → relay latency (issue 4)")
        w("")
        w(f"`cargo bench --bench latency`: {latency['posts']:,} traject posts on one keep-alive connection,")
        w("each toggling a relay through the whole daemon (HTTP, decode, presence, zones, rules,")
        w("controller, mock backend), timed from the write of the post (one write call of the whole")
        w("request) to the line change seen in the mock's record (the daemon runs in-process; see")
        w("benches/latency.rs for the rules).")
        w("")
        w("| p50 | p90 | p99 | p99.9 | max | misses | target p99 < 1 ms |")
        w("|---:|---:|---:|---:|---:|---:|---|")
        w(f"| {ms(latency['p50_us'])} | {ms(latency['p90_us'])} | {ms(latency['p99_us'])} | {ms(latency['p999_us'])} | {ms(latency['max_us'])} | {latency['misses']} | {ok(latency['p99_us'] < 1000 and latency['misses'] == 0)} |")
        w("")
        w(f"Load average during that bench: {latency['load']}. Posts over 1 ms: {latency.get('over_1ms', '?')}; the daemon's")
        w(f"threads spent {latency.get('runqueue_wait_ms', '?')} ms runnable but waiting for a CPU during {latency.get('posting_ms', '?')} ms of posting")
        w("(schedstat, all daemon threads summed): the rare slow posts are such waits on this shared machine.")
        w("")

    w("## Commands")
    w("")
    w("```")
    w("bench/run.sh                         # everything below, then this file")
    w("scripts/setup-sdk-venv.sh            # .venv with viewtron from PyPI")
    w("cargo build --release --bin camrelay")
    w("(cd bench && cargo build --release)  # bench/floor and bench/loadgen, their own workspace")
    w("camrelay run --config rules.toml     # rules.example.toml, listen on a free loopback port")
    w(".venv/bin/python bench/sdk_server.py PORT [--nodelay]")
    w("bench/target/release/floor 127.0.0.1:PORT")
    w("bench/target/release/loadgen --addr 127.0.0.1:PORT --pid PID --body tests/fixtures/ipc-v1x/traject.xml --conns 8 --duration 5")
    w("bench/target/release/loadgen ... --body image-post.xml --conns 4")
    w("bench/target/release/loadgen ... --conns 50 --rate 500 --duration 60")
    w("cargo bench --bench latency")
    w("bench/soak.sh [MINUTES]              # long soak, outside CI (default 10 minutes)")
    w("bench/instructions.sh [SECONDS]      # user-space instructions per post under callgrind, camrelay and the floor")
    w("```")
    w("")

    notes = existing_section(existing_path, NOTES_BEGIN, NOTES_END)
    w(NOTES_BEGIN)
    w(notes if notes else "## Findings\n\nNone written yet.")
    w(NOTES_END)
    w("")
    soak = existing_section(existing_path, SOAK_BEGIN, SOAK_END)
    w(SOAK_BEGIN)
    w(soak if soak else "## Soak\n\nNot run yet: `bench/soak.sh` writes its last result here.")
    w(SOAK_END)
    print("\n".join(out))


def aggregate(results):
    """One row per (server, point): the median over rounds (labels `point@round`),
    the maximum for memory, and the per-round posts/s kept for the spread."""
    groups = {}
    for r in results:
        base = r["label"].split("@", 1)[0]
        groups.setdefault((r["server"], base), []).append(r)
    out = {}
    for key, rows in groups.items():
        agg = dict(rows[0])
        for k, v in rows[0].items():
            vals = [x.get(k) for x in rows if isinstance(x.get(k), (int, float)) and not isinstance(x.get(k), bool)]
            if not vals or isinstance(v, bool):
                continue
            if k in ("rss_max_kb", "hwm_kb", "rss_end_kb", "errors", "max_us"):
                agg[k] = max(vals)
            else:
                agg[k] = sorted(vals)[len(vals) // 2] if len(vals) % 2 else sum(sorted(vals)[len(vals) // 2 - 1:len(vals) // 2 + 1]) / 2
        agg["hwm_reset"] = all(x.get("hwm_reset") for x in rows)
        agg["rounds_pps"] = [x.get("posts_per_s") for x in rows]
        out[key] = agg
    return out


def spread(r):
    """`median (min–max)` of posts/s over rounds."""
    if r is None:
        return "–"
    vals = [v for v in r.get("rounds_pps", []) if v is not None]
    if len(vals) < 2:
        return fmt(r.get("posts_per_s"))
    return f"{fmt(r.get('posts_per_s'))} ({fmt(min(vals))}–{fmt(max(vals))})"


def peak(point, server, labels):
    vals = []
    for (s, label), r in point.items():
        if s != server or (labels is not None and label not in labels):
            continue
        vals += [r.get("hwm_kb") or 0 if r.get("hwm_reset") else 0, r.get("rss_max_kb") or 0]
    return max(vals) if vals else None


def pct(x):
    return "–" if x is None else f"{x:.1f}%"


def size(k, b):
    if k.startswith("sdk"):
        return f"Python + viewtron package ({b / 1024:.0f} KB)"
    return f"{b / 1e6:.2f} MB"


def ratio_text(a, b, unit):
    if not a or not b:
        return "–"
    if unit == "%":
        return f"{100 * a / b:.0f}% ({a:,.0f} vs {b:,.0f} posts/s)"
    return f"{a / b:.1f}× ({a:,.0f} vs {b:,.0f} posts/s)"


def ok(cond):
    return "**met**" if cond else "**missed**"


def existing_section(path, begin, end):
    if not path or not os.path.exists(path):
        return None
    text = open(path, encoding="utf-8").read()
    if begin not in text or end not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
