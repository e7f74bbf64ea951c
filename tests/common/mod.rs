//! Shared harness for end-to-end tests: start the real `camrelay` binary on
//! ephemeral ports with the mock backend, post raw HTTP, read the mock log.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The `camrelay` binary as a command. Under `scripts/cross-check.sh` the
/// binary is an aarch64 one and `CAMRELAY_TEST_RUNNER` names the emulator.
pub fn camrelay_command() -> Command {
    let bin = env!("CARGO_BIN_EXE_camrelay");
    let runner = std::env::var("CAMRELAY_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut c = Command::new(emulator);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// A running `camrelay run` with its temp directory, stderr lines and addresses.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub posts: SocketAddr,
    pub api: SocketAddr,
    pub config_path: PathBuf,
    pub stderr: mpsc::Receiver<String>,
    pub log_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// One line of the mock backend's JSON log.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct LineChange {
    pub relay: String,
    pub on: bool,
    pub level: u8,
    pub ms: u64,
    pub reason: String,
}

impl Daemon {
    /// Start with `rules` (a rules file body in which `{MOCK_LOG}` and `{RECORD_DIR}`
    /// are replaced by paths in a fresh temp dir; listen addresses are forced to
    /// ephemeral loopback ports).
    pub fn start(rules: &str) -> Daemon {
        Self::start_with_env(rules, &[])
    }

    pub fn start_with_env(rules: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = rules
            .replace("{MOCK_LOG}", &dir.path().join("mock.jsonl").display().to_string())
            .replace("{RECORD_DIR}", &dir.path().join("record").display().to_string());
        let config_path = dir.path().join("rules.toml");
        std::fs::write(&config_path, text).expect("write rules");
        let mut command = camrelay_command();
        command
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("CAMRELAY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn camrelay");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = log_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().map(|mut v| v.push(line.clone())).ok();
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("camrelay did not start; stderr: {:?}", log_lines.lock().map(|v| v.clone()));
            };
            if let Some(rest) = line.strip_prefix("camrelay: listening for posts on ") {
                let (posts, api) = rest.split_once(", API on ").expect("listening line");
                return Daemon {
                    child,
                    posts: posts.parse().expect("posts addr"),
                    api: api.parse().expect("api addr"),
                    config_path,
                    dir,
                    stderr: rx,
                    log_lines,
                };
            }
        }
    }

    pub fn mock_log(&self) -> Vec<LineChange> {
        let path = self.dir.path().join("mock.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad mock line {l}: {e}")))
            .collect()
    }

    /// Wait until `pred` holds on the mock log, or panic after `timeout`.
    pub fn wait_log(&self, timeout: Duration, pred: impl Fn(&[LineChange]) -> bool) -> Vec<LineChange> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.mock_log();
            if pred(&log) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting on the mock log; it holds: {log:#?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for exit; returns the exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("camrelay did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr_text(&self) -> String {
        self.log_lines.lock().map(|v| v.join("\n")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// POST `body` to `path` on a fresh connection and read the response.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    post_on(&mut stream, addr, path, body, true)
}

/// POST on an existing connection.
pub fn post_on(stream: &mut TcpStream, addr: SocketAddr, path: &str, body: &[u8], close: bool) -> Response {
    request_on(stream, addr, "POST", path, &[], body, close)
}

pub fn request_on(
    stream: &mut TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Response {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n",
        body.len(),
        if close { "close" } else { "keep-alive" }
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    read_response(stream)
}

/// HTTP request with a fresh connection (for the API).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    request_on(&mut stream, addr, method, path, headers, body, true)
}

/// Read one response with a Content-Length (or chunked) body.
pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status: u16 =
        status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            panic!("bad status line {status_line:?}");
        });
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size hex");
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body).expect("body");
    }
    Response { status, body: String::from_utf8_lossy(&body).into_owned() }
}

/// A traject post naming `targets` as (id, class word, rect).
pub fn traject(targets: &[(u32, &str, [u32; 4])]) -> Vec<u8> {
    let mut items = String::new();
    for (id, class, [x1, y1, x2, y2]) in targets {
        items.push_str(&format!(
            "<item><targetId type=\"uint32\">{id}</targetId><point><x type=\"uint32\">0</x><y type=\"uint32\">0</y></point>\
             <rect><x1 type=\"uint32\">{x1}</x1><y1 type=\"uint32\">{y1}</y1><x2 type=\"uint32\">{x2}</x2><y2 type=\"uint32\">{y2}</y2></rect>\
             <velocity type=\"uint32\">0</velocity><direction type=\"uint32\">0</direction>\
             <targetType type=\"targetType\">{class}</targetType><trajectlength type=\"list\" count=\"0\"/></item>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\">\
         <currentTime type=\"tint64\">1774646121524166</currentTime>\
         <mac type=\"string\"><![CDATA[58:5b:69:5f:42:1b]]></mac><sn type=\"string\"><![CDATA[I421B0Z1173Q]]></sn>\
         <deviceName type=\"string\"><![CDATA[FaceCam]]></deviceName>\
         <traject type=\"list\" count=\"{}\">{items}</traject></config>",
        targets.len()
    )
    .into_bytes()
}

pub const SUCCESS_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\"><status>success</status></config>";

/// Maps this process's clock onto the daemon's monotonic milliseconds, through
/// `uptime_ms` in `/api/status` (good to half a loopback round trip).
pub struct ClockOffset {
    at: Instant,
    daemon_ms: i64,
}

impl ClockOffset {
    pub fn daemon_ms_at(&self, t: Instant) -> i64 {
        if t >= self.at {
            self.daemon_ms + t.duration_since(self.at).as_millis() as i64
        } else {
            self.daemon_ms - self.at.duration_since(t).as_millis() as i64
        }
    }
}

pub fn clock_offset(d: &Daemon) -> ClockOffset {
    // The quickest of a few round trips bounds the error best.
    let mut best: Option<(Duration, ClockOffset)> = None;
    for _ in 0..5 {
        let before = Instant::now();
        let r = request(d.api, "GET", "/api/status", &[], b"");
        let after = Instant::now();
        assert_eq!(r.status, 200);
        let json: serde_json::Value = serde_json::from_str(&r.body).expect("status JSON");
        let daemon_ms = json["uptime_ms"].as_i64().expect("uptime_ms");
        let rtt = after - before;
        if best.as_ref().map_or(true, |(b, _)| rtt < *b) {
            best = Some((rtt, ClockOffset { at: before + rtt / 2, daemon_ms }));
        }
    }
    best.map(|(_, o)| o).expect("measured")
}

/// A connection from `source` (another loopback address: the whole of
/// 127.0.0.0/8 is local on Linux) to `to`, bound through libc since std
/// cannot choose the local address of an outgoing connection: as another
/// machine on the LAN would come from its own address.
pub fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else { panic!("IPv4 only") };
    // SAFETY: plain socket calls on a descriptor this function owns until
    // it is handed to TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let local = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(source) },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, &local as *const _ as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "bind {source:?}: {}", std::io::Error::last_os_error());
        let remote = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: to.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(to.ip().octets()) },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        stream
    }
}

/// `GET /api/history?{query}` from the daemon: its rows, newest first.
pub fn history_json(d: &Daemon, query: &str) -> Vec<serde_json::Value> {
    let r = request(d.api, "GET", &format!("/api/history?{query}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["events"].as_array().unwrap().clone()
}

/// The history's rows once `pred` holds for them (the writer commits every
/// `commit_every`), within 15 s.
pub fn wait_history(
    d: &Daemon,
    query: &str,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let rows = history_json(d, query);
        if pred(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "history never got there: {rows:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
