"""Write the ~530 KB image post the benches use: the IPC perimeter-intrusion
fixture with real random base64 in place of its placeholders, a 430,000-
character overview and a 100,000-character crop.

Usage: python3 bench/image_post.py FIXTURE OUT
"""
import base64
import os
import sys


def b64(n):
    return base64.b64encode(os.urandom(n * 3 // 4 + 3)).decode()[:n]


def main(fixture, out):
    text = open(fixture, encoding="utf-8").read()
    text = text.replace("BASE64_JPEG_OVERVIEW_IMAGE", b64(430_000)).replace("BASE64_JPEG_TARGET_CROP", b64(100_000))
    open(out, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
