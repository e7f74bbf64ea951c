"""The vendor SDK's server (`viewtron.ViewtronServer`, PyPI) with a no-op
callback, as a user would run it, for bench/run.sh.

Usage: .venv/bin/python bench/sdk_server.py PORT [--nodelay]

--nodelay patches the SDK at run time (nothing of it is copied here): the
request handler class is subclassed with socketserver's
`disable_nagle_algorithm = True`, so the header and body writes of each reply
leave at once instead of the second one waiting on the client's delayed ACK
(~40 ms per post on Linux loopback).

Prints `listening on 127.0.0.1:PORT` once bound, then serves until killed.
The SDK's own serve_forever() is bypassed only because it first looks up a LAN
address (a UDP connect); the server object and its handler are the SDK's.
"""
import sys

from viewtron import ViewtronServer
from viewtron import server as sdk_server


class _NoDelayHandler(sdk_server._ViewtronHandler):
    disable_nagle_algorithm = True


def on_event(event, client_ip):
    pass


def main(argv):
    port = int(argv[1])
    nodelay = "--nodelay" in argv[2:]
    server = ViewtronServer(port=port, on_event=on_event)
    if nodelay:
        server._server.RequestHandlerClass = _NoDelayHandler
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
