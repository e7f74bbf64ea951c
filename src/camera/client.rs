//! The HTTP side of a device: Basic auth, one request per connection, a
//! timeout over the whole exchange and a body limit.
//!
//! Owns the password, which never reaches a log line, a status field or an
//! error message (its `Debug` prints `***`). It must never retry a Set
//! command by itself: a half-applied subscription is for the caller to read back.

use super::answer::{self, AnswerError, Channel, DeviceInfo, PostConfig, Region, RegionKind, Tripwire};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::Duration;
use tokio::net::TcpStream;

/// Largest snapshot answer read: a v2.0 snapshot is ~700 KB of base64.
pub const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// Largest answer of any other command: the largest real one (a slot list)
/// is a few kilobytes.
pub const MAX_XML_ANSWER: usize = 256 * 1024;
/// A device must answer within this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A password, kept out of every message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Why a request to a device failed.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("{0:?} is not a camera address: write it as http://192.168.1.20 (or http://host:port)")]
    BadUrl(String),
    #[error("{given:?}: cameras serve their API over plain HTTP on the LAN, camrelay does not speak HTTPS to them; write {}", .given.replacen("https://", "http://", 1))]
    Https { given: String },
    #[error(
        "cannot reach the camera at {host}:{port}: {reason} (is it on, and is this its address and port?)"
    )]
    Unreachable { host: String, port: u16, reason: String },
    #[error("{host} did not answer {command} within {}s", .after.as_secs())]
    Timeout { host: String, command: String, after: Duration },
    #[error("wrong password for {user} at {host} (401 Unauthorized){}", .password_file.as_ref().map(|p| format!("; the password is the first line of {}", p.display())).unwrap_or_default())]
    Unauthorized { user: String, host: String, password_file: Option<std::path::PathBuf> },
    #[error("{host} answered {command} with HTTP {status}")]
    Status { host: String, command: String, status: u16 },
    #[error("{host} answered {command} with more than {limit} bytes")]
    TooLarge { host: String, command: String, limit: usize },
    #[error("{host} {command}: {source}")]
    Answer {
        host: String,
        command: String,
        #[source]
        source: AnswerError,
    },
}

/// An I/O error in words: "Connection refused (os error 111)" → "connection refused".
fn plain_reason(e: &str) -> String {
    let e = match e.find(" (os error") {
        Some(i) => &e[..i],
        None => e,
    };
    let mut c = e.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One device's API.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    port: u16,
    user: String,
    password: Secret,
    /// Where the password came from, named when the camera refuses it.
    password_file: Option<std::path::PathBuf>,
    timeout: Duration,
}

