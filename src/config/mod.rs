//! The rules file: parsed once into validated, typed structures.
//!
//! Owns the TOML schema ([`schema::KEYS`]), defaults, durations and
//! validation. Errors point at the file, line, column and key, quote the
//! user's line and say what would be valid. It must never hand out a
//! half-validated config: [`load`] returns all of it or an error, which is what
//! makes reload atomic. It does no evaluation: the engine owns what rules mean
//! at run time.

mod diag;
pub mod edit;
pub mod lint;
mod parse;
pub mod schema;
mod summary;
pub mod view;

pub use summary::{describe_rule, run_check, summary};

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

use crate::decode::{Device, PlateDirection, Point, TargetClass};
pub use crate::words::{describe_relay_conditions, fmt_duration, Anchor, RelayCondition, Retrigger};

/// A whole validated rules file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub server: ServerConfig,
    pub api: ApiConfig,
    pub gpio: GpioConfig,
    /// `[[relay]]`, in file order (the index is the backend's relay index).
    pub relays: Vec<RelayConfig>,
    /// `[[input]]`, in file order (the index is the input's number everywhere).
    pub inputs: Vec<InputConfig>,
    /// `[[camera]]`, in file order (the first that matches a post wins).
    pub cameras: Vec<CameraConfig>,
    /// `[[zone]]`, in file order; names are unique.
    pub zones: Vec<ZoneConfig>,
    /// `[[area]]`: named groups of zones, from one camera or several.
    pub areas: Vec<AreaConfig>,
    /// `[site]`: where the relays are, for sun times and local time.
    pub site: SiteConfig,
    /// `[presence]`: how traject targets are tracked.
    pub presence: PresenceConfig,
    /// `[[rule]]`, in file order, disabled ones left out.
    pub rules: Vec<RuleConfig>,
    /// `[mqtt]`: the broker, when the section is present and not `enabled = false`.
    pub mqtt: Option<MqttConfig>,
    /// `[history]`: the event history, when the section is present and not `enabled = false`.
    pub history: Option<HistoryConfig>,
    /// `[[plates.<list>]]`: the household's plate lists, in file order.
    pub plates: Vec<PlateList>,
}

/// One plate list kept in the rules file (`[[plates.visitors]]` blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlateList {
    /// The user's name for it: `residents`, `visitors`, ... (`[a-z0-9_]`).
    pub name: String,
    pub entries: Vec<PlateEntry>,
}

/// One `[[plates.<list>]]` block: a plate and when it counts as on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlateEntry {
    /// Normalized (see [`normalize_plate`]); unique within its list.
    pub plate: String,
    pub name: Option<String>,
    /// On the list from this local time (inclusive) ...
    pub from: Option<PlateTime>,
    /// ... until this one (exclusive; a date means the end of that day).
    pub until: Option<PlateTime>,
    /// Bit 0 = Monday .. bit 6 = Sunday; `0x7f` = every day.
    pub days: u8,
    /// Daily hours, milliseconds after local midnight; `before < after` crosses midnight.
    pub after: Option<u32>,
    pub before: Option<u32>,
}

/// A `from` / `until` as written: a local date, or a local date and time.
/// Kept as written so that the page shows (and writes back) what the user typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum PlateTime {
    At(chrono::NaiveDateTime),
    Date(chrono::NaiveDate),
}

impl PlateTime {
    /// The instant this is as a start: a date starts at its midnight.
    pub fn start(self) -> chrono::NaiveDateTime {
        match self {
            PlateTime::At(t) => t,
            PlateTime::Date(d) => d.and_time(chrono::NaiveTime::MIN),
        }
    }

    /// The instant this is as an end: a date ends at the next midnight.
    pub fn end(self) -> chrono::NaiveDateTime {
        match self {
            PlateTime::At(t) => t,
            PlateTime::Date(d) => d.succ_opt().unwrap_or(d).and_time(chrono::NaiveTime::MIN),
        }
    }

