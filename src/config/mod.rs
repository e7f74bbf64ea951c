//! The rules file: parsed once into validated, typed structures.
//!
//! Owns the TOML schema, defaults, durations and validation. Errors point at
//! the file, line, column and key and say what would be valid. It must never
//! hand out a half-validated config: [`load`] returns all of it or an error,
//! which is what makes reload atomic.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// A whole validated rules file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub gpio: GpioConfig,
    #[serde(default, rename = "relay")]
    pub relays: Vec<RelayConfig>,
    // cameras, zones, site, presence and rules: added by the rules work.
}

/// `[server]`: where cameras and NVRs post.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address cameras and NVRs post to.
    pub listen: SocketAddr,
    /// Accepted request paths (`/API`); empty accepts any path.
    pub paths: Vec<String>,
    /// Largest body accepted, in bytes; larger posts get 413.
    pub max_body: u64,
    /// A client must finish sending headers within this time.
    #[serde(with = "duration_str")]
    pub header_timeout: Duration,
    /// A client must finish sending a body within this time.
    #[serde(with = "duration_str")]
    pub body_timeout: Duration,
    /// An idle keep-alive connection is closed after this time.
    #[serde(with = "duration_str")]
    pub idle_timeout: Duration,
    /// Record every raw post here (and always the undecodable ones).
    pub record_dir: Option<PathBuf>,
    /// Source networks allowed to post (`192.168.1.0/24`, `10.0.0.5`); empty allows all.
    pub allow: Vec<String>,
    /// A device that sent nothing for this long is reported offline.
    #[serde(with = "duration_str")]
    pub offline_after: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5002)),
            paths: Vec::new(),
            max_body: 4 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            record_dir: None,
            allow: Vec::new(),
            offline_after: Duration::from_secs(300),
        }
    }
}

/// `[api]`: the management API (status, manual control, metrics).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token for state-changing calls.
    pub token: Option<String>,
    /// File holding the bearer token (first line), e.g. `/etc/camrelay/token`.
    pub token_file: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 5003)), token: None, token_file: None }
    }
}

/// Which GPIO implementation drives the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Linux GPIO character device (`/dev/gpiochipN`) through `gpiocdev`.
    #[default]
    Cdev,
    /// Raspberry Pi memory-mapped GPIO through `rppal` (cargo feature `rppal`).
    Rppal,
    /// In memory; records what it would have done.
    Mock,
}

/// `[gpio]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpioConfig {
    pub backend: BackendKind,
    /// Default chip for relays that name none: a path (`/dev/gpiochip0`), a
    /// name (`gpiochip0`) or a label (`pinctrl-bcm2711`). None: find lines by
    /// name across all chips, offsets on `gpiochip0`.
    pub chip: Option<String>,
    /// Mock backend only: append every line change here as one JSON object per line.
    pub mock_log: Option<PathBuf>,
}

/// How a relay's line is named.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(untagged)]
pub enum LineRef {
    /// Offset on the chip (`17`).
    Offset(u32),
    /// Line name as the kernel knows it (`"GPIO17"`), searched across chips.
    Name(String),
}

impl std::fmt::Display for LineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineRef::Offset(o) => write!(f, "{o}"),
            LineRef::Name(n) => write!(f, "{n:?}"),
        }
    }
}

/// `[[relay]]`: one output line and the safety limits no rule can override.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    pub name: String,
    pub line: LineRef,
    /// Chip for this relay, overriding `[gpio] chip`.
    #[serde(default)]
    pub chip: Option<String>,
    /// Most relay boards switch on a low level.
    #[serde(default)]
    pub active_low: bool,
    /// Forced off after being on this long, whatever rules say.
    #[serde(with = "duration_str")]
    pub max_on: Duration,
    /// Stays off at least this long before switching on again.
    #[serde(default, with = "duration_str")]
    pub min_off: Duration,
    /// Relays sharing an interlock group are never on at the same time.
    #[serde(default)]
    pub interlock: Option<String>,
    /// Dead time after another relay of the group switched off.
    #[serde(default, with = "duration_str")]
    pub interlock_wait: Duration,
}

/// Why a rules file was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Parse and validate rules text. `origin` names the file in messages.
pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    toml::from_str(text)
        .map_err(|e| ConfigError::Invalid { path: origin.to_path_buf(), message: e.to_string() })
}

/// Read, parse and validate a rules file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// Parse a human duration: `500ms`, `30s`, `15m`, `2h`, `1h30m`, `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. \"500ms\", \"30s\", \"15m\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration; write e.g. \"500ms\", \"30s\", \"15m\", \"1h30m\""
            ));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("{text:?} has no unit; write e.g. \"{n}s\" or \"{n}ms\"")),
            other => return Err(format!("{text:?}: unknown unit {other:?}; use ms, s, m, h or d")),
        };
        total += Duration::from_millis(n.saturating_mul(ms));
    }
    Ok(total)
}

/// serde helper: durations written as human strings.
pub mod duration_str {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}
