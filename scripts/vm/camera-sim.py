#!/usr/bin/env python3
"""Simulated Viewtron IP camera for system tests (Python 3, standard library only), built from
shared/docs/viewtron-camera-api.md, shared/docs/viewtron-protocol.md and shared/fixtures/viewtron/ipc-v1x/.

It answers the camera's HTTP API (Basic auth, user admin) and, like the camera's httpPostV2 webhook,
posts an IPC v1.x `traject` post every 200 ms to each switched-on slot subscribed to traject.

It must never reach anything but the addresses it is given: it listens only on --listen:--port
(loopback by default) and posts only to --post-via when given, otherwise only to a slot's literal
IP address (it never resolves a name), and never to the foreign slot's 192.168.0.53.

    camera-sim.py --port 8081 --post-via 127.0.0.1:18080 --state /tmp/cam.json
"""
import argparse, base64, http.client, http.server, ipaddress, json, os, signal, sys, threading, time
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

NS = "http://www.ipc.com/ver10"
FOREIGN = "192.168.0.53"  # slot 1 belongs to someone else's server
TICK = 0.2
# A header-only JPEG: SOI, APP0 (JFIF), SOF0 (1920x1080, 1 component), EOI.
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000" "ffc0000b080438078001011100" "ffd9")

DEVICE_INFO = """  <deviceInfo>
    <deviceName type="string">{name}</deviceName>
    <deviceDescription type="string"><![CDATA[IPCamera]]></deviceDescription>
{api}    <softwareVersion type="string">
      {software}
    </softwareVersion>
    <model type="string">{model}</model><brand type="string"><![CDATA[Viewtron]]></brand>
    <mac type="string">{mac}</mac><sn type="string">{sn}</sn>
    <chlMaxCount type="uint32">1</chlMaxCount><alarmOutCount type="uint32">1</alarmOutCount>
  </deviceInfo>
"""
# The bare shape of the documentation's GetHttpPostConfig example: no type attributes but on lists.
SLOT_ITEM = """      <item>
        <urlId>{id}</urlId><switch>{switch}</switch>
        <url><protocol>{protocol}</protocol><domain>{domain}</domain><port>{port}</port><path>{path}</path>
          <authentication>{authentication}</authentication></url>
        <heatBeatSwitch>{heatBeatSwitch}</heatBeatSwitch><keepaliveTimeval>{keepaliveTimeval}</keepaliveTimeval>
        <subscribeDateType type="list" count="{n_types}">{types}</subscribeDateType>
        <subscriptionEvents type="list" count="{n_events}">{events}</subscriptionEvents>
      </item>
"""
ZONE = """  <{kind}>
    <switch type="boolean">true</switch><alarmHoldTime type="uint32">10</alarmHoldTime>
    <objectFilter>{filters}</objectFilter>
    {inner}
  </{kind}>
"""
FILTER = '<{0}><switch type="boolean">true</switch><sensitivity type="uint32">50</sensitivity></{0}>'
PERIMETER = ((1000, 4000), (9000, 4000), (9000, 9500), (1000, 9500))
# As fixtures/viewtron/ipc-v1x/traject.xml, with the enum lists on one line each.
TRAJECT = """<?xml version="1.0" encoding="UTF-8" ?>
<config version="1.7" xmlns="http://www.ipc.com/ver10">
  <types>
    <openAlramObj><enum>MOTION</enum><enum>SENSOR</enum><enum>PEA</enum></openAlramObj>
    <subscribeRelation><enum>ALARM</enum><enum>FEATURE_RESULT</enum><enum>ALARM_FEATURE</enum></subscribeRelation>
    <perStatus><enum>SMART_NONE</enum><enum>SMART_START</enum><enum>SMART_STOP</enum>\
<enum>SMART_PROCEDURE</enum></perStatus>
    <targetType><enum>person</enum><enum>car</enum><enum>motor</enum></targetType>
  </types>
  <subscribeOption type="subscribeRelation">FEATURE_RESULT</subscribeOption>
  <currentTime type="tint64">{time}</currentTime>
  <mac type="string">{mac}</mac><sn type="string">{sn}</sn><deviceName type="string">{name}</deviceName>
{traject}</config>
"""
# One person, id 7; the bottom centre of its box (4500, 9000) lies inside the perimeter region.
PERSON = """  <traject type="list" count="1">
    <item>
      <targetId type="uint32">7</targetId><point><x type="uint32">0</x><y type="uint32">0</y></point>
      <rect><x1 type="uint32">4000</x1><y1 type="uint32">5000</y1><x2 type="uint32">5000</x2><y2 type="uint32">9000</y2></rect>
      <velocity type="uint32">0</velocity><direction type="uint32">0</direction>
      <targetType type="targetType">person</targetType><trajectlength type="list" count="0"/>
    </item>
  </traject>
"""
NOBODY = '  <traject type="list" count="0"/>\n'