    /// As TOML writes it: `2026-12-12T09:00:00` or `2026-12-12`.
    pub fn toml_text(self) -> String {
        match self {
            PlateTime::At(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            PlateTime::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }
}

impl PlateEntry {
    /// The entry's weekdays and hours as a rule schedule, so they mean what a
    /// rule's `days` / `after` / `before` mean (a window crossing midnight
    /// belongs to the day it starts on). `None`: every day, all day.
    pub fn window(&self) -> Option<Schedule> {
        if self.days == 0x7f && self.after.is_none() && self.before.is_none() {
            return None;
        }
        Some(Schedule {
            after: self.after.map(|ms| TimeSpec::Clock { ms }),
            before: self.before.map(|ms| TimeSpec::Clock { ms }),
            days: self.days,
            dates: Vec::new(),
            except: Vec::new(),
        })
    }
}

impl Config {
    /// The plate list named `name`.
    pub fn plate_list(&self, name: &str) -> Option<&PlateList> {
        self.plates.iter().find(|l| l.name == name)
    }
}

/// `[history]`: what happened, kept on disk and searchable.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryConfig {
    /// The folder of `history.db` (relative to the rules file's folder).
    pub dir: PathBuf,
    /// Rows older than this are forgotten.
    #[serde(with = "duration_str")]
    pub keep: Duration,
    /// The database is kept under this many bytes (the oldest rows go first).
    pub max_size: u64,
    /// Rows are committed at least this often (or every 512 rows).
    #[serde(with = "duration_str")]
    pub commit_every: Duration,
    /// Which of a detection's pictures are kept.
    pub pictures: crate::history::picture::Keep,
}

/// The smallest and largest `[history] max_size`.
pub const MIN_HISTORY_BYTES: u64 = 10_000_000;
pub const MAX_HISTORY_BYTES: u64 = 1_000_000_000_000;

/// `"1GB"`, `"500MB"`, `"2GiB"`, `"750 kB"`: bytes (kB, MB, GB, TB are
/// powers of 1000; KiB, MiB, GiB, TiB of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 =
        number.parse().map_err(|_| format!("\"{text}\" is not a size; write e.g. \"1GB\" or \"500MB\""))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "" => return Err(format!("\"{text}\" has no unit; write e.g. \"{number}MB\" or \"{number}GB\"")),
        other => {
            return Err(format!(
                "\"{text}\": unknown unit \"{other}\"; use kB, MB, GB, TB (or KiB, MiB, GiB, TiB)"
            ))
        }
    };
    Ok((n * scale).round() as u64)
}

/// `[mqtt]`: publish to a broker, take commands from it, reach other nodes' relays.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    /// First line is the password; read at startup, never logged.
    pub password_file: Option<PathBuf>,
    /// CA certificates (PEM) for `mqtts://` to a broker with a private CA; else the system's.
    pub ca_file: Option<PathBuf>,
    /// `None`: `camrelay-<node>`.
    pub client_id: Option<String>,
    /// `None`: the host name, resolved at startup.
    pub node: Option<String>,
    /// Topics are `<topic_prefix>/<node>/...`; every node of one site shares the prefix.
    pub topic_prefix: String,
    /// Home Assistant discovery prefix; `None` when `discovery = false`.
    pub discovery_prefix: Option<String>,
    /// Outgoing messages held while the broker is slow or away (oldest dropped past it).
    pub queue: usize,
    /// How long a command for another node's relay waits for that node's answer.
    #[serde(with = "duration_str")]
    pub remote_timeout: Duration,
}

/// A relay a rule names as `node/relay` lives on another node, reached over MQTT.
pub fn remote_relay(relay: &str) -> Option<(&str, &str)> {
    relay.split_once('/')
}

/// Node, relay, zone and camera names become MQTT topic levels and Home
/// Assistant ids: letters, digits, `_` and `-` only.
pub fn topic_safe(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `[server]`: where cameras and NVRs post.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
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
    /// Connections one source address may hold open; past it its longest-idle one is closed.
    pub max_connections_per_source: usize,
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
            max_connections_per_source: 128,
        }
    }
}

/// `[api]`: the management API (status, manual control, metrics).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer token for state-changing calls.
    pub token: Option<String>,
    /// File holding the bearer token (first line), e.g. `/etc/camrelay/token`.
    pub token_file: Option<PathBuf>,
    /// A connection must deliver a whole request head within this time of
    /// opening or of its last reply (so an idle keep-alive is closed then too).
    #[serde(with = "duration_str")]
    pub header_timeout: Duration,
    /// Host names the API answers to besides its addresses, `localhost` and
    /// this machine's name (against DNS rebinding), e.g. `["pi.example.net"]`.
    pub hosts: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5003)),
            token: None,
            token_file: None,
            header_timeout: Duration::from_secs(10),
            hosts: Vec::new(),
        }
    }
}

