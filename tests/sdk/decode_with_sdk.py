"""What the vendor SDK (`viewtron` on PyPI) reports for each file: the oracle of
tests/sdk_differential.rs. Used as a black box through its public factory,
``viewtron.ViewtronEvent``, fed the body the way its own server feeds it
(UTF-8 with replacement).

Usage: .venv/bin/python tests/sdk/decode_with_sdk.py FILE...
Prints one JSON object per file, in order:
  {"file", "category", "alarm_type", "device_name", "plate_number",
   "plate_group", "target_classes", "channel"}
with null where the SDK reports nothing (or returns no event at all).
"""
import json
import sys

import viewtron
from viewtron import ViewtronEvent


def report(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    out = {
        "file": path,
        "sdk_version": viewtron.__version__,
        "category": None,
        "alarm_type": None,
        "device_name": None,
        "plate_number": None,
        "plate_group": None,
        "target_classes": None,
        "channel": None,
    }
    try:
        event = ViewtronEvent(text)
    except Exception as e:  # the SDK raising is itself a finding
        out["category"] = "exception:" + type(e).__name__
        return out
    if event is None:
        return out
    out["category"] = event.category
    out["alarm_type"] = event.get_alarm_type()
    out["device_name"] = event.get_ip_cam()
    if event.category == "lpr":
        out["plate_number"] = event.get_plate_number()
        out["plate_group"] = event.get_plate_group()
    if event.category == "traject":
        out["target_classes"] = [t["target_type"] for t in event.targets]
    channel = getattr(event, "channel_id", None)
    if channel:
        out["channel"] = channel
    return out


def main(paths):
    for path in paths:
        print(json.dumps(report(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
