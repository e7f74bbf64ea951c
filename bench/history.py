#!/usr/bin/env python3
"""The history's cost on the SD card (issue 27), measured on this machine's
ext4 disk with the release binary under strace (fsyncs and file writes):

  household  a household's day, compressed: 4 cameras (driveway, porch,
             garden on their own; the gate's plate camera behind the NVR),
             160 person visits (12 traject posts each, 4 a second, holding a
             light), 40 cars (20 posts each), 30 plate reads with pictures
             (a 480 KB scene and a 3 KB plate crop, as NVRs send them; 20 of
             them open the gate), 60 intrusion alarms with pictures (a 480 KB
             scene and a 90 KB person crop), 2 reloads; sent in --day-seconds.
  flood      the detection flood: 500 traject posts a second (50 cameras'
             connections x 10, a person standing in a zone, so a hold is
             renewed on every post) for --flood-seconds, through
             bench/loadgen.

For each: rows written; bytes_per_row, what the daemon caused to be
written to the disk (write_bytes, as /proc/<pid>/io counts it, whole 4 KB
pages, from the end of start-up to exit: WAL, checkpoints, the WAL index
and the last checkpoint at exit included) minus the pictures' pages, per
row; startup_bytes, what making the database cost, once per file;
db_write_calls_per_row, the bytes SQLite itself handed to history.db, its
WAL and its journal (write and pwrite64 as strace shows them), per row;
fsyncs per 5 s; the database's size and the pictures' size; peak RSS.
A run without [history] gives the baseline.

Usage: python3 bench/history.py [--day-seconds 60] [--flood-seconds 30] [--json bench/out/history.json]
Needs target/release/camrelay, bench/target/release/loadgen and strace.
"""
import argparse, base64, http.client, json, os, shutil, signal, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMRELAY = os.path.join(ROOT, "target/release/camrelay")
LOADGEN = os.path.join(ROOT, "bench/target/release/loadgen")
MACS = {"driveway": "58:5b:69:00:00:01", "porch": "58:5b:69:00:00:02", "garden": "58:5b:69:00:00:03"}
NVR_MAC = "58:5b:69:40:f4:0d"


def jpeg(size):
    """A JPEG of about `size` bytes: the fixture's picture, padded after its end."""
    base = open(os.path.join(ROOT, "tests/fixtures/camera/driveway.jpg"), "rb").read()
    return base + b"\0" * max(0, size - len(base))


SCENE = base64.b64encode(jpeg(480_000)).decode()
PLATE_CROP = base64.b64encode(jpeg(3_000)).decode()
PERSON_CROP = base64.b64encode(jpeg(90_000)).decode()


def rules(work, history):
    text = f"""
[server]
listen = "127.0.0.1:0"
offline_after = "10m"

[api]
listen = "127.0.0.1:0"
token = "t"

[gpio]
backend = "mock"

[presence]
target_timeout = "1s"
inertia = 1
"""
    if history:
        text += f'\n[history]\ndir = "{work}/history"\n' + os.environ.get("HISTORY_EXTRA", "")
    text += """
[[relay]]
name = "porch_light"
line = 17
max_on = "1h"

[[relay]]
name = "drive_light"
line = 18
max_on = "1h"

[[relay]]
name = "gate"
line = 27
max_on = "5s"

[[relay]]
name = "siren"
line = 22
max_on = "1m"
"""
    for name, mac in MACS.items():
        text += f'\n[[camera]]\nname = "{name}"\nmac = "{mac}"\n'
        text += f'\n[[zone]]\nname = "{name}_zone"\ncamera = "{name}"\npolygon = [[0, 0], [10000, 0], [10000, 10000], [0, 10000]]\n'
    text += f'\n[[camera]]\nname = "gate_lpr"\nnvr = "{NVR_MAC}"\nchannel = 2\n'
    text += """
[[rule]]
name = "porch light"
when = { event = "presence", zone = "porch_zone", class = "person" }
then = { relay = "porch_light", action = "hold", hold = "30s" }

[[rule]]
name = "drive light"
when = { event = "presence", zone = ["driveway_zone", "garden_zone"] }
then = { relay = "drive_light", action = "hold", hold = "1m" }

[[rule]]
name = "open the gate"
when = { event = "plate", plate_group = "whiteList" }
then = { relay = "gate", action = "pulse", duration = "1s", plate_cooldown = "30s" }

[[rule]]
name = "siren"
when = { event = "intrusion", camera = "garden" }
then = { relay = "siren", action = "pulse", duration = "2s", cooldown = "10m" }
"""
    return text