/// Which GPIO implementation drives the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Default, Deserialize, serde::Serialize)]
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
    /// Stays off at least this long before switching on again ([`DEFAULT_MIN_OFF`] unless set).
    #[serde(default = "default_min_off", with = "duration_str")]
    pub min_off: Duration,
    /// Most switch-ons in any 60 s; one more locks the relay off for
    /// [`crate::relays::controller::LOCKOUT`]. `None`: `"unlimited"`, written in the file.
    #[serde(default = "default_switch_limit")]
    pub switch_limit: Option<u32>,
    /// Relays sharing an interlock group are never on at the same time.
    #[serde(default)]
    pub interlock: Option<String>,
    /// Dead time after another relay of the group switched off.
    #[serde(default, with = "duration_str")]
    pub interlock_wait: Duration,
    /// The input that shows the relay did what it was for (a gate moved).
    #[serde(skip)]
    pub confirm: Option<Confirm>,
}

/// `confirm = { input = "gate_closed", to = "off", within = "5s" }`: after
/// the relay switches on, `input` must go to `to` within `within`, or the
/// relay "did not move" (an event rules, the log, MQTT and the history see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub input: String,
    pub to: bool,
    pub within: Duration,
}

/// `[[input]]`: one GPIO line read, never driven: a reed contact, a limit
/// switch, a push button, a PIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    pub name: String,
    pub line: LineRef,
    /// Chip for this input, overriding `[gpio] chip`.
    pub chip: Option<String>,
    /// The contact closes to ground (with a pull-up): low is `on`.
    pub active_low: bool,
    pub bias: Bias,
    /// A change counts once the line has kept its new level this long.
    pub debounce: Duration,
    /// Home Assistant's `device_class` of its `binary_sensor`.
    pub device_class: Option<String>,
}

/// The pull resistor the line gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bias {
    /// As the board or the kernel left it (an external resistor).
    #[default]
    AsIs,
    PullUp,
    PullDown,
    /// Explicitly no pull (`"none"`).
    Disabled,
}

impl Bias {
    pub fn word(self) -> &'static str {
        match self {
            Bias::AsIs => "as_is",
            Bias::PullUp => "pull_up",
            Bias::PullDown => "pull_down",
            Bias::Disabled => "none",
        }
    }
}

/// An input's debounce unless its `debounce` says otherwise: longer than a
/// reed contact's or a push button's bounce (a few ms), far shorter than a hand.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(30);

/// Home Assistant `binary_sensor` device classes an input may name.
pub const INPUT_DEVICE_CLASSES: &[&str] = &[
    "door",
    "garage_door",
    "opening",
    "window",
    "motion",
    "occupancy",
    "presence",
    "lock",
    "moving",
    "vibration",
    "safety",
    "problem",
    "tamper",
    "power",
];

/// A relay stays off at least this long unless its `min_off` says otherwise:
/// a flood of detections or a rule pair fighting each other cannot make it chatter.
pub const DEFAULT_MIN_OFF: Duration = Duration::from_secs(1);

/// How long after a dual-source camera's detection its other source's copy may arrive.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(2);
/// Switch-ons per minute a relay allows unless its `switch_limit` says otherwise.
pub const DEFAULT_SWITCH_LIMIT: u32 = 20;

fn default_min_off() -> Duration {
    DEFAULT_MIN_OFF
}

fn default_switch_limit() -> Option<u32> {
    Some(DEFAULT_SWITCH_LIMIT)
}

/// `[[camera]]`: which posts come from this camera. Every matcher given must
/// match; with none given, the device name must equal `name`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CameraConfig {
    pub name: String,
    /// Lower case, `:` separated.
    pub mac: Option<String>,
    pub ip: Option<IpAddr>,
    pub serial: Option<String>,
    pub device_name: Option<String>,
    /// The forwarding NVR's IP, MAC (normalized) or device name.
    pub nvr: Option<String>,
    pub channel: Option<u32>,
    /// With two sources: how long after one source's detection the other's
    /// copy of it may arrive (see [`CameraConfig::has_two_sources`]).
    pub duplicate_window: Duration,
    /// Where camrelay can ask the camera itself (`url`, `user`, `password_file`).
    pub api: Option<CameraApi>,
    /// The node this camera posts to: its detections arrive over MQTT, never
    /// as posts here, and it matches no post.
    pub node: Option<String>,
}

/// A camera's own HTTP API: identity, snapshot, its webhook subscription, its zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraApi {
    /// `http://host[:port]`.
    pub url: String,
    pub user: String,
    /// First line: the password. Relative paths are taken from the rules file's folder.
    pub password_file: PathBuf,
}

