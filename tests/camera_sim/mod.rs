//! A simulated Viewtron camera (or NVR) answering its HTTP API exactly as
//! `viewtron-camera-api.md` describes, for both API generations: Basic auth
//! with 401, `status="failed"` answers with error codes, CDATA wrapped in
//! whitespace, v1.9 raw-JPEG and v2.0 base64 snapshots (or a video key frame
//! instead), a slow device, a foreign webhook slot, and a subscription that,
//! once pointed somewhere with `traject`, starts posting traject there.
//! Built on std sockets so the test controls every byte and delay.
//!
//! Hostile switches, for what anything answering as the camera can send:
//! free text with line breaks, quotes and ESC (`model`, `serial`,
//! `direction`), an element bomb or an oversized answer for one command
//! (`bomb`), and tripwires whose coordinates are not numbers (`garbage_lines`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gen {
    V19,
    V20,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snap {
    Jpeg,
    NotJpeg,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub gen: Gen,
    pub password: String,
    pub mac: String,
    pub nvr_channels: u32,
    pub snapshot: Snap,
    /// Before every answer.
    pub delay: Duration,
    /// The urlList items the camera starts with (XML of each `<item>`).
    pub slots: Vec<String>,
    pub perimeter: Vec<Vec<(u32, u32)>>,
    pub tripwires: Vec<((u32, u32), (u32, u32))>,
    /// The box of the person in the traject posts it sends when subscribed.
    pub person: [u32; 4],
    /// The JPEG its snapshot answers with (`Snap::Jpeg`).
    pub picture: Vec<u8>,
    /// `GetDeviceInfo`'s model and serial: any text, sent in CDATA.
    pub model: String,
    pub serial: String,
    /// Every tripwire's `<direction>`, as text (escaped for XML).
    pub direction: String,
    /// Answer this command with `<config>` holding `<a/>` repeated to this
    /// many bytes: an element bomb (or, past the client's limit, an oversized answer).
    pub bomb: Option<(&'static str, usize)>,
    /// Tripwires answered with these many extra lines whose points are not numbers.
    pub garbage_lines: usize,
    /// The slot shape `SetHttpPostConfig` takes back; `None`: any `<item><urlId`.
    pub strict: Option<Shape>,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            gen: Gen::V20,
            password: "pw".into(),
            mac: "70:ab:c8:1b:5d:dc".into(),
            nvr_channels: 0,
            snapshot: Snap::Jpeg,
            delay: Duration::ZERO,
            slots: vec![],
            perimeter: vec![vec![(1000, 4000), (9000, 4000), (9000, 9500), (1000, 9500)]],
            tripwires: vec![((0, 5000), (10000, 5000))],
            person: [4000, 5000, 5000, 9000],
            picture: JPEG.to_vec(),
            model: "E4_4MP_".into(),
            serial: "2E323D9463D5".into(),
            direction: "rightortop".into(),
            bomb: None,
            garbage_lines: 0,
            strict: None,
        }
    }
}

/// How a firmware writes its webhook slots, and which shape of item it
/// takes back in `SetHttpPostConfig` (an item in another shape is dropped,
/// as a firmware parsing by string would).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// `<urlId type="uint32">1</urlId>` (the vendor's documents) or a bare `<urlId>1</urlId>`.
    pub typed: bool,
    /// `count` on lists.
    pub counts: bool,
    /// `count="3" type="list"` instead of `type="list" count="3"`.
    pub attrs_reversed: bool,
    /// Text in CDATA wrapped in newlines and indentation.
    pub padded: bool,
    /// Elements the documentation does not name.
    pub extra: bool,
}

/// The variants firmware shows, by name.
pub const SHAPES: [(&str, Shape); 5] = [
    ("documented", Shape { typed: true, counts: true, attrs_reversed: false, padded: true, extra: false }),
    ("bare", Shape { typed: false, counts: false, attrs_reversed: false, padded: false, extra: false }),
    (
        "reversed attributes",
        Shape { typed: true, counts: true, attrs_reversed: true, padded: false, extra: false },
    ),
    (
        "bare, padded, counted",
        Shape { typed: false, counts: true, attrs_reversed: false, padded: true, extra: false },
    ),
    (
        "unknown elements",
        Shape { typed: true, counts: false, attrs_reversed: false, padded: false, extra: true },
    ),
];