def log(msg):
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    sys.stderr.write("camera-sim %s.%03d %s\n" % (stamp, int(now * 1000) % 1000, msg))
    sys.stderr.flush()

def cdata(value):
    return "<![CDATA[%s]]>" % str(value).replace("]]>", "]]]]><![CDATA[>")

def free_slot(slot_id):
    return {"id": slot_id, "switch": False, "protocol": "http", "domain": "0.0.0.0", "port": 80,
            "path": "/", "authentication": "none", "heatBeatSwitch": False, "keepaliveTimeval": 90,
            "subscribeDateType": [], "subscriptionEvents": []}

def is_ip(text):
    try:
        return bool(ipaddress.ip_address(text))
    except ValueError:
        return False

def as_bool(text):
    return text.lower() == "true"

# slot key -> (element under <item>, converter); a missing element leaves the key as it was.
SLOT_FIELDS = {"switch": ("switch", as_bool), "protocol": ("url/protocol", str),
               "domain": ("url/domain", str), "port": ("url/port", int), "path": ("url/path", str),
               "authentication": ("url/authentication", str),
               "heatBeatSwitch": ("heatBeatSwitch", as_bool), "keepaliveTimeval": ("keepaliveTimeval", int)}

class Failed(Exception):
    """Failed(errorCode, errorDesc): answered as <config status="failed" .../>."""