/// Whether two relays name the same line, as far as the configuration alone
/// can tell: the same offset on the same chip (no chip means `gpiochip0` for
/// offsets), or the same line name on the same chip (no chip means "searched
/// across chips"); `/dev/gpiochip0` and `gpiochip0` are one chip. A name and
/// an offset that resolve to the same line only show on the hardware.
pub fn same_line(gpio: &GpioConfig, a: &RelayConfig, b: &RelayConfig) -> bool {
    same_line_ref(gpio, (&a.line, a.chip.as_deref()), (&b.line, b.chip.as_deref()))
}

/// [`same_line`] for any two lines (a relay's, an input's) with their chips.
pub fn same_line_ref(gpio: &GpioConfig, a: (&LineRef, Option<&str>), b: (&LineRef, Option<&str>)) -> bool {
    fn chip_key(chip: Option<&str>) -> &str {
        chip.map(|c| c.strip_prefix("/dev/").unwrap_or(c)).unwrap_or("")
    }
    let (ca, cb) = (a.1.or(gpio.chip.as_deref()), b.1.or(gpio.chip.as_deref()));
    match (a.0, b.0) {
        // Offsets without a chip are on gpiochip0.
        (LineRef::Offset(x), LineRef::Offset(y)) if x == y => {
            chip_key(ca.or(Some("gpiochip0"))) == chip_key(cb.or(Some("gpiochip0")))
        }
        (LineRef::Name(x), LineRef::Name(y)) if x == y => chip_key(ca) == chip_key(cb),
        _ => false,
    }
}

/// Which of a camera's two sources a post came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The camera posted itself.
    Camera,
    /// Its NVR forwarded it (`nvr` and `channel`).
    Nvr,
}

impl CameraConfig {
    /// Whether a post from device `d` (arriving from `source`, about NVR
    /// `channel`) comes from this camera. See [`CameraConfig::via`].
    pub fn matches(&self, d: &Device, source: Option<IpAddr>, channel: Option<u32>) -> bool {
        self.via(d, source, channel).is_some()
    }

    /// Does the block name the camera itself (`mac`, `ip`, `serial`,
    /// `device_name`) as well as its NVR? Then it is one camera with two
    /// sources, and the same detection from both counts once.
    pub fn has_two_sources(&self) -> bool {
        self.nvr.is_some() && self.has_own_identity()
    }

    fn has_own_identity(&self) -> bool {
        self.mac.is_some() || self.ip.is_some() || self.serial.is_some() || self.device_name.is_some()
    }

    /// Which source of this camera a post came through, if it is this
    /// camera's. The camera's own identity: every matcher given must match
    /// (`channel` too, unless an `nvr` is named); with none, the device name
    /// must equal `name`. Through the NVR: `nvr` and `channel` match.
    pub fn via(&self, d: &Device, source: Option<IpAddr>, channel: Option<u32>) -> Option<Via> {
        if self.node.is_some() {
            return None;
        }
        if let Some(nvr) = &self.nvr {
            let hit = d.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(nvr))
                || d.ip.as_deref() == Some(nvr.as_str())
                || d.name.as_deref() == Some(nvr.as_str())
                || source.is_some_and(|s| s.to_string() == *nvr);
            if hit && (self.channel.is_none() || self.channel == channel) {
                return Some(Via::Nvr);
            }
            if !self.has_own_identity() {
                return None;
            }
            return self.is_itself(d, source).then_some(Via::Camera);
        }
        if self.channel.is_some_and(|ch| channel != Some(ch)) {
            return None;
        }
        if !self.has_own_identity() {
            return (d.name.as_deref() == Some(self.name.as_str())).then_some(Via::Camera);
        }
        self.is_itself(d, source).then_some(Via::Camera)
    }

    /// Every own matcher given (`mac`, `ip`, `serial`, `device_name`) matches.
    fn is_itself(&self, d: &Device, source: Option<IpAddr>) -> bool {
        if let Some(mac) = &self.mac {
            if !d.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mac)) {
                return false;
            }
        }
        if let Some(ip) = self.ip {
            let device_ip = d.ip.as_deref().and_then(|s| s.trim().parse::<IpAddr>().ok());
            if device_ip != Some(ip) && source != Some(ip) {
                return false;
            }
        }
        if let Some(serial) = &self.serial {
            if d.serial.as_deref() != Some(serial.as_str()) {
                return false;
            }
        }
        if let Some(name) = &self.device_name {
            if d.name.as_deref() != Some(name.as_str()) {
                return false;
            }
        }
        true
    }
}