def traject(mac, target, cls, x):
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<config version="1.7" xmlns="http://www.ipc.com/ver10">'
            f'<mac type="string"><![CDATA[{mac}]]></mac><traject type="list" count="1"><item>'
            f'<targetId type="uint32">{target}</targetId><rect><x1 type="uint32">{x}</x1><y1 type="uint32">4000</y1>'
            f'<x2 type="uint32">{x + 800}</x2><y2 type="uint32">9000</y2></rect>'
            f'<targetType type="targetType">{cls}</targetType></item></traject></config>').encode()


def plate(number, listed):
    body = open(os.path.join(ROOT, "tests/fixtures/nvr-v2/vehicle-lpr.xml")).read()
    body = body.replace("JP116D", number).replace("BASE64_JPEG_OVERVIEW_IMAGE", SCENE).replace("BASE64_JPEG_PLATE_CROP", PLATE_CROP)
    if listed:
        body = body.replace("<carAttribute>", "<licensePlateMatchInfo><groupName><![CDATA[whiteList]]></groupName></licensePlateMatchInfo><carAttribute>", 1)
    return body.encode()


def intrusion(mac):
    body = open(os.path.join(ROOT, "tests/fixtures/ipc-v1x/perimeter-intrusion.xml")).read()
    body = body.replace("BASE64_JPEG_OVERVIEW_IMAGE", SCENE).replace("BASE64_JPEG_TARGET_CROP", PERSON_CROP)
    return body.replace("<smartType", f'<mac type="string">{mac}</mac><smartType', 1).encode()


class Daemon:
    def __init__(self, work, history):
        self.work = work
        path = os.path.join(work, "rules.toml")
        open(path, "w").write(rules(work, history))
        self.strace_log = os.path.join(work, "strace.log")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-ttt", "--seccomp-bpf", "-y", "-e", "trace=fsync,fdatasync,write,pwrite64,writev,pwritev", "-o", self.strace_log,
             # Only the database's files: tracing the sockets made strace's own
             # log, and the pages it dirties, larger than what it measures.
             *[a for f in ("", "-wal", "-shm", "-journal") for a in ("-P", os.path.join(work, "history", "history.db" + f))],
             CAMRELAY, "run", "--config", path],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ, CAMRELAY_LOG="warn"))
        line = ""
        while "listening for posts on" not in line:
            line = self.proc.stderr.readline()
            if not line:
                sys.exit("camrelay did not start")
        posts, api = line.strip().split("listening for posts on ")[1].split(", API on ")
        self.posts, self.api = posts, api
        # strace's child is the daemon.
        children = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        self.pid = int(children[0])
        # Opening (and creating) the database syncs a few times: the steady
        # state is counted from here.
        time.sleep(1)
        self.started = time.time()
        # Making the database (once per file, not per event) is counted apart.
        self.startup_bytes = self.io()
        self.conn = None

    def post(self, body):
        for _ in range(3):
            try:
                if self.conn is None:
                    host, port = self.posts.rsplit(":", 1)
                    self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
                self.conn.request("POST", "/API", body, {"Content-Type": "application/xml"})
                r = self.conn.getresponse()
                r.read()
                return r.status
            except (http.client.HTTPException, OSError):
                self.conn = None
        raise RuntimeError("post failed")

    def io(self):
        fields = dict(l.split(": ") for l in open(f"/proc/{self.pid}/io").read().splitlines())
        return int(fields["write_bytes"])

    def hwm_kb(self):
        for l in open(f"/proc/{self.pid}/status"):
            if l.startswith("VmHWM:"):
                return int(l.split()[1])
        return 0

    def status(self):
        host, port = self.api.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/api/status")
        return json.loads(c.getresponse().read())

    def stop(self):
        """SIGTERM; returns (bytes written over the run, seconds run,
        fsyncs, peak RSS, bytes written by calls on the database's files). The
        bytes are the daemon's write_bytes from the end of start-up (making the
        database is once per file, not per event) to exit, its last checkpoint
        at exit included (the rusage strace collects from it), less strace's
        own log."""
        hwm = self.hwm_kb()
        seconds = time.time() - self.started
        stopping = time.time()
        os.kill(self.pid, signal.SIGTERM)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        written = usage.ru_oublock * 512 - du_file_pages(self.strace_log) - self.startup_bytes
        # Between start-up and SIGTERM (the last checkpoint at exit is not steady state).
        fsyncs = 0
        db_calls = 0
        db = os.path.join(self.work, "history", "history.db")
        for l in open(self.strace_log):
            parts = l.split()
            if len(parts) > 2 and ("fsync(" in l or "fdatasync(" in l):
                if self.started <= float(parts[1]) <= stopping:
                    fsyncs += 1
            elif f"<{db}" in l and "write" in l and l.rstrip().split("= ")[-1].isdigit() and float(parts[1]) >= self.started:
                db_calls += int(l.rstrip().split("= ")[-1])
        return written, seconds, fsyncs, hwm, db_calls