/// One slot item written in `shape`.
pub fn slot_item_shaped(
    shape: Shape,
    id: u32,
    on: bool,
    domain: &str,
    port: u16,
    path: &str,
    data: &[&str],
) -> String {
    let ty = |t: &str| if shape.typed { format!(" type=\"{t}\"") } else { String::new() };
    let text = |v: &str| match (shape.padded, shape.typed) {
        (true, _) => format!("\n      <![CDATA[{v}]]>\n    "),
        (false, true) => format!("<![CDATA[{v}]]>"),
        (false, false) => v.to_string(),
    };
    let list = |n: usize| match (shape.typed, shape.counts, shape.attrs_reversed) {
        (true, true, false) => format!(" type=\"list\" count=\"{n}\""),
        (true, true, true) => format!(" count=\"{n}\" type=\"list\""),
        (true, false, _) => " type=\"list\"".to_string(),
        (false, true, _) => format!(" count=\"{n}\""),
        (false, false, _) => String::new(),
    };
    let items: String = data.iter().map(|d| format!("<item>{d}</item>")).collect();
    let extra = if shape.extra { "<remark><![CDATA[]]></remark><pushMode>1</pushMode>" } else { "" };
    format!(
        "<item><urlId{}>{id}</urlId>{extra}<switch{}>{on}</switch><url><protocol{}>http</protocol>\
         <domain{}>{}</domain><port{}>{port}</port><path{}>{}</path><authentication>none</authentication>{extra}</url>\
         <heatBeatSwitch>true</heatBeatSwitch><keepaliveTimeval>90</keepaliveTimeval>\
         <subscribeDateType{}>{items}</subscribeDateType>\
         <subscriptionEvents{}><item>PERIMETER</item></subscriptionEvents></item>",
        ty("uint32"),
        ty("boolean"),
        ty("string"),
        ty("string"),
        text(domain),
        ty("uint32"),
        ty("string"),
        text(path),
        list(data.len()),
        list(1),
    )
}

/// A foreign slot: someone else's server in slot 1.
pub fn foreign_slot() -> String {
    slot_item(1, true, "192.168.0.53", 80, "/API", &["traject"])
}

pub fn slot_item(id: u32, on: bool, domain: &str, port: u16, path: &str, data: &[&str]) -> String {
    let items: String = data.iter().map(|d| format!("<item>{d}</item>")).collect();
    format!(
        "<item><urlId type=\"uint32\">{id}</urlId><switch type=\"boolean\">{on}</switch><url><protocol>http</protocol>\
         <domain type=\"string\">\n  <![CDATA[{domain}]]>\n</domain><port type=\"uint32\">{port}</port>\
         <path type=\"string\"><![CDATA[{path}]]></path><authentication>none</authentication></url>\
         <heatBeatSwitch>true</heatBeatSwitch><keepaliveTimeval>90</keepaliveTimeval>\
         <subscribeDateType type=\"list\" count=\"{}\">{items}</subscribeDateType>\
         <subscriptionEvents type=\"list\" count=\"1\"><item>PERIMETER</item></subscriptionEvents></item>",
        data.len()
    )
}

/// A tiny JPEG: the magic, a JFIF marker, and the end marker.
pub const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0xFF, 0xD9];

struct State {
    spec: Spec,
    slots: Vec<String>,
    /// Commands asked, in order.
    log: Vec<String>,
    /// Where the poster posts, if subscribed.
    posting: Option<(String, u16, String)>,
}