/// `[[zone]]`: a polygon on one camera's picture (0–10000 on both axes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub name: String,
    pub camera: String,
    /// Validated: at least 3 points, inside 0–10000, not self-intersecting.
    pub polygon: Vec<Point>,
    pub anchor: Anchor,
}

/// `[[area]]`: one place seen through zones of one or more cameras, so a
/// target counts there whichever camera sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaConfig {
    pub name: String,
    /// Zone names; validated to exist, at least one.
    pub zones: Vec<String>,
}

/// `[site]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub timezone: chrono_tz::Tz,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig { latitude: None, longitude: None, timezone: chrono_tz::UTC }
    }
}

/// `[presence]`: traject tracking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresenceConfig {
    pub target_timeout: Duration,
    pub inertia: u32,
    /// A target whose box stayed within `stationary_tolerance` this long is stationary.
    pub stationary_after: Duration,
    /// How far (a fraction of the picture) a box edge may move and still count as not moving.
    pub stationary_tolerance: f64,
    /// The classes that can become stationary (vehicles and motorbikes by
    /// default: a person standing still is still there).
    pub stationary_classes: ClassSet,
}

/// A set of target classes, small enough to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassSet(u8);

impl ClassSet {
    pub const VEHICLES: ClassSet = ClassSet(1 << TargetClass::Vehicle as u8 | 1 << TargetClass::Motor as u8);

    pub fn contains(self, class: TargetClass) -> bool {
        self.0 & (1 << class as u8) != 0
    }

    pub fn insert(&mut self, class: TargetClass) {
        self.0 |= 1 << class as u8;
    }
}

/// A class as the rules file names it (`person`, `vehicle`, `motor`,
/// `unknown`, and the plain words `people`, `car`, `bike`, `motorcycle`).
pub fn class_named(word: &str) -> Option<TargetClass> {
    Some(match word {
        "person" | "people" => TargetClass::Person,
        "vehicle" | "car" => TargetClass::Vehicle,
        "motor" | "bike" | "motorcycle" => TargetClass::Motor,
        "unknown" => TargetClass::Unknown,
        _ => return None,
    })
}

/// The class words `check` suggests.
pub const CLASS_WORDS: &[&str] = &["person", "vehicle", "motor", "unknown"];

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            target_timeout: Duration::from_secs(2),
            inertia: 3,
            stationary_after: Duration::from_secs(30),
            stationary_tolerance: 0.03,
            stationary_classes: ClassSet::VEHICLES,
        }
    }
}

/// `[[rule]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    pub name: String,
    pub when: Conditions,
    pub then: ActionConfig,
}

/// The event words of `when.event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventWord {
    Presence,
    ZoneEntry,
    ZoneExit,
    Intrusion,
    LineCrossing,
    Loitering,
    IllegalParking,
    Plate,
    Face,
    FaceMatch,
    Counting,
    CountingByLine,
    CountingByArea,
    Metadata,
    Motion,
    Sensor,
    Tamper,
    ObjectRemoval,
    CrowdDensity,
    PeopleCounting,
    PeopleIntrusion,
    Alarm,
    CameraOffline,
    CameraOnline,
    Occupancy,
    AreaOccupied,
    AreaEmpty,
    Input,
    DidNotMove,
    Tailgating,
}

