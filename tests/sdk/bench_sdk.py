"""Posts/s of the vendor SDK's parser (viewtron.ViewtronEvent) on given files.

Usage: .venv/bin/python tests/sdk/bench_sdk.py NAME=PATH...
Prints one JSON object {NAME: posts_per_second}. Run by benches/decode.rs so
both numbers come from the same bytes in the same run.
"""
import json
import sys
import time

from viewtron import ViewtronEvent


def posts_per_second(body, budget=1.5):
    """Posts per second of CPU time (process_time), like the Rust side's
    thread CPU time, so other jobs on a shared machine do not count."""
    ViewtronEvent(body)  # warm-up, and the parse must not raise
    runs, start = 0, time.process_time()
    while True:
        ViewtronEvent(body)
        runs += 1
        elapsed = time.process_time() - start
        if elapsed >= budget and runs >= 5:
            return runs / elapsed


def main(args):
    result = {}
    for arg in args:
        name, _, path = arg.partition("=")
        with open(path, encoding="utf-8") as f:
            body = f.read()
        result[name] = posts_per_second(body)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
