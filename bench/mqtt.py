#!/usr/bin/env python3
"""MQTT's numbers (issue 17), on loopback, against Debian's Mosquitto started
here with a password file and the ACL of docs/mqtt.md:

  latency   post -> state on the broker: traject posts alternate a person in
            and out of a zone (inertia 1) every 50 ms; a subscriber
            (mosquitto_sub, %U timestamps) sees the relay's state ON and the
            zone's occupancy ON/OFF. p50 / p99 of arrival - sent, both on this
            machine's wall clock: it includes camrelay's publish, the broker
            and the subscriber, an upper bound on camrelay's part.
  cross     post to node A -> relay on on node B: A's rule holds B's relay
            for 20 ms, so each post in the zone switches it on again; measured
            to the arrival of B's state ON at the subscriber (A -> broker ->
            B -> relay -> broker -> subscriber: an upper bound on post -> relay).
  cpu       camrelay's own CPU (bench/loadgen --pid) at 500 traject posts/s
            (50 keep-alive connections x 10/s, a person inside the zone, so a
            rule renews its hold on every post): without [mqtt], with [mqtt]
            (states, detections, occupancy), and with [mqtt] plus a rule
            holding another node's relay (renewed over the broker at most
            once a second). Three rounds, the three one after another in
            each; medians and per-round ratios.
  soak      ten nodes on one broker for --soak-minutes: each node's camera
            sees a person walking about 5 times a second, its rule holds the light of the
            next node (n0 -> n1 -> ... -> n9 -> n0); at the end every command
            is accounted for: sent = applied + waiting + refused + failed on
            the senders, and sent = taken on the receivers.

Usage: python3 bench/mqtt.py [--posts 1000] [--cpu-seconds 30] [--rounds 3] [--soak-minutes 10] [--json bench/out/mqtt.json]
Needs target/release/camrelay, bench/target/release/loadgen and mosquitto
(apt-get install mosquitto mosquitto-clients). Nothing leaves loopback.
"""
import argparse, http.client, json, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMRELAY = os.path.join(ROOT, "target/release/camrelay")
LOADGEN = os.path.join(ROOT, "bench/target/release/loadgen")
MAC = "58:5b:69:5f:42:1b"
NODES = [f"n{i}" for i in range(10)]


def documented_acl():
    """The ACL docs/mqtt.md tells users to write, read from there."""
    docs = open(os.path.join(ROOT, "docs/mqtt.md")).read()
    return docs.split("`/etc/mosquitto/acl`:", 1)[1].split("```\n", 1)[1].split("```", 1)[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def traject(x):
    """One person, target 7, its box's bottom centre at x (0-10000)."""
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<config version="1.7" xmlns="http://www.ipc.com/ver10">'
            f'<mac type="string"><![CDATA[{MAC}]]></mac><traject type="list" count="1"><item>'
            f'<targetId type="uint32">7</targetId><rect><x1 type="uint32">{x - 500}</x1><y1 type="uint32">5000</y1>'
            f'<x2 type="uint32">{x + 500}</x2><y2 type="uint32">9000</y2></rect><targetType type="targetType">person</targetType>'
            f'</item></traject></config>').encode()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Broker:
    def __init__(self, work):
        self.port = free_port()
        passwd = os.path.join(work, "passwd")
        for i, user in enumerate(NODES + ["homeassistant", "a", "b", "lat"]):
            args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [passwd, user, f"pw-{user}"]
            subprocess.run(args, check=True)
        # Started as root, mosquitto reads its files as user mosquitto.
        os.chmod(work, 0o755)
        os.chmod(passwd, 0o644)
        acl = os.path.join(work, "acl")
        open(acl, "w").write(documented_acl())
        conf = os.path.join(work, "mosquitto.conf")
        open(conf, "w").write(f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
                              f"acl_file {acl}\npersistence false\nmax_queued_messages 100000\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", conf], stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on {port}")


class Node:
    def __init__(self, work, name, broker, relay_rules, zone=True, mqtt=True, min_off="0s"):
        self.name, self.posts, self.api = name, free_port(), free_port()
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "pw"), "w").write(f"pw-{name}\n")
        mqtt_section = (f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker.port}"\nnode = "{name}"\nusername = "{name}"\n'
                        f'password_file = "pw"\nqueue = 65536\n') if mqtt else ""
        zone_section = ('[[camera]]\nname = "drive"\nmac = "58:5b:69:5f:42:1b"\n\n[[zone]]\nname = "left"\n'
                        'camera = "drive"\npolygon = [[0, 0], [5000, 0], [5000, 10000], [0, 10000]]\n') if zone else ""
        rules = f"""[server]
listen = "127.0.0.1:{self.posts}"
[api]
listen = "127.0.0.1:{self.api}"
[gpio]
backend = "mock"
[presence]
inertia = 1
{mqtt_section}
[[relay]]
name = "light"
line = 5
max_on = "1h"
min_off = "{min_off}"
switch_limit = "unlimited"

{zone_section}
{relay_rules}
"""
        path = os.path.join(d, "rules.toml")
        open(path, "w").write(rules)
        self.proc = subprocess.Popen([CAMRELAY, "run", "--config", path], cwd=d, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(d, "log"), "w"), env=dict(os.environ, CAMRELAY_LOG="warn"))
        wait_port(self.api)
        wait_port(self.posts)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.posts)

    def post(self, body):
        self.conn.request("POST", "/API", body, {"Content-Type": "application/xml"})
        r = self.conn.getresponse()
        r.read()
        assert r.status == 200, r.status

    def status(self):
        c = http.client.HTTPConnection("127.0.0.1", self.api)
        c.request("GET", "/api/status")
        return json.loads(c.getresponse().read())

    def wait_connected(self):
        deadline = time.time() + 15
        while not self.status().get("mqtt", {}).get("connected"):
            if time.time() > deadline:
                raise SystemExit(f"{self.name} did not connect")
            time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        self.proc.wait()


