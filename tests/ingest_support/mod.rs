//! Shared helpers for the ingest end-to-end tests: a server on an ephemeral
//! loopback port, a raw HTTP/1.1 client that writes exactly the bytes a test
//! gives it, the project's fixtures, and a decoder that is the real one
//! wherever it succeeds.
#![allow(dead_code)]

use camrelay::clock::SystemClock;
use camrelay::config::ServerConfig;
use camrelay::decode::{self, DecodeError, Device, Dialect, Event, EventKind};
use camrelay::ingest::{self, Decoder, IngestShared, Received};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Generous bound for anything a test waits on (loaded 2-core CI box).
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture: (`ipc-v1x/traject.xml`, bytes), sorted.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dialect in ["ipc-v1x", "nvr-v2"] {
        let dir = fixtures_dir().join(dialect);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        names.sort();
        for p in names {
            let name = format!("{dialect}/{}", p.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    assert!(out.len() >= 20, "fixtures missing under {}", fixtures_dir().display());
    out
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap()
}

/// An IPC detection post carrying a ~`size`-byte base64 overview image.
pub fn image_post(size: usize) -> Vec<u8> {
    let text = String::from_utf8(fixture("ipc-v1x/perimeter-intrusion.xml")).unwrap();
    assert!(text.contains("BASE64_JPEG_OVERVIEW_IMAGE"));
    text.replace("BASE64_JPEG_OVERVIEW_IMAGE", &"QUJD".repeat(size / 4)).into_bytes()
}

/// A body no decoder accepts.
pub const MALFORMED: &[u8] =
    b"<?xml version=\"1.0\"?><config version=\"1.0\"><alarmStatusInfo><perimeterAlarm";

/// The real decoder where it succeeds; for the bodies in `known` (fixtures
/// and bodies built from them) a stand-in event read off the text, so these
/// tests do not depend on how far the decoder is built. Unknown bodies get
/// the real decoder's verdict (malformed stays malformed).
pub fn test_decoder(known: impl IntoIterator<Item = Vec<u8>>) -> Decoder {
    let known: HashSet<Vec<u8>> = known.into_iter().collect();
    Arc::new(move |body: &[u8]| -> Result<Event, DecodeError> {
        match decode::decode(body) {
            Ok(e) => Ok(e),
            Err(e) => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    Ok(stand_in(body, Dialect::Empty, EventKind::Keepalive))
                } else if known.contains(body) {
                    let text = String::from_utf8_lossy(body);
                    let dialect = if text.contains("version=\"2.0") { Dialect::Nvr } else { Dialect::Ipc };
                    let kind = if text.contains("<messageType>keepalive") || text.contains("<DeviceInfo>") {
                        EventKind::Keepalive
                    } else if text.contains("<traject") {
                        EventKind::Traject
                    } else if text.contains("<alarmStatusInfo") {
                        EventKind::AlarmStatus
                    } else {
                        EventKind::Unknown("fixture".into())
                    };
                    Ok(stand_in(body, dialect, kind))
                } else {
                    Err(e)
                }
            }
        }
    })
}

/// Decoder for all fixtures, the image post and nothing else.
pub fn fixture_decoder() -> Decoder {
    let mut known: Vec<Vec<u8>> = fixtures().into_iter().map(|(_, b)| b).collect();
    known.push(image_post(1 << 20));
    test_decoder(known)
}

fn element(text: &str, names: &[&str]) -> Option<String> {
    for name in names {
        let open = format!("<{name}");
        let mut from = 0;
        while let Some(i) = text[from..].find(&open) {
            let start = from + i + open.len();
            from = start;
            // `<mac>` or `<mac type="string">`, not `<macAddress>`.
            if !text[start..].starts_with('>') && !text[start..].starts_with(' ') {
                continue;
            }
            let Some(gt) = text[start..].find('>') else { break };
            let body_start = start + gt + 1;
            let Some(end) = text[body_start..].find(&format!("</{name}>")) else { break };
            let raw = text[body_start..body_start + end].trim();
            let raw = raw.strip_prefix("<![CDATA[").and_then(|r| r.strip_suffix("]]>")).unwrap_or(raw);
            return Some(raw.trim().to_string());
        }
    }
    None
}