def du_file_pages(path):
    return -(-os.path.getsize(path) // 4096) * 4096


def du(path, pages=False):
    """Bytes of the files under `path`; with `pages`, each rounded up to whole
    4 KB pages, as /proc/<pid>/io write_bytes counts a file's writes (the
    pictures' share of write_bytes)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            size = os.path.getsize(os.path.join(dirpath, f))
            total += -(-size // 4096) * 4096 if pages else size
    return total


def household(d, seconds):
    """The day's posts, each visit's posts 0.25 s apart, the visits spread
    evenly over `seconds` (they overlap, as a compressed day's do)."""
    visits = []
    target = 100
    for i in range(160):
        cam = ["porch", "driveway", "garden"][i % 3]
        target += 1
        visits.append([traject(MACS[cam], target, "person", 1000 + k * 300) for k in range(12)])
    for i in range(40):
        target += 1
        visits.append([traject(MACS["driveway"], target, "car", 500 + k * 200) for k in range(20)])
    for i in range(30):
        visits.append([plate(f"AB{i % 20:02d}CD" if i < 20 else f"XY{i:03d}Z", i < 20)])
    for i in range(60):
        visits.append([intrusion(MACS[["garden", "driveway"][i % 2]])])
    # Interleaved the same way every run: a visit, a car, a plate, an alarm, ...
    visits.sort(key=lambda posts: hash(posts[0][-200:]) % 1000)
    every = seconds / len(visits)
    timeline = sorted((n * every + k * 0.25, n, k) for n, posts in enumerate(visits) for k in range(len(posts)))
    reloads = {len(visits) // 3, 2 * len(visits) // 3}
    t0 = time.time()
    for at, n, k in timeline:
        wait = t0 + at - time.time()
        if wait > 0:
            time.sleep(wait)
        assert d.post(visits[n][k]) == 200
        if k == 0 and n in reloads:
            os.kill(d.pid, signal.SIGHUP)


def measure(name, history, drive, args):
    work = tempfile.mkdtemp(prefix="camrelay-history-bench-", dir=os.path.join(ROOT, "target"))
    try:
        d = Daemon(work, history)
        drive(d)
        time.sleep(7)  # the last commit
        status = d.status().get("history", {})
        written, seconds, fsyncs, hwm, db_calls = d.stop()
        out = {"point": name, "history": history, "seconds": round(seconds, 1), "write_bytes": written, "startup_bytes": d.startup_bytes,
               "fsyncs": fsyncs, "fsyncs_per_5s": round(fsyncs / seconds * 5, 3), "rss_peak_mb": round(hwm / 1024, 1)}
        if history:
            db = os.path.join(work, "history", "history.db")
            rows = sqlite3.connect(db).execute("select count(*), coalesce(sum(count),0) from event").fetchone()
            pictures = du(os.path.join(work, "history", "pictures"))
            picture_pages = du(os.path.join(work, "history", "pictures"), pages=True)
            out.update({"rows": rows[0], "occurrences": rows[1], "picture_bytes": pictures,
                        "db_bytes": os.path.getsize(db) + sum(os.path.getsize(db + s) for s in ("-wal",) if os.path.exists(db + s)),
                        "dropped": status.get("dropped"),
                        "bytes_per_row": round((written - picture_pages) / max(rows[0], 1), 1),
                        "db_write_calls_per_row": round(db_calls / max(rows[0], 1), 1)})
        print(json.dumps(out), flush=True)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def flood(seconds):
    def drive(d):
        body = os.path.join(d.work, "person.xml")
        open(body, "wb").write(traject(MACS["driveway"], 7, "person", 4000))
        subprocess.run([LOADGEN, "--addr", d.posts, "--body", body, "--conns", "50", "--rate", "500",
                        "--duration", str(seconds), "--warmup", "0"], check=True, stderr=subprocess.DEVNULL)
    return drive


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--day-seconds", type=float, default=60)
    ap.add_argument("--flood-seconds", type=float, default=30)
    ap.add_argument("--json")
    args = ap.parse_args()
    for tool in (CAMRELAY, LOADGEN):
        if not os.path.exists(tool):
            sys.exit(f"missing {tool}: cargo build --release (and in bench/: cargo build --release -p loadgen)")
    if not shutil.which("strace"):
        sys.exit("missing strace (apt-get install strace)")
    results = []
    only = os.environ.get("ONLY", "household flood")
    if "household" in only:
        for history in (False, True):
            results.append(measure("household", history, lambda d: household(d, args.day_seconds), args))
    if "flood" in only:
        for history in (False, True):
            results.append(measure("flood", history, flood(args.flood_seconds), args))
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
