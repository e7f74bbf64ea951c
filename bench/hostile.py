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
  guessing     (issue 23) 16 sources guessing the API token for 10 s as fast
               as they can: guesses the server checked per second per source,
               and the owner's login from another address meanwhile
  streams      (issue 23) 64 `/api/events` streams held open: how many are
               served, and manual control's p99 while they stay
  bomb         (issue 23) a camera answering its snapshot with 3.5 MB and its
               regions with 200 KB of `<a/>`, read by 4 clients for 10 s
               while relays cycle: daemon RSS peak, switch-off lateness p99
  retained     (issue 23) a retained 1 MB message on the node's command topic
               of a real Mosquitto: the link stays up, a live command works

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
    def __init__(self, binary, relays_and_rules, api="", head=""):
        self.dir = tempfile.mkdtemp(prefix="camrelay-hostile-")
        self.mock = os.path.join(self.dir, "mock.jsonl")
        rules = (
            f'[server]\nlisten = "127.0.0.1:0"\n[api]\nlisten = "127.0.0.1:0"\n{api}\n'
            f'[gpio]\nbackend = "mock"\nmock_log = "{self.mock}"\n{head}\n{relays_and_rules}'
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
                host, port = m.group(2).rsplit(":", 1)
                self.api = (host, int(port))
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


TOKEN = "bench-owner-token"
GATE = '[[relay]]\nname = "gate"\nline = 5\nmax_on = "10m"\nmin_off = "0s"\nswitch_limit = "unlimited"\n'


def api_request(api, method, path, body=b"", headers=(), source="127.0.0.1"):
    """One request on a fresh connection: (status, seconds)."""
    t0 = time.monotonic()
    s = connect(api, source)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{api[1]}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    status = read_reply(s)
    s.close()
    return status, time.monotonic() - t0


def _guesser(api, sources, seconds, out):
    counts = {}
    lock = threading.Lock()

    def guess(source):
        end = time.monotonic() + seconds
        mine = {}
        n = 0
        while time.monotonic() < end:
            try:
                status, _ = api_request(api, "POST", "/api/relays/gate", b'{"action":"on"}',
                                        (("Authorization", f"Bearer guess-{n}"),), source)
            except OSError:
                status = None
            mine[status] = mine.get(status, 0) + 1
            n += 1
        with lock:
            counts[source] = mine

    threads = [threading.Thread(target=guess, args=(src,)) for src in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(counts)


def guessing(binary):
    d = Daemon(binary, GATE, api=f'token = "{TOKEN}"')
    seconds = 10
    sources = [f"127.0.1.{i}" for i in range(1, 17)]
    out = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_guesser, args=(d.api, sources, seconds, out))
    proc.start()
    time.sleep(1)
    logins = []
    end = time.monotonic() + seconds - 2
    while time.monotonic() < end:
        status, took = api_request(d.api, "POST", "/login", f"token={TOKEN}".encode())
        assert status == 200, status
        logins.append(took * 1000)
        time.sleep(0.25)
    counts = out.get()
    proc.join()
    d.stop()
    checked = [c.get(401, 0) / seconds for c in counts.values()]
    return {
        "sources": len(sources),
        "attempts": sum(sum(c.values()) for c in counts.values()),
        "checked": sum(c.get(401, 0) for c in counts.values()),
        "throttled": sum(c.get(429, 0) for c in counts.values()),
        "checked_per_s_per_source_max": max(checked),
        "owner_logins": len(logins),
        "owner_login_p99_ms": p99(logins),
        "owner_login_max_ms": max(logins),
    }


def streams(binary):
    d = Daemon(binary, GATE, api=f'token = "{TOKEN}"')
    held, served, refused = [], 0, 0
    for _ in range(64):
        s = connect(d.api)
        s.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{d.api[1]}\r\n\r\n".encode())
        head = s.recv(12)
        if head.endswith(b"200"):
            served += 1
        else:
            refused += 1
        held.append(s)
    lat = []
    for _ in range(200):
        status, took = api_request(d.api, "POST", "/api/relays/gate", b'{"action":"pulse","duration":"20ms"}',
                                   (("Authorization", f"Bearer {TOKEN}"),))
        assert status == 200, status
        lat.append(took * 1000)
    health = api_request(d.api, "GET", "/health")
    for s in held:
        s.close()
    d.stop()
    return {"streams_served": served, "streams_refused": refused, "control_p50_ms": statistics.median(lat),
            "control_p99_ms": p99(lat), "health_ms": health[1] * 1000}


def _bomb_camera(port):
    """A device answering as the camera: its snapshot and its regions are element bombs."""
    import http.server

    snapshot = b"<?xml version=\"1.0\"?><config>" + b"<a/>" * (3_500_000 // 4) + b"</config>"
    regions = b"<?xml version=\"1.0\"?><config>" + b"<a/>" * (200_000 // 4) + b"</config>"
    refused = b'<?xml version="1.0"?><config version="2.0.0" status="failed" errorCode="11" errorDesc="unsupported"/>'

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = {"/GetSnapshot": snapshot, "/GetSmartPerimeterConfig": regions}.get(self.path, refused)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def bomb(binary):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    cam_port = s.getsockname()[1]
    s.close()
    camera = multiprocessing.Process(target=_bomb_camera, args=(cam_port,), daemon=True)
    camera.start()
    time.sleep(0.5)
    d = Daemon(
        binary,
        '[[relay]]\nname = "cut"\nline = 5\nmax_on = "500ms"\nmin_off = "0s"\nswitch_limit = "unlimited"\n'
        '[[relay]]\nname = "pulse"\nline = 6\nmax_on = "10s"\nmin_off = "0s"\nswitch_limit = "unlimited"\n'
        '[[camera]]\nname = "front"\nmac = "70:ab:c8:1b:5d:dc"\n'
        f'url = "http://127.0.0.1:{cam_port}"\npassword_file = "pw"\n'
        '[[rule]]\nname = "latch"\nwhen = { event = "presence", class = "person" }\n'
        'then = { relay = "cut", action = "on" }\n'
        '[[rule]]\nname = "beep"\nwhen = { event = "presence", class = "person" }\n'
        'then = { relay = "pulse", action = "pulse", duration = "300ms" }\n',
    )
    with open(os.path.join(d.dir, "pw"), "w") as f:
        f.write("pw\n")
    idle = d.rss_kb()
    stop = threading.Event()
    peak = [idle]
    answers = {}

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], d.rss_kb())
            time.sleep(0.05)

    def read(path):
        while not stop.is_set():
            try:
                status, _ = api_request(d.api, "GET", path)
            except OSError:
                status = None
            answers[status] = answers.get(status, 0) + 1

    threads = [threading.Thread(target=sample)] + [
        threading.Thread(target=read, args=(p,))
        for p in ["/api/cameras/front/snapshot", "/api/cameras/front/regions"] * 2
    ]
    for t in threads:
        t.start()
    camera_loop(d.posts, 10, 20)
    stop.set()
    for t in threads:
        t.join()
    log = d.log()
    d.stop()
    camera.terminate()
    late = []
    for relay, want in (("cut", 500), ("pulse", 300)):
        changes = [c for c in log if c["relay"] == relay and c["reason"] != "startup"]
        for a, b in zip(changes, changes[1:]):
            if a["on"] and not b["on"] and (b["reason"] == "max_on" or "pulse ended" in b["reason"]):
                late.append(b["ms"] - a["ms"] - want)
    return {"answers": answers, "rss_idle_mb": idle / 1024, "rss_peak_mb": peak[0] / 1024,
            "switch_offs": len(late), "late_p99_ms": p99(late), "late_max_ms": max(late) if late else None}


def retained(binary):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mqtt as bench_mqtt

    work = tempfile.mkdtemp(prefix="camrelay-hostile-mqtt-")
    broker = bench_mqtt.Broker(work)
    big = os.path.join(work, "big")
    with open(big, "wb") as f:
        f.write(b"x" * (1024 * 1024))
    pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "homeassistant", "-P", "pw-homeassistant",
           "-V", "mqttv5", "-t", "camrelay/n0/relay/gate/set"]
    subprocess.run(pub + ["-r", "-f", big], check=True)
    pw = os.path.join(work, "n0.pw")
    with open(pw, "w") as f:
        f.write("pw-n0\n")
    d = Daemon(binary, GATE, api=f'token = "{TOKEN}"',
               head=f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker.port}"\nnode = "n0"\nusername = "n0"\npassword_file = "{pw}"\n')
    time.sleep(5)
    c = socket.create_connection(d.api)
    c.sendall(f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    raw = b""
    while chunk := c.recv(65536):
        raw += chunk
    mqtt = json.loads(raw.split(b"\r\n\r\n", 1)[1])["mqtt"]
    t0 = time.monotonic()
    subprocess.run(pub + ["-m", "PULSE 200ms"], check=True)
    applied_ms = None
    while time.monotonic() - t0 < 5:
        if any(e["relay"] == "gate" and e["on"] for e in d.log()):
            applied_ms = (time.monotonic() - t0) * 1000
            break
        time.sleep(0.01)
    d.stop()
    broker.close()
    return {"connects": mqtt["connects"], "link": mqtt["link"], "losses_last_minute": mqtt["losses_last_minute"],
            "oversized_dropped": mqtt["oversized_dropped"], "command_applied_ms": applied_ms}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/camrelay"))
    ap.add_argument("--json")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    results = {}
    scenarios = (("flood", flood), ("connections", connections), ("memory", memory), ("timers", timers),
                 ("guessing", guessing), ("streams", streams), ("bomb", bomb), ("retained", retained))
    for name, fn in scenarios:
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
    if "guessing" in r:
        g = r["guessing"]
        rows.append(("token guessing, 16 sources for 10 s: guesses checked per second per source (target ≤ 2)",
                     "~50,000 a second, unlogged",
                     f"{g['checked_per_s_per_source_max']:.1f} at most ({g['checked']:,} checked, {g['throttled']:,} refused 429 of {g['attempts']:,})"))
        rows.append(("the same: the owner's login from another address (target < 1 s)", "8–10 s",
                     f"p99 {g['owner_login_p99_ms']:.1f} ms, max {g['owner_login_max_ms']:.1f} ms over {g['owner_logins']} logins"))
    if "streams" in r:
        t = r["streams"]
        rows.append(("64 event streams held open: manual control p99 (target < 50 ms)", "refused while they stay",
                     f"{t['streams_served']} served, {t['streams_refused']} refused (503); control p50 {t['control_p50_ms']:.1f} ms, p99 {t['control_p99_ms']:.1f} ms; /health {t['health_ms']:.1f} ms"))
    if "bomb" in r:
        b = r["bomb"]
        rows.append(("element-bomb camera read by 4 clients for 10 s: daemon RSS peak (target < 32 MB)", "140 MB",
                     f"{b['rss_peak_mb']:.1f} MB (idle {b['rss_idle_mb']:.1f} MB); answers {b['answers']}"))
        rows.append(("the same: relay switch-off lateness p99 (target < 10 ms)", "132–464 ms",
                     f"p99 {b['late_p99_ms']} ms, max {b['late_max_ms']} ms over {b['switch_offs']} switch-offs"))
    if "retained" in r:
        m = r["retained"]
        rows.append(("a retained 1 MB message on the node's command topic", "~30 reconnects a second, commands dead, status \"connected\"",
                     f"connects {m['connects']}, link {m['link']}, {m['oversized_dropped']} dropped and counted; a live PULSE applied in {m['command_applied_ms']:.0f} ms"))
    print("| attack | before | now |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
