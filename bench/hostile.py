#!/usr/bin/env python3
"""The hostile-LAN benchmark: what an attacker on the camera network can do to
`camrelay run`, measured. Loopback only, every loop bounded in count and time.

Scenarios (each against a fresh daemon, mock backend, a rules file made here):
  flood        a `toggle` rule fed a fresh target id per post, 5 s, one
               keep-alive connection: switch-ons and the shortest off
  connections  1,100 idle keep-alive connections (each after one valid post)
               from 127.0.0.1 while a camera posts at 7 Hz from 127.0.0.2 for
               10 s: camera posts answered
  memory       one client sending 55,000-target posts (3.8 MB) for 10 s while a
               camera posts traject at 7 Hz: peak RSS, the camera's p99, RSS a
               minute later
  timers       the same big-post load for 10 s while relays cycle on `max_on`
               (500 ms) and 300 ms pulses: how late each switch-off came (p99)

Usage: python3 bench/hostile.py [--binary target/release/camrelay] [--json OUT]
Prints a markdown table (and writes JSON with --json).
"""
import argparse
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def traject(targets):
    items = "".join(
        f"<item><targetId>{i}</targetId><rect><x1>4000</x1><y1>4000</y1><x2>5000</x2><y2>9000</y2></rect>"
        f"<targetType>{cls}</targetType></item>"
        for i, cls in targets
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<config version="1.7" xmlns="http://www.ipc.com/ver10">'
        "<mac>58:5b:69:5f:42:1b</mac><deviceName>Bench</deviceName>"
        f'<traject type="list" count="{len(targets)}">{items}</traject></config>'
    ).encode()


def request(body, path="/API"):
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def read_reply(sock):
    """Status of one response; the body is read and dropped. None on EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"content-length:\s*(\d+)", head, re.I)
    need = int(m.group(1)) if m else 0
    while len(rest) < need:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status


def connect(addr, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(addr)
    return s


class Daemon:
    def __init__(self, binary, relays_and_rules):
        self.dir = tempfile.mkdtemp(prefix="camrelay-hostile-")
        self.mock = os.path.join(self.dir, "mock.jsonl")
        rules = (
            '[server]\nlisten = "127.0.0.1:0"\n[api]\nlisten = "127.0.0.1:0"\n'
            f'[gpio]\nbackend = "mock"\nmock_log = "{self.mock}"\n{relays_and_rules}'
        )
        path = os.path.join(self.dir, "rules.toml")
        with open(path, "w") as f:
            f.write(rules)
        self.proc = subprocess.Popen(
            [binary, "run", "--config", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "CAMRELAY_LOG": "warn"},
            text=True,
        )
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("camrelay did not start")
            m = re.match(r"camrelay: listening for posts on (\S+), API on (\S+)", line)
            if m:
                host, port = m.group(1).rsplit(":", 1)
                self.posts = (host, int(port))
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log(self):
        with open(self.mock) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def camera_loop(addr, seconds, rate, source="127.0.0.2", first_id=100000):
    """Post traject at `rate` Hz for `seconds`; returns (sent, answered_200, latencies_ms)."""
    sock = connect(addr, source)
    sent, ok, lat = 0, 0, []
    end = time.monotonic() + seconds
    nxt = time.monotonic()
    tid = first_id
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            sock.sendall(request(traject([(tid, "person")])))
            status = read_reply(sock)
        except OSError:
            status = None
        sent += 1
        if status == 200:
            ok += 1
            lat.append((time.monotonic() - t0) * 1000)
        else:
            sock.close()
            sock = connect(addr, source)
        tid += 1
        nxt += 1.0 / rate
        time.sleep(max(0.0, nxt - time.monotonic()))
    sock.close()
    return sent, ok, lat


def p99(values):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]


def big_traject(n):
    """The attack's post: `n` bare targets, 69 bytes each (55,000: 3.8 MB, under max_body)."""
    items = "".join(f"<item><targetId>{10000 + i}</targetId><targetType>person</targetType></item>" for i in range(n))
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<config version="1.7" xmlns="http://www.ipc.com/ver10">'
        f'<mac>58:5b:69:00:00:66</mac><traject type="list" count="{n}">{items}</traject></config>'
    ).encode()


def _load(addr, seconds, counter):
    body = request(big_traject(55_000))
    end = time.monotonic() + seconds
    sock = connect(addr, "127.0.0.3")
    while time.monotonic() < end:
        try:
            sock.sendall(body)
            if read_reply(sock) is None:
                raise OSError("closed")
            with counter.get_lock():
                counter.value += 1
        except OSError:
            sock.close()
            sock = connect(addr, "127.0.0.3")
    sock.close()


class BigPostLoader:
    """The attacker, in its own process: in a thread it would share Python's
    interpreter lock with the camera being timed and add its waits to the
    camera's latency."""

    def __init__(self, addr, seconds):
        self.count = multiprocessing.Value("l", 0)
        self.proc = multiprocessing.Process(target=_load, args=(addr, seconds, self.count))
        self.proc.start()

    def join(self):
        self.proc.join()
        return self.count.value