impl EventWord {
    pub const ALL: &'static [EventWord] = &[
        EventWord::Presence,
        EventWord::ZoneEntry,
        EventWord::ZoneExit,
        EventWord::Intrusion,
        EventWord::LineCrossing,
        EventWord::Loitering,
        EventWord::IllegalParking,
        EventWord::Plate,
        EventWord::Face,
        EventWord::FaceMatch,
        EventWord::Counting,
        EventWord::CountingByLine,
        EventWord::CountingByArea,
        EventWord::Metadata,
        EventWord::Motion,
        EventWord::Sensor,
        EventWord::Tamper,
        EventWord::ObjectRemoval,
        EventWord::CrowdDensity,
        EventWord::PeopleCounting,
        EventWord::PeopleIntrusion,
        EventWord::Alarm,
        EventWord::CameraOffline,
        EventWord::CameraOnline,
        EventWord::Occupancy,
        EventWord::AreaOccupied,
        EventWord::AreaEmpty,
        EventWord::Input,
        EventWord::DidNotMove,
        EventWord::Tailgating,
    ];

    pub fn word(self) -> &'static str {
        match self {
            EventWord::Presence => "presence",
            EventWord::ZoneEntry => "zone_entry",
            EventWord::ZoneExit => "zone_exit",
            EventWord::Intrusion => "intrusion",
            EventWord::LineCrossing => "line_crossing",
            EventWord::Loitering => "loitering",
            EventWord::IllegalParking => "illegal_parking",
            EventWord::Plate => "plate",
            EventWord::Face => "face",
            EventWord::FaceMatch => "face_match",
            EventWord::Counting => "counting",
            EventWord::CountingByLine => "counting_by_line",
            EventWord::CountingByArea => "counting_by_area",
            EventWord::Metadata => "metadata",
            EventWord::Motion => "motion",
            EventWord::Sensor => "sensor",
            EventWord::Tamper => "tamper",
            EventWord::ObjectRemoval => "object_removal",
            EventWord::CrowdDensity => "crowd_density",
            EventWord::PeopleCounting => "people_counting",
            EventWord::PeopleIntrusion => "people_intrusion",
            EventWord::Alarm => "alarm",
            EventWord::CameraOffline => "camera_offline",
            EventWord::CameraOnline => "camera_online",
            EventWord::Occupancy => "occupancy",
            EventWord::AreaOccupied => "area_occupied",
            EventWord::AreaEmpty => "area_empty",
            EventWord::Input => "input",
            EventWord::DidNotMove => "did_not_move",
            EventWord::Tailgating => "tailgating",
        }
    }

    pub fn from_word(w: &str) -> Option<EventWord> {
        if w == "traject" {
            return Some(EventWord::Presence);
        }
        EventWord::ALL.iter().copied().find(|e| e.word() == w)
    }

    /// Bit of this word in a rule's event mask.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A `when.after` / `when.before` bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// Local wall-clock time, milliseconds after midnight.
    Clock { ms: u32 },
    /// Sunrise or sunset of the local day, shifted by `offset_ms`.
    Sun { event: SunEvent, offset_ms: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// `when.after` / `before` / `days`. The window may cross midnight; `days`
/// names the day a window starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub after: Option<TimeSpec>,
    pub before: Option<TimeSpec>,
    /// Bit 0 = Monday .. bit 6 = Sunday; `0x7f` = every day.
    pub days: u8,
    /// Dates (inclusive ranges) in `days`: windows start on these too.
    pub dates: Vec<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// `except_days`: no window starts on these dates (holidays).
    pub except: Vec<(chrono::NaiveDate, chrono::NaiveDate)>,
}

/// Which way a target moves relative to a zone (`towards` / `away_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heading {
    Towards,
    AwayFrom,
}

/// A compiled `plate_pattern`; compared by its source text.
#[derive(Debug, Clone)]
pub struct PlatePattern {
    pub source: String,
    pub regex: regex_lite::Regex,
}

impl PartialEq for PlatePattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// `when = { ... }`: every condition given must hold; lists mean "any of".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conditions {
    pub events: Vec<EventWord>,
    pub cameras: Vec<String>,
    pub channels: Vec<u32>,
    pub classes: Vec<TargetClass>,
    pub zones: Vec<String>,
    pub min_area: Option<f64>,
    pub max_area: Option<f64>,
    pub min_aspect: Option<f64>,
    pub max_aspect: Option<f64>,
    pub dwell: Option<Duration>,
    /// Normalized (see [`normalize_plate`]).
    pub plates: Vec<String>,
    pub plate_pattern: Option<PlatePattern>,
    pub plate_groups: Vec<String>,
    pub direction: Option<PlateDirection>,
    pub min_confidence: Option<f32>,
    /// How far a plate read may be from a listed `plate` (or a `plate_list`
    /// entry) and still match (an edit costs 1, a usual OCR confusion 0.5); 0: exact.
    pub plate_distance: f32,
    /// `plate_list`: names of `[[plates.<list>]]` lists; the read must be on
    /// one of them, by an entry valid at the event's local time.
    pub plate_lists: Vec<String>,
    pub alarms: Vec<String>,
    pub alarm_state: bool,
    pub schedule: Option<Schedule>,
    /// `area`: names of `[[area]]`s.
    pub areas: Vec<String>,
    /// Stationary targets match too (`presence`).
    pub include_stationary: bool,
    /// `occupancy`: at least / at most this many targets in the place.
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
    /// Ordered zones: the target was in one of these before entering the rule's zone.
    pub from_zones: Vec<String>,
    /// ... at most this long before.
    pub within: Duration,
    /// The target moves towards / away from this zone.
    pub heading: Option<(Heading, String)>,
    /// Relay states required when the rule fires (checked by the relay controller).
    pub relays: Vec<RelayCondition>,
    /// `offline`: at least one of these cameras is offline now (`None`: no
    /// such condition; an empty list: any camera).
    pub offline: Option<Vec<String>>,
    /// `occupied`: a moving target is in one of these zones or areas now.
    pub occupied: Vec<String>,
    /// `input` (with `event = "input"`, `"did_not_move"` or `"tailgating"`):
    /// the inputs whose events the rule takes.
    pub inputs: Vec<String>,
    /// `to`: the level the input changes to (`input`), or the level that
    /// means the gate is open (`tailgating`). `None`: either.
    pub input_to: Option<bool>,
    /// `for`: the input has kept `to` this long (`event = "input"`): fires once.
    pub input_held: Option<Duration>,
    /// `input_on` / `input_off`: inputs that must be on / off when the rule fires.
    pub input_states: Vec<InputCondition>,
    /// `input_for`: ... and have been for at least this long.
    pub input_for: Duration,
    /// `unless = { ... }`: the rule does not fire while all of these hold.
    pub unless: Option<Box<Unless>>,
}

