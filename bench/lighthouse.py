#!/usr/bin/env python3
"""Lighthouse on each tab of the web page, as a phone sees it.

Starts target/release/camrelay with the example rules (mock relays, the
history in a temporary folder, free ports), gives it something to show (a
person on the driveway, a resident's plate with its pictures), then runs
Lighthouse 12 (npm `lighthouse`, its default mobile profile: a mid-range
phone, throttled 4G) against Debian's Chromium on each tab, and prints the
accessibility, best-practices and performance scores and the page's weight.

    (cd target/lighthouse && npm i -E lighthouse@12.2.3)   # once; Node 20
    cargo build --release
    python3 bench/lighthouse.py [--runs 3]

Scores are 0-100; a tab's line gives the lowest of its runs.
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMRELAY = os.path.join(ROOT, "target/release/camrelay")
LIGHTHOUSE = os.path.join(ROOT, "target/lighthouse/node_modules/.bin/lighthouse")
TABS = ["overview", "camera", "history", "plates", "why"]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from web import free_port  # noqa: E402  (bench/web.py: a port nobody listens on)


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/API", data=body, method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for tool in (CAMRELAY, LIGHTHOUSE):
        if not os.path.exists(tool):
            sys.exit(f"missing {tool}: see this script's header")
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("missing chromium (apt-get install chromium)")
    work = tempfile.mkdtemp(prefix="camrelay-lighthouse-")
    posts, api = free_port(), free_port()
    rules = open(os.path.join(ROOT, "rules.example.toml")).read()
    rules = rules.replace('listen = "0.0.0.0:5002"', f'listen = "127.0.0.1:{posts}"')
    rules = re.sub(r'listen = "127\.0\.0\.1:5003"', f'listen = "127.0.0.1:{api}"', rules)
    if f"127.0.0.1:{api}" not in rules:
        rules = rules.replace("[api]\n", f'[api]\nlisten = "127.0.0.1:{api}"\n', 1)
    if not re.search(r"^\[history\]", rules, re.M):
        rules += '\n[history]\ndir = "history"\n'
    path = os.path.join(work, "rules.toml")
    open(path, "w").write(rules)
    check = subprocess.run([CAMRELAY, "check", path], capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"the bench's rules file is refused:\n{check.stdout}{check.stderr}")
    daemon = subprocess.Popen([CAMRELAY, "run", "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    try:
        base = f"http://127.0.0.1:{api}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        jpeg = open(os.path.join(ROOT, "tests/fixtures/camera/driveway.jpg"), "rb").read()
        b64 = base64.b64encode(jpeg).decode()
        plate = open(os.path.join(ROOT, "examples/posts/gate-plate.xml")).read()
        post(posts, plate.encode())
        lpr = open(os.path.join(ROOT, "tests/fixtures/nvr-v2/vehicle-lpr.xml")).read()
        post(posts, lpr.replace("BASE64_JPEG_OVERVIEW_IMAGE", b64).replace("BASE64_JPEG_PLATE_CROP", b64).encode())
        time.sleep(6)  # a commit of the history
        env = dict(os.environ, CHROME_PATH=chromium)
        results = {}
        for tab in TABS:
            for run in range(args.runs):
                out = os.path.join(work, f"{tab}-{run}.json")
                subprocess.run(
                    [LIGHTHOUSE, f"{base}/#{tab}", "--quiet", "--output=json", f"--output-path={out}",
                     "--only-categories=accessibility,best-practices,performance",
                     "--chrome-flags=--headless=new --no-sandbox --disable-dev-shm-usage"],
                    env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                report = json.load(open(out))
                cats = report["categories"]
                scores = {k: round(cats[k]["score"] * 100) for k in ("accessibility", "best-practices", "performance")}
                weight = report["audits"]["total-byte-weight"]["numericValue"]
                failed = [a for c in ("accessibility", "best-practices") for a in
                          (r["id"] for r in cats[c]["auditRefs"]) if report["audits"][a].get("score") not in (None, 1)]
                prev = results.get(tab)
                row = {**scores, "weight_kb": round(weight / 1024, 1), "failed": failed}
                if prev:
                    row = {k: min(prev[k], row[k]) if isinstance(row[k], (int, float)) and k != "weight_kb" else row[k] for k in row}
                    row["weight_kb"] = max(prev["weight_kb"], round(weight / 1024, 1))
                    row["failed"] = sorted(set(prev["failed"]) | set(failed))
                results[tab] = row
            print(json.dumps({"tab": tab, **results[tab]}), flush=True)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