class Camera:
    def __init__(self, args):
        self.args, self.v2 = args, args.api == "2.0"
        self.version = "2.0.0" if self.v2 else "1.7"
        self.lock = threading.Lock()
        first = dict(free_slot(1), switch=True, domain=FOREIGN, path="/API", heatBeatSwitch=True,
                     subscribeDateType=["traject"], subscriptionEvents=["PERIMETER"])
        self.slots = {1: first, 2: free_slot(2), 3: free_slot(3)}
        self.on_since = {1: time.monotonic()}  # slot id -> when it was switched on or re-pointed
        self.commands = []
        self.posts = {"posts_ok": 0, "posts_failed": 0, "person_posts_ok": 0, "last_post": None}
        with self.lock:
            self.save()

    def save(self):  # with self.lock held
        if self.args.state:
            state = dict(self.posts, api=self.args.api, slots=[self.slots[i] for i in sorted(self.slots)],
                         commands=self.commands)
            with open(self.args.state + ".tmp", "w") as f:
                json.dump(state, f, indent=1)
            os.replace(self.args.state + ".tmp", self.args.state)

    def record(self, entry):
        with self.lock:
            self.commands.append(entry)
            self.save()

    def count_post(self, ok, person, outcome):
        with self.lock:
            self.posts["posts_ok" if ok else "posts_failed"] += 1
            self.posts["person_posts_ok"] += ok and person
            self.posts["last_post"] = outcome
            self.save()

    # ---- answers: each returns (content type, body) or raises Failed ----------
    def doc(self, inner="", attrs=""):
        head = '<?xml version="1.0" encoding="UTF-8"?>\n<config version="%s" xmlns="%s"%s' % (self.version, NS, attrs)
        return (head + ">\n%s</config>\n" % inner if inner else head + "/>\n").encode()

    def failed(self, code, desc):
        desc = ' errorDesc="%s"' % escape(desc, {'"': "&quot;"}) if self.v2 else ""
        return self.doc(attrs=' status="failed" errorCode="%d"%s' % (code, desc))

    def device_info(self):
        a = self.args
        return "application/xml", self.doc(DEVICE_INFO.format(
            name=cdata(a.name), model=cdata(a.model), mac=cdata(a.mac), sn=cdata(a.serial),
            api='    <apiVersion type="string"><![CDATA[2.0.0]]></apiVersion>\n' if self.v2 else "",
            software=cdata("5.3.0.4" if self.v2 else "5.2.1.0")))

    def http_post_config(self):
        with self.lock:
            slots = [dict(self.slots[i]) for i in sorted(self.slots)]
        items = "".join(SLOT_ITEM.format_map(dict(
            s, switch=str(s["switch"]).lower(), heatBeatSwitch=str(s["heatBeatSwitch"]).lower(),
            protocol=escape(s["protocol"]), domain=cdata(s["domain"]), path=cdata(s["path"]),
            authentication=escape(s["authentication"]),
            n_types=len(s["subscribeDateType"]), n_events=len(s["subscriptionEvents"]),
            types="".join("<item>%s</item>" % escape(v) for v in s["subscribeDateType"]),
            events="".join("<item>%s</item>" % escape(v) for v in s["subscriptionEvents"]))) for s in slots)
        return "application/xml", self.doc(
            "  <httpPostV2><postUrlConf>\n"
            f'    <urlList type="list" count="{len(slots)}" maxCount="3">\n{items}    </urlList>\n'
            "  </postUrlConf></httpPostV2>\n")

    def set_http_post_config(self, body):
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise Failed(2, "invalid XML format: %s" % e)
        for el in root.iter():  # drop the namespace: {http://www.ipc.com/ver10}urlList -> urlList
            el.tag = el.tag.rpartition("}")[2]
        url_list = root.find(".//httpPostV2//urlList")
        with self.lock:
            updates = []
            for item in url_list.findall("item") if url_list is not None else []:
                text = lambda path: None if item.find(path) is None else (item.find(path).text or "").strip()
                try:
                    slot_id = int(text("urlId") or "none")
                    if slot_id not in self.slots:
                        continue  # the camera has slots 1-3 only
                    slot = dict(self.slots[slot_id])
                    for key, (path, convert) in SLOT_FIELDS.items():
                        if text(path) is not None:
                            slot[key] = convert(text(path))
                except ValueError:
                    raise Failed(3, "invalid urlList item (urlId %s)" % text("urlId"))
                for key in ("subscribeDateType", "subscriptionEvents"):
                    if item.find(key) is not None:
                        slot[key] = [(i.text or "").strip() for i in item.find(key).findall("item")]
                updates.append(slot)
            for slot in updates:  # all items were valid: apply them
                old = self.slots[slot["id"]]
                moved = any(old[k] != slot[k] for k in ("protocol", "domain", "port", "path"))
                if slot["switch"] and (not old["switch"] or moved):
                    self.on_since[slot["id"]] = time.monotonic()
                self.slots[slot["id"]] = slot
                log("slot %d: switch=%s %s://%s:%s%s %s" % (slot["id"], slot["switch"], slot["protocol"],
                    slot["domain"], slot["port"], slot["path"], ",".join(slot["subscribeDateType"])))
        return "application/xml", self.doc(attrs=' status="success"')

    def zone(self, kind, inner):
        filters = "".join(FILTER.format(t) for t in ("person", "car", "motor"))
        return "application/xml", self.doc(ZONE.format(kind=kind, filters=filters, inner=inner))

    def perimeter(self):
        points = "".join("<item><X>%d</X><Y>%d</Y></item>" % p for p in PERIMETER)
        return self.zone("perimeter", '<regionInfo type="list" count="1" maxCount="4"><item><pointGroup '
                         f'type="list" count="4" maxCount="8">{points}</pointGroup></item></regionInfo>')

    def tripwire(self):
        return self.zone("tripwire", '<lineInfo type="list" count="1" maxCount="4"><item>'
                         "<direction>rightortop</direction><startPoint><X>0</X><Y>5000</Y></startPoint>"
                         "<endPoint><X>10000</X><Y>5000</Y></endPoint></item></lineInfo>")

    def snapshot(self):
        if not self.v2:
            return "image/jpeg", JPEG
        data = base64.b64encode(JPEG).decode()
        return "application/xml", self.doc(f'  <downloadOneImage><sourceBase64Length type="uint32">{len(data)}'
                                           f'</sourceBase64Length>\n    <sourceBase64Data type="string">'
                                           f'{cdata(data)}</sourceBase64Data></downloadOneImage>\n')

    # ---- the poster's side ----------------------------------------------------
    def traject(self, person):
        a = self.args
        return TRAJECT.format(time=int(time.time() * 1e6), mac=cdata(a.mac), sn=cdata(a.serial),
                              name=cdata(a.name), traject=PERSON if person else NOBODY).encode()

    def postable(self):
        """(slot, seconds since it was switched on) for every slot the poster serves."""
        with self.lock:  # plain http only; without --post-via literal IP addresses only, no name lookups
            return [(dict(s), time.monotonic() - self.on_since.get(s["id"], 0)) for s in self.slots.values()
                    if s["switch"] and "traject" in s["subscribeDateType"] and s["protocol"] == "http"
                    and s["domain"] not in ("", "0.0.0.0", FOREIGN) and (self.args.post_via or is_ip(s["domain"]))]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cam = None

    version_string = lambda self: "IPC"
    log_message = lambda self, fmt, *args: None  # every request is logged once, by handle_command

    def reply(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype + ("" if ctype == "image/jpeg" else "; charset=utf-8"))
        self.send_header("Content-Length", str(len(body)))
        for name, value in list(headers) + ([("Connection", "close")] if self.close_connection else []):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        try:
            given = base64.b64decode(token.strip(), validate=True).decode()
        except ValueError:
            return False
        return scheme.lower() == "basic" and given == "admin:" + self.cam.args.password

    def handle_command(self):
        cam = self.cam
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
        command, channel = (parts + [""])[0], (parts[1:] + ["1"])[0]
        entry = {"time": time.time(), "method": self.command, "command": command, "channel": channel}
        if command == "SetHttpPostConfig":
            entry["body"] = body.decode("utf-8", "replace")[:4000]
        if not self.authorized():
            entry.update(status=401, result="unauthorized")
            self.reply(401, "text/html", b"<html><body>401 Unauthorized</body></html>\n",
                       [("WWW-Authenticate", 'Basic realm="IPC"')])
        else:
            routes = {"GetDeviceInfo": cam.device_info, "GetHttpPostConfig": cam.http_post_config,
                      "SetHttpPostConfig": lambda: cam.set_http_post_config(body),
                      "GetSmartPerimeterConfig": cam.perimeter, "GetSmartTripwireConfig": cam.tripwire,
                      "GetSnapshot": cam.snapshot}
            try:
                if command not in routes:
                    raise Failed(11 if cam.v2 else 1, "unsupported function" if cam.v2 else "invalid request")
                if channel != "1":
                    raise Failed(12 if cam.v2 else 1, "channel error" if cam.v2 else "invalid request")
                ctype, out = routes[command]()
                entry["result"] = "success"
            except Failed as e:
                ctype, out = "application/xml", cam.failed(*e.args)
                entry["result"] = "failed %d: %s" % e.args
            entry["status"] = 200
            self.reply(200, ctype, out)
        log("%s %s from %s -> %d %s" % (self.command, self.path, self.client_address[0],
                                         entry["status"], entry["result"]))
        cam.record(entry)

    do_GET = do_POST = handle_command