/// `input_on = "door"` / `input_off = "gate_closed"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputCondition {
    pub input: String,
    pub on: bool,
}

/// `unless = { ... }`: states (and the plate read) under which a rule keeps
/// still. Every key given must hold for the rule to be held back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unless {
    /// Normalized plates: the read is one of these (exactly).
    pub plates: Vec<String>,
    /// The read is on one of these lists or groups.
    pub plate_groups: Vec<String>,
    /// The read is on one of these `[[plates.<list>]]` lists (exactly, by an
    /// entry valid now): exact, as `plates` is, so a misread never holds an alert back.
    pub plate_lists: Vec<String>,
    pub schedule: Option<Schedule>,
    /// As [`Conditions::offline`].
    pub offline: Option<Vec<String>>,
    pub occupied: Vec<String>,
    /// As [`Conditions::input_states`] (with `input_for`).
    pub input_states: Vec<InputCondition>,
    pub input_for: Duration,
}

impl Unless {
    /// Does it say anything about the plate read?
    pub fn reads_plates(&self) -> bool {
        !self.plates.is_empty() || !self.plate_groups.is_empty() || !self.plate_lists.is_empty()
    }
}

/// What a rule does to its relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Hold {
        hold: Duration,
    },
    Pulse {
        duration: Duration,
        retrigger: Retrigger,
    },
    On,
    Off,
    Toggle,
    /// On for `on`, off for `off`, repeated for `duration` (bounded by `max_on`).
    Blink {
        on: Duration,
        off: Duration,
        duration: Duration,
        retrigger: Retrigger,
    },
}

impl ActionKind {
    pub fn word(&self) -> &'static str {
        match self {
            ActionKind::Hold { .. } => "hold",
            ActionKind::Pulse { .. } => "pulse",
            ActionKind::On => "on",
            ActionKind::Off => "off",
            ActionKind::Toggle => "toggle",
            ActionKind::Blink { .. } => "blink",
        }
    }
}

/// `then = { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionConfig {
    pub relay: String,
    pub action: ActionKind,
    pub cooldown: Option<Duration>,
    pub plate_cooldown: Option<Duration>,
}

/// Plate text as compared by rules: upper case, without spaces, dashes and dots.
pub fn normalize_plate(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '\u{b7}'))
        .flat_map(|c| c.to_uppercase())
        .collect()
}

/// Lower case, `:` separated, as the decoder reports MACs.
pub fn normalize_mac(text: &str) -> String {
    text.trim().to_ascii_lowercase().replace('-', ":")
}

/// Why a rules file was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    // The cause is the error's source: `{:#}` at the binary's edge prints it once.
    #[error("cannot read {}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A problem at a place in the file: `rules.toml:14:1: message`, then the
    /// user's line with a caret under the key or value.
    #[error("{}:{line}:{column}: {message}\n{snippet}", path.display())]
    At { path: PathBuf, line: usize, column: usize, key: String, message: String, snippet: String },
}