def flood(binary):
    d = Daemon(
        binary,
        '[[relay]]\nname = "light"\nline = 5\nmax_on = "10m"\n'
        '[[rule]]\nname = "flip"\nwhen = { event = "presence", class = "person" }\n'
        'then = { relay = "light", action = "toggle" }\n',
    )
    sock = connect(d.posts)
    end = time.monotonic() + 5
    n = 0
    while time.monotonic() < end:
        sock.sendall(request(traject([(n + 1, "person")])))
        read_reply(sock)
        n += 1
    time.sleep(0.3)
    log = [c for c in d.log() if c["reason"] != "startup"]
    d.stop()
    ons = [c for c in log if c["on"]]
    gaps = [b["ms"] - a["ms"] for a, b in zip(log, log[1:]) if not a["on"] and b["on"]]
    return {"posts": n, "switch_ons": len(ons), "shortest_off_ms": min(gaps) if gaps else None}


def connections(binary):
    d = Daemon(binary, "")
    crowd = []
    one = request(traject([(1, "person")]))
    for _ in range(1100):
        try:
            s = connect(d.posts, "127.0.0.1")
            s.sendall(one)
            crowd.append(s)
        except OSError:
            pass
    sent, ok, lat = camera_loop(d.posts, 10, 7)
    for s in crowd:
        s.close()
    d.stop()
    return {"idle_connections": len(crowd), "camera_posts": sent, "camera_answered": ok, "camera_p99_ms": p99(lat)}


def memory(binary):
    d = Daemon(binary, "")
    idle = d.rss_kb()
    stop = threading.Event()
    peak = [idle]

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], d.rss_kb())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    loader = BigPostLoader(d.posts, 10)
    sampler.start()
    _, ok, lat = camera_loop(d.posts, 10, 7)
    big_posts = loader.join()
    stop.set()
    sampler.join()
    time.sleep(60)
    after = d.rss_kb()
    d.stop()
    return {
        "big_posts": big_posts,
        "rss_idle_mb": idle / 1024,
        "rss_peak_mb": peak[0] / 1024,
        "rss_after_60s_mb": after / 1024,
        "camera_answered": ok,
        "camera_p99_ms": p99(lat),
    }


def timers(binary):
    d = Daemon(
        binary,
        '[[relay]]\nname = "cut"\nline = 5\nmax_on = "500ms"\nmin_off = "0s"\nswitch_limit = "unlimited"\n'
        '[[relay]]\nname = "pulse"\nline = 6\nmax_on = "10s"\nmin_off = "0s"\nswitch_limit = "unlimited"\n'
        '[[rule]]\nname = "latch"\nwhen = { event = "presence", class = "person" }\n'
        'then = { relay = "cut", action = "on" }\n'
        '[[rule]]\nname = "beep"\nwhen = { event = "presence", class = "person" }\n'
        'then = { relay = "pulse", action = "pulse", duration = "300ms" }\n',
    )
    loader = BigPostLoader(d.posts, 10)
    # A fresh target every 50 ms re-arms both relays as soon as they are off.
    camera_loop(d.posts, 10, 20)
    big_posts = loader.join()
    log = d.log()
    d.stop()
    late = []
    for relay, want in (("cut", 500), ("pulse", 300)):
        changes = [c for c in log if c["relay"] == relay and c["reason"] != "startup"]
        for a, b in zip(changes, changes[1:]):
            if a["on"] and not b["on"] and (b["reason"] == "max_on" or "pulse ended" in b["reason"]):
                late.append(b["ms"] - a["ms"] - want)
    return {
        "big_posts": big_posts,
        "switch_offs": len(late),
        "late_p50_ms": statistics.median(late) if late else None,
        "late_p99_ms": p99(late),
        "late_max_ms": max(late) if late else None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/camrelay"))
    ap.add_argument("--json")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    results = {}
    for name, fn in (("flood", flood), ("connections", connections), ("memory", memory), ("timers", timers)):
        if args.only and name not in args.only:
            continue
        t0 = time.monotonic()
        results[name] = fn(args.binary)
        print(f"{name} ({time.monotonic() - t0:.0f} s): {results[name]}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    r = results
    rows = []
    if "flood" in r:
        f = r["flood"]
        rows.append(("toggle flood, fresh target per post, 5 s", "8,916 switch-ons, 0 ms gaps",
                     f"{f['posts']:,} posts: {f['switch_ons']} switch-ons, shortest off {f['shortest_off_ms']} ms"))
    if "connections" in r:
        c = r["connections"]
        rows.append(("1,100 idle keep-alive connections, camera at 7 Hz", "0 of 50 camera posts answered",
                     f"{c['camera_answered']} of {c['camera_posts']} answered, p99 {c['camera_p99_ms']:.1f} ms"))
    if "memory" in r:
        m = r["memory"]
        rows.append(("55,000-target posts (3.8 MB) for 10 s: RSS peak", "539 MB (from 6 MB)",
                     f"{m['rss_peak_mb']:.1f} MB (idle {m['rss_idle_mb']:.1f} MB, {m['big_posts']} big posts)"))
        rows.append(("the same: camera traject p99", "120 ms", f"{m['camera_p99_ms']:.2f} ms"))
        rows.append(("the same: RSS a minute later", "539 MB, never returned", f"{m['rss_after_60s_mb']:.1f} MB"))
    if "timers" in r:
        t = r["timers"]
        rows.append(("max_on / pulse ends under big posts, lateness p99", "up to 81 ms (2,081 ms for 2 s)",
                     f"p50 {t['late_p50_ms']} ms, p99 {t['late_p99_ms']} ms, max {t['late_max_ms']} ms over {t['switch_offs']} switch-offs"))
    print("| attack | before (issue 11) | now |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