/// A running simulated device.
pub struct Sim {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Sim {
    pub fn start(spec: Spec) -> Sim {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state =
            Arc::new(Mutex::new(State { slots: spec.slots.clone(), spec, log: vec![], posting: None }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || poster(&st, &sp));
        Sim { addr, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Commands asked so far.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// The urlList items now.
    pub fn slots(&self) -> Vec<String> {
        self.state.lock().unwrap().slots.clone()
    }

    pub fn posting_to(&self) -> Option<(String, u16, String)> {
        self.state.lock().unwrap().posting.clone()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn cdata(s: &str) -> String {
    format!("\n      <![CDATA[{s}]]>\n    ")
}

fn failed(gen: Gen, code: u32, desc: &str) -> String {
    match gen {
        Gen::V19 => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\" status=\"failed\" errorCode=\"{code}\"/>"),
        Gen::V20 => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"2.0.0\" xmlns=\"http://www.ipc.com/ver10\" status=\"failed\" errorCode=\"{code}\" errorDesc=\"{desc}\"/>"),
    }
}

fn doc(gen: Gen, inner: &str) -> String {
    let v = if gen == Gen::V20 { "2.0.0" } else { "1.7" };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config version=\"{v}\" xmlns=\"http://www.ipc.com/ver10\">\n{inner}\n</config>\n")
}

fn points(pts: &[(u32, u32)]) -> String {
    pts.iter()
        .map(|(x, y)| format!("<item><X type=\"uint32\">{x}</X><Y type=\"uint32\">{y}</Y></item>"))
        .collect()
}

/// The answer to one request: (status, content type, body).
fn answer(st: &Mutex<State>, command: &str, body: &str) -> (u16, &'static str, Vec<u8>) {
    let mut s = st.lock().unwrap();
    s.log.push(command.to_string());
    let spec = s.spec.clone();
    let gen = spec.gen;
    let xml = |t: String| (200, "application/xml", t.into_bytes());
    if let Some((bombed, size)) = spec.bomb {
        if bombed == command {
            let mut body = b"<?xml version=\"1.0\"?><config>".to_vec();
            while body.len() < size {
                body.extend_from_slice(b"<a/>");
            }
            body.extend_from_slice(b"</config>");
            return (200, "application/xml", body);
        }
    }
    match command {
        "GetDeviceInfo" => {
            let api = if gen == Gen::V20 {
                format!("<apiVersion type=\"string\">{}</apiVersion>", cdata("2.0.0"))
            } else {
                String::new()
            };
            let (name, desc, chl) = if spec.nvr_channels > 0 {
                ("NVR", "NVR", spec.nvr_channels)
            } else {
                ("IPC", "IPCamera", 1)
            };
            xml(doc(gen, &format!(
                "  <deviceInfo>\n    <deviceName type=\"string\">{}</deviceName>\n    <deviceDescription type=\"string\">{}</deviceDescription>\n    {api}\n    <softwareVersion type=\"string\">{}</softwareVersion>\n    <model type=\"string\">{}</model>\n    <brand type=\"string\"><![CDATA[Viewtron]]></brand>\n    <mac type=\"string\">{}</mac>\n    <sn type=\"string\"><![CDATA[{}]]></sn>\n    <chlMaxCount type=\"uint32\">{chl}</chlMaxCount>\n    <alarmOutCount type=\"uint32\">1</alarmOutCount>\n  </deviceInfo>",
                cdata(name), cdata(desc), cdata(if gen == Gen::V20 { "5.3.0.1" } else { "5.2.9" }), cdata(&spec.model), cdata(&spec.mac), spec.serial
            )))
        }
        "GetChannelInfo" if gen == Gen::V20 => {
            let n = spec.nvr_channels.max(1);
            let items: String = (1..=n)
                .map(|i| format!("<item><channelId>{i}</channelId><name type=\"string\"><![CDATA[channel{i}]]></name><status>{}</status><attribute>Normal</attribute></item>", if i == 2 { "videoLoss" } else { "online" }))
                .collect();
            xml(doc(gen, &format!("<channelList type=\"list\" count=\"{n}\">{items}</channelList>")))
        }
        "GetChannelList" if gen == Gen::V19 && spec.nvr_channels > 0 => {
            let items: String = (1..=spec.nvr_channels)
                .map(|i| {
                    format!(
                        "<item channelStatus=\"{}\">{i}</item>",
                        if i == 2 { "offline" } else { "online" }
                    )
                })
                .collect();
            xml(doc(gen, &format!("<channelList type=\"list\">{items}</channelList>")))
        }
        "GetSnapshot" => {
            let raw: Vec<u8> = match spec.snapshot {
                Snap::Jpeg => spec.picture.clone(),
                Snap::NotJpeg => vec![0x00, 0x00, 0x00, 0x01, 0x67, 0x42],
            };
            match gen {
                Gen::V19 => (200, "image/jpeg", raw),
                Gen::V20 => {
                    use base64::Engine as _;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
                    xml(doc(gen, &format!("<downloadOneImage><sourceBase64Data type=\"string\">\n<![CDATA[{b64}]]>\n</sourceBase64Data></downloadOneImage>")))
                }
            }
        }
        "GetHttpPostConfig" if spec.nvr_channels == 0 => {
            let items: String = s.slots.concat();
            xml(doc(gen, &format!(
                "<httpPostV2><postUrlConf><urlList type=\"list\" count=\"{}\" maxCount=\"3\">{items}</urlList></postUrlConf></httpPostV2>",
                s.slots.len()
            )))
        }
        "SetHttpPostConfig" if spec.nvr_channels == 0 => {
            let Some(list) = between(body, "<urlList", "</urlList>") else {
                return xml(failed(gen, 2, "invalid XML format"));
            };
            let list = &list[list.find('>').map_or(0, |i| i + 1)..];
            let mut items = Vec::new();
            let mut rest = list;
            let start_of_item = match spec.strict {
                None => "<item><urlId",
                Some(shape) if shape.typed => "<item><urlId type=\"uint32\">",
                Some(_) => "<item><urlId>",
            };
            while let Some(start) = rest.find(start_of_item) {
                let tail = &rest[start..];
                let end = find_item_end(tail);
                items.push(tail[..end].to_string());
                rest = &tail[end..];
            }
            s.posting = items.iter().find_map(|i| {
                let on = between(i, "<switch", "</switch>").is_some_and(|v| v.ends_with("true"));
                let traject = i.contains(">traject<");
                let text = |tag: &str| between(i, &format!("<{tag}"), &format!("</{tag}>")).map(strip);
                let (domain, port, path) = (text("domain")?, text("port")?.parse().ok()?, text("path")?);
                (on && traject && domain != "192.168.0.53").then_some((domain, port, path))
            });
            s.slots = items;
            let v = if gen == Gen::V20 { "2.0.0" } else { "1.7" };
            xml(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"{v}\" xmlns=\"http://www.ipc.com/ver10\" status=\"success\"/>"))
        }
        "GetSmartPerimeterConfig" => {
            let regions: String = spec
                .perimeter
                .iter()
                .map(|r| {
                    format!(
                        "<item><pointGroup type=\"list\" maxCount=\"8\">{}</pointGroup></item>",
                        points(r)
                    )
                })
                .collect();
            xml(doc(gen, &format!("<perimeter><switch>true</switch><alarmHoldTime>10</alarmHoldTime><regionInfo type=\"list\" maxCount=\"4\">{regions}</regionInfo></perimeter>")))
        }
        "GetSmartTripwireConfig" => {
            let direction = escape(&spec.direction);
            let mut lines: String = spec
                .tripwires
                .iter()
                .map(|((x1, y1), (x2, y2))| format!("<item><direction>{direction}</direction><startPoint><X>{x1}</X><Y>{y1}</Y></startPoint><endPoint><X>{x2}</X><Y>{y2}</Y></endPoint></item>"))
                .collect();
            for _ in 0..spec.garbage_lines {
                lines.push_str("<item><direction>none</direction><startPoint><X>left</X><Y>-1</Y></startPoint><endPoint><X>1e9</X><Y>0</Y></endPoint></item>");
            }
            xml(doc(gen, &format!("<tripwire><switch>true</switch><lineInfo type=\"list\" maxCount=\"4\">{lines}</lineInfo></tripwire>")))
        }
        _ => xml(failed(gen, if gen == Gen::V20 { 11 } else { 1 }, "unsupported function")),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn strip(v: &str) -> String {
    let v = &v[v.find('>').map_or(0, |i| i + 1)..];
    v.trim().trim_start_matches("<![CDATA[").trim_end_matches("]]>").trim().to_string()
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let i = s.find(a)?;
    let j = s[i..].find(b)? + i;
    Some(&s[i..j])
}

/// The end of the `<item>` at the start of `s` (nested items counted).
fn find_item_end(s: &str) -> usize {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with("<item>") || s[i..].starts_with("<item ") {
            depth += 1;
        } else if s[i..].starts_with("</item>") {
            depth -= 1;
            if depth == 0 {
                return i + "</item>".len();
            }
        }
        i += 1;
    }
    s.len()
}

fn serve(conn: TcpStream, st: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut len = 0usize;
    let mut auth = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or(("", ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "authorization" => auth = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let (delay, password) = {
        let s = st.lock().unwrap();
        (s.spec.delay, s.spec.password.clone())
    };
    std::thread::sleep(delay);
    use base64::Engine as _;
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}")));
    let mut conn = conn;
    if auth.as_deref() != Some(expected.as_str()) {
        let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"IPC\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let command = path.trim_start_matches('/').split('/').next().unwrap_or("").to_string();
    let (status, ty, out) = answer(st, &command, &String::from_utf8_lossy(&body));
    let head = format!(
        "HTTP/1.1 {status} OK\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        out.len()
    );
    let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&out));
}

/// Posts a person every 200 ms to wherever the subscription points.
fn poster(st: &Mutex<State>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let (target, mac, [x1, y1, x2, y2]) = {
            let s = st.lock().unwrap();
            (s.posting.clone(), s.spec.mac.clone(), s.spec.person)
        };
        let Some((host, port, path)) = target else { continue };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\">\n<subscribeOption type=\"subscribeRelation\">FEATURE_RESULT</subscribeOption>\n<mac type=\"string\"><![CDATA[{mac}]]></mac>\n<traject type=\"list\" count=\"1\"><item><targetId type=\"uint32\">7</targetId><rect><x1 type=\"uint32\">{x1}</x1><y1 type=\"uint32\">{y1}</y1><x2 type=\"uint32\">{x2}</x2><y2 type=\"uint32\">{y2}</y2></rect><targetType type=\"targetType\">person</targetType></item></traject>\n</config>\n"
        );
        if let Ok(mut c) = TcpStream::connect((host.as_str(), port)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = c.write_all(head.as_bytes()).and_then(|_| c.write_all(body.as_bytes()));
            let mut sink = Vec::new();
            let _ = c.read_to_end(&mut sink);
        }
    }
}