/// Parse and validate rules text. `origin` names the file in messages, and
/// relative `mock_log`, `record_dir` and `password_file` paths are taken relative to its folder
/// (so the demo's mock log lands beside the example, wherever it is run from).
pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let mut config = parse::parse_config(text).map_err(|d| d.into_error(text, origin))?;
    let base = origin.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(base) = base {
        let cameras = config.cameras.iter_mut().filter_map(|c| c.api.as_mut().map(|a| &mut a.password_file));
        let mqtt =
            config.mqtt.iter_mut().flat_map(|m| [m.password_file.as_mut(), m.ca_file.as_mut()]).flatten();
        let history = config.history.as_mut().map(|h| &mut h.dir);
        for path in [config.gpio.mock_log.as_mut(), config.server.record_dir.as_mut(), history]
            .into_iter()
            .flatten()
            .chain(cameras)
            .chain(mqtt)
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
    Ok(config)
}

/// The relays `safe-state` drives off, from a file that may be invalid elsewhere.
#[derive(Debug)]
pub struct SafeStateRelays {
    pub gpio: GpioConfig,
    /// Every relay whose name and line could be read (valid or not otherwise).
    pub relays: Vec<RelayConfig>,
    /// What was wrong, located (`rules.toml:12:1: ...`): reported, not fatal.
    pub problems: Vec<ConfigError>,
}

/// Read `[gpio]` and the `[[relay]]` blocks of a rules file, whatever else
/// in it is broken. Fails only when the file cannot be read or is not TOML.
pub fn load_relays(path: &Path) -> Result<SafeStateRelays, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    relays_of(&text, path)
}

/// [`load_relays`] on text.
pub fn relays_of(text: &str, origin: &Path) -> Result<SafeStateRelays, ConfigError> {
    let (gpio, relays, problems) = parse::parse_relays(text).map_err(|d| d.into_error(text, origin))?;
    let problems = problems.into_iter().map(|d| d.into_error(text, origin)).collect();
    Ok(SafeStateRelays { gpio, relays, problems })
}

/// Read, parse and validate a rules file: all of it, or an error.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

impl Config {
    pub fn relay(&self, name: &str) -> Option<&RelayConfig> {
        self.relays.iter().find(|r| r.name == name)
    }

    /// Whether a rule reads plates from camera `camera`: it asks about plates
    /// (`event = "plate"`, `plate`, `plate_pattern`, `plate_groups` or
    /// `direction`) and names that camera, a zone of it, or no camera and
    /// no zone. Home Assistant shows a "last plate" sensor only for these.
    pub fn reads_plates(&self, camera: &str) -> bool {
        self.rules.iter().any(|r| {
            let w = &r.when;
            let plates = w.events.contains(&EventWord::Plate)
                || !w.plates.is_empty()
                || w.plate_pattern.is_some()
                || !w.plate_groups.is_empty()
                || !w.plate_lists.is_empty()
                || w.direction.is_some();
            let zone_of = |z: &String| self.zones.iter().any(|zone| &zone.name == z && zone.camera == camera);
            plates
                && (w.cameras.iter().any(|c| c == camera)
                    || w.zones.iter().any(zone_of)
                    || (w.cameras.is_empty() && w.zones.is_empty()))
        })
    }
}

/// The longest duration any key accepts written at all (each key has its own,
/// smaller maximum: [`schema::LIMITS`]); past it arithmetic on instants could overflow.
pub const LONGEST_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// Parse a human duration: `500ms`, `30s`, `15m`, `2h`, `1h30m`, `1d`.
/// Never overflows: anything longer than [`LONGEST_DURATION`] is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. \"500ms\", \"30s\", \"15m\"".into());
    }
    let too_long = || format!("{text:?} is longer than the longest duration accepted anywhere (366d)");
    let mut total_ms: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration; write e.g. \"500ms\", \"30s\", \"15m\", \"1h30m\""
            ));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("{text:?} has no unit; write e.g. \"{n}s\" or \"{n}ms\"")),
            other => return Err(format!("{text:?}: unknown unit {other:?}; use ms, s, m, h or d")),
        };
        total_ms = n.checked_mul(ms).and_then(|v| total_ms.checked_add(v)).ok_or_else(too_long)?;
        if total_ms > LONGEST_DURATION.as_millis() as u64 {
            return Err(too_long());
        }
    }
    Ok(Duration::from_millis(total_ms))
}

/// serde helper: durations written as human strings.
pub mod duration_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::fmt_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}