fn stand_in(body: &[u8], dialect: Dialect, kind: EventKind) -> Event {
    let text = String::from_utf8_lossy(body);
    let device = Device {
        name: element(&text, &["deviceName", "DeviceName"]),
        mac: element(&text, &["mac", "macAddress"]).map(|m| m.to_ascii_lowercase()),
        ip: element(&text, &["ip", "ipAddress"]),
        serial: element(&text, &["sn", "SN"]),
        channel: element(&text, &["channelId"]).and_then(|c| c.parse().ok()),
        device_no: None,
    };
    Event { dialect, ..Event::bare(kind, device) }
}

/// Short timeouts so the stall tests run fast; large enough for a loaded box
/// never to trip them on a well-behaved client.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

/// A running ingest server on 127.0.0.1:0.
pub struct Server {
    pub addr: SocketAddr,
    pub shared: Arc<IngestShared>,
    pub clock: SystemClock,
    /// Events taken off the channel so far (when collecting).
    pub events: Arc<Mutex<Vec<Received>>>,
    /// The channel itself when not collecting.
    pub rx: Option<mpsc::Receiver<Received>>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start(config: ServerConfig, decoder: Decoder) -> Server {
        Self::start_with(config, decoder, 64, true).await
    }

    /// `collect`: a task drains the channel into `events`; otherwise the test holds `rx`.
    pub async fn start_with(
        config: ServerConfig,
        decoder: Decoder,
        capacity: usize,
        collect: bool,
    ) -> Server {
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(IngestShared::new());
        let clock = SystemClock::start();
        let (tx, mut rx) = mpsc::channel(capacity);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let handle =
            tokio::spawn(ingest::serve_with(listener, config, clock, tx, shared.clone(), shutdown, decoder));
        let events = Arc::new(Mutex::new(Vec::new()));
        let rx = if collect {
            let sink = events.clone();
            tokio::spawn(async move {
                while let Some(r) = rx.recv().await {
                    sink.lock().unwrap().push(r);
                }
            });
            None
        } else {
            Some(rx)
        };
        Server { addr, shared, clock, events, rx, stop: Some(stop_tx), handle: Some(handle) }
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    pub fn event_count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// Resolve the shutdown future without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Stop the server and wait for `serve` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.signal_stop();
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(PATIENCE, handle).await.expect("serve did not return after shutdown").unwrap()
    }
}

/// Wait until `cond` holds, failing the test after [`PATIENCE`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until at least `n` events reached the channel; returns how many did.
pub async fn events_eventually(server: &Server, n: usize) -> usize {
    eventually("events on the channel", || server.event_count() >= n).await;
    server.event_count()
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client over one TCP connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A request exactly as written on the wire.
pub fn request(target: &str, body: &[u8], extra_headers: &str) -> Vec<u8> {
    let mut r = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:5002\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The same body sent with `Transfer-Encoding: chunked`, in `chunk`-byte chunks.
pub fn chunked_request(target: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut r = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:5002\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for part in body.chunks(chunk.max(1)) {
        r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        r.extend_from_slice(part);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr)).await.unwrap().unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream, buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// POST `body` (Content-Length) to `target` and read the reply.
    pub async fn post(&mut self, target: &str, body: &[u8]) -> Reply {
        self.send(&request(target, body, "")).await;
        self.reply().await
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time"))??;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Read one response; panics when the connection ends first.
    pub async fn reply(&mut self) -> Reply {
        self.try_reply().await.unwrap_or_else(|e| panic!("no reply: {e}"))
    }

    pub async fn try_reply(&mut self) -> std::io::Result<Reply> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if self.fill().await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a reply"));
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        if (100..200).contains(&status) {
            return Ok(Reply { status, headers, body: Vec::new() });
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("reply without Content-Length");
        while self.buf.len() < len {
            if self.fill().await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed mid-reply"));
            }
        }
        let body: Vec<u8> = self.buf.drain(..len).collect();
        Ok(Reply { status, headers, body })
    }

    /// True when the server closes the connection (EOF or reset) within [`PATIENCE`].
    pub async fn closed_by_server(&mut self) -> bool {
        loop {
            match self.fill().await {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}
