#!/usr/bin/env python3
"""The web page's numbers (issue 15), on loopback, with Debian's headless
Chromium driven over WebDriver:

  latency   post -> box on the page: a traject post naming a new target id is
            sent every 100 ms (a camera's real rate) to camrelay, whose page
            shows that camera; the page notes when the frame showing the new
            box is painted (requestAnimationFrame after the DOM update).
            p50 / p99 / max of painted - sent, both on this machine's wall clock.
  cpu       camrelay's own CPU (utime + stime of its process, by
            bench/loadgen --pid) at 500 traject posts/s (50 keep-alive
            connections x 10/s, the traject fixture) with no page open, then
            with ten pages open on that camera's view, then none again.
  weight    bytes of the page: index.html + app.js + style.css + the manifest and its SVG icon.

Usage: python3 bench/web.py [--posts 300] [--seconds 30] [--json bench/out/web.json]
Needs target/release/camrelay and bench/target/release/loadgen (bench/run.sh
builds both; or `cargo build --release` and `cd bench && cargo build --release`)
and chromium + chromedriver (apt-get install chromium chromium-driver).
Nothing leaves loopback.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMRELAY = os.path.join(ROOT, "target/release/camrelay")
LOADGEN = os.path.join(ROOT, "bench/target/release/loadgen")
TRAJECT = os.path.join(ROOT, "tests/fixtures/ipc-v1x/traject.xml")
MAC = "58:5b:69:5f:42:1b"  # the fixture's camera, "driveway" in rules.example.toml
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class Browser:
    def __init__(self, profile):
        self.port = free_port()
        self.driver = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                if http("GET", self.base + "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "pageLoadStrategy": "eager", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,900", f"--user-data-dir={profile}",
                     # Ten pages side by side as a person would keep them: none throttled as hidden.
                     "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                     "--disable-backgrounding-occluded-windows"]}}}}
        self.session = http("POST", self.base + "/session", caps)["value"]["sessionId"]

    def call(self, method, path, body=None):
        return http(method, f"{self.base}/session/{self.session}{path}", body if body is not None or method != "POST" else {})["value"]

    def goto(self, url):
        self.call("POST", "/url", {"url": url})

    def run(self, script):
        return self.call("POST", "/execute/sync", {"script": script, "args": []})

    def wait(self, script, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if self.run(script) is True:
                return True
            time.sleep(0.05)
        return False

    def close(self):
        try:
            http("DELETE", f"{self.base}/session/{self.session}")
        finally:
            self.driver.kill()


def traject(target_id):
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<config version="1.7" xmlns="http://www.ipc.com/ver10">'
            f'<mac type="string"><![CDATA[{MAC}]]></mac><traject type="list" count="1"><item>'
            f'<targetId type="uint32">{target_id}</targetId><rect><x1 type="uint32">4000</x1><y1 type="uint32">5000</y1>'
            f'<x2 type="uint32">5000</x2><y2 type="uint32">9000</y2></rect><targetType type="targetType">person</targetType>'
            f'</item></traject></config>').encode()


class PageLike:
    """What an open page asks of camrelay, without a browser's own CPU on
    the same 2 cores: the page's start requests, its event stream for the
    shown camera (read as it comes), and /api/status every 2 s."""

    def __init__(self, api_port):
        self.port, self.stop, self.bytes = api_port, False, 0
        for path in ("/", "/app.js", "/style.css", "/api/session", "/api/config", "/api/status", "/api/recent"):
            urllib.request.urlopen(f"http://127.0.0.1:{api_port}{path}").read()
        self.stream = socket.create_connection(("127.0.0.1", api_port))
        self.stream.sendall(b"GET /api/events?camera=driveway HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        import threading
        threading.Thread(target=self.read, daemon=True).start()
        threading.Thread(target=self.poll, daemon=True).start()

    def read(self):
        while not self.stop:
            data = self.stream.recv(65536)
            if not data:
                return
            self.bytes += len(data)

    def poll(self):
        while not self.stop:
            time.sleep(2)
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status").read()

    def close(self):
        self.stop = True
        self.stream.close()


def cpu_at_500(posts_port, pid, seconds, label, out):
    subprocess.run([LOADGEN, "--addr", f"127.0.0.1:{posts_port}", "--body", TRAJECT, "--conns", "50", "--rate", "500",
                    "--duration", str(seconds), "--warmup", "2", "--pid", str(pid), "--server", "camrelay",
                    "--label", label, "--json", out], check=True, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=300)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/out/web.json"))
    a = ap.parse_args()
    for need in (CAMRELAY, LOADGEN):
        if not os.path.exists(need):
            sys.exit(f"missing {need}: build it first (see the docstring)")
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        sys.exit("missing chromium/chromedriver: apt-get install chromium chromium-driver")
    work = tempfile.mkdtemp()
    posts, api = free_port(), free_port()
    rules = open(os.path.join(ROOT, "rules.example.toml")).read()
    rules = rules.replace('listen = "0.0.0.0:5002"', f'listen = "127.0.0.1:{posts}"').replace(
        "\n[api]\n", f'\n[api]\nlisten = "127.0.0.1:{api}"\n', 1)
    assert f"127.0.0.1:{posts}" in rules and f"127.0.0.1:{api}" in rules, "listen lines of rules.example.toml changed"
    path = os.path.join(work, "rules.toml")
    open(path, "w").write(rules)
    daemon = subprocess.Popen([CAMRELAY, "run", "--config", path], stderr=subprocess.DEVNULL, env={**os.environ, "CAMRELAY_LOG": "warn"})
    base = f"http://127.0.0.1:{api}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    result = {"date": time.strftime("%Y-%m-%d"), "nproc": os.cpu_count()}
    browser = None
    pages = []
    try:
        browser = Browser(os.path.join(work, "profile"))
        # weight
        result["page_bytes"] = sum(len(urllib.request.urlopen(base + p).read()) for p in ("/", "/app.js", "/style.css", "/manifest.webmanifest", "/icon.svg"))

        # latency: one page on the camera view, a new target every 100 ms
        browser.goto(base + "/#camera")
        assert browser.wait("return document.body.dataset.ready === '1'"), "page did not start"
        sent = {}
        conn = socket.create_connection(("127.0.0.1", posts))
        for i in range(a.posts):
            tid = 100000 + i
            body = traject(tid)
            head = f"POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            sent[tid] = time.time() * 1000
            conn.sendall(head + body)
            conn.recv(4096)
            time.sleep(0.1)
        conn.close()
        time.sleep(1)
        drawn = browser.run("return Object.fromEntries(window.camrelayDrawn)")
        lat = sorted(drawn[str(t)] - s for t, s in sent.items() if str(t) in drawn)
        result["latency"] = {"posts": a.posts, "drawn": len(lat), "p50_ms": round(statistics.median(lat), 1),
                             "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 1), "max_ms": round(lat[-1], 1)}
        print("latency", result["latency"], file=sys.stderr)

        # cpu: none, ten pages (a fresh browser), none
        browser.close()
        browser = None
        out = os.path.join(work, "loadgen.jsonl")
        none1 = cpu_at_500(posts, daemon.pid, a.seconds, "no-page", out)
        # Ten page-like clients: the server's cost of ten open pages.
        clients = [PageLike(api) for _ in range(10)]
        ten_clients = cpu_at_500(posts, daemon.pid, a.seconds, "ten-page-clients", out)
        streamed = [c.bytes for c in clients]
        for c in clients:
            c.close()
        # Ten visible pages: ten browsers (one browser gives a server 6
        # connections, and a page's event stream holds one).
        for i in range(10):
            b = Browser(os.path.join(work, f"profile-{i}"))
            pages.append(b)
            b.goto(base + "/#camera")
        ready = [b.wait("return document.body.dataset.ready === '1' && document.visibilityState === 'visible'") for b in pages]
        print("pages ready:", ready, file=sys.stderr)
        ten = cpu_at_500(posts, daemon.pid, a.seconds, "ten-pages", out)
        drawn_last = [b.run("return window.camrelayDrawn.size") for b in pages]
        for b in pages:
            b.close()
        pages.clear()
        none2 = cpu_at_500(posts, daemon.pid, a.seconds, "no-page-again", out)
        def pick(r):
            return {"posts_per_s": r["posts_per_s"], "cpu_pct": r.get("server_cpu_pct"), "p99_us": r["p99_us"]}
        result["cpu"] = {"no_page": pick(none1), "ten_page_clients": pick(ten_clients), "stream_bytes_per_client": streamed,
                         "ten_browsers": pick(ten), "no_page_again": pick(none2),
                         "pages_ready": sum(ready), "targets_seen_per_page": drawn_last}
        print("cpu", result["cpu"], file=sys.stderr)
    finally:
        for b in pages + ([browser] if browser else []):
            b.close()
        daemon.terminate()
        daemon.wait()
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
