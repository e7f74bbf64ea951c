//! MQTT: camrelay on a broker, for Home Assistant and for other camrelay nodes.
//!
//! Owns the broker connection, the topics, Home Assistant discovery and the
//! commands that arrive from the broker. It is an output and an input like
//! the web page: it follows the core's stream of what happened and publishes
//! it, and every command it takes goes through the core's command channel
//! (manual relay commands, commands from other nodes' rules), so the relay
//! controller bounds them by `max_on`, `min_off` and interlocks. It must never
//! reach into the engine or a line, and never make the core wait: publishing
//! goes through a bounded queue that drops its oldest message when the broker
//! is slow or away. Topics and payloads are documented in docs/mqtt.md.

pub mod discovery;
mod link;
pub mod outbox;
pub mod payload;
pub mod topics;

use crate::config::MqttConfig;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use thiserror::Error;

pub use link::spawn;

/// Why the `[mqtt]` settings cannot be used (reported at startup, before any relay is driven).
#[derive(Debug, Error)]
pub enum MqttError {
    #[error("cannot read [mqtt] password_file {}", path.display())]
    Password { path: PathBuf, source: std::io::Error },
    #[error("[mqtt] password_file {} is empty; its first line is the password", path.display())]
    EmptyPassword { path: PathBuf },
    #[error("cannot read [mqtt] ca_file {}", path.display())]
    Ca { path: PathBuf, source: std::io::Error },
    #[error("[mqtt] ca_file {} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("[mqtt] TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot tell this host's name for [mqtt] node; set node = \"...\"")]
    NoHostName,
}

/// `[mqtt]` with every default resolved and every file read.
#[derive(Clone)]
pub struct Settings {
    pub config: MqttConfig,
    pub node: String,
    pub client_id: String,
    pub password: Option<String>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub topics: topics::Topics,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Settings").field("url", &self.config.url).field("node", &self.node).finish()
    }
}

impl Settings {
    pub fn resolve(config: &MqttConfig) -> Result<Settings, MqttError> {
        let node = match &config.node {
            Some(n) => n.clone(),
            None => host_name().ok_or(MqttError::NoHostName)?,
        };
        let password = match &config.password_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| MqttError::Password { path: path.clone(), source })?;
                let line = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
                if line.is_empty() {
                    return Err(MqttError::EmptyPassword { path: path.clone() });
                }
                Some(line)
            }
        };
        let tls = if config.tls { Some(Arc::new(tls_config(config.ca_file.as_deref())?)) } else { None };
        Ok(Settings {
            client_id: config.client_id.clone().unwrap_or_else(|| format!("camrelay-{node}")),
            topics: topics::Topics::new(&config.topic_prefix, &node, config.discovery_prefix.as_deref()),
            node,
            password,
            tls,
            config: config.clone(),
        })
    }
}