impl Client {
    /// `url`: `http://host[:port][/]`. HTTPS is not spoken: cameras serve
    /// their API over plain HTTP on the LAN.
    pub fn new(url: &str, user: &str, password: Secret) -> Result<Client, CameraError> {
        if url.trim().to_ascii_lowercase().starts_with("https://") {
            return Err(CameraError::Https { given: url.trim().to_string() });
        }
        let rest = url.trim().strip_prefix("http://").ok_or_else(|| CameraError::BadUrl(url.to_string()))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return Err(CameraError::BadUrl(url.to_string()));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
                Ok(port) => (h.trim_start_matches('[').trim_end_matches(']').to_string(), port),
                Err(_) => return Err(CameraError::BadUrl(url.to_string())),
            },
            _ => (authority.trim_start_matches('[').trim_end_matches(']').to_string(), 80),
        };
        Ok(Client { host, port, user: user.to_string(), password, password_file: None, timeout: TIMEOUT })
    }

    /// Name this file in a wrong-password error.
    pub fn with_password_file(mut self, path: &std::path::Path) -> Client {
        self.password_file = Some(path.to_path_buf());
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The host as written in the URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host the camera must post to so it reaches a listener on
    /// `listen`: that address, or, for a wildcard listener, this machine's
    /// address on the route to the camera (no packet is sent to find it).
    pub fn ingest_host(&self, listen: std::net::IpAddr) -> std::io::Result<std::net::IpAddr> {
        let ip = if listen.is_unspecified() {
            let probe = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
            probe.connect((self.host.as_str(), self.port))?;
            probe.local_addr()?.ip()
        } else {
            listen
        };
        Ok(match ip {
            std::net::IpAddr::V6(v6) => v6.to_canonical(),
            v4 => v4,
        })
    }

    /// `POST /<command>[/<channel>]`, with `body` for Set commands.
    pub async fn call(
        &self,
        command: &str,
        channel: Option<u32>,
        body: Option<String>,
    ) -> Result<Vec<u8>, CameraError> {
        let path = match channel {
            Some(c) => format!("/{command}/{c}"),
            None => format!("/{command}"),
        };
        match tokio::time::timeout(self.timeout, self.exchange(command, &path, body)).await {
            Ok(result) => result,
            Err(_) => Err(CameraError::Timeout {
                host: self.host.clone(),
                command: command.into(),
                after: self.timeout,
            }),
        }
    }

    async fn exchange(
        &self,
        command: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Vec<u8>, CameraError> {
        let unreachable = |e: &dyn std::fmt::Display| CameraError::Unreachable {
            host: self.host.clone(),
            port: self.port,
            reason: plain_reason(&e.to_string()),
        };
        let stream =
            TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| unreachable(&e))?;
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(io).await.map_err(|e| unreachable(&e))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.user, self.password.0));
        let mut req = hyper::Request::builder()
            .method("POST")
            .uri(path)
            .header("Host", format!("{}:{}", self.host, self.port))
            .header("Authorization", format!("Basic {auth}"))
            .header("Connection", "close");
        if body.is_some() {
            req = req.header("Content-Type", "application/xml; charset=\"UTF-8\"");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| unreachable(&e))?;
        let res = sender.send_request(req).await.map_err(|e| unreachable(&e))?;
        let status = res.status().as_u16();
        if status == 401 {
            driver.abort();
            return Err(CameraError::Unauthorized {
                user: self.user.clone(),
                host: self.host.clone(),
                password_file: self.password_file.clone(),
            });
        }
        let mut body = res.into_body();
        let mut out = Vec::new();
        let limit = if command == "GetSnapshot" { MAX_ANSWER } else { MAX_XML_ANSWER };
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| unreachable(&e))?;
            if let Some(data) = frame.data_ref() {
                if out.len() + data.len() > limit {
                    driver.abort();
                    return Err(CameraError::TooLarge {
                        host: self.host.clone(),
                        command: command.into(),
                        limit,
                    });
                }
                out.extend_from_slice(data);
            }
        }
        driver.abort();
        if !(200..300).contains(&status) {
            return Err(CameraError::Status { host: self.host.clone(), command: command.into(), status });
        }
        Ok(out)
    }

    /// Decode an answer on the blocking pool, never on the thread that
    /// called: the daemon's core runs on a single thread, and its relay
    /// timers must not wait for whatever a device sends.
    async fn answer<T: Send + 'static>(
        &self,
        command: &str,
        body: Vec<u8>,
        decode: impl FnOnce(Vec<u8>) -> Result<T, AnswerError> + Send + 'static,
    ) -> Result<T, CameraError> {
        let r = tokio::task::spawn_blocking(move || decode(body))
            .await
            .unwrap_or_else(|e| Err(AnswerError::Malformed(format!("the decoder stopped: {e}"))));
        r.map_err(|source| CameraError::Answer { host: self.host.clone(), command: command.into(), source })
    }

    pub async fn device_info(&self) -> Result<DeviceInfo, CameraError> {
        let body = self.call("GetDeviceInfo", None, None).await?;
        self.answer("GetDeviceInfo", body, |b| answer::device_info(&b)).await
    }

    /// The channels: `GetChannelInfo` on v2.0, `GetChannelList` on a v1.9 NVR,
    /// and the one channel of a v1.9 camera (which must not be asked).
    pub async fn channels(&self, info: &DeviceInfo) -> Result<Vec<Channel>, CameraError> {
        let command = match (info.generation, info.is_nvr()) {
            (answer::Generation::V20, _) => "GetChannelInfo",
            (answer::Generation::V19, true) => "GetChannelList",
            (answer::Generation::V19, false) => {
                return Ok(vec![Channel { id: 1, name: info.name.clone(), status: "online".into() }])
            }
        };
        let body = self.call(command, None, None).await?;
        self.answer(command, body, |b| answer::channels(&b)).await
    }

    /// A live JPEG of the current view.
    pub async fn snapshot(&self, channel: Option<u32>) -> Result<Vec<u8>, CameraError> {
        let body = self.call("GetSnapshot", channel, None).await?;
        self.answer("GetSnapshot", body, answer::snapshot).await
    }

    pub async fn post_config(&self) -> Result<PostConfig, CameraError> {
        let body = self.call("GetHttpPostConfig", None, None).await?;
        self.answer("GetHttpPostConfig", body, |b| answer::post_config(&b)).await
    }

    /// `SetHttpPostConfig` with this `httpPostV2` element.
    pub async fn set_post_config(&self, http_post_v2: &super::xml::Element) -> Result<(), CameraError> {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\">",
        );
        http_post_v2.write(&mut xml);
        xml.push_str("</config>");
        let body = self.call("SetHttpPostConfig", None, Some(xml)).await?;
        self.answer("SetHttpPostConfig", body, |b| answer::document(&b).map(|_| ())).await
    }

    pub async fn regions(&self, kind: RegionKind) -> Result<Vec<Region>, CameraError> {
        let body = self.call(kind.command(), None, None).await?;
        self.answer(kind.command(), body, move |b| answer::regions(&b, kind)).await
    }

    pub async fn tripwires(&self) -> Result<Vec<Tripwire>, CameraError> {
        let body = self.call("GetSmartTripwireConfig", None, None).await?;
        self.answer("GetSmartTripwireConfig", body, |b| answer::tripwires(&b)).await
    }
}