class Poster(threading.Thread):
    """Every TICK, one traject post to each postable slot, over one kept-alive connection per slot."""

    def __init__(self, cam, stop):
        super().__init__(name="poster", daemon=True)
        self.cam, self.stop, self.conns = cam, stop, {}  # slot id -> ((host, port, protocol), connection)

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            active = self.cam.postable()
            for slot_id in set(self.conns) - {s["id"] for s, _ in active}:
                self.conns.pop(slot_id)[1].close()
            for slot, age in active:
                self.post(slot, age >= self.cam.args.person_after)
            self.stop.wait(max(0.0, TICK - (time.monotonic() - start)))
        for _, conn in self.conns.values():
            conn.close()

    def post(self, slot, person):
        via = self.cam.args.post_via
        host, port = (via.rpartition(":")[0], int(via.rpartition(":")[2])) if via else (slot["domain"], slot["port"])
        key = (host, port, slot["protocol"])
        if self.conns.get(slot["id"], (None,))[0] != key:
            if slot["id"] in self.conns:
                self.conns[slot["id"]][1].close()
            self.conns[slot["id"]] = (key, http.client.HTTPConnection(host, port, timeout=2))
        conn = self.conns[slot["id"]][1]
        path = slot["path"] if slot["path"].startswith("/") else "/" + slot["path"]
        body = self.cam.traject(person)
        for _ in (1, 2):  # a second try only when a kept-alive connection had gone stale
            reused = conn.sock is not None
            try:
                conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
                for name, value in (("Host", "%s:%d" % (slot["domain"], slot["port"])), ("Connection", "keep-alive"),
                                    ("Content-Type", "application/xml; charset=utf-8"), ("Content-Length", len(body))):
                    conn.putheader(name, str(value))
                conn.endheaders(body)
                resp = conn.getresponse()
                resp.read()
                if resp.will_close:
                    conn.close()
                ok, outcome = resp.status == 200, "HTTP %d" % resp.status
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                ok, outcome = False, "error %s: %s" % (type(e).__name__, e)
                if not reused:
                    break
        where = "%s:%d%s" % (host, port, path)
        log("post slot %d to %s (%s) -> %s" % (slot["id"], where, "person 7" if person else "no target", outcome))
        self.cam.count_post(ok, person, {"time": time.time(), "slot": slot["id"], "to": where,
                                         "person": person, "ok": ok, "outcome": outcome})

