#!/usr/bin/env python3
"""Inputs' numbers (issue 28) with the mock backend, on loopback:

  latency   input edge -> relay switch: a contact (debounce 0) is set on and
            off through POST /api/inputs/{name} on a keep-alive connection;
            two rules follow it with a lamp (on -> on, off -> off); a
            subscriber of GET /api/events sees the lamp's `switched`. p50 /
            p99 of (switched seen - request sent) on this machine's clock:
            it includes the HTTP request and the event stream, an upper
            bound on edge -> switch inside camrelay. Presses are 60 ms apart:
            the stream sends one client at most one chunk per 50 ms.
  bounce    a contact bouncing at 1 kHz: raw edges through the same API at
            1,000 a second for --bounce-seconds (debounce 30 ms, so no level
            lasts), then it settles closed. camrelay's CPU (utime + stime
            from /proc) over the bounce, against the same rate of requests
            that carry no edge (POST /api/inputs/{unknown}, answered 404 by
            the core): the difference is what the edges themselves cost.
            Also: debounced changes (must be 1), relay switches (must be 1).

With cdev the kernel debounces (uAPI v2), so a bouncing contact reaches
camrelay as nothing until it settles: these are the costs where camrelay
debounces itself (the mock, uAPI v1).

Usage: python3 bench/inputs.py [--presses 500] [--bounce-seconds 10] [--json bench/out/inputs.json]
Needs target/release/camrelay (cargo build --release).
"""
import argparse, http.client, json, os, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMRELAY = os.path.join(ROOT, "target/release/camrelay")
TOKEN = "bench-token"
TICKS = os.sysconf("SC_CLK_TCK")

RULES = f"""
[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "{TOKEN}"

[gpio]
backend = "mock"

[[input]]
name = "contact"
line = 5
debounce = "0s"

[[input]]
name = "bouncer"
line = 6
debounce = "30ms"

[[relay]]
name = "lamp"
line = 17
max_on = "1h"
min_off = "0s"
switch_limit = "unlimited"

[[relay]]
name = "buzzer"
line = 18
max_on = "1m"
min_off = "0s"

[[rule]]
name = "lamp on"
when = {{ event = "input", input = "contact", to = "on" }}
then = {{ relay = "lamp", action = "on" }}

[[rule]]
name = "lamp off"
when = {{ event = "input", input = "contact", to = "off" }}
then = {{ relay = "lamp", action = "off" }}

[[rule]]
name = "buzz when the bouncer closes"
when = {{ event = "input", input = "bouncer", to = "on" }}
then = {{ relay = "buzzer", action = "pulse", duration = "200ms" }}
"""


class Daemon:
    def __init__(self, work):
        path = os.path.join(work, "rules.toml")
        open(path, "w").write(RULES)
        self.proc = subprocess.Popen([CAMRELAY, "run", "--config", path], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True, env=dict(os.environ, CAMRELAY_LOG="warn"))
        line = ""
        while "listening for posts on" not in line:
            line = self.proc.stderr.readline()
            if not line:
                sys.exit("camrelay did not start")
        self.api = line.strip().split(", API on ")[1]
        host, port = self.api.rsplit(":", 1)
        self.addr = (host, int(port))
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def connection(self):
        c = http.client.HTTPConnection(*self.addr, timeout=10)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def cpu_s(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def status(self):
        c = self.connection()
        c.request("GET", "/api/status")
        return json.loads(c.getresponse().read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def set_input(conn, name, on):
    conn.request("POST", f"/api/inputs/{name}", json.dumps({"on": on}),
                 {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status


def latency(d, presses):
    """Edge -> lamp switch, seen on the event stream."""
    events = socket.create_connection(d.addr)
    events.sendall(f"GET /api/events HTTP/1.1\r\nHost: {d.api}\r\n\r\n".encode())
    events.settimeout(5)
    seen = []
    buf = b""

    def read_switched():
        nonlocal buf
        while True:
            i = buf.find(b"\n\n")
            if i >= 0:
                frame, buf = buf[:i], buf[i + 2:]
                if b"event: switched" in frame and b'"lamp"' in frame:
                    return time.perf_counter()
                continue
            buf += events.recv(65536)

    conn = d.connection()
    for n in range(presses):
        sent = time.perf_counter()
        assert set_input(conn, "contact", n % 2 == 0) == 200
        seen.append((read_switched() - sent) * 1000)
        # The event stream sends a client at most one chunk per 50 ms
        # (EVENTS_MIN_GAP): presses closer than that would measure the gap.
        time.sleep(0.06)
    events.close()
    seen.sort()
    return {"presses": presses, "p50_ms": round(statistics.median(seen), 2),
            "p99_ms": round(seen[int(len(seen) * 0.99) - 1], 2), "max_ms": round(seen[-1], 2)}


def paced(d, seconds, body):
    """`body(conn, n)` 1,000 times a second for `seconds`; camrelay's CPU seconds."""
    conn = d.connection()
    before = d.cpu_s()
    start = time.perf_counter()
    n = 0
    while True:
        due = start + n / 1000
        now = time.perf_counter()
        if now - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        body(conn, n)
        n += 1
    elapsed = time.perf_counter() - start
    return d.cpu_s() - before, elapsed, n


def bounce(d, seconds):
    none_cpu, none_s, none_n = paced(d, seconds, lambda c, n: set_input(c, "nothing", True))
    edge_cpu, edge_s, edge_n = paced(d, seconds, lambda c, n: set_input(c, "bouncer", n % 2 == 0))
    set_input(d.connection(), "bouncer", True)
    time.sleep(0.5)
    status = d.status()
    bouncer = next(i for i in status["inputs"] if i["name"] == "bouncer")
    c = d.connection()
    c.request("GET", "/metrics")
    metrics = c.getresponse().read().decode()
    buzzes = next(float(l.split()[-1]) for l in metrics.splitlines()
                  if l.startswith("camrelay_relay_switches_total") and 'relay="buzzer"' in l)
    return {
        "edges": edge_n, "edges_per_s": round(edge_n / edge_s),
        "cpu_pct_with_edges": round(edge_cpu / edge_s * 100, 2),
        "cpu_pct_same_requests_without_edges": round(none_cpu / none_s * 100, 2),
        "cpu_pct_of_the_edges": round((edge_cpu / edge_s - none_cpu / none_s) * 100, 2),
        "debounced_changes": bouncer["changes"],
        "buzzer_switch_ons": int(buzzes),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presses", type=int, default=500)
    ap.add_argument("--bounce-seconds", type=float, default=10)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.path.exists(CAMRELAY):
        sys.exit(f"missing {CAMRELAY}: cargo build --release")
    with tempfile.TemporaryDirectory() as work:
        d = Daemon(work)
        try:
            out = {"latency": latency(d, args.presses), "bounce": bounce(d, args.bounce_seconds)}
        finally:
            d.stop()
    print(json.dumps(out, indent=1))
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        json.dump(out, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