/// The host name as one topic level (`pi-garage`), or `None`.
fn host_name() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = topics::level(raw.trim().split('.').next().unwrap_or(""));
    (!name.is_empty()).then_some(name)
}

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, MqttError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|source| MqttError::Ca { path: path.to_path_buf(), source })?;
            for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
                roots.add(cert).map_err(|e| MqttError::Tls(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(MqttError::NoCertificate { path: path.to_path_buf() });
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(MqttError::Tls(
                    "no system CA certificates found (install ca-certificates, or set [mqtt] ca_file)".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What the MQTT link did, for `/api/status` and `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
    pub published: AtomicU64,
    pub dropped: AtomicU64,
    pub commands_applied: AtomicU64,
    pub commands_refused: AtomicU64,
    pub retained_ignored: AtomicU64,
    pub remote_sent: AtomicU64,
    pub remote_applied: AtomicU64,
    pub remote_waiting: AtomicU64,
    pub remote_refused: AtomicU64,
    pub remote_failed: AtomicU64,
    pub queued: AtomicU64,
    /// Messages larger than camrelay takes, dropped without dropping the link.
    pub oversized: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_remote_failure: Mutex<Option<String>>,
    /// When the link was lost, over the last [`UNSTABLE_WINDOW`].
    losses: Mutex<std::collections::VecDeque<std::time::Instant>>,
}

/// A link lost this many times within [`UNSTABLE_WINDOW`] is reported
/// unstable, connected or not: a flapping link is connected most of the time
/// it is looked at, and still carries nothing.
pub const UNSTABLE_LOSSES: usize = 3;
pub const UNSTABLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// `/api/status` → `mqtt`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub connected: bool,
    /// `connected`, `connecting`, or `unstable` (lost 3 times or more in the last minute).
    pub link: &'static str,
    /// Times the link was lost in the last minute.
    pub losses_last_minute: usize,
    pub oversized_dropped: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub last_error: Option<String>,
    pub published: u64,
    pub queued: u64,
    pub dropped: u64,
    pub commands_applied: u64,
    pub commands_refused: u64,
    pub retained_ignored: u64,
    pub remote_sent: u64,
    pub remote_applied: u64,
    pub remote_waiting: u64,
    pub remote_refused: u64,
    pub remote_failed: u64,
    pub last_remote_failure: Option<String>,
}

impl Stats {
    fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    /// The link to the broker was lost now.
    pub(crate) fn lost(&self, now: std::time::Instant) {
        let mut l = self.losses.lock().unwrap_or_else(|p| p.into_inner());
        l.push_back(now);
        while l.len() > 64 {
            l.pop_front();
        }
    }

    fn losses_within(&self, now: std::time::Instant) -> usize {
        let l = self.losses.lock().unwrap_or_else(|p| p.into_inner());
        l.iter().filter(|t| now.saturating_duration_since(**t) < UNSTABLE_WINDOW).count()
    }

    fn remote_failed(&self, what: String) {
        self.remote_failed.fetch_add(1, Relaxed);
        *self.last_remote_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }

    pub fn status(&self) -> Status {
        let g = |a: &AtomicU64| a.load(Relaxed);
        let connected = self.connected.load(Relaxed);
        let losses = self.losses_within(std::time::Instant::now());
        Status {
            connected,
            link: match (connected, losses >= UNSTABLE_LOSSES) {
                (_, true) => "unstable",
                (true, false) => "connected",
                (false, false) => "connecting",
            },
            losses_last_minute: losses,
            oversized_dropped: g(&self.oversized),
            connects: g(&self.connects),
            connect_failures: g(&self.connect_failures),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            published: g(&self.published),
            queued: g(&self.queued),
            dropped: g(&self.dropped),
            commands_applied: g(&self.commands_applied),
            commands_refused: g(&self.commands_refused),
            retained_ignored: g(&self.retained_ignored),
            remote_sent: g(&self.remote_sent),
            remote_applied: g(&self.remote_applied),
            remote_waiting: g(&self.remote_waiting),
            remote_refused: g(&self.remote_refused),
            remote_failed: g(&self.remote_failed),
            last_remote_failure: self.last_remote_failure.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Prometheus text, appended to `/metrics`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = self.status();
        let _ = write!(
            out,
            "# HELP camrelay_mqtt_connected 1 while connected to the broker.\n\
             # TYPE camrelay_mqtt_connected gauge\ncamrelay_mqtt_connected {}\n\
             # HELP camrelay_mqtt_connects_total Connections to the broker, by outcome.\n\
             # TYPE camrelay_mqtt_connects_total counter\n\
             camrelay_mqtt_connects_total{{outcome=\"ok\"}} {}\ncamrelay_mqtt_connects_total{{outcome=\"failed\"}} {}\n\
             # HELP camrelay_mqtt_messages_total Messages to the broker: published, or dropped from a full queue.\n\
             # TYPE camrelay_mqtt_messages_total counter\n\
             camrelay_mqtt_messages_total{{outcome=\"published\"}} {}\ncamrelay_mqtt_messages_total{{outcome=\"dropped\"}} {}\n\
             # HELP camrelay_mqtt_queued Messages waiting for the broker.\n\
             # TYPE camrelay_mqtt_queued gauge\ncamrelay_mqtt_queued {}\n\
             # HELP camrelay_mqtt_commands_total Relay commands taken from the broker, by outcome.\n\
             # TYPE camrelay_mqtt_commands_total counter\n\
             camrelay_mqtt_commands_total{{outcome=\"applied\"}} {}\ncamrelay_mqtt_commands_total{{outcome=\"refused\"}} {}\n\
             camrelay_mqtt_commands_total{{outcome=\"retained_ignored\"}} {}\n\
             # HELP camrelay_mqtt_remote_commands_total Commands this node's rules sent to other nodes' relays, by outcome.\n\
             # TYPE camrelay_mqtt_remote_commands_total counter\n\
             camrelay_mqtt_remote_commands_total{{outcome=\"sent\"}} {}\n\
             camrelay_mqtt_remote_commands_total{{outcome=\"applied\"}} {}\n\
             camrelay_mqtt_remote_commands_total{{outcome=\"waiting\"}} {}\n\
             camrelay_mqtt_remote_commands_total{{outcome=\"refused\"}} {}\n\
             camrelay_mqtt_remote_commands_total{{outcome=\"failed\"}} {}\n\
             # HELP camrelay_mqtt_oversized_total Messages larger than camrelay takes, dropped with the link kept.\n\
             # TYPE camrelay_mqtt_oversized_total counter\ncamrelay_mqtt_oversized_total {}\n\
             # HELP camrelay_mqtt_losses_last_minute Times the link to the broker was lost in the last minute.\n\
             # TYPE camrelay_mqtt_losses_last_minute gauge\ncamrelay_mqtt_losses_last_minute {}\n",
            u8::from(s.connected),
            s.connects,
            s.connect_failures,
            s.published,
            s.dropped,
            s.queued,
            s.commands_applied,
            s.commands_refused,
            s.retained_ignored,
            s.remote_sent,
            s.remote_applied,
            s.remote_waiting,
            s.remote_refused,
            s.remote_failed,
            s.oversized_dropped,
            s.losses_last_minute,
        );
    }
}