def main():
    p = argparse.ArgumentParser(description="Simulated Viewtron IP camera (API server + traject poster).")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--password", default="pw")
    p.add_argument("--api", choices=("1.9", "2.0"), default="2.0")
    for flag, default in (("--mac", "70:ab:c8:1b:5d:dc"), ("--serial", "2E323D9463D5"), ("--model", "E4_4MP_"),
                          ("--name", "IPC")):
        p.add_argument(flag, default=default)
    p.add_argument("--post-via", metavar="HOST:PORT", help="send every post here (keeping the slot's path)")
    p.add_argument("--person-after", type=float, default=0.0, metavar="SECONDS",
                   help="empty traject posts until a slot has been on this long, then person 7")
    p.add_argument("--state", metavar="FILE", help="JSON state file, rewritten after every change")
    args = p.parse_args()
    if args.post_via and not args.post_via.rpartition(":")[2].isdigit():
        p.error("--post-via must be HOST:PORT")
    cam = Camera(args)
    Handler.cam = cam
    server = http.server.ThreadingHTTPServer((args.listen, args.port), Handler)
    stop = threading.Event()

    def on_signal(signum, _frame):
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    poster = Poster(cam, stop)
    poster.start()
    log("API %s on %s:%d (model %s, mac %s, sn %s)%s" % (args.api, args.listen, args.port, args.model, args.mac,
        args.serial, ", posts via " + args.post_via if args.post_via else ""))
    server.serve_forever(poll_interval=0.2)
    poster.join(5)
    server.server_close()
    log("stopped")

if __name__ == "__main__":
    main()