class Subscriber:
    """mosquitto_sub printing each message's arrival time."""

    def __init__(self, broker, topics):
        args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "homeassistant", "-P", "pw-homeassistant", "-F", "%U %t %p"]
        for t in topics:
            args += ["-t", t]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines, self.lock = [], threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()
        time.sleep(0.5)

    def read(self):
        for line in self.proc.stdout:
            at, topic, payload = (line.rstrip("\n").split(" ", 2) + [""])[:3]
            with self.lock:
                self.lines.append((float(at), topic, payload))

    def first_after(self, t0, topic, payload, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for at, t, p in self.lines:
                    if at >= t0 and t == topic and p == payload:
                        return at
            time.sleep(0.001)
        return None

    def clear(self):
        with self.lock:
            self.lines.clear()

    def close(self):
        self.proc.kill()


def latency(work, broker, posts):
    node = Node(work, "lat", broker, """[[rule]]
name = "porch"
when = { event = "presence", zone = "left", class = "person" }
then = { relay = "light", action = "hold", hold = "20ms" }
""")
    node.wait_connected()
    sub = Subscriber(broker, ["camrelay/lat/relay/light/state", "camrelay/lat/zone/left/occupancy"])
    relay, zone = [], []
    for i in range(posts):
        inside = i % 2 == 0
        t0 = time.time()
        node.post(traject(2500 if inside else 7500))
        occ = sub.first_after(t0, "camrelay/lat/zone/left/occupancy", "ON" if inside else "OFF")
        if occ is not None:
            zone.append((occ - t0) * 1000)
        if inside:
            on = sub.first_after(t0, "camrelay/lat/relay/light/state", "ON")
            if on is not None:
                relay.append((on - t0) * 1000)
        time.sleep(0.05)
        if i % 100 == 0:
            sub.clear()
    sub.close()
    node.close()
    return {"relay_state": summary(relay, posts // 2), "occupancy": summary(zone, posts)}


def summary(xs, expected):
    if not xs:
        return {"n": 0, "expected": expected}
    return {"n": len(xs), "expected": expected, "p50_ms": round(statistics.median(xs), 2),
            "p99_ms": round(pct(xs, 99), 2), "max_ms": round(max(xs), 2)}


def cross(work, broker, posts):
    b = Node(work, "b", broker, "", zone=False)
    a = Node(work, "a", broker, """[[rule]]
name = "garage"
when = { event = "presence", zone = "left", class = "person" }
then = { relay = "b/light", action = "hold", hold = "20ms" }
""")
    a.wait_connected()
    b.wait_connected()
    sub = Subscriber(broker, ["camrelay/b/relay/light/state"])
    xs = []
    for i in range(posts):
        inside = i % 2 == 0
        t0 = time.time()
        a.post(traject(2500 if inside else 7500))
        if inside:
            on = sub.first_after(t0, "camrelay/b/relay/light/state", "ON")
            if on is not None:
                xs.append((on - t0) * 1000)
        time.sleep(0.05)
        if i % 100 == 0:
            sub.clear()
    st = a.status()["mqtt"]
    sub.close()
    a.close()
    b.close()
    return dict(summary(xs, posts // 2), sender=st)


def cpu(work, broker, seconds, rounds):
    out = {}
    rule = """[[rule]]
name = "porch"
when = { event = "presence", zone = "left", class = "person" }
then = { relay = "light", action = "hold", hold = "30s" }
"""
    remote = """
[[rule]]
name = "garage"
when = { event = "presence", zone = "left", class = "person" }
then = { relay = "sink/light", action = "hold", hold = "30s" }
"""
    sink = Node(work, "b", broker, "", zone=False)
    # A person inside the zone: every post renews the hold (and, with the
    # remote rule, sends a command to node b).
    body = os.path.join(work, "traject-in-zone.xml")
    open(body, "wb").write(traject(2500))
    runs = {}
    for rnd in range(rounds):
        for label, mqtt, rules in [("without_mqtt", False, rule), ("with_mqtt", True, rule),
                                   ("with_mqtt_remote_rule", True, rule + remote.replace("sink", "b"))]:
            node = Node(work, f"cpu-{label}" if not mqtt else "a", broker, rules, mqtt=mqtt)
            if mqtt:
                node.wait_connected()
            res = os.path.join(work, "loadgen.jsonl")
            subprocess.run([LOADGEN, "--addr", f"127.0.0.1:{node.posts}", "--body", body, "--conns", "50", "--rate", "500",
                            "--duration", str(seconds), "--warmup", "2", "--pid", str(node.proc.pid), "--server", "camrelay",
                            "--label", label, "--json", res], check=True, stderr=subprocess.DEVNULL)
            r = json.loads(open(res).read().strip().splitlines()[-1])
            run = {"cpu_pct": r.get("server_cpu_pct"), "cpu_us_per_post": r.get("server_cpu_us_per_post"),
                   "posts_per_s": r.get("posts_per_s"), "p99_us": r.get("p99_us"), "rss_max_kb": r.get("rss_max_kb")}
            if mqtt:
                run["mqtt"] = node.status()["mqtt"]
            runs.setdefault(label, []).append(run)
            node.close()
    for label, rs in runs.items():
        out[label] = {"rounds_cpu_pct": [round(r["cpu_pct"], 2) for r in rs],
                      "cpu_pct": round(statistics.median(r["cpu_pct"] for r in rs), 2),
                      "rss_max_kb": max(r["rss_max_kb"] for r in rs), "last": rs[-1]}
    sink.close()
    base = out["without_mqtt"]["cpu_pct"]
    for k in ("with_mqtt", "with_mqtt_remote_rule"):
        out[k]["ratio"] = round(out[k]["cpu_pct"] / base, 2) if base else None
        # Round by round (each round runs the three one after another).
        out[k]["round_ratios"] = [round(a / b, 2) for a, b in zip(out[k]["rounds_cpu_pct"], out["without_mqtt"]["rounds_cpu_pct"])]
    return out


def soak(work, broker, minutes):
    nodes = []
    for i, name in enumerate(NODES):
        nxt = NODES[(i + 1) % len(NODES)]
        nodes.append(Node(work, name, broker, f"""[[rule]]
name = "pass it on"
when = {{ event = "presence", zone = "left", class = "person" }}
then = {{ relay = "{nxt}/light", action = "hold", hold = "2s" }}
""", min_off="1s"))
    for n in nodes:
        n.wait_connected()
    end = time.time() + minutes * 60
    posts = 0
    # The person walks about inside the zone: a target that stands still
    # becomes stationary after 30 s and renews no hold.
    bodies = [traject(2000), traject(3000)]
    next_at = time.time()
    while time.time() < end:
        for n in nodes:
            n.post(bodies[posts // len(nodes) % 2])
            posts += 1
        next_at += 0.2
        time.sleep(max(0, next_at - time.time()))
    time.sleep(3)  # the last answers (remote_timeout is 2 s)
    st = {n.name: n.status()["mqtt"] for n in nodes}
    for n in nodes:
        n.close()
    sent = sum(s["remote_sent"] for s in st.values())
    answered = sum(s["remote_applied"] + s["remote_waiting"] + s["remote_refused"] for s in st.values())
    failed = sum(s["remote_failed"] for s in st.values())
    taken = sum(s["commands_applied"] + s["commands_refused"] for s in st.values())
    return {"minutes": minutes, "nodes": len(nodes), "posts": posts, "sent": sent, "answered": answered,
            "failed": failed, "received": taken, "dropped": sum(s["dropped"] for s in st.values()),
            "connects": sum(s["connects"] for s in st.values()),
            "accounted": sent == answered + failed and sent == taken and failed == 0, "per_node": st}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--cpu-seconds", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--soak-minutes", type=float, default=10)
    ap.add_argument("--only", default="latency,cross,cpu,soak")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/out/mqtt.json"))
    args = ap.parse_args()
    for exe in (CAMRELAY, LOADGEN):
        if not os.path.exists(exe):
            raise SystemExit(f"missing {exe}: cargo build --release; cd bench && cargo build --release")
    work = tempfile.mkdtemp(prefix="camrelay-mqtt-bench-")
    broker = Broker(work)
    version = subprocess.run([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"], capture_output=True, text=True)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count(),
              "mosquitto": (version.stdout.splitlines() or ["?"])[0]}
    try:
        only = args.only.split(",")
        if "latency" in only:
            result["latency"] = latency(work, broker, args.posts)
            print("latency", json.dumps(result["latency"]), file=sys.stderr)
        if "cross" in only:
            result["cross"] = cross(work, broker, args.posts)
            print("cross", json.dumps({k: v for k, v in result["cross"].items() if k != "sender"}), file=sys.stderr)
        if "cpu" in only:
            result["cpu"] = cpu(work, broker, args.cpu_seconds, args.rounds)
            print("cpu", json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "last"} for k, v in result["cpu"].items()}),
                  file=sys.stderr)
        if "soak" in only:
            result["soak"] = soak(work, broker, args.soak_minutes)
            print("soak", json.dumps({k: v for k, v in result["soak"].items() if k != "per_node"}), file=sys.stderr)
    finally:
        broker.close()
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    json.dump(result, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
